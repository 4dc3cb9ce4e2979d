//! The auth state machine.
//!
//! Pure: no web-sys, no signals, time is passed in. The provider keeps one [`AuthState`] in a
//! signal and replaces it only through these transitions, so every rule about what a valid
//! session is lives here and is tested natively.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::AuthError;
use crate::time::{earliest, Timestamp};
use crate::token::{
    check_token_text, clock_offset, jwt_expiry, offset_between, Claims, Token, TokenInfo,
    SKEW_THRESHOLD,
};

/// What a user state type must be: cloneable, comparable (so that views reading only the user
/// do not re-render when a refresh keeps it the same), and serialisable for storage.
/// Implemented for every such type; use `()` for no user state.
pub trait UserState:
    Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

impl<T> UserState for T where
    T: Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

/// Whether the user is signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AuthStatus {
    /// Not known yet: the stored access token had expired and the start-up refresh is running.
    Loading,
    /// Signed in.
    Authenticated,
    /// Signed out.
    Unauthenticated,
}

/// The state of the refresh engine, for a UI to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshInfo {
    /// A refresh is running.
    pub in_flight: bool,
    /// When the last successful refresh finished.
    pub last_refreshed_at: Option<Timestamp>,
    /// Why the last refresh failed, cleared by the next success.
    pub last_error: Option<String>,
    /// Successful refreshes since the provider mounted.
    pub count: u32,
}

/// The token type used when none is given.
pub const DEFAULT_TOKEN_TYPE: &str = "Bearer";

/// A successful refresh: the new access token and whatever else changed.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::Refreshed;
///
/// # let (access, rotated) = ("a".to_string(), "r".to_string());
/// let refreshed: Refreshed<()> = Refreshed::new(access).refresh_token(rotated);
/// ```
#[derive(Debug, Clone)]
pub struct Refreshed<U> {
    pub(crate) auth_token: Token,
    pub(crate) token_type: Option<String>,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_token: Option<Token>,
    pub(crate) refresh_expires_in: Option<Duration>,
    pub(crate) user: Option<U>,
    pub(crate) server_time: Option<Timestamp>,
}

impl<U> Refreshed<U> {
    /// The new access token; everything else stays as it was.
    pub fn new(auth_token: impl Into<String>) -> Self {
        Self {
            auth_token: Token::new(auth_token),
            token_type: None,
            expires_in: None,
            refresh_token: None,
            refresh_expires_in: None,
            user: None,
            server_time: None,
        }
    }

    /// A new token type (default: keep the current one).
    pub fn token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = Some(token_type.into());
        self
    }

    /// Lifetime of an opaque access token (JWTs carry `exp`).
    pub fn expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = Some(expires_in);
        self
    }

    /// A new refresh token (rotation): it replaces the old one.
    pub fn refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(Token::new(refresh_token));
        self
    }

    /// Lifetime of an opaque new refresh token.
    pub fn refresh_expires_in(mut self, refresh_expires_in: Duration) -> Self {
        self.refresh_expires_in = Some(refresh_expires_in);
        self
    }

    /// New user state (default: keep the current one).
    pub fn user(mut self, user: U) -> Self {
        self.user = Some(user);
        self
    }

    /// The server's clock when it answered (its response's `Date` header), for an access
    /// token without `iat`: the clock offset is judged from it, as from `iat` (see
    /// [`crate::SignIn::server_time`]).
    pub fn server_time(mut self, at: Timestamp) -> Self {
        self.server_time = Some(at);
        self
    }
}

/// Everything needed to sign a user in: the input of [`Auth::sign_in`](crate::Auth::sign_in)
/// and of the `use_sign_in` hook.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::SignIn;
/// use std::time::Duration;
///
/// #[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User { name: String }
///
/// # let access = "opaque-access".to_string();
/// let request = SignIn::new(access)
///     .expires_in(Duration::from_secs(300)) // only needed for opaque (non-JWT) tokens
///     .refresh_token("opaque-refresh")
///     .user(User { name: "ada".into() });
/// ```
#[derive(Debug, Clone)]
pub struct SignIn<U> {
    auth_token: Token,
    token_type: String,
    expires_in: Option<Duration>,
    refresh_token: Option<Token>,
    refresh_expires_in: Option<Duration>,
    user: UserSource<U>,
    server_time: Option<Timestamp>,
}

#[derive(Clone)]
enum UserSource<U> {
    None,
    Given(U),
    /// Reads the user from the claims: chosen by [`SignIn::user_from_claims`], so that an app
    /// that never asks carries no deserialiser of the whole payload.
    FromClaims(fn(&Claims) -> Result<U, AuthError>),
}

impl<U: std::fmt::Debug> std::fmt::Debug for UserSource<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserSource::None => f.write_str("None"),
            UserSource::Given(user) => f.debug_tuple("Given").field(user).finish(),
            // Not the function's address, which changes from build to build.
            UserSource::FromClaims(_) => f.write_str("FromClaims"),
        }
    }
}

impl<U> SignIn<U> {
    /// Signs in with this access token, type `Bearer`, no refresh token and no user state.
    pub fn new(auth_token: impl Into<String>) -> Self {
        Self {
            auth_token: Token::new(auth_token),
            token_type: DEFAULT_TOKEN_TYPE.to_owned(),
            expires_in: None,
            refresh_token: None,
            refresh_expires_in: None,
            user: UserSource::None,
            server_time: None,
        }
    }

    /// The server's clock when it answered (its response's `Date` header), for an access
    /// token without `iat`: the browser's clock offset is judged from it (see
    /// [`Session::clock_offset_ms`]). The adapters set it when the header is readable (same
    /// origin, or `Access-Control-Expose-Headers: Date`); `iat` wins when present.
    pub fn server_time(mut self, at: Timestamp) -> Self {
        self.server_time = Some(at);
        self
    }

    /// The scheme used in the `Authorization` header (default `Bearer`).
    pub fn token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// How long the access token lives, for opaque tokens without an `exp` claim. With a JWT,
    /// the earlier of this and `exp` is used.
    pub fn expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = Some(expires_in);
        self
    }

    /// The refresh token, handed to the refresh callback. Its expiry is read from its `exp`
    /// claim when it is a JWT.
    pub fn refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(Token::new(refresh_token));
        self
    }

    /// How long an opaque refresh token lives. Without it (and without `exp`), the refresh
    /// token is kept until the server rejects it.
    pub fn refresh_expires_in(mut self, refresh_expires_in: Duration) -> Self {
        self.refresh_expires_in = Some(refresh_expires_in);
        self
    }

    /// The user state to keep with the session.
    pub fn user(mut self, user: U) -> Self {
        self.user = UserSource::Given(user);
        self
    }
}

impl<U: DeserializeOwned> SignIn<U> {
    /// Builds the user state from the access token's claims (deserialising the whole JWT
    /// payload into `U`).
    pub fn user_from_claims(mut self) -> Self {
        self.user = UserSource::FromClaims(Claims::deserialize);
        self
    }
}

/// A signed-in session. Read it through the `use_auth` handle; build it with [`SignIn`].
#[derive(Debug, Clone, PartialEq)]
pub struct Session<U> {
    pub(crate) auth_token: Token,
    pub(crate) token_type: String,
    pub(crate) expires_at: Timestamp,
    pub(crate) refresh_token: Option<Token>,
    pub(crate) refresh_expires_at: Option<Timestamp>,
    pub(crate) user: Option<U>,
    pub(crate) refreshed_at: Timestamp,
    /// How far the server's clock is ahead of this one, in ms (negative: behind).
    pub(crate) clock_offset: i64,
    /// Names the sign-in this session descends from: the same through every refresh and
    /// rotation, different for every sign-in, also one with the same tokens (see
    /// [`line_of`]). Tabs use it to tell a stale write of a session that ended (signed out,
    /// or replaced by a new sign-in) from a newer one.
    pub(crate) line: u64,
    /// How many refreshes of its line led to this session: a tab that sees storage go back to
    /// a lower one knows the write was stale.
    pub(crate) generation: u64,
    /// Orders sign-ins (and the sign-outs that end them) across tabs: the sign-in instant in
    /// Unix ms, raised past every epoch the signing-in tab had seen (0: a record written
    /// before epochs were kept). A tab holding a later sign-in than the one a stored value
    /// names knows that value was written from a view that had not seen its sign-in.
    pub(crate) epoch: u64,
}

impl<U> Session<U> {
    /// Checks a sign-in request and builds its session.
    pub(crate) fn from_sign_in(
        request: SignIn<U>,
        now: Timestamp,
        leeway: Duration,
    ) -> Result<Self, AuthError>
    where
        U: serde::de::DeserializeOwned,
    {
        check_token_type(&request.token_type)?;
        let clock_offset = clock_offset(request.auth_token.expose(), now)
            .or_else(|| request.server_time.map(|at| offset_between(at, now)))
            .unwrap_or(0);
        let access = TokenInfo::inspect_skewed(
            request.auth_token.expose(),
            request.expires_in,
            now,
            leeway,
            clock_offset,
        )?;
        let refresh_expires_at = match &request.refresh_token {
            Some(token) => {
                refresh_token_expiry(token, request.refresh_expires_in, now, clock_offset)?
            }
            None => None,
        };
        let user = match request.user {
            UserSource::None => None,
            UserSource::Given(user) => Some(user),
            UserSource::FromClaims(read) => match &access.claims {
                Some(claims) => Some(read(claims)?),
                None => {
                    return Err(AuthError::UserState(
                        "the access token is not a JWT, so it has no claims to read".into(),
                    ))
                }
            },
        };
        let line = line_of(
            request
                .refresh_token
                .as_ref()
                .unwrap_or(&request.auth_token),
            Some(now),
        );
        Ok(Session {
            line,
            generation: 0,
            epoch: now.unix_millis(),
            auth_token: request.auth_token,
            token_type: request.token_type,
            expires_at: access.expires_at,
            refresh_token: request.refresh_token,
            refresh_expires_at,
            user,
            refreshed_at: now,
            clock_offset,
        })
    }

    /// The access token.
    pub fn auth_token(&self) -> &Token {
        &self.auth_token
    }

    /// The `Authorization` scheme, `Bearer` unless told otherwise.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// When the access token expires.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The refresh token, if one is kept.
    pub fn refresh_token(&self) -> Option<&Token> {
        self.refresh_token.as_ref()
    }

    /// When the refresh token expires, if known.
    pub fn refresh_expires_at(&self) -> Option<Timestamp> {
        self.refresh_expires_at
    }

    /// The user state.
    pub fn user(&self) -> Option<&U> {
        self.user.as_ref()
    }

    /// How far the server's clock is ahead of this browser's, in milliseconds (negative:
    /// behind), as judged from the access token's `iat`; zero when they agree within
    /// [`crate::token::SKEW_THRESHOLD`] or the token has no `iat`. Every expiry of the session
    /// is on this browser's clock, with this offset taken off the server's `exp`.
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock_offset
    }

    /// When the user signed in or the tokens were last refreshed.
    pub fn refreshed_at(&self) -> Timestamp {
        self.refreshed_at
    }

    /// The `Authorization` header value, such as `Bearer eyJ…`. Do not log it.
    pub fn header(&self) -> String {
        format!("{} {}", self.token_type, self.auth_token.expose())
    }

    /// The token a refresh sends, which identifies the session's place in its chain: the
    /// refresh token, or the access token when the session has none.
    pub(crate) fn chain_token(&self) -> &Token {
        self.refresh_token.as_ref().unwrap_or(&self.auth_token)
    }

    /// Whether the refresh token is known to have expired at `now`.
    pub(crate) fn refresh_expired(&self, now: Timestamp) -> bool {
        self.refresh_expires_at.is_some_and(|at| at <= now)
    }

    /// When the session ends unless the user signs in again, on this browser's clock: with a
    /// refresh callback (`can_refresh`), the refresh token's expiry (`None` when that is not
    /// known: an opaque refresh token without `refresh_expires_in`, or none kept because the
    /// server refreshes by its own cookie); without one, the access token's expiry (or the
    /// refresh token's, when earlier). A rotating server (SimpleJWT's `ROTATE_REFRESH_TOKENS`)
    /// issues each new refresh token with a full lifetime, so every refresh moves this later.
    ///
    /// [`Auth::session_ends_at`](crate::Auth::session_ends_at) is this as a signal, for the
    /// provider's configuration.
    ///
    /// ## Usage
    /// ```
    /// use leptos::prelude::*;
    /// use leptos_auth_kit::prelude::*;
    ///
    /// #[component]
    /// fn RefreshTokenEnd() -> impl IntoView {
    ///     let auth = use_auth::<()>();
    ///     move || {
    ///         let ends = auth.state().with(|s| s.session().and_then(|s| s.ends_at(true)));
    ///         ends.map(|at| format!("the refresh token lasts until {} ms", at.unix_millis()))
    ///     }
    /// }
    /// ```
    pub fn ends_at(&self, can_refresh: bool) -> Option<Timestamp> {
        if can_refresh {
            self.refresh_expires_at
        } else {
            Some(self.ends_without_refresh())
        }
    }

    /// When the session ends when nothing refreshes it: the access token's expiry, or the
    /// refresh token's when earlier.
    pub(crate) fn ends_without_refresh(&self) -> Timestamp {
        self.refresh_expires_at
            .map_or(self.expires_at, |at| at.min(self.expires_at))
    }

    /// Whether the session must end at `now`: the refresh token expired, or the access token
    /// expired and nothing can refresh it.
    pub(crate) fn must_end(&self, now: Timestamp, can_refresh: bool) -> bool {
        self.refresh_expired(now) || (self.expires_at <= now && !can_refresh)
    }
}

/// What became of a refresh answer (see [`AuthState::apply_refresh`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefreshApplied {
    /// The new tokens are in the state.
    Applied,
    /// The token the refresh sent is no longer the session's (sign-out, new sign-in, or
    /// another tab already refreshed): nothing changed.
    Stale,
    /// The new access token cannot be used (no expiry, already expired, the same token as
    /// before, a bad token type). A rotated refresh token in the answer was kept all the same,
    /// since the server has already retired the old one.
    Unusable(AuthError),
}

/// Signed out, or signed in with a [`Session`], plus a version counter bumped by every
/// transition (views and the HTTP client use it to notice that the session changed). Whether
/// a refresh answer applies is decided by the token it sent, never by the version. Read it
/// with [`Auth::state`](crate::Auth::state); the store alone changes it.
///
/// ## Usage
/// ```
/// use leptos::prelude::*;
/// use leptos_auth_kit::prelude::*;
///
/// #[component]
/// fn SessionVersion() -> impl IntoView {
///     let auth = use_auth::<()>();
///     move || auth.state().with(|state| match state.session() {
///         Some(session) => format!("{} (version {})", session.token_type(), state.version()),
///         None => "signed out".to_owned(),
///     })
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuthState<U> {
    session: Option<Session<U>>,
    version: u64,
}

impl<U> Default for AuthState<U> {
    fn default() -> Self {
        Self::signed_out()
    }
}

impl<U> AuthState<U> {
    /// Nobody signed in, version 0.
    pub fn signed_out() -> Self {
        Self {
            session: None,
            version: 0,
        }
    }

    /// A state restored from storage at start-up: the session is kept unless it must already
    /// end (see [`Session::must_end`]).
    pub(crate) fn restored(session: Option<Session<U>>, now: Timestamp, can_refresh: bool) -> Self {
        Self {
            session: session.filter(|session| !session.must_end(now, can_refresh)),
            version: 0,
        }
    }

    /// The session, when signed in.
    pub fn session(&self) -> Option<&Session<U>> {
        self.session.as_ref()
    }

    /// Whether somebody is signed in.
    pub fn is_signed_in(&self) -> bool {
        self.session.is_some()
    }

    /// The session version: changes on every sign-in, sign-out, refresh and user update.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn bump(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// Signs in, replacing any session. On error the state is unchanged. (The engine signs
    /// in through `Session::from_sign_in`; this is the state machine's entry for tests.)
    #[cfg(any(test, fuzzing))]
    pub(crate) fn sign_in(
        &mut self,
        request: SignIn<U>,
        now: Timestamp,
        leeway: Duration,
    ) -> Result<(), AuthError>
    where
        U: serde::de::DeserializeOwned,
    {
        self.session = Some(Session::from_sign_in(request, now, leeway)?);
        self.bump();
        Ok(())
    }

    /// Signs out. Always bumps the version, so that an in-flight refresh is dropped.
    pub(crate) fn sign_out(&mut self) {
        self.session = None;
        self.bump();
    }

    /// Ends the session if it must end at `now` (see [`Session::must_end`]). Returns whether
    /// it signed out. (For tests: the engine decides endings with `Session::must_end`.)
    #[cfg(test)]
    pub(crate) fn expire(&mut self, now: Timestamp, can_refresh: bool) -> bool {
        let must_end = self
            .session
            .as_ref()
            .is_some_and(|session| session.must_end(now, can_refresh));
        if must_end {
            self.sign_out();
        }
        must_end
    }

    /// Takes over a session another tab stored (it signed in, refreshed, rotated the refresh
    /// token or updated the user).
    pub(crate) fn adopt(&mut self, stored: Session<U>) {
        self.session = Some(stored);
        self.bump();
    }

    /// Replaces the user state of the current session. (For tests: the engine merges a user
    /// update into what storage holds.)
    #[cfg(test)]
    pub(crate) fn update_user(&mut self, user: U) -> Result<(), AuthError> {
        let session = self.session.as_mut().ok_or(AuthError::NotSignedIn)?;
        session.user = Some(user);
        self.bump();
        Ok(())
    }

    /// Applies the answer to a refresh that sent `sent`, the session's chain token (its
    /// refresh token, or its access token when it has none; see [`Session::chain_token`]).
    ///
    /// Whether the answer applies depends only on whether `sent` is still the session's chain
    /// token, never on other changes (a user update, another tab's write of the same chain): a
    /// rotated refresh token is never dropped while its chain is current. A sign-out or a new
    /// sign-in makes the answer [`RefreshApplied::Stale`]. A new refresh token replaces the old
    /// one (rotation) even when the new access token is unusable; without one, the old one is
    /// kept.
    ///
    /// `sent_at` is when the refresh request went out: the clock offset is judged from the new
    /// token's `iat` against it, so that a slow or late answer makes the expiry early, never
    /// late.
    pub(crate) fn apply_refresh(
        &mut self,
        sent: &Token,
        refreshed: Refreshed<U>,
        now: Timestamp,
        sent_at: Timestamp,
        leeway: Duration,
    ) -> RefreshApplied {
        let Some(session) = self.session.as_mut() else {
            return RefreshApplied::Stale;
        };
        if session.chain_token() != sent {
            return RefreshApplied::Stale;
        }
        let Refreshed {
            auth_token,
            token_type,
            expires_in,
            refresh_token,
            refresh_expires_in,
            user,
            server_time,
        } = refreshed;
        let sent_at = sent_at.min(now);
        let judged = clock_offset(auth_token.expose(), sent_at)
            .or_else(|| server_time.map(|at| offset_between(at, sent_at)));
        let offset = judged.unwrap_or(session.clock_offset);
        // How far past its end a refresh token the server accepted may look and still be at
        // its end (see `forget_past_end`): the noise of a judged clock, or nothing.
        let noise = if judged.is_some() {
            SKEW_THRESHOLD
        } else {
            Duration::ZERO
        };
        let renews_refresh = refresh_token
            .as_ref()
            .is_some_and(|token| check_token_text(token.expose()).is_ok());
        let rotated = match refresh_token {
            Some(token) if renews_refresh => {
                let from_caller = refresh_expires_in.map(|expires_in| now + expires_in);
                let from_claims = jwt_expiry(token.expose()).map(|at| at.shifted(-offset));
                session.refresh_expires_at = earliest(from_claims, from_caller);
                let changed = session.refresh_token.as_ref() != Some(&token);
                session.refresh_token = Some(token);
                changed
            }
            _ => false,
        };
        let access = token_type
            .as_deref()
            .map_or(Ok(()), check_token_type)
            .and_then(|()| {
                TokenInfo::inspect_skewed(auth_token.expose(), expires_in, now, leeway, offset)
            })
            .and_then(|access| {
                if auth_token == session.auth_token {
                    Err(AuthError::TokenNotRenewed)
                } else {
                    Ok(access)
                }
            });
        let access = match access {
            Ok(access) => access,
            Err(err) => {
                if rotated {
                    forget_past_end(session, now, noise);
                    session.generation += 1;
                    self.bump();
                }
                return RefreshApplied::Unusable(err);
            }
        };
        session.auth_token = auth_token;
        session.expires_at = access.expires_at;
        if !renews_refresh {
            // The kept refresh token's expiry is on this clock, which may have jumped since it
            // was judged: it moves with the newly judged offset.
            session.refresh_expires_at = session
                .refresh_expires_at
                .map(|at| at.shifted(session.clock_offset.saturating_sub(offset)));
        }
        forget_past_end(session, now, noise);
        session.clock_offset = offset;
        if let Some(token_type) = token_type {
            session.token_type = token_type;
        }
        if let Some(user) = user {
            session.user = Some(user);
        }
        session.refreshed_at = now;
        session.generation += 1;
        self.bump();
        RefreshApplied::Applied
    }
}

/// The server has just accepted (or issued) the session's refresh token: if it looks expired
/// on this clock by more than `noise`, the clock is what is wrong (it jumped, and nothing
/// judged the offset anew), and the token's end is unknown until the server refuses it.
///
/// `noise` is [`SKEW_THRESHOLD`] when the answer judged the clock (`iat` or `Date`): within
/// it, this clock agrees with the server's (many servers accept a token during the second its
/// whole-second `exp` names), and the end stays where it was announced. An answer that says
/// nothing of the server's time gives no noise: any past end may be a clock that jumped.
fn forget_past_end<U>(session: &mut Session<U>, now: Timestamp, noise: Duration) {
    if session
        .refresh_expires_at
        .is_some_and(|at| at + noise <= now)
    {
        session.refresh_expires_at = None;
    }
}

/// The line of a session that signed in with this chain token at `signed_in_at` (see
/// [`Session::line`]): a hash of both, so that signing in again with the same tokens starts
/// a new line. (`None`: a record written before lines were kept.) Only compared, never shown.
///
/// The hash is 64-bit FNV-1a of the token's bytes, a 0 (no token holds one), then 0 for no
/// moment or 1 and the moment's 8 little-endian bytes: specified, so every build of the app
/// computes the same line (std's `DefaultHasher` may change between Rust releases), and a few
/// instructions (SipHash cost the wasm 0.41 KB gzip). Lines tell apart sign-ins of one
/// browser, not an adversary's.
pub(crate) fn line_of(chain_token: &Token, signed_in_at: Option<Timestamp>) -> u64 {
    let mut tail = [0; 10];
    let tail = match signed_in_at {
        None => &tail[..2],
        Some(at) => {
            tail[1] = 1;
            tail[2..].copy_from_slice(&at.unix_millis().to_le_bytes());
            &tail[..]
        }
    };
    chain_token
        .expose()
        .bytes()
        .chain(tail.iter().copied())
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// Refuses a token type that is empty, over 64 bytes, or has spaces or control characters.
pub(crate) fn check_token_type(token_type: &str) -> Result<(), AuthError> {
    if token_type.is_empty() || check_token_text(token_type).is_err() || token_type.len() > 64 {
        return Err(AuthError::InvalidTokenType);
    }
    Ok(())
}

/// The refresh token's expiry: the earlier of its `exp` claim (when it is a JWT) and the
/// explicit expires-in; unknown when neither is given (kept until the server rejects it).
fn refresh_token_expiry(
    token: &Token,
    expires_in: Option<Duration>,
    now: Timestamp,
    clock_offset: i64,
) -> Result<Option<Timestamp>, AuthError> {
    check_token_text(token.expose())?;
    let from_caller = expires_in.map(|expires_in| now + expires_in);
    let from_claims = jwt_expiry(token.expose()).map(|at| at.shifted(-clock_offset));
    let expires_at = earliest(from_claims, from_caller);
    if expires_at.is_some_and(|at| at <= now) {
        return Err(AuthError::RefreshTokenExpired);
    }
    Ok(expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::tests::jwt;
    use serde::Deserialize;

    const T0: Timestamp = Timestamp::from_unix_seconds(1_000_000);
    const LEEWAY: Duration = Duration::from_secs(30);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_line_is_the_same_in_every_build_and_tells_sign_ins_apart() {
        let token = |text: &str| Token::new(text.to_owned());
        // Pinned (the figures are Python's, from the bytes `line_of` documents): tabs running
        // different builds of an app (a deploy while it is open, another Rust release)
        // compute the same line for the same sign-in.
        assert_eq!(line_of(&token("r"), None), 0x8a67_1819_615e_ed1d);
        assert_eq!(
            line_of(&token("refresh-0"), Some(T0)),
            0xf300_b458_1c8c_3587
        );
        // Another token, another moment, or no moment (a record from before lines were kept,
        // even against the last moment there is): another line.
        let lines = [
            line_of(&token("refresh-0"), Some(T0)),
            line_of(&token("refresh-1"), Some(T0)),
            line_of(&token("refresh-0"), Some(T0.shifted(1))),
            line_of(&token("refresh-0"), None),
            line_of(
                &token("refresh-0"),
                Some(Timestamp::from_unix_millis(u64::MAX)),
            ),
        ];
        for (i, a) in lines.iter().enumerate() {
            for b in &lines[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    fn access(exp: u64) -> String {
        jwt(&format!(r#"{{"exp":{exp},"sub":"ada"}}"#))
    }

    fn signed_in(request: SignIn<String>) -> AuthState<String> {
        let mut state = AuthState::signed_out();
        state.sign_in(request, T0, LEEWAY).expect("sign-in");
        state
    }

    #[test]
    fn sign_in_keeps_tokens_expiry_and_user_and_bumps_version() {
        let state = signed_in(
            SignIn::new(access(1_000_300))
                .refresh_token(jwt(r#"{"exp":1086400}"#))
                .user("ada".to_string()),
        );
        let session = state.session().unwrap();
        assert_eq!(state.version(), 1);
        assert_eq!(
            session.expires_at(),
            Timestamp::from_unix_seconds(1_000_300)
        );
        assert_eq!(
            session.refresh_expires_at(),
            Some(Timestamp::from_unix_seconds(1_086_400))
        );
        assert_eq!(session.user().map(String::as_str), Some("ada"));
        assert_eq!(session.token_type(), "Bearer");
        assert_eq!(session.header(), format!("Bearer {}", access(1_000_300)));
        assert_eq!(session.refreshed_at(), T0);
    }

    #[test]
    #[rustfmt::skip]
    fn sign_in_errors_leave_the_state_unchanged() {
        let before = signed_in(SignIn::new(access(1_000_300)));
        let rows: Vec<(&str, SignIn<String>, AuthError)> = vec![
            ("expired access", SignIn::new(access(999_999)), AuthError::Expired { expired_at: Timestamp::from_unix_seconds(999_999) }),
            ("no expiry", SignIn::new("opaque"), AuthError::MissingExpiry),
            ("expired refresh", SignIn::new(access(1_000_300)).refresh_token(jwt(r#"{"exp":5}"#)), AuthError::RefreshTokenExpired),
            ("empty refresh", SignIn::new(access(1_000_300)).refresh_token(""), AuthError::MalformedToken("token is empty".into())),
            ("token type with space", SignIn::new(access(1_000_300)).token_type("Bear er"), AuthError::InvalidTokenType),
            ("empty token type", SignIn::new(access(1_000_300)).token_type(""), AuthError::InvalidTokenType),
            ("user from opaque claims", SignIn::new("opaque").expires_in(secs(5)).user_from_claims(), AuthError::UserState("the access token is not a JWT, so it has no claims to read".into())),
        ];
        for (case, request, expected) in rows {
            let mut state = before.clone();
            assert_eq!(state.sign_in(request, T0, LEEWAY), Err(expected), "case: {case}");
            assert_eq!(state, before, "case: {case}");
        }
    }

    #[test]
    fn user_state_can_come_from_claims() {
        #[derive(Deserialize, Clone, PartialEq, Debug)]
        struct User {
            sub: String,
        }
        let request = SignIn::new(access(1_000_300)).user_from_claims();
        let shown = format!("{request:?}");
        assert!(shown.contains("user: FromClaims,"), "{shown}");
        let mut state = AuthState::<User>::signed_out();
        state.sign_in(request, T0, LEEWAY).unwrap();
        assert_eq!(
            state.session().unwrap().user(),
            Some(&User { sub: "ada".into() })
        );
    }

    #[test]
    fn opaque_refresh_token_expiry_comes_from_expires_in_or_is_unknown() {
        let with = signed_in(
            SignIn::new(access(1_000_300))
                .refresh_token("r")
                .refresh_expires_in(secs(600)),
        );
        assert_eq!(
            with.session().unwrap().refresh_expires_at(),
            Some(T0 + secs(600))
        );
        let without = signed_in(SignIn::new(access(1_000_300)).refresh_token("r"));
        assert_eq!(without.session().unwrap().refresh_expires_at(), None);
    }

    #[test]
    fn sign_out_clears_and_bumps_even_when_signed_out() {
        let mut state = signed_in(SignIn::new(access(1_000_300)));
        state.sign_out();
        assert_eq!((state.is_signed_in(), state.version()), (false, 2));
        state.sign_out();
        assert_eq!(state.version(), 3);
    }

    #[test]
    #[rustfmt::skip]
    fn expire_table() {
        // (case, access exp, refresh exp (None: no refresh token), can_refresh, now offset, signs out)
        let rows = [
            ("access valid", 1_000_300, None, false, 299, false),
            ("access expired, no refresh", 1_000_300, None, false, 300, true),
            ("access expired, refresh possible", 1_000_300, Some(1_001_000), true, 300, false),
            ("access expired, refresh token but no callback", 1_000_300, Some(1_001_000), false, 300, true),
            ("refresh token expired", 1_000_300, Some(1_001_000), true, 1_000, true),
            ("refresh token expired, access still valid", 1_000_300, Some(1_000_100), true, 100, true),
        ];
        for (case, exp, refresh_exp, can_refresh, offset, signs_out) in rows {
            let mut request = SignIn::new(access(exp));
            if let Some(refresh_exp) = refresh_exp {
                request = request.refresh_token(jwt(&format!(r#"{{"exp":{refresh_exp}}}"#)));
            }
            let mut state = signed_in(request);
            assert_eq!(state.expire(T0 + secs(offset), can_refresh), signs_out, "case: {case}");
            assert_eq!(state.is_signed_in(), !signs_out, "case: {case}");
        }
    }

    /// The chain token of the current session.
    fn sent(state: &AuthState<String>) -> Token {
        state.session().unwrap().chain_token().clone()
    }

    #[test]
    fn refresh_replaces_access_and_rotates_refresh_token() {
        let mut state = signed_in(
            SignIn::new(access(1_000_300))
                .refresh_token("old")
                .user("ada".into()),
        );
        let version = state.version();
        let now = T0 + secs(250);
        let refreshed = Refreshed::new(access(1_000_550)).refresh_token("new");
        assert_eq!(
            state.apply_refresh(&sent(&state), refreshed, now, now, LEEWAY),
            RefreshApplied::Applied
        );
        let session = state.session().unwrap();
        assert_eq!(
            session.expires_at(),
            Timestamp::from_unix_seconds(1_000_550)
        );
        assert_eq!(session.refresh_token().unwrap().expose(), "new");
        assert_eq!(session.user().map(String::as_str), Some("ada"));
        assert_eq!(session.refreshed_at(), now);
        assert_eq!(state.version(), version + 1);
    }

    #[test]
    fn refresh_without_new_refresh_token_keeps_the_old_one() {
        let mut state = signed_in(SignIn::new(access(1_000_300)).refresh_token("old"));
        let sent = sent(&state);
        assert_eq!(
            state.apply_refresh(&sent, Refreshed::new(access(1_000_550)), T0, T0, LEEWAY),
            RefreshApplied::Applied
        );
        assert_eq!(
            state.session().unwrap().refresh_token().unwrap().expose(),
            "old"
        );
    }

    #[test]
    fn late_refresh_after_sign_out_or_new_sign_in_is_dropped() {
        let mut state = signed_in(SignIn::new(access(1_000_300)).refresh_token("old"));
        let started = sent(&state);
        state.sign_out();
        let late = Refreshed::new(access(1_000_550)).refresh_token("rotated");
        assert_eq!(
            state.apply_refresh(&started, late.clone(), T0, T0, LEEWAY),
            RefreshApplied::Stale
        );
        assert!(!state.is_signed_in());

        state
            .sign_in(
                SignIn::new(access(1_000_400)).refresh_token("another"),
                T0,
                LEEWAY,
            )
            .unwrap();
        let before = state.clone();
        assert_eq!(
            state.apply_refresh(&started, late, T0, T0, LEEWAY),
            RefreshApplied::Stale
        );
        assert_eq!(state, before);
    }

    #[test]
    fn user_update_and_adopted_write_of_the_same_chain_do_not_make_a_refresh_stale() {
        // Defect: update_user or another tab's write bumped the version and the rotated
        // refresh token was dropped.
        let mut state = signed_in(
            SignIn::new(access(1_000_300))
                .refresh_token("r1")
                .user("ada".into()),
        );
        let started = sent(&state);
        state.update_user("ada lovelace".into()).unwrap();
        let mut other_tab = state.session().cloned().unwrap();
        other_tab.user = Some("countess".into());
        state.adopt(other_tab);
        let refreshed = Refreshed::new(access(1_000_550)).refresh_token("r2");
        assert_eq!(
            state.apply_refresh(&started, refreshed, T0, T0, LEEWAY),
            RefreshApplied::Applied
        );
        let session = state.session().unwrap();
        assert_eq!(session.refresh_token().unwrap().expose(), "r2");
        assert_eq!(session.user().map(String::as_str), Some("countess"));
    }

    #[test]
    #[rustfmt::skip]
    fn unusable_access_token_keeps_the_rotated_refresh_token() {
        // (case, answer, expected error)
        let rows: Vec<(&str, Refreshed<String>, AuthError)> = vec![
            ("no expiry", Refreshed::new("opaque"), AuthError::MissingExpiry),
            ("already expired", Refreshed::new(access(999_000)), AuthError::Expired { expired_at: Timestamp::from_unix_seconds(999_000) }),
            ("same access token as before", Refreshed::new(access(1_000_300)), AuthError::TokenNotRenewed),
            ("bad token type", Refreshed::new(access(1_000_550)).token_type("Bear er"), AuthError::InvalidTokenType),
        ];
        for (case, answer, expected) in rows {
            let mut state = signed_in(SignIn::new(access(1_000_300)).refresh_token("r1"));
            let started = sent(&state);
            let rotated = answer.refresh_token("r2");
            assert_eq!(state.apply_refresh(&started, rotated, T0, T0, LEEWAY), RefreshApplied::Unusable(expected), "{case}");
            let session = state.session().unwrap();
            assert_eq!(session.refresh_token().unwrap().expose(), "r2", "{case}: rotated token kept");
            assert_eq!(session.auth_token().expose(), access(1_000_300), "{case}: old access kept");
        }
        let mut state = signed_in(SignIn::new(access(1_000_300)));
        let before = state.clone();
        let started = sent(&state);
        assert_eq!(
            state.apply_refresh(&started, Refreshed::new("garbage"), T0, T0, LEEWAY),
            RefreshApplied::Unusable(AuthError::MissingExpiry)
        );
        assert_eq!(state, before, "nothing rotated, nothing changed");
    }

    /// The server's clock is at `SERVER` when this browser's reads `SERVER + skew`.
    const SERVER: u64 = 1_000_000;

    fn skewed(skew: i64) -> Timestamp {
        Timestamp::from_unix_seconds(SERVER).shifted(skew * 1000)
    }

    /// A token the server issues at `at` (server time), living `lifetime` seconds.
    fn issued(at: u64, lifetime: u64) -> String {
        jwt(&format!(
            r#"{{"iat":{at},"nbf":{at},"exp":{}}}"#,
            at + lifetime
        ))
    }

    #[test]
    #[rustfmt::skip]
    fn expiries_are_on_this_browsers_clock_whatever_its_skew() {
        // (case, browser clock minus server clock in s, access lifetime in s, offset in ms)
        let rows: [(&str, i64, u64, i64); 8] = [
            ("clocks agree", 0, 300, 0),
            ("3 s ahead: noise, exp used as is", 3, 300, 0),
            ("30 s behind, 4 s tokens", -30, 4, 30_000),
            ("2 min ahead", 120, 300, -120_000),
            ("2 min behind", -120, 300, 120_000),
            ("1 h ahead, more than the lifetime", 3_600, 300, -3_600_000),
            ("1 h behind, nbf an hour ahead here", -3_600, 300, 3_600_000),
            ("1 h ahead, 10 s tokens", 3_600, 10, -3_600_000),
        ];
        for (case, skew, lifetime, offset) in rows {
            let now = skewed(skew);
            let request = SignIn::<String>::new(issued(SERVER, lifetime))
                .refresh_token(issued(SERVER, 86_400));
            let mut state = AuthState::signed_out();
            state.sign_in(request, now, secs(0)).unwrap_or_else(|err| panic!("{case}: {err}"));
            let session = state.session().unwrap();
            assert_eq!(session.clock_offset_ms(), offset, "{case}");
            // Within the threshold the server's exp stands; past it, the lifetime from now.
            let exp = |lifetime: u64| match offset {
                0 => Timestamp::from_unix_seconds(SERVER + lifetime),
                _ => now + secs(lifetime),
            };
            assert_eq!(session.expires_at(), exp(lifetime), "{case}");
            assert_eq!(session.refresh_expires_at(), Some(exp(86_400)), "{case}");
        }
    }

    #[test]
    fn a_late_refresh_answer_makes_the_expiry_early_never_late() {
        // The browser is an hour behind. The request goes out at local `sent_at`, the server
        // issues the token 2 s later, and the answer comes 40 s after it went out.
        let sent_at = skewed(-3_600);
        let mut state = AuthState::<String>::signed_out();
        let request = SignIn::new(issued(SERVER, 300)).refresh_token("r1");
        state.sign_in(request, sent_at, secs(0)).unwrap();
        let issued_at = SERVER + 2;
        let answer =
            Refreshed::new(issued(issued_at, 300)).refresh_token(issued(issued_at, 86_400));
        let received = sent_at + secs(40);
        let applied = state.apply_refresh(&Token::new("r1"), answer, received, sent_at, secs(0));
        assert_eq!(applied, RefreshApplied::Applied);
        let session = state.session().unwrap();
        // Truly it expires 302 s after `sent_at` on this clock; judged from the send time it
        // is 300 s (2 s early). Judged from the receipt it would be 340 s (38 s late).
        assert_eq!(session.expires_at(), sent_at + secs(300));
        assert_eq!(session.refresh_expires_at(), Some(sent_at + secs(86_400)));
        assert_eq!(session.clock_offset_ms(), 3_602_000);
    }

    #[test]
    fn a_kept_refresh_tokens_expiry_moves_with_a_clock_that_jumped() {
        // Signed in with the browser 2 min behind; the refresh token (a JWT living a day) is
        // kept through refreshes (no rotation). The clock then jumps to 1 min ahead: the next
        // answer's `iat` says so, and the refresh token's expiry on this clock moves by the
        // 3 min jump instead of coming 3 min early.
        let now = skewed(-120);
        let mut state = AuthState::<String>::signed_out();
        let refresh = issued(SERVER, 86_400);
        let request = SignIn::new(issued(SERVER, 300)).refresh_token(refresh.clone());
        state.sign_in(request, now, secs(0)).unwrap();
        let server_end = Timestamp::from_unix_seconds(SERVER + 86_400);
        assert_eq!(
            state.session().unwrap().refresh_expires_at(),
            Some(server_end.shifted(-120_000))
        );
        let later = SERVER + 250;
        let jumped = Timestamp::from_unix_seconds(later).shifted(60_000);
        let answer = Refreshed::new(issued(later, 300));
        let applied = state.apply_refresh(&Token::new(refresh), answer, jumped, jumped, secs(0));
        assert_eq!(applied, RefreshApplied::Applied);
        let session = state.session().unwrap();
        assert_eq!(session.clock_offset_ms(), -60_000);
        assert_eq!(
            session.refresh_expires_at(),
            Some(server_end.shifted(60_000))
        );
    }

    #[test]
    #[rustfmt::skip]
    fn without_iat_the_servers_date_tells_the_offset() {
        // (case, browser clock minus server clock in s, access token, offset in ms)
        let rows: [(&str, i64, String, i64); 4] = [
            ("opaque, 1 h behind", -3_600, "opaque".into(), 3_600_000),
            ("opaque, 2 min ahead", 120, "opaque".into(), -120_000),
            ("opaque, 3 s ahead: noise", 3, "opaque".into(), 0),
            ("iat wins over Date", 120, issued(SERVER - 60, 300), -180_000),
        ];
        for (case, skew, access, offset) in rows {
            let now = skewed(skew);
            let request = SignIn::<String>::new(access)
                .expires_in(secs(300))
                .refresh_token(jwt(&format!(r#"{{"exp":{}}}"#, SERVER + 86_400)))
                .server_time(Timestamp::from_unix_seconds(SERVER));
            let mut state = AuthState::signed_out();
            state.sign_in(request, now, secs(0)).unwrap_or_else(|err| panic!("{case}: {err}"));
            let session = state.session().unwrap();
            assert_eq!(session.clock_offset_ms(), offset, "{case}");
            let end = Timestamp::from_unix_seconds(SERVER + 86_400).shifted(-offset);
            assert_eq!(session.refresh_expires_at(), Some(end), "{case}");
        }
        // A refresh answer's Date re-judges it, against the instant the request went out.
        let now = skewed(-120);
        let mut state = AuthState::<String>::signed_out();
        let request = SignIn::new("opaque").expires_in(secs(300)).refresh_token("r1")
            .server_time(Timestamp::from_unix_seconds(SERVER));
        state.sign_in(request, now, secs(0)).unwrap();
        assert_eq!(state.session().unwrap().clock_offset_ms(), 120_000);
        let sent_at = now + secs(100);
        let answer = Refreshed::new("opaque-2").expires_in(secs(300))
            .server_time(Timestamp::from_unix_seconds(SERVER + 100 + 3_600));
        let applied = state.apply_refresh(&Token::new("r1"), answer, sent_at + secs(1), sent_at, secs(0));
        assert_eq!(applied, RefreshApplied::Applied);
        assert_eq!(state.session().unwrap().clock_offset_ms(), 3_720_000);
    }

    #[test]
    fn a_refresh_answer_without_iat_keeps_the_sessions_offset() {
        let now = skewed(120);
        let mut state = AuthState::<String>::signed_out();
        let request = SignIn::new(issued(SERVER, 300)).refresh_token("r1");
        state.sign_in(request, now, secs(0)).unwrap();
        let later = now + secs(200);
        let exp = SERVER + 500;
        let answer = Refreshed::new(jwt(&format!(r#"{{"exp":{exp}}}"#)));
        let applied = state.apply_refresh(&Token::new("r1"), answer, later, later, secs(0));
        assert_eq!(applied, RefreshApplied::Applied);
        let session = state.session().unwrap();
        assert_eq!(session.clock_offset_ms(), -120_000);
        assert_eq!(
            session.expires_at(),
            Timestamp::from_unix_seconds(exp + 120)
        );
    }

    #[test]
    fn update_user_needs_a_session() {
        let mut state = AuthState::<String>::signed_out();
        assert_eq!(state.update_user("x".into()), Err(AuthError::NotSignedIn));
        let mut state = signed_in(SignIn::new(access(1_000_300)));
        state.update_user("bob".into()).unwrap();
        assert_eq!(
            state.session().unwrap().user().map(String::as_str),
            Some("bob")
        );
    }

    #[test]
    fn restored_session_that_must_end_is_dropped() {
        let session = signed_in(SignIn::new(access(1_000_300)).refresh_token("r"))
            .session()
            .cloned();
        let later = T0 + secs(400);
        assert!(!AuthState::restored(session.clone(), later, false).is_signed_in());
        assert!(AuthState::restored(session, later, true).is_signed_in());
    }
}
