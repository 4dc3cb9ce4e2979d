//! Ready-made sign-in helpers and refresh callbacks for real token servers.
//!
//! - [`simplejwt`] for Django REST Framework SimpleJWT;
//! - [`sanic_jwt_extended`] for sanic-jwt-extended.
//!
//! How answers are read (status and body to sign-in data, `Refreshed`, or the right
//! [`RefreshError`]) is pure and tested natively; only sending the request touches the network.

use std::fmt;
use std::time::Duration;

use crate::refresh::RefreshError;
use crate::time::Timestamp;

pub mod sanic_jwt_extended;
pub mod simplejwt;

/// How long a backend call may take before it counts as a transient failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a backend call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// Wrong username or password (the server's message).
    InvalidCredentials(String),
    /// The server refused the request (its message).
    Rejected(String),
    /// The server could not be reached or answered with an error or something unreadable:
    /// trying again later may work.
    Transient(String),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::InvalidCredentials(message) => write!(f, "sign-in refused: {message}"),
            BackendError::Rejected(message) => write!(f, "request refused: {message}"),
            BackendError::Transient(message) => write!(f, "server unavailable: {message}"),
        }
    }
}

impl std::error::Error for BackendError {}

impl From<BackendError> for RefreshError {
    fn from(err: BackendError) -> Self {
        match err {
            BackendError::InvalidCredentials(message) | BackendError::Rejected(message) => {
                RefreshError::Rejected(message)
            }
            BackendError::Transient(message) => RefreshError::Transient(message),
        }
    }
}

/// An HTTP answer: status, body text and the server's `Date`. Its `Debug` shows the status
/// and the body's length only: a token endpoint's body holds tokens.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// HTTP status.
    pub(crate) status: u16,
    /// Body text (may be HTML from a proxy).
    pub(crate) body: String,
    /// The `Date` header, when the browser lets the page read it (same origin, or
    /// `Access-Control-Expose-Headers: Date`): the server's clock, for tokens without `iat`.
    pub(crate) date: Option<Timestamp>,
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Answer {{ status: {}, body: {} bytes }}",
            self.status,
            self.body.len()
        )
    }
}

impl Answer {
    /// A string field of a JSON body.
    pub(crate) fn text(&self, field: &str) -> Option<String> {
        crate::json::field(&self.body, field)
    }

    /// The server's own message: `detail` (DRF) or `msg` (sanic-jwt-extended).
    pub(crate) fn server_message(&self) -> Option<String> {
        self.text("detail").or_else(|| self.text("msg"))
    }

    /// The server's message, or the status.
    pub(crate) fn message(&self) -> String {
        self.server_message()
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }

    /// A sign-in answer: `access_field` (and `refresh_field` if present) on 200, the server's
    /// message as [`BackendError::InvalidCredentials`] for `credential_statuses`.
    pub(crate) fn sign_in<U>(
        &self,
        access_field: &str,
        refresh_field: &str,
        credential_statuses: &[u16],
    ) -> Result<crate::state::SignIn<U>, BackendError> {
        if credential_statuses.contains(&self.status) {
            return Err(BackendError::InvalidCredentials(self.message()));
        }
        if self.status != 200 {
            return Err(self.failure());
        }
        let access = self.text(access_field).ok_or_else(|| {
            BackendError::Transient(format!("sign-in answer has no `{access_field}`"))
        })?;
        let mut request = crate::state::SignIn::new(access);
        if let Some(date) = self.date {
            request = request.server_time(date);
        }
        Ok(match self.text(refresh_field) {
            Some(refresh) => request.refresh_token(refresh),
            None => request,
        })
    }

    /// A refresh answer: `access_field` (and a rotated `refresh_field` if present) on 200;
    /// otherwise the rejection or transient failure the status means.
    pub(crate) fn refreshed<U>(
        &self,
        access_field: &str,
        refresh_field: &str,
    ) -> Result<crate::refresh::Refreshed<U>, RefreshError> {
        if self.status != 200 {
            return Err(self.failure().into());
        }
        let access = self.text(access_field).ok_or_else(|| {
            RefreshError::Transient(format!("refresh answer has no `{access_field}`"))
        })?;
        let mut refreshed = crate::refresh::Refreshed::new(access);
        if let Some(date) = self.date {
            refreshed = refreshed.server_time(date);
        }
        Ok(match self.text(refresh_field) {
            Some(rotated) => refreshed.refresh_token(rotated),
            None => refreshed,
        })
    }

    /// A non-success answer as an error: 400, 401, 403 and 422 are the server saying no; every
    /// other status (5xx, 429, 408, a proxy's HTML page) may pass.
    pub(crate) fn failure(&self) -> BackendError {
        match self.status {
            400 | 401 | 403 | 422 => BackendError::Rejected(self.message()),
            _ => BackendError::Transient(self.message()),
        }
    }
}

/// Reads an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) with the browser's own parser;
/// `None` when it is not one.
#[cfg(target_arch = "wasm32")]
pub(crate) fn http_date(text: &str) -> Option<Timestamp> {
    let millis = js_sys::Date::parse(text);
    // A finite, positive f64 of whole milliseconds: the cast is exact.
    (millis.is_finite() && millis > 0.0).then(|| Timestamp::from_unix_millis(millis as u64))
}

/// A request body: a JSON object of string fields, in the order given (built without a
/// `serde_json::Value`).
pub(crate) struct Fields<'a>(pub(crate) &'a [(&'a str, &'a str)]);

impl serde::Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

/// POSTs `body` (JSON, if any) to `url` with an optional bearer token, giving up after
/// [`REQUEST_TIMEOUT`]. Network failures and timeouts are [`BackendError::Transient`].
pub(crate) async fn post(
    url: &str,
    body: Option<&Fields<'_>>,
    bearer: Option<&str>,
) -> Result<Answer, BackendError> {
    send(url, body, bearer, Some(REQUEST_TIMEOUT), as_built).await
}

/// [`post`] with `keepalive`: the browser finishes the request even when the page is left
/// right after (a sign-out followed by a full navigation), so a revocation is not lost.
pub(crate) async fn post_keepalive(url: &str, body: &Fields<'_>) -> Result<Answer, BackendError> {
    send(url, Some(body), None, Some(REQUEST_TIMEOUT), kept_alive).await
}

/// POSTs a refresh request and waits for the answer however long it takes. The session engine
/// counts a slow refresh as failed after `RefreshConfig::timeout` but keeps listening: the
/// server may already have rotated the refresh token, and the late answer is the only copy of
/// the new one.
pub(crate) async fn post_refresh(
    url: &str,
    body: Option<&Fields<'_>>,
    bearer: Option<&str>,
) -> Result<Answer, BackendError> {
    send(url, body, bearer, None, as_built).await
}

/// How a request is changed before it is sent: [`as_built`], or [`kept_alive`]. A function
/// rather than a flag, so that an app that never blacklists links none of the keepalive code.
type Finish = fn(gloo_net::http::Request) -> Result<gloo_net::http::Request, BackendError>;

/// The request as built.
fn as_built(request: gloo_net::http::Request) -> Result<gloo_net::http::Request, BackendError> {
    Ok(request)
}

async fn send(
    url: &str,
    body: Option<&Fields<'_>>,
    bearer: Option<&str>,
    timeout: Option<Duration>,
    finish: Finish,
) -> Result<Answer, BackendError> {
    #[cfg(target_arch = "wasm32")]
    {
        use futures::future::{select, Either};
        let mut request = gloo_net::http::Request::post(url);
        if let Some(token) = bearer {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request.json(body),
            None => request.build(),
        }
        .map_err(|err| BackendError::Transient(err.to_string()))?;
        let request = finish(request)?;
        let sending = Box::pin(async move {
            let response = request
                .send()
                .await
                .map_err(|_| BackendError::Transient(format!("cannot reach {url}")))?;
            let status = response.status();
            let date = response
                .headers()
                .get("date")
                .and_then(|text| http_date(&text));
            let body = response.text().await.unwrap_or_default();
            Ok(Answer { status, body, date })
        });
        let Some(timeout) = timeout else {
            return sending.await;
        };
        let timeout = Box::pin(gloo_timers::future::sleep(timeout));
        match select(sending, timeout).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => Err(BackendError::Transient(format!("{url} timed out"))),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (body, bearer, timeout, finish);
        Err(BackendError::Transient(format!(
            "no network outside the browser ({url})"
        )))
    }
}

/// The same request with `keepalive` set (web-sys has no setter for it: it is set on the
/// init dictionary by name). Only ever called in the browser, where requests are sent.
fn kept_alive(request: gloo_net::http::Request) -> Result<gloo_net::http::Request, BackendError> {
    let init = web_sys::RequestInit::new();
    let refused = |_| BackendError::Transient("the browser refused a keepalive request".into());
    js_sys::Reflect::set(&init, &"keepalive".into(), &true.into()).map_err(refused)?;
    web_sys::Request::new_with_request_and_init(&request.into(), &init)
        .map(Into::into)
        .map_err(refused)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn request_bodies_are_json_objects_of_the_fields_in_order() {
        let body = Fields(&[("username", "a\"d\\a"), ("password", "é\n")]);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"username":"a\"d\\a","password":"é\n"}"#
        );
        assert_eq!(serde_json::to_string(&Fields(&[])).unwrap(), "{}");
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn the_servers_date_goes_with_the_sign_in_and_the_refresh() {
        use std::time::Duration;

        use crate::state::AuthState;

        // Opaque tokens carry no `iat`: the Date header (2 min ahead of this clock) tells the
        // offset, which moves the refresh token's `exp` onto this clock.
        let server = Timestamp::from_unix_seconds(1_000_000);
        let now = server.shifted(-120_000);
        let refresh = crate::token::tests::jwt(r#"{"exp":1086400}"#);
        let body = format!(r#"{{"access":"opaque-a","refresh":"{refresh}"}}"#);
        let answer = Answer {
            status: 200,
            body,
            date: Some(server),
        };
        let request = answer.sign_in::<()>("access", "refresh", &[401]).unwrap();
        let mut state = AuthState::signed_out();
        state
            .sign_in(
                request.expires_in(Duration::from_secs(300)),
                now,
                Duration::ZERO,
            )
            .unwrap();
        let session = state.session().unwrap();
        assert_eq!(session.clock_offset_ms(), 120_000);
        assert_eq!(
            session.refresh_expires_at(),
            Some(Timestamp::from_unix_seconds(1_086_400).shifted(-120_000))
        );
        let refreshed = answer.refreshed::<()>("access", "refresh").unwrap();
        assert_eq!(refreshed.server_time, Some(server));
        // In the browser, the header is read with the browser's parser.
        #[cfg(target_arch = "wasm32")]
        {
            assert_eq!(
                http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
                Some(Timestamp::from_unix_seconds(784_111_777))
            );
            assert_eq!(http_date("not a date"), None);
        }
    }

    pub(crate) fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.into(),
            date: None,
        }
    }

    #[test]
    fn debug_does_not_show_the_body() {
        let shown = format!("{:?}", answer(200, r#"{"access":"s3cr3t"}"#));
        assert_eq!(shown, "Answer { status: 200, body: 19 bytes }");
    }

    #[test]
    fn failures_are_classified_by_status_with_the_servers_message() {
        let rows = [
            (
                answer(
                    401,
                    r#"{"detail":"Token is blacklisted","code":"token_not_valid"}"#,
                ),
                BackendError::Rejected("Token is blacklisted".into()),
            ),
            (
                answer(400, r#"{"refresh":["This field is required."]}"#),
                BackendError::Rejected("HTTP 400".into()),
            ),
            (
                answer(422, r#"{"msg":"Signature verification failed"}"#),
                BackendError::Rejected("Signature verification failed".into()),
            ),
            (
                answer(500, r#"{"detail":"Internal server error"}"#),
                BackendError::Transient("Internal server error".into()),
            ),
            (
                answer(502, "<html><h1>502 Bad Gateway</h1></html>"),
                BackendError::Transient("HTTP 502".into()),
            ),
            (answer(429, ""), BackendError::Transient("HTTP 429".into())),
        ];
        for (answer, expected) in rows {
            assert_eq!(answer.failure(), expected, "{answer:?}");
        }
    }
}
