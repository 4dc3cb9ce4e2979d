//! Reading the session on the server, in server functions and axum handlers.
//!
//! In cookie mode every request carries the session cookie the browser half wrote.
//! [`SessionReader`] finds it in the request's `Cookie` header and returns the access token,
//! its claims and the user. **The token's payload is decoded, not verified**: the cookie is
//! written by JavaScript, so anybody can write one. Before trusting it for anything but
//! rendering, verify the token's signature, with [`SessionReader::verify`] (for example with
//! the `jsonwebtoken` crate and the server's key), or by sending it to the API that issued it.
//!
//! Expiry is judged on the server's clock: with the token's `exp` when it is a JWT, else with
//! the stored expiry and the clock offset the browser half judged. The refresh token is never
//! handed out here: refreshing is the browser half's work.
//!
//! The `Cookie` header string form is always available; `SessionReader::from_headers` (an
//! `http::HeaderMap`) and `SessionReader::from_parts` (`http::request::Parts`) need the `ssr`
//! feature.

use std::fmt;
use std::sync::Arc;

use crate::state::UserState;
use crate::storage::{cookie, record};
use crate::time::Timestamp;
use crate::token::{Claims, Token};

/// Why a request has no usable session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSession {
    /// No cookie of that name.
    Missing,
    /// The cookie of that name holds nothing this crate can read: corrupt, another app's
    /// value, a record from another version, or a user state of another shape.
    Unreadable,
    /// The user signed out (the cookie holds the sign-out marker).
    SignedOut,
    /// The access token has expired on the server's clock. The browser half refreshes it
    /// when it can; until then the request is not signed in.
    Expired {
        /// When it expired, on the server's clock.
        at: Timestamp,
    },
    /// The verifier refused the token, for this reason.
    Rejected(String),
}

impl fmt::Display for NoSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no session cookie"),
            Self::Unreadable => f.write_str("the session cookie cannot be read"),
            Self::SignedOut => f.write_str("signed out"),
            Self::Expired { at } => write!(
                f,
                "the access token expired (at {} ms since the epoch)",
                at.unix_millis()
            ),
            Self::Rejected(reason) => write!(f, "the access token was refused: {reason}"),
        }
    }
}

impl std::error::Error for NoSession {}

/// A session read from a request. `Debug` shows no token.
#[derive(Clone)]
pub struct ServerSession<U> {
    token: Token,
    token_type: String,
    claims: Option<Claims>,
    user: Option<U>,
    expires_at: Timestamp,
}

impl<U> fmt::Debug for ServerSession<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSession")
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl<U> ServerSession<U> {
    /// The access token, to forward to your API. Do not log it.
    pub fn access_token(&self) -> &Token {
        &self.token
    }

    /// The `Authorization` header value for the API, such as `Bearer eyJ…`.
    pub fn header(&self) -> String {
        format!("{} {}", self.token_type, self.token.expose())
    }

    /// The access token's claims (`None` for an opaque token): decoded from the token that
    /// [`SessionReader::verify`]'s verifier accepted, so as trustworthy as that check.
    pub fn claims(&self) -> Option<&Claims> {
        self.claims.as_ref()
    }

    /// The user state stored with the session, as the browser wrote it. **Not covered by
    /// the verifier**, which checks the token only: anybody can write any user beside a
    /// valid token. Take identity from [`ServerSession::claims`] after verification; use
    /// this for display only.
    pub fn user(&self) -> Option<&U> {
        self.user.as_ref()
    }

    /// When the access token expires, on the server's clock.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

type Verifier = Arc<dyn Fn(&Token) -> Result<(), String> + Send + Sync>;

/// Reads the session from a request's cookies.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::server::{NoSession, SessionReader};
/// use leptos_auth_kit::Timestamp;
///
/// #[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User { name: String }
///
/// let reader = SessionReader::new("_auth")
///     // Check the signature before trusting the token (here: a stand-in that refuses all).
///     .verify(|_token| Err("no key configured".into()));
/// let read = reader.from_cookie_header::<User>("theme=dark", Timestamp::now());
/// assert_eq!(read.unwrap_err(), NoSession::Missing);
/// ```
#[derive(Clone)]
pub struct SessionReader {
    name: String,
    verifier: Option<Verifier>,
}

impl fmt::Debug for SessionReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionReader")
            .field("name", &self.name)
            .field("verifies", &self.verifier.is_some())
            .finish()
    }
}

impl SessionReader {
    /// Reads the cookie called `name` (the name given to `AuthConfig::cookie`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            verifier: None,
        }
    }

    /// Checks every token before it is returned: `Err(reason)` refuses it
    /// ([`NoSession::Rejected`]). Verify the signature here.
    pub fn verify(
        mut self,
        verifier: impl Fn(&Token) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// The session in a `Cookie` header value (`a=1; _auth=…`), judged at `now` on the
    /// server's clock.
    pub fn from_cookie_header<U: UserState>(
        &self,
        cookies: &str,
        now: Timestamp,
    ) -> Result<ServerSession<U>, NoSession> {
        let text = self.record_text(cookies).ok_or(NoSession::Missing)?;
        if record::Ended::decode(&text).is_some() {
            return Err(NoSession::SignedOut);
        }
        let session = record::read::<U>(&text, now).ok_or(NoSession::Unreadable)?;
        let claims = Claims::decode(session.auth_token().expose()).ok();
        // The token's own `exp` is on the server's clock; the stored expiry is on the
        // browser's, which is the offset behind.
        let expires_at = claims
            .as_ref()
            .and_then(Claims::expires_at)
            .unwrap_or_else(|| session.expires_at().shifted(session.clock_offset_ms()));
        if expires_at <= now {
            return Err(NoSession::Expired { at: expires_at });
        }
        if let Some(verifier) = &self.verifier {
            verifier(session.auth_token()).map_err(NoSession::Rejected)?;
        }
        Ok(ServerSession {
            token: session.auth_token().clone(),
            token_type: session.token_type().to_owned(),
            claims,
            user: session.user().cloned(),
            expires_at,
        })
    }

    /// The session in a request's headers (every `Cookie` header), judged now.
    #[cfg(feature = "ssr")]
    pub fn from_headers<U: UserState>(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<ServerSession<U>, NoSession> {
        self.from_cookie_header(&cookie_header(headers), Timestamp::now())
    }

    /// The session in a request's parts (what leptos_axum provides as context, also in
    /// server functions: `leptos::prelude::use_context::<http::request::Parts>()`).
    #[cfg(feature = "ssr")]
    pub fn from_parts<U: UserState>(
        &self,
        parts: &http::request::Parts,
    ) -> Result<ServerSession<U>, NoSession> {
        self.from_headers(&parts.headers)
    }

    /// The stored record in `cookies`: ours when several cookies have our name.
    fn record_text(&self, cookies: &str) -> Option<String> {
        cookie::record_text(cookies, &self.name)
    }
}

/// Every `Cookie` header of a request as one `document.cookie`-style string (HTTP/2 may
/// send several). Headers that are not text are skipped.
#[cfg(feature = "ssr")]
pub(crate) fn cookie_header(headers: &http::HeaderMap) -> String {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The stored record text in a request's cookies and the instant to judge it at on the
/// browser's clock (the server's now, less the stored clock offset), for the provider's
/// server render.
#[cfg(all(feature = "ssr", not(target_arch = "wasm32")))]
pub(crate) fn stored_for_render<U: UserState>(
    name: &str,
    now: Timestamp,
) -> (Option<String>, Timestamp) {
    let cookies = leptos::prelude::use_context::<http::request::Parts>()
        .map(|parts| cookie_header(&parts.headers))
        .unwrap_or_default();
    let text = cookie::record_text(&cookies, name);
    let offset = text
        .as_deref()
        .and_then(|text| record::read::<U>(text, now))
        .map_or(0, |session| session.clock_offset_ms());
    (text, now.shifted(offset.saturating_neg()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SignIn;
    use crate::token::tests::jwt;
    use std::time::Duration;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct User {
        name: String,
    }

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

    /// A stored record for a JWT issued at `NOW` on a server `offset_s` ahead of the
    /// browser, living `lifetime_s`.
    fn record_for(offset_s: i64, lifetime_s: u64) -> String {
        let server_now = NOW.unix_seconds().saturating_add_signed(offset_s);
        let token = jwt(&format!(
            r#"{{"iat":{server_now},"exp":{},"sub":"7"}}"#,
            server_now + lifetime_s
        ));
        let session = crate::state::Session::from_sign_in(
            SignIn::new(token)
                .refresh_token("refresh-secret")
                .user(User { name: "Ada".into() }),
            NOW,
            Duration::ZERO,
        )
        .unwrap();
        record::encode(&session).unwrap()
    }

    fn cookie(name: &str, record: &str) -> String {
        format!("{name}={}", cookie::encode_value(record))
    }

    #[test]
    fn reads_the_session_from_the_cookie_header() {
        let ours = cookie("_auth", &record_for(0, 300));
        // (the Cookie header, the outcome: the user's name or why not)
        let ended = r#"{"v":1,"ended":42,"epoch":1}"#;
        let rows: Vec<(String, Result<&str, NoSession>)> = vec![
            (String::new(), Err(NoSession::Missing)),
            (
                "theme=dark; _auth_type=Bearer".into(),
                Err(NoSession::Missing),
            ),
            (format!("theme=dark; {ours}"), Ok("Ada")),
            // A foreign `_auth` (another app on a parent domain) beside ours, either order.
            (format!("_auth=foreign-value; {ours}"), Ok("Ada")),
            (format!("{ours}; _auth=foreign-value"), Ok("Ada")),
            ("_auth=foreign-value".into(), Err(NoSession::Unreadable)),
            (cookie("_auth", "{not json"), Err(NoSession::Unreadable)),
            (cookie("_auth", r#"{"v":1}"#), Err(NoSession::Unreadable)),
            (cookie("_auth", ended), Err(NoSession::SignedOut)),
        ];
        let reader = SessionReader::new("_auth");
        for (header, expected) in rows {
            let read = reader
                .from_cookie_header::<User>(&header, NOW)
                .map(|session| session.user().unwrap().name.clone());
            assert_eq!(read.as_deref().map_err(Clone::clone), expected, "{header}");
        }
    }

    #[test]
    fn expiry_is_judged_on_the_server_clock() {
        // The browser was an hour behind the server: its stored expiry is an hour early on
        // the server's clock, the token's `exp` is right.
        let record = record_for(3_600, 300);
        let reader = SessionReader::new("_auth");
        let header = cookie("_auth", &record);
        let server_now = NOW + Duration::from_secs(3_600);
        let session = reader
            .from_cookie_header::<User>(&header, server_now + Duration::from_secs(299))
            .unwrap();
        assert_eq!(session.expires_at(), server_now + Duration::from_secs(300));
        assert_eq!(
            reader
                .from_cookie_header::<User>(&header, server_now + Duration::from_secs(300))
                .unwrap_err(),
            NoSession::Expired {
                at: server_now + Duration::from_secs(300)
            }
        );
    }

    #[test]
    fn an_opaque_token_expires_at_the_stored_expiry_plus_the_offset() {
        let session = crate::state::Session::<User>::from_sign_in(
            SignIn::new("opaque")
                .expires_in(Duration::from_secs(60))
                .server_time(NOW + Duration::from_secs(600)),
            NOW,
            Duration::ZERO,
        )
        .unwrap();
        let header = cookie("_auth", &record::encode(&session).unwrap());
        let read = SessionReader::new("_auth")
            .from_cookie_header::<User>(&header, NOW + Duration::from_secs(600));
        assert_eq!(
            read.unwrap().expires_at(),
            NOW + Duration::from_secs(660),
            "stored on the browser's clock, judged on the server's"
        );
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn reads_every_cookie_header_of_a_request() {
        // HTTP/2 may split cookies over several headers; a header that is not text is skipped.
        // (`from_headers` judges at the real now: the token lives until about 2066.)
        let mut headers = http::HeaderMap::new();
        for value in [
            "theme=dark".as_bytes(),
            b"x=\xff",
            cookie("_auth", &record_for(0, 400_000_000)).as_bytes(),
        ] {
            headers.append(
                http::header::COOKIE,
                http::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        let reader = SessionReader::new("_auth");
        let session = reader.from_headers::<User>(&headers).unwrap();
        assert_eq!(session.user().unwrap().name, "Ada");
        let (parts, ()) = http::Request::builder().body(()).unwrap().into_parts();
        assert_eq!(
            reader.from_parts::<User>(&parts).unwrap_err(),
            NoSession::Missing
        );
    }

    #[test]
    fn the_verifier_decides_and_nothing_shows_a_token() {
        let header = cookie("_auth", &record_for(0, 300));
        let refused = SessionReader::new("_auth")
            .verify(|_| Err("bad signature".into()))
            .from_cookie_header::<User>(&header, NOW);
        assert_eq!(
            refused.unwrap_err(),
            NoSession::Rejected("bad signature".into())
        );
        let session = SessionReader::new("_auth")
            .verify(|token| {
                let claims = Claims::decode(token.expose()).map_err(|err| err.to_string())?;
                (claims.subject() == Some("7"))
                    .then_some(())
                    .ok_or_else(|| "wrong subject".to_string())
            })
            .from_cookie_header::<User>(&header, NOW)
            .unwrap();
        let shown = format!("{session:?}");
        assert!(!shown.contains(session.access_token().expose()), "{shown}");
        assert!(session.header().starts_with("Bearer ey"));
    }
}
