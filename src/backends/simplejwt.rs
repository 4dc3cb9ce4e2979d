//! Django REST Framework SimpleJWT.
//!
//! `POST {base}/token/ {"username","password"} -> {"access","refresh"}`,
//! `POST {base}/token/refresh/ {"refresh"} -> {"access"[, "refresh"]}` (a new refresh token
//! when `ROTATE_REFRESH_TOKENS` is on), `POST {base}/token/blacklist/ {"refresh"}`.
//!
//! ## Usage
//! ```no_run
//! use leptos_auth_kit::backends::simplejwt::SimpleJwt;
//! use leptos_auth_kit::prelude::*;
//!
//! let backend = SimpleJwt::new("/api");
//! let config = AuthConfig::<()>::local_storage("_auth").refresh(backend.refresh());
//!
//! // In a login handler:
//! # async fn login(backend: SimpleJwt, auth: Auth<()>) -> Result<(), Box<dyn std::error::Error>> {
//! let request = backend.sign_in::<()>("ada", "lovelace").await?;
//! auth.sign_in(request)?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use super::{post, post_keepalive, post_refresh, Answer, BackendError, Fields};
use crate::auth::UserState;
use crate::refresh::{
    create_refresh, Refresh, RefreshConfig, RefreshError, RefreshParams, Refreshed,
};
use crate::state::SignIn;
use crate::token::Token;

/// A SimpleJWT server under `base` (such as `/api` or `https://example.com/api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleJwt {
    base: String,
}

/// Refresh interval used by [`SimpleJwt::refresh`]: long, so refreshes are driven by the
/// access token's expiry (minus the leeway).
pub const EXPIRY_DRIVEN: Duration = Duration::from_secs(24 * 60 * 60);

impl SimpleJwt {
    /// The server at `base`; a trailing `/` is ignored.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// `{base}/token/`.
    pub fn token_url(&self) -> String {
        format!("{}/token/", self.base)
    }

    /// `{base}/token/refresh/`.
    pub fn refresh_url(&self) -> String {
        format!("{}/token/refresh/", self.base)
    }

    /// `{base}/token/blacklist/`.
    pub fn blacklist_url(&self) -> String {
        format!("{}/token/blacklist/", self.base)
    }

    /// Signs in with a username and password and returns the request for `Auth::sign_in`
    /// (add `.user(..)` or `.user_from_claims()` to it).
    pub async fn sign_in<U>(
        &self,
        username: &str,
        password: &str,
    ) -> Result<SignIn<U>, BackendError> {
        let body = Fields(&[("username", username), ("password", password)]);
        sign_in_answer(post(&self.token_url(), Some(&body), None).await?)
    }

    /// A refresh callback for `AuthConfig::refresh`, expiry-driven.
    pub fn refresh<U: UserState>(&self) -> Refresh<U> {
        create_refresh(self.refresh_config(EXPIRY_DRIVEN))
    }

    /// The refresh configuration, to change the interval or the backoff.
    pub fn refresh_config<U: UserState>(&self, interval: Duration) -> RefreshConfig<U> {
        let url = self.refresh_url();
        RefreshConfig::new(interval, move |params: RefreshParams<U>| {
            let url = url.clone();
            async move {
                let Some(refresh) = params.refresh_token else {
                    return Err(RefreshError::Rejected("no refresh token to send".into()));
                };
                let body = Fields(&[("refresh", refresh.expose())]);
                refresh_answer(post_refresh(&url, Some(&body), None).await?)
            }
        })
    }

    /// A revoke hook for [`AuthConfig::revoke_on_sign_out`]: blacklists each refresh token a
    /// sign-out retires (the session's, and one a refresh under way brings after it) with
    /// [`SimpleJwt::blacklist`], in the background. Needs
    /// `rest_framework_simplejwt.token_blacklist` on the server. The request is sent with
    /// `keepalive`, so leaving the page right after the sign-out does not cancel it; a failed
    /// request is dropped (the token still expires at its `exp`).
    ///
    /// [`AuthConfig::revoke_on_sign_out`]: crate::AuthConfig::revoke_on_sign_out
    pub fn revoke(&self) -> impl Fn(Token) + Send + Sync + 'static {
        let backend = self.clone();
        move |token: Token| {
            #[cfg(target_arch = "wasm32")]
            {
                let backend = backend.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = backend.blacklist(token.expose()).await;
                });
            }
            // Sign-outs happen in the browser only.
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (&backend, token);
        }
    }

    /// Blacklists a refresh token (sent with `keepalive`). [`SimpleJwt::revoke`] does it on
    /// every sign-out; call this for a token you hold yourself. Needs
    /// `rest_framework_simplejwt.token_blacklist` on the server.
    pub async fn blacklist(&self, refresh_token: &str) -> Result<(), BackendError> {
        let body = Fields(&[("refresh", refresh_token)]);
        let answer = post_keepalive(&self.blacklist_url(), &body).await?;
        match answer.status {
            200..=299 => Ok(()),
            _ => Err(answer.failure()),
        }
    }
}

/// Reads the answer of `POST {base}/token/`.
pub(crate) fn sign_in_answer<U>(answer: Answer) -> Result<SignIn<U>, BackendError> {
    answer.sign_in("access", "refresh", &[401])
}

/// Reads the answer of `POST {base}/token/refresh/`: the new access token and, with rotation,
/// the new refresh token. 400/401 (`token_not_valid`, blacklisted, expired) is a rejection;
/// 5xx, HTML and unreadable answers are transient.
pub(crate) fn refresh_answer<U>(answer: Answer) -> Result<Refreshed<U>, RefreshError> {
    answer.refreshed("access", "refresh")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::tests::answer;

    fn refreshed_tokens(
        result: Result<Refreshed<()>, RefreshError>,
    ) -> Result<(String, Option<String>), RefreshError> {
        result.map(|r| {
            (
                r.auth_token.expose().to_owned(),
                r.refresh_token.map(|t| t.expose().to_owned()),
            )
        })
    }

    #[test]
    fn refresh_answers_table() {
        let rows = [
            (
                answer(200, r#"{"access":"A2"}"#),
                Ok(("A2".to_string(), None)),
            ),
            (
                answer(200, r#"{"access":"A2","refresh":"R2"}"#),
                Ok(("A2".to_string(), Some("R2".to_string()))),
            ),
            (
                answer(200, "<html>maintenance</html>"),
                Err(RefreshError::Transient(
                    "refresh answer has no `access`".into(),
                )),
            ),
            (
                answer(200, r#"{"token":"A2"}"#),
                Err(RefreshError::Transient(
                    "refresh answer has no `access`".into(),
                )),
            ),
            (
                answer(
                    401,
                    r#"{"detail":"Token is blacklisted","code":"token_not_valid"}"#,
                ),
                Err(RefreshError::Rejected("Token is blacklisted".into())),
            ),
            (
                answer(
                    401,
                    r#"{"detail":"Token is invalid or expired","code":"token_not_valid"}"#,
                ),
                Err(RefreshError::Rejected("Token is invalid or expired".into())),
            ),
            (
                answer(400, r#"{"refresh":["This field is required."]}"#),
                Err(RefreshError::Rejected("HTTP 400".into())),
            ),
            (
                answer(500, r#"{"detail":"boom"}"#),
                Err(RefreshError::Transient("boom".into())),
            ),
            (
                answer(503, "<html><body>Service Unavailable</body></html>"),
                Err(RefreshError::Transient("HTTP 503".into())),
            ),
        ];
        for (answer, expected) in rows {
            assert_eq!(
                refreshed_tokens(refresh_answer(answer.clone())),
                expected,
                "{answer:?}"
            );
        }
    }

    #[test]
    fn sign_in_answers_table() {
        let ok = sign_in_answer::<()>(answer(200, r#"{"access":"A","refresh":"R"}"#)).unwrap();
        assert!(format!("{ok:?}").contains("Token(***)"));
        assert_eq!(
            sign_in_answer::<()>(answer(
                401,
                r#"{"detail":"No active account found with the given credentials"}"#
            ))
            .unwrap_err(),
            BackendError::InvalidCredentials(
                "No active account found with the given credentials".into()
            )
        );
        assert_eq!(
            sign_in_answer::<()>(answer(502, "<html/>")).unwrap_err(),
            BackendError::Transient("HTTP 502".into())
        );
        assert_eq!(
            sign_in_answer::<()>(answer(200, "{}")).unwrap_err(),
            BackendError::Transient("sign-in answer has no `access`".into())
        );
    }

    #[test]
    fn urls_ignore_a_trailing_slash() {
        let backend = SimpleJwt::new("https://example.com/api/");
        assert_eq!(
            backend.refresh_url(),
            "https://example.com/api/token/refresh/"
        );
        assert_eq!(backend.token_url(), "https://example.com/api/token/");
    }
}
