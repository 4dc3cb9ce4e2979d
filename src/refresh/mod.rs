//! Token refresh: the user's callback and its types ([`create_refresh`]) and the pure schedule
//! that decides when to call it (`schedule`, internal). The session engine (`crate::engine`) calls it
//! one at a time and applies its answers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::token::Token;

pub(crate) mod schedule;

#[cfg(test)]
mod bench;

/// The answer a refresh callback gives; an input of the state machine like
/// [`crate::SignIn`], so it lives with it in [`crate::state`].
pub use crate::state::Refreshed;
pub use schedule::Backoff;

/// What the refresh callback is given: the current tokens and user state.
#[derive(Debug, Clone)]
pub struct RefreshParams<U> {
    /// The current (possibly expired) access token.
    pub auth_token: Token,
    /// The refresh token, if the session keeps one.
    pub refresh_token: Option<Token>,
    /// The current user state.
    pub user: Option<U>,
}

/// Why a refresh failed, which decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// The server refused the refresh token (401/400, expired, blacklisted): the user is
    /// signed out.
    Rejected(String),
    /// The refresh could not be done now (network down, 5xx, unreadable answer): the session
    /// is kept and the refresh retried with capped exponential backoff. Do not give up on a
    /// slow server inside the callback: `RefreshConfig::timeout` does, and keeps listening
    /// for the late answer, which with rotation holds the only copy of the new refresh token.
    Transient(String),
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefreshError::Rejected(reason) => write!(f, "refresh rejected: {reason}"),
            RefreshError::Transient(reason) => write!(f, "refresh failed, will retry: {reason}"),
        }
    }
}

impl std::error::Error for RefreshError {}

/// What a refresh attempt came to, as returned by `Auth::refresh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens are in place and stored.
    Refreshed,
    /// New tokens are in place, but the storage refused them (they stay in memory); the
    /// reason says why.
    RefreshedNotStored(String),
    /// The session moved on while the refresh ran (sign-out, new sign-in, or its token was
    /// replaced meanwhile), or the provider unmounted: this answer was not applied.
    Stale,
    /// The server rejected the refresh: the user was signed out.
    SignedOut(String),
    /// A transient failure: the session is kept and the refresh will be retried.
    Failed(String),
    /// Nobody is signed in.
    NotSignedIn,
    /// No refresh is configured (`AuthConfig::refresh`).
    NotConfigured,
}

/// The future a refresh callback returns. Not `Send`: browser futures never are.
pub type RefreshFuture<U> = Pin<Box<dyn Future<Output = Result<Refreshed<U>, RefreshError>>>>;

pub(crate) type RefreshCallback<U> =
    Arc<dyn Fn(RefreshParams<U>) -> RefreshFuture<U> + Send + Sync>;

/// How and how often to refresh; turned into a [`Refresh`] by [`create_refresh`].
pub struct RefreshConfig<U> {
    interval: Duration,
    backoff: schedule::Backoff,
    timeout: Duration,
    callback: RefreshCallback<U>,
}

impl<U> RefreshConfig<U> {
    /// Refresh every `interval` while signed in, and in any case `leeway` (see
    /// `AuthConfig::leeway`) before the access token expires. Pass a long interval (such as
    /// one day) to refresh only ahead of expiry.
    pub fn new<F, Fut>(interval: Duration, callback: F) -> Self
    where
        F: Fn(RefreshParams<U>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Refreshed<U>, RefreshError>> + 'static,
    {
        Self {
            interval,
            backoff: schedule::Backoff::default(),
            timeout: DEFAULT_TIMEOUT,
            callback: Arc::new(move |params| Box::pin(callback(params))),
        }
    }

    /// Delays between retries after transient failures (default 1 s doubling up to 60 s;
    /// at least 100 ms, see [`Backoff`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long the callback may run before the attempt counts as a transient failure
    /// (default 30 s; clamped to 1 s – 24.8 days), so a hung request can never block
    /// refreshing for good. The call is not abandoned: if its answer comes later and its token
    /// chain is still current, the new tokens are stored (a rotated refresh token is never
    /// lost).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The default for [`RefreshConfig::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A ready refresh setup for `AuthConfig::refresh`.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::prelude::*;
/// use std::time::Duration;
///
/// let refresh = create_refresh(RefreshConfig::<()>::new(
///     Duration::from_secs(240),
///     |params: RefreshParams<()>| async move {
///         let Some(_refresh_token) = params.refresh_token else {
///             return Err(RefreshError::Rejected("no refresh token".into()));
///         };
///         // POST it to the server, then:
///         Ok(Refreshed::new("new-access-token").expires_in(Duration::from_secs(300)))
///     },
/// ));
/// ```
pub struct Refresh<U> {
    pub(crate) interval: Duration,
    pub(crate) backoff: schedule::Backoff,
    pub(crate) timeout: Duration,
    pub(crate) callback: RefreshCallback<U>,
}

impl<U> Clone for Refresh<U> {
    fn clone(&self) -> Self {
        Self {
            interval: self.interval,
            backoff: self.backoff,
            timeout: self.timeout,
            callback: Arc::clone(&self.callback),
        }
    }
}

impl<U> fmt::Debug for Refresh<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresh")
            .field("interval", &self.interval)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl<U> Refresh<U> {
    /// How often to refresh while signed in.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// Turns a [`RefreshConfig`] into the [`Refresh`] that `AuthConfig::refresh` takes.
pub fn create_refresh<U>(config: RefreshConfig<U>) -> Refresh<U> {
    Refresh {
        interval: config.interval,
        backoff: config.backoff,
        timeout: config.timeout,
        callback: config.callback,
    }
}
