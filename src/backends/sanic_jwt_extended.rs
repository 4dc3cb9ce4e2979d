//! sanic-jwt-extended.
//!
//! Sign-in `POST {login_url} {"username","password"} -> {"access_token","refresh_token"}`;
//! refresh `POST {refresh_url}` with the refresh token as `Authorization: Bearer <refresh>`
//! `-> {"access_token"}`; errors are `{"msg": …}` (401 expired or missing, 422 invalid).
//! Access tokens carry `identity`, `role`, `fresh` and `type` claims: [`SanicUser`] reads them,
//! and the guard's `role` and `fresh` options use them.
//!
//! ## Usage
//! ```no_run
//! use leptos_auth_kit::backends::sanic_jwt_extended::{SanicJwtExtended, SanicUser};
//! use leptos_auth_kit::prelude::*;
//!
//! let backend = SanicJwtExtended::new("/api/auth", "/api/refresh");
//! let config = AuthConfig::<SanicUser>::cookie("_auth").refresh(backend.refresh());
//! # async fn login(backend: SanicJwtExtended, auth: Auth<SanicUser>) -> Result<(), Box<dyn std::error::Error>> {
//! auth.sign_in(backend.sign_in("ada", "lovelace").await?.user_from_claims())?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::simplejwt::EXPIRY_DRIVEN;
use super::{post, post_refresh, Answer, BackendError, Fields};
use crate::auth::UserState;
use crate::refresh::{
    create_refresh, Refresh, RefreshConfig, RefreshError, RefreshParams, Refreshed,
};
use crate::state::SignIn;

/// The user as sanic-jwt-extended's access-token claims describe it. Use it as the user type
/// with `SignIn::user_from_claims()`; after a refresh, `fresh` is updated from the new token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SanicUser {
    /// `identity`: who the token is for.
    pub identity: String,
    /// `role`, if the server sets one.
    #[serde(default)]
    pub role: Option<String>,
    /// `fresh`: issued by a password sign-in rather than a refresh.
    #[serde(default)]
    pub fresh: bool,
}

/// A sanic-jwt-extended server with its sign-in and refresh URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanicJwtExtended {
    login_url: String,
    refresh_url: String,
}

impl SanicJwtExtended {
    /// The server's sign-in and refresh endpoints.
    pub fn new(login_url: impl Into<String>, refresh_url: impl Into<String>) -> Self {
        Self {
            login_url: login_url.into(),
            refresh_url: refresh_url.into(),
        }
    }

    /// Signs in and returns the request for `Auth::sign_in` (add `.user_from_claims()` to
    /// keep a [`SanicUser`]).
    pub async fn sign_in<U>(
        &self,
        username: &str,
        password: &str,
    ) -> Result<SignIn<U>, BackendError> {
        let body = Fields(&[("username", username), ("password", password)]);
        sign_in_answer(post(&self.login_url, Some(&body), None).await?)
    }

    /// A refresh callback for `AuthConfig::refresh`, expiry-driven. The user state is rebuilt
    /// from the new token's claims when `U` can be read from them (so `fresh` turns false).
    pub fn refresh<U: UserState>(&self) -> Refresh<U> {
        create_refresh(self.refresh_config(EXPIRY_DRIVEN))
    }

    /// The refresh configuration, to change the interval or the backoff.
    pub fn refresh_config<U: UserState>(&self, interval: Duration) -> RefreshConfig<U> {
        let url = self.refresh_url.clone();
        RefreshConfig::new(interval, move |params: RefreshParams<U>| {
            let url = url.clone();
            async move {
                let Some(refresh) = params.refresh_token else {
                    return Err(RefreshError::Rejected("no refresh token to send".into()));
                };
                refresh_answer(post_refresh(&url, None, Some(refresh.expose())).await?)
            }
        })
    }
}

/// Reads the sign-in answer.
pub(crate) fn sign_in_answer<U>(answer: Answer) -> Result<SignIn<U>, BackendError> {
    answer.sign_in("access_token", "refresh_token", &[401, 422])
}

/// Reads the refresh answer: 401/422 `{"msg"}` are rejections, 5xx and HTML transient. The
/// user state is rebuilt from the new token's claims when `U` can be read from them.
pub(crate) fn refresh_answer<U: UserState>(answer: Answer) -> Result<Refreshed<U>, RefreshError> {
    let refreshed = answer.refreshed::<U>("access_token", "refresh_token")?;
    let user = crate::token::Claims::decode(refreshed.auth_token.expose())
        .ok()
        .and_then(|claims| claims.deserialize::<U>().ok());
    Ok(match user {
        Some(user) => refreshed.user(user),
        None => refreshed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::tests::answer;
    use crate::token::tests::jwt;

    #[test]
    fn refresh_answers_table() {
        let access =
            jwt(r#"{"exp":10,"identity":"ada","role":"admin","fresh":false,"type":"access"}"#);
        let ok =
            refresh_answer::<SanicUser>(answer(200, &format!(r#"{{"access_token":"{access}"}}"#)))
                .unwrap();
        assert_eq!(
            ok.user,
            Some(SanicUser {
                identity: "ada".into(),
                role: Some("admin".into()),
                fresh: false
            })
        );
        assert_eq!(ok.auth_token.expose(), access);
        let rows = [
            (
                answer(401, r#"{"msg":"Token has expired"}"#),
                RefreshError::Rejected("Token has expired".into()),
            ),
            (
                answer(422, r#"{"msg":"Signature verification failed"}"#),
                RefreshError::Rejected("Signature verification failed".into()),
            ),
            (
                answer(500, "<html>oops</html>"),
                RefreshError::Transient("HTTP 500".into()),
            ),
            (
                answer(200, r#"{"access":"x"}"#),
                RefreshError::Transient("refresh answer has no `access_token`".into()),
            ),
        ];
        for (answer, expected) in rows {
            assert_eq!(
                refresh_answer::<SanicUser>(answer.clone()).unwrap_err(),
                expected,
                "{answer:?}"
            );
        }
    }

    #[test]
    fn sign_in_answers_table() {
        assert!(sign_in_answer::<SanicUser>(answer(
            200,
            r#"{"access_token":"A","refresh_token":"R"}"#
        ))
        .is_ok());
        assert_eq!(
            sign_in_answer::<SanicUser>(answer(401, r#"{"msg":"Bad username or password"}"#))
                .unwrap_err(),
            BackendError::InvalidCredentials("Bad username or password".into())
        );
    }
}
