//! The HTTP API: SimpleJWT and sanic-jwt-extended endpoints, a protected `/api/me`, counters
//! for tests, and test controls (lifetimes, rotation, refresh failure modes).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::tokens::{account, account_by_name, Claims, Dialect, Keys, TokenProblem};

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;

/// How `/api/token/refresh/` and `/api/sanic/refresh` behave, for tests of failure handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RefreshMode {
    /// Normal.
    #[default]
    Normal,
    /// 500 with a JSON body.
    Error500,
    /// 502 with an HTML page, like a proxy in front of a dead app.
    Html,
    /// 401 `token_not_valid` (SimpleJWT) / `{"msg"}` (sanic): every refresh token refused.
    Reject,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub access_secs: u64,
    pub refresh_secs: u64,
    pub rotate: bool,
    #[serde(default)]
    pub refresh_mode: RefreshMode,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub logins: u64,
    /// Every call to a refresh endpoint, whatever its answer.
    pub refresh_calls: u64,
    pub refreshes: u64,
    pub refresh_rejected: u64,
    pub me_ok: u64,
    pub me_unauthorized: u64,
}

struct Inner {
    /// Access tokens issued before the last `/api/test/revoke-access` are refused by `/api/me`.
    revoked_before: u64,
    settings: Settings,
    blacklist: HashSet<String>,
    counters: Counters,
}

pub struct AppState {
    keys: Keys,
    inner: Mutex<Inner>,
}

type Shared = Arc<AppState>;

impl AppState {
    pub fn new(secret: &[u8], settings: Settings) -> Shared {
        Arc::new(Self {
            keys: Keys::new(secret),
            inner: Mutex::new(Inner {
                revoked_before: 0,
                settings,
                blacklist: HashSet::new(),
                counters: Counters::default(),
            }),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut inner)
    }
}

/// The API and the test controls, with a JSON 404 for every other path: the demo server alone.
pub fn router(state: Shared) -> Router {
    api(state.clone())
        .merge(test_controls(state))
        .fallback(|| async { error(StatusCode::NOT_FOUND, json!({"detail": "Not found."})) })
}

/// The token endpoints of both dialects and the protected `/api/me`, to merge into an app
/// that answers the other paths (the server-rendered example).
pub fn api(state: Shared) -> Router {
    Router::new()
        .route("/api/token/", post(simplejwt_login))
        .route("/api/token/refresh/", post(simplejwt_refresh))
        .route("/api/token/blacklist/", post(simplejwt_blacklist))
        .route("/api/sanic/auth", post(sanic_login))
        .route("/api/sanic/refresh", post(sanic_refresh))
        .route("/api/me", get(me))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// What the tests drive the server with: counters, token lifetimes, rotation, failure modes,
/// revoking access tokens. Unauthenticated: never mount it where anybody else can reach it.
pub fn test_controls(state: Shared) -> Router {
    Router::new()
        .route("/api/counters", get(counters))
        .route("/api/counters/reset", post(reset_counters))
        .route("/api/test/settings", get(get_settings).post(set_settings))
        .route("/api/test/revoke-access", post(revoke_access))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The JSON body, or the 4xx answer saying what is wrong with it (bad JSON, wrong content
/// type, too large).
fn body(payload: Result<Json<Value>, JsonRejection>) -> Result<Value, Response> {
    payload.map(|Json(value)| value).map_err(|rejection| {
        error(
            rejection.status(),
            json!({"detail": format!("JSON parse error - {}", rejection.body_text())}),
        )
    })
}

/// A required string field, or DRF's 400 for it.
fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str, Response> {
    match body.get(name).and_then(Value::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            json!({name: ["This field is required."]}),
        )),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn refresh_failure(mode: RefreshMode) -> Option<Response> {
    match mode {
        RefreshMode::Normal => None,
        RefreshMode::Reject => Some(error(
            StatusCode::UNAUTHORIZED,
            json!({"detail": "Token is invalid or expired", "code": TOKEN_NOT_VALID, "msg": "Token has been revoked"}),
        )),
        RefreshMode::Error500 => Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"detail": "Internal server error"}),
        )),
        RefreshMode::Html => Some(
            (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response(),
        ),
    }
}

const TOKEN_NOT_VALID: &str = "token_not_valid";

async fn simplejwt_login(
    State(state): State<Shared>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Response {
    let run = || -> Result<Response, Response> {
        let body = body(payload)?;
        let (username, password) = (field(&body, "username")?, field(&body, "password")?);
        let account = account(username, password).ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                json!({"detail": "No active account found with the given credentials"}),
            )
        })?;
        let settings = state.with(|inner| {
            inner.counters.logins += 1;
            inner.settings.clone()
        });
        let (access, _) = state.keys.issue(
            account,
            Dialect::SimpleJwt,
            "access",
            true,
            settings.access_secs,
        );
        let (refresh, _) = state.keys.issue(
            account,
            Dialect::SimpleJwt,
            "refresh",
            false,
            settings.refresh_secs,
        );
        Ok(Json(json!({"access": access, "refresh": refresh})).into_response())
    };
    run().unwrap_or_else(|response| response)
}

fn simplejwt_token_error(detail: &str) -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        json!({"detail": detail, "code": TOKEN_NOT_VALID}),
    )
}

/// Checks a SimpleJWT refresh token: signature, expiry, type, blacklist.
fn check_refresh(state: &AppState, token: &str) -> Result<Claims, &'static str> {
    let claims = state
        .keys
        .verify(token)
        .map_err(|_| "Token is invalid or expired")?;
    if claims.purpose() != Some("refresh") {
        return Err("Token has wrong type");
    }
    if state.with(|inner| inner.blacklist.contains(&claims.jti)) {
        return Err("Token is blacklisted");
    }
    Ok(claims)
}

async fn simplejwt_refresh(
    State(state): State<Shared>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Response {
    let run = || -> Result<Response, Response> {
        let body = body(payload)?;
        let token = field(&body, "refresh")?;
        let settings = state.with(|inner| {
            inner.counters.refresh_calls += 1;
            inner.settings.clone()
        });
        if let Some(failure) = refresh_failure(settings.refresh_mode) {
            return Err(failure);
        }
        let claims = check_refresh(&state, token).map_err(|detail| {
            state.with(|inner| inner.counters.refresh_rejected += 1);
            simplejwt_token_error(detail)
        })?;
        let account = claims
            .name()
            .and_then(account_by_name)
            .ok_or_else(|| simplejwt_token_error("User not found"))?;
        let (access, _) = state.keys.issue(
            account,
            Dialect::SimpleJwt,
            "access",
            false,
            settings.access_secs,
        );
        let mut answer = json!({"access": access});
        if settings.rotate {
            let (refresh, _) = state.keys.issue(
                account,
                Dialect::SimpleJwt,
                "refresh",
                false,
                settings.refresh_secs,
            );
            answer["refresh"] = json!(refresh);
        }
        state.with(|inner| {
            if settings.rotate {
                inner.blacklist.insert(claims.jti.clone());
            }
            inner.counters.refreshes += 1;
        });
        Ok(Json(answer).into_response())
    };
    run().unwrap_or_else(|response| response)
}

async fn simplejwt_blacklist(
    State(state): State<Shared>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Response {
    let run = || -> Result<Response, Response> {
        let body = body(payload)?;
        let token = field(&body, "refresh")?;
        let claims = check_refresh(&state, token).map_err(simplejwt_token_error)?;
        state.with(|inner| inner.blacklist.insert(claims.jti));
        Ok(Json(json!({})).into_response())
    };
    run().unwrap_or_else(|response| response)
}

fn msg(status: StatusCode, text: &str) -> Response {
    error(status, json!({"msg": text}))
}

async fn sanic_login(
    State(state): State<Shared>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Response {
    let run = || -> Result<Response, Response> {
        let body = body(payload)?;
        let username = body
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let password = body
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let account = account(username, password)
            .ok_or_else(|| msg(StatusCode::UNAUTHORIZED, "Bad username or password"))?;
        let settings = state.with(|inner| {
            inner.counters.logins += 1;
            inner.settings.clone()
        });
        let (access, _) = state.keys.issue(
            account,
            Dialect::SanicJwtExtended,
            "access",
            true,
            settings.access_secs,
        );
        let (refresh, _) = state.keys.issue(
            account,
            Dialect::SanicJwtExtended,
            "refresh",
            false,
            settings.refresh_secs,
        );
        Ok(Json(json!({"access_token": access, "refresh_token": refresh})).into_response())
    };
    run().unwrap_or_else(|response| response)
}

async fn sanic_refresh(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let settings = state.with(|inner| {
        inner.counters.refresh_calls += 1;
        inner.settings.clone()
    });
    if let Some(failure) = refresh_failure(settings.refresh_mode) {
        return failure;
    }
    let rejected = |status, text| {
        state.with(|inner| inner.counters.refresh_rejected += 1);
        msg(status, text)
    };
    let Some(token) = bearer(&headers) else {
        return rejected(StatusCode::UNAUTHORIZED, "Missing Authorization Header");
    };
    let claims = match state.keys.verify(token) {
        Ok(claims) => claims,
        Err(TokenProblem::Expired) => {
            return rejected(StatusCode::UNAUTHORIZED, "Token has expired")
        }
        Err(TokenProblem::Invalid) => {
            return rejected(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Signature verification failed",
            )
        }
    };
    if claims.purpose() != Some("refresh") {
        return rejected(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only refresh tokens are allowed",
        );
    }
    if state.with(|inner| inner.blacklist.contains(&claims.jti)) {
        return rejected(StatusCode::UNAUTHORIZED, "Token has been revoked");
    }
    let Some(account) = claims.name().and_then(account_by_name) else {
        return rejected(StatusCode::UNAUTHORIZED, "User not found");
    };
    let (access, _) = state.keys.issue(
        account,
        Dialect::SanicJwtExtended,
        "access",
        false,
        settings.access_secs,
    );
    state.with(|inner| inner.counters.refreshes += 1);
    Json(json!({"access_token": access})).into_response()
}

async fn me(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let unauthorized = |body: Value| {
        state.with(|inner| inner.counters.me_unauthorized += 1);
        error(StatusCode::UNAUTHORIZED, body)
    };
    let Some(token) = bearer(&headers) else {
        return unauthorized(json!({"detail": "Authentication credentials were not provided."}));
    };
    match state.keys.verify(token) {
        Ok(claims)
            if claims.purpose() == Some("access")
                && claims.seq >= state.with(|inner| inner.revoked_before) =>
        {
            state.with(|inner| inner.counters.me_ok += 1);
            Json(json!({
                "username": claims.name(),
                "role": claims.role,
                "fresh": claims.fresh,
                "expires_at": claims.exp,
            }))
            .into_response()
        }
        _ => unauthorized(
            json!({"detail": "Given token not valid for any token type", "code": TOKEN_NOT_VALID}),
        ),
    }
}

async fn counters(State(state): State<Shared>) -> Json<Counters> {
    Json(state.with(|inner| inner.counters.clone()))
}

async fn reset_counters(State(state): State<Shared>) -> Json<Counters> {
    Json(state.with(|inner| std::mem::take(&mut inner.counters)))
}

/// Makes `/api/me` refuse every access token issued so far (as if the signing key rotated),
/// so tests can see what clients do with a 401.
async fn revoke_access(State(state): State<Shared>) -> Json<Value> {
    let next = crate::tokens::next_seq();
    state.with(|inner| inner.revoked_before = next);
    Json(json!({"revoked_before": next}))
}

async fn get_settings(State(state): State<Shared>) -> Json<Settings> {
    Json(state.with(|inner| inner.settings.clone()))
}

/// Changes any of `access_secs`, `refresh_secs`, `rotate`, `refresh_mode`.
async fn set_settings(
    State(state): State<Shared>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Response {
    let body = match body(payload) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let current = state.with(|inner| serde_json::to_value(&inner.settings).unwrap_or_default());
    let mut merged = current;
    if let (Some(merged), Some(changes)) = (merged.as_object_mut(), body.as_object()) {
        for (key, value) in changes {
            merged.insert(key.clone(), value.clone());
        }
    }
    match serde_json::from_value::<Settings>(merged) {
        Ok(settings) => {
            state.with(|inner| inner.settings = settings.clone());
            Json(settings).into_response()
        }
        Err(err) => error(StatusCode::BAD_REQUEST, json!({"detail": err.to_string()})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    fn app(rotate: bool) -> Router {
        router(AppState::new(
            b"test",
            Settings {
                access_secs: 60,
                refresh_secs: 600,
                rotate,
                refresh_mode: RefreshMode::Normal,
            },
        ))
    }

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        body: Option<&str>,
        bearer: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(body.map(|b| Body::from(b.to_owned())).unwrap_or_default())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
        )
    }

    /// The status `/api/me` answers with this bearer token.
    async fn me_status(app: &Router, bearer: Option<&str>) -> StatusCode {
        call(app, "GET", "/api/me", None, bearer).await.0
    }

    /// Signs `ada` in with the SimpleJWT dialect.
    async fn login_ada(app: &Router) -> (StatusCode, Value) {
        let credentials = r#"{"username":"ada","password":"lovelace"}"#;
        call(app, "POST", "/api/token/", Some(credentials), None).await
    }

    fn text(value: &Value, key: &str) -> String {
        value[key].as_str().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn simplejwt_login_refresh_rotation_and_blacklist() {
        let app = app(true);
        let (status, tokens) = login_ada(&app).await;
        assert_eq!(status, StatusCode::OK);
        let (access, refresh) = (text(&tokens, "access"), text(&tokens, "refresh"));
        let (status, me) = call(&app, "GET", "/api/me", None, Some(&access)).await;
        assert_eq!(
            (status, text(&me, "username")),
            (StatusCode::OK, "ada".into())
        );

        let body = format!(r#"{{"refresh":"{refresh}"}}"#);
        let (status, rotated) = call(&app, "POST", "/api/token/refresh/", Some(&body), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            rotated["access"].is_string() && rotated["refresh"].is_string(),
            "{rotated}"
        );

        let (status, reuse) = call(&app, "POST", "/api/token/refresh/", Some(&body), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reuse,
            json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
        );

        let new_refresh = text(&rotated, "refresh");
        let blacklist = format!(r#"{{"refresh":"{new_refresh}"}}"#);
        assert_eq!(
            call(
                &app,
                "POST",
                "/api/token/blacklist/",
                Some(&blacklist),
                None
            )
            .await
            .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "POST", "/api/token/refresh/", Some(&blacklist), None)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );

        let (_, counters) = call(&app, "GET", "/api/counters", None, None).await;
        assert_eq!(
            (
                counters["logins"].as_u64(),
                counters["refreshes"].as_u64(),
                counters["refresh_rejected"].as_u64()
            ),
            (Some(1), Some(1), Some(2))
        );
    }

    #[tokio::test]
    async fn simplejwt_errors_have_drf_shapes() {
        let app = app(false);
        let rows = [
            (
                "/api/token/",
                r#"{"username":"ada","password":"wrong"}"#,
                StatusCode::UNAUTHORIZED,
                json!({"detail": "No active account found with the given credentials"}),
            ),
            (
                "/api/token/refresh/",
                r#"{}"#,
                StatusCode::BAD_REQUEST,
                json!({"refresh": ["This field is required."]}),
            ),
            (
                "/api/token/refresh/",
                r#"{"refresh":"garbage"}"#,
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Token is invalid or expired", "code": "token_not_valid"}),
            ),
        ];
        for (uri, body, status, expected) in rows {
            assert_eq!(
                call(&app, "POST", uri, Some(body), None).await,
                (status, expected),
                "{uri} {body}"
            );
        }
        let (status, bad_json) = call(&app, "POST", "/api/token/", Some("{nope"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            text(&bad_json, "detail").starts_with("JSON parse error"),
            "{bad_json}"
        );
        let huge = format!(r#"{{"refresh":"{}"}}"#, "x".repeat(BODY_LIMIT));
        assert_eq!(
            call(&app, "POST", "/api/token/refresh/", Some(&huge), None)
                .await
                .0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            call(&app, "GET", "/api/token/", None, None).await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            call(&app, "GET", "/api/nothing", None, None).await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn sanic_dialect_uses_bearer_refresh_and_msg_errors() {
        let app = app(false);
        let (status, tokens) = call(
            &app,
            "POST",
            "/api/sanic/auth",
            Some(r#"{"username":"bob","password":"builder"}"#),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (access, refresh) = (
            text(&tokens, "access_token"),
            text(&tokens, "refresh_token"),
        );
        let (_, me) = call(&app, "GET", "/api/me", None, Some(&access)).await;
        assert_eq!(
            (
                text(&me, "username"),
                text(&me, "role"),
                me["fresh"].as_bool()
            ),
            ("bob".into(), "user".into(), Some(true))
        );

        let (status, refreshed) =
            call(&app, "POST", "/api/sanic/refresh", None, Some(&refresh)).await;
        assert_eq!(status, StatusCode::OK);
        let (_, me) = call(
            &app,
            "GET",
            "/api/me",
            None,
            Some(&text(&refreshed, "access_token")),
        )
        .await;
        assert_eq!(
            me["fresh"].as_bool(),
            Some(false),
            "refreshed tokens are not fresh"
        );

        assert_eq!(
            call(&app, "POST", "/api/sanic/refresh", None, None).await,
            (
                StatusCode::UNAUTHORIZED,
                json!({"msg": "Missing Authorization Header"})
            )
        );
        assert_eq!(
            call(&app, "POST", "/api/sanic/refresh", None, Some(&access)).await,
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"msg": "Only refresh tokens are allowed"})
            )
        );
        assert_eq!(
            call(
                &app,
                "POST",
                "/api/sanic/auth",
                Some(r#"{"username":"bob"}"#),
                None
            )
            .await,
            (
                StatusCode::UNAUTHORIZED,
                json!({"msg": "Bad username or password"})
            )
        );
    }

    #[tokio::test]
    async fn me_refuses_missing_refresh_and_foreign_tokens() {
        let app = app(false);
        assert_eq!(me_status(&app, None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            me_status(&app, Some("garbage")).await,
            StatusCode::UNAUTHORIZED
        );
        let (_, tokens) = login_ada(&app).await;
        assert_eq!(
            me_status(&app, Some(&text(&tokens, "refresh"))).await,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn failure_modes_answer_500_or_html() {
        let app = app(false);
        let (_, tokens) = login_ada(&app).await;
        let body = format!(r#"{{"refresh":"{}"}}"#, text(&tokens, "refresh"));
        call(
            &app,
            "POST",
            "/api/test/settings",
            Some(r#"{"refresh_mode":"error500"}"#),
            None,
        )
        .await;
        assert_eq!(
            call(&app, "POST", "/api/token/refresh/", Some(&body), None)
                .await
                .0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        call(
            &app,
            "POST",
            "/api/test/settings",
            Some(r#"{"refresh_mode":"html"}"#),
            None,
        )
        .await;
        let (status, page) = call(&app, "POST", "/api/token/refresh/", Some(&body), None).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(page.as_str().unwrap_or_default().contains("<html>"));
        let (status, settings) = call(
            &app,
            "POST",
            "/api/test/settings",
            Some(r#"{"access_secs":"soon"}"#),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{settings}");
    }

    #[tokio::test]
    async fn revoking_access_tokens_and_reject_mode() {
        let app = app(false);
        let (_, tokens) = login_ada(&app).await;
        let access = text(&tokens, "access");
        assert_eq!(me_status(&app, Some(&access)).await, StatusCode::OK);
        call(&app, "POST", "/api/test/revoke-access", None, None).await;
        assert_eq!(
            me_status(&app, Some(&access)).await,
            StatusCode::UNAUTHORIZED
        );
        let body = format!(r#"{{"refresh":"{}"}}"#, text(&tokens, "refresh"));
        let (_, refreshed) = call(&app, "POST", "/api/token/refresh/", Some(&body), None).await;
        assert_eq!(
            me_status(&app, Some(&text(&refreshed, "access"))).await,
            StatusCode::OK
        );
        call(
            &app,
            "POST",
            "/api/test/settings",
            Some(r#"{"refresh_mode":"reject"}"#),
            None,
        )
        .await;
        let (status, rejected) = call(&app, "POST", "/api/token/refresh/", Some(&body), None).await;
        assert_eq!(
            (status, text(&rejected, "code")),
            (StatusCode::UNAUTHORIZED, "token_not_valid".into())
        );
    }
}
