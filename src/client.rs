//! `AuthClient`: HTTP requests with the session's `Authorization` header that survive token
//! expiry: on a 401 one shared refresh, then one retry.
//!
//! The decisions (refresh before sending, retry or not after a 401, what a refresh outcome
//! means for the waiting requests) are pure functions tested natively; `AuthClient` only
//! sends with gloo-net. The refresh call itself never goes through the client, so it can never
//! be intercepted, and a retried request is never retried again: no loops.

use std::fmt;
use std::time::Duration;

use crate::refresh::schedule::expiry_refresh_at;
use crate::refresh::RefreshOutcome;
use crate::state::Session;
use crate::time::Timestamp;

/// Why an `AuthClient` request failed. More reasons may be added: match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The refresh was rejected: the user has been signed out.
    SignedOut(String),
    /// The refresh failed for now (network, 5xx): the session is kept; try again later.
    RefreshFailed(String),
    /// The request could not be sent or its answer not read.
    Network(String),
    /// The answer was not a success; `message` is the server's `detail`/`msg` when it has one.
    Status {
        /// HTTP status.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// Called outside a browser (any target but wasm32, such as the server half of a
    /// server-rendered app): nothing is sent. Load data there in a server function that reads
    /// the session with [`crate::server::SessionReader`], and use the client from the browser
    /// (actions, effects, event handlers).
    NotInBrowser,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::SignedOut(reason) => write!(f, "signed out: {reason}"),
            ClientError::RefreshFailed(reason) => {
                write!(f, "could not refresh the session: {reason}")
            }
            ClientError::Network(reason) => write!(f, "request failed: {reason}"),
            ClientError::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            ClientError::NotInBrowser => f.write_str("requests are sent from the browser only"),
        }
    }
}

impl std::error::Error for ClientError {}

/// What to do before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BeforeSend {
    /// Send now with the current header.
    Send,
    /// Wait for (or start) a refresh first: one is in flight, or the access token is within
    /// the leeway of expiring and the request would only come back 401.
    RefreshFirst,
}

/// Decides whether a request must wait for a refresh before it is sent: when one is in
/// flight, or when the access token is already due for its expiry refresh (see
/// [`expiry_refresh_at`]) and would likely come back 401.
pub(crate) fn before_send<U>(
    session: Option<&Session<U>>,
    refresh_in_flight: bool,
    can_refresh: bool,
    now: Timestamp,
    leeway: Duration,
) -> BeforeSend {
    let Some(session) = session else {
        return BeforeSend::Send; // signed out: send without a header
    };
    if refresh_in_flight || (can_refresh && expiry_refresh_at(session, leeway) <= now) {
        BeforeSend::RefreshFirst
    } else {
        BeforeSend::Send
    }
}

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterAnswer {
    /// Hand the answer to the caller.
    Done,
    /// The session changed (a refresh finished) while the request was out: retry once with
    /// the new header, no refresh needed.
    RetryNow,
    /// Refresh (or join the refresh in flight), then retry once.
    RefreshThenRetry,
    /// The session ended (sign-out, rejected refresh) while the request was out: fail with
    /// [`ClientError::SignedOut`] like the requests that waited for the refresh.
    SessionEnded,
}

/// The session as it was when a request was sent, or as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionMark {
    /// The session version.
    pub(crate) version: u64,
    /// Whether somebody was signed in (so the request carried a header).
    pub(crate) signed_in: bool,
}

/// Decides what an answer means. Only a 401 to a request that carried a header, and is not
/// already a retry, leads anywhere but back to the caller.
pub(crate) fn after_answer(
    status: u16,
    retried: bool,
    can_refresh: bool,
    sent: SessionMark,
    now: SessionMark,
) -> AfterAnswer {
    if status != 401 || retried || !sent.signed_in {
        return AfterAnswer::Done;
    }
    if !now.signed_in {
        return AfterAnswer::SessionEnded;
    }
    if now.version != sent.version {
        return AfterAnswer::RetryNow;
    }
    if can_refresh {
        AfterAnswer::RefreshThenRetry
    } else {
        AfterAnswer::Done
    }
}

/// Whether waiting requests may go on after a refresh: `Ok` to send or retry, or the error
/// every one of them fails with.
pub(crate) fn after_refresh(outcome: &RefreshOutcome, signed_in: bool) -> Result<(), ClientError> {
    match outcome {
        RefreshOutcome::SignedOut(reason) => Err(ClientError::SignedOut(reason.clone())),
        RefreshOutcome::Failed(reason) => Err(ClientError::RefreshFailed(reason.clone())),
        _ if !signed_in => Err(ClientError::SignedOut("the session ended".into())),
        _ => Ok(()),
    }
}

pub use browser::{use_auth_client, AuthClient};

mod browser {
    use gloo_net::http::{Request, RequestBuilder, Response};
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::*;
    use crate::auth::{Auth, UserState};
    use crate::backends::Answer;
    use crate::hooks::use_auth;

    /// Sends requests with the session's header, refreshing on 401 as described in the
    /// module docs. `Copy`; get it with [`use_auth_client`].
    ///
    /// It exists in both halves of a server-rendered app, so that shared components compile,
    /// but sends from the browser only: outside one every request fails with
    /// [`ClientError::NotInBrowser`].
    pub struct AuthClient<U: UserState> {
        auth: Auth<U>,
    }

    impl<U: UserState> Clone for AuthClient<U> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<U: UserState> Copy for AuthClient<U> {}

    /// The [`AuthClient`] of the surrounding `<AuthProvider>`.
    pub fn use_auth_client<U: UserState>() -> AuthClient<U> {
        AuthClient {
            auth: use_auth::<U>(),
        }
    }

    /// `request` with the `Authorization` header when there is one.
    fn authorized(request: RequestBuilder, header: Option<&str>) -> RequestBuilder {
        match header {
            Some(header) => request.header("Authorization", header),
            None => request,
        }
    }

    /// Joins or starts the store's single-flight refresh. While a recent transient failure's
    /// backoff runs, the engine answers at once with that failure instead of calling.
    async fn refresh<U: UserState>(auth: Auth<U>) -> Result<(), ClientError> {
        let outcome = auth.refresh().await;
        after_refresh(&outcome, auth.is_signed_in_now())
    }

    impl<U: UserState> AuthClient<U> {
        /// A client for this store.
        pub fn new(auth: Auth<U>) -> Self {
            Self { auth }
        }

        /// `GET url`.
        pub async fn get(&self, url: &str) -> Result<Response, ClientError> {
            self.send_with(|header| authorized(Request::get(url), header).build())
                .await
        }

        /// `POST url` with a JSON body.
        pub async fn post_json<B: Serialize>(
            &self,
            url: &str,
            body: &B,
        ) -> Result<Response, ClientError> {
            self.send_with(|header| authorized(Request::post(url), header).json(body))
                .await
        }

        /// `GET url` and read a JSON answer; a non-2xx answer is [`ClientError::Status`].
        pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, ClientError> {
            let response = self.get(url).await?;
            if !response.ok() {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                let message = Answer {
                    status,
                    body,
                    date: None,
                }
                .server_message()
                .unwrap_or_else(|| response.status_text());
                return Err(ClientError::Status { status, message });
            }
            response
                .json()
                .await
                .map_err(|err| ClientError::Network(err.to_string()))
        }

        /// Any request: `build` gets the `Authorization` value (`None` when signed out) and
        /// returns the request. It may be called twice (the retry).
        pub async fn send_with(
            &self,
            build: impl Fn(Option<&str>) -> Result<Request, gloo_net::Error>,
        ) -> Result<Response, ClientError> {
            if cfg!(not(target_arch = "wasm32")) {
                return Err(ClientError::NotInBrowser);
            }
            let auth = self.auth;
            let now = Timestamp::now();
            let state = auth.snapshot_state();
            if before_send(
                state.as_ref().and_then(|s| s.session()),
                auth.refresh_in_flight(),
                auth.can_refresh(),
                now,
                auth.leeway(),
            ) == BeforeSend::RefreshFirst
            {
                refresh(auth).await?;
            }
            let mut retried = false;
            loop {
                let (header, sent_version) = auth.header_and_version();
                let sent = SessionMark {
                    version: sent_version,
                    signed_in: header.is_some(),
                };
                let request = build(header.as_deref())
                    .map_err(|err| ClientError::Network(err.to_string()))?;
                let response = request
                    .send()
                    .await
                    .map_err(|err| ClientError::Network(err.to_string()))?;
                let (header_now, version_now) = auth.header_and_version();
                let now = SessionMark {
                    version: version_now,
                    signed_in: header_now.is_some(),
                };
                match after_answer(response.status(), retried, auth.can_refresh(), sent, now) {
                    AfterAnswer::Done => return Ok(response),
                    AfterAnswer::SessionEnded => {
                        return Err(ClientError::SignedOut(
                            "the session ended while the request was out".into(),
                        ))
                    }
                    AfterAnswer::RetryNow => {}
                    AfterAnswer::RefreshThenRetry => refresh(auth).await?,
                }
                retried = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AuthState, SignIn};

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_000);
    const LEEWAY: Duration = Duration::from_secs(30);

    /// A session signed in at `signed_in` (seconds) whose token expires at `expires` (seconds).
    fn session(signed_in: u64, expires: u64) -> Option<Session<()>> {
        let at = Timestamp::from_unix_seconds(signed_in);
        let lifetime = Duration::from_secs(expires - signed_in);
        let mut state = AuthState::signed_out();
        state
            .sign_in(SignIn::new("t").expires_in(lifetime), at, Duration::ZERO)
            .unwrap();
        state.session().cloned()
    }

    #[test]
    #[rustfmt::skip]
    fn before_send_table() {
        // (case, session, in flight, can refresh, expected) at NOW = 1000 s, leeway 30 s
        let rows = [
            ("signed out sends without header", None, false, true, BeforeSend::Send),
            ("fresh token sends", session(990, 1_100), false, true, BeforeSend::Send),
            ("refresh in flight waits", session(990, 1_100), true, true, BeforeSend::RefreshFirst),
            ("within leeway refreshes first", session(900, 1_020), false, true, BeforeSend::RefreshFirst),
            ("expired refreshes first", session(800, 900), false, true, BeforeSend::RefreshFirst),
            ("within leeway but no refresh configured sends", session(900, 1_020), false, false, BeforeSend::Send),
            ("short token before half-life sends", session(999, 1_003), false, true, BeforeSend::Send),
            ("short token past half-life refreshes first", session(997, 1_001), false, true, BeforeSend::RefreshFirst),
        ];
        for (case, session, in_flight, can_refresh, expected) in rows {
            assert_eq!(before_send(session.as_ref(), in_flight, can_refresh, NOW, LEEWAY), expected, "{case}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn after_answer_table() {
        let mark = |version, signed_in| SessionMark { version, signed_in };
        // (case, status, retried, can refresh, sent, now, expected)
        let rows = [
            ("success is returned", 200, false, true, mark(1, true), mark(1, true), AfterAnswer::Done),
            ("403 is returned", 403, false, true, mark(1, true), mark(1, true), AfterAnswer::Done),
            ("401 refreshes then retries", 401, false, true, mark(1, true), mark(1, true), AfterAnswer::RefreshThenRetry),
            ("401 after a refresh landed meanwhile retries at once", 401, false, true, mark(1, true), mark(2, true), AfterAnswer::RetryNow),
            ("401 on a retry is returned as is", 401, true, true, mark(1, true), mark(1, true), AfterAnswer::Done),
            ("401 without refresh is returned", 401, false, false, mark(1, true), mark(1, true), AfterAnswer::Done),
            ("401 to a request sent signed out is returned", 401, false, true, mark(1, false), mark(1, false), AfterAnswer::Done),
            ("401 after the session ended fails as signed out", 401, false, true, mark(1, true), mark(2, false), AfterAnswer::SessionEnded),
        ];
        for (case, status, retried, can_refresh, sent, now, expected) in rows {
            assert_eq!(after_answer(status, retried, can_refresh, sent, now), expected, "{case}");
        }
    }

    #[test]
    fn after_refresh_table() {
        let rows = [
            (RefreshOutcome::Refreshed, true, Ok(())),
            (
                RefreshOutcome::RefreshedNotStored("quota".into()),
                true,
                Ok(()),
            ),
            (RefreshOutcome::Stale, true, Ok(())),
            (
                RefreshOutcome::Stale,
                false,
                Err(ClientError::SignedOut("the session ended".into())),
            ),
            (
                RefreshOutcome::SignedOut("blacklisted".into()),
                false,
                Err(ClientError::SignedOut("blacklisted".into())),
            ),
            (
                RefreshOutcome::Failed("503".into()),
                true,
                Err(ClientError::RefreshFailed("503".into())),
            ),
        ];
        for (outcome, signed_in, expected) in rows {
            assert_eq!(after_refresh(&outcome, signed_in), expected, "{outcome:?}");
        }
    }
}
