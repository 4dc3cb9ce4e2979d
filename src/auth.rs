//! The auth handle: a `Copy` struct of signals and actions, returned by `use_auth`.
//!
//! Browser shell: it moves the pure [`AuthState`] in and out of a signal and a
//! [`TokenStorage`]; every rule about what may change lives in `state`, `refresh::schedule`
//! and `storage::record`.

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::reactive::owner::LocalStorage as LocalArena;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::refresh::driver::{schedule, RefreshRunner, StateCell};
use crate::refresh::schedule::{Failures, Timing};
use crate::refresh::RefreshOutcome;
use crate::state::{AuthState, SignIn};
use crate::storage::{record, TokenStorage};
use crate::time::Timestamp;
use crate::token::{Claims, Token};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

pub(crate) struct Inner<U: 'static> {
    config: AuthConfig<U>,
    storage: Arc<dyn TokenStorage>,
    runner: Option<RefreshRunner<U>>,
    #[cfg(target_arch = "wasm32")]
    timer: std::cell::RefCell<Option<gloo_timers::callback::Timeout>>,
    #[cfg(target_arch = "wasm32")]
    tab_sync: std::cell::RefCell<Option<crate::sync::TabSync>>,
}

/// The auth store's handle: signals to read and actions to call. `Copy`, so it can be moved
/// into any number of closures. Get it with `use_auth::<U>()`.
///
/// All signals are reactive: views reading them update on sign-in, sign-out, refresh and
/// expiry. Views reading only [`Auth::user`] do not re-render when a refresh keeps the same
/// user.
pub struct Auth<U: UserState> {
    state: RwSignal<AuthState<U>>,
    loading: RwSignal<bool>,
    refresh_info: RwSignal<RefreshInfo>,
    status: Memo<AuthStatus>,
    user: Memo<Option<U>>,
    header: Memo<Option<String>>,
    token: Memo<Option<Token>>,
    expires_at: Memo<Option<Timestamp>>,
    claims: Memo<Option<Claims>>,
    inner: StoredValue<Inner<U>, LocalArena>,
}

impl<U: UserState> Clone for Auth<U> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<U: UserState> Copy for Auth<U> {}

impl<U: UserState> std::fmt::Debug for Auth<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl<U: UserState> Auth<U> {
    /// Builds the store: reads storage synchronously (so a signed-in user never sees a
    /// signed-out frame), drops and clears anything unusable, and starts the refresh timer.
    pub(crate) fn new(config: AuthConfig<U>) -> Self {
        let storage = config.storage();
        let now = Timestamp::now();
        let can_refresh = config.refresh.is_some();
        let restored = record::restore::<U>(storage.load().as_deref(), now, can_refresh);
        if restored.clear {
            // Corrupt, foreign, expired or partial: remove it so it is not read again.
            storage.clear();
        }
        let state = restored.state;
        let waiting_for_refresh = state.session().is_some_and(|s| s.expires_at() <= now);
        let runner = config
            .refresh
            .clone()
            .map(|refresh| RefreshRunner::new(refresh, config.leeway));

        let state = RwSignal::new(state);
        let loading = RwSignal::new(waiting_for_refresh);
        let status = Memo::new(move |_| {
            if loading.get() {
                AuthStatus::Loading
            } else if state.with(AuthState::is_signed_in) {
                AuthStatus::Authenticated
            } else {
                AuthStatus::Unauthenticated
            }
        });
        Self {
            state,
            loading,
            refresh_info: RwSignal::new(RefreshInfo::default()),
            status,
            user: Memo::new(move |_| state.with(|s| s.session().and_then(|s| s.user().cloned()))),
            header: Memo::new(move |_| state.with(|s| s.session().map(|s| s.header()))),
            token: Memo::new(move |_| state.with(|s| s.session().map(|s| s.auth_token().clone()))),
            expires_at: Memo::new(move |_| state.with(|s| s.session().map(|s| s.expires_at()))),
            claims: Memo::new(move |_| {
                state.with(|s| {
                    s.session()
                        .and_then(|s| Claims::decode(s.auth_token().expose()).ok())
                })
            }),
            inner: StoredValue::new_local(Inner {
                config,
                storage,
                runner,
                #[cfg(target_arch = "wasm32")]
                timer: Default::default(),
                #[cfg(target_arch = "wasm32")]
                tab_sync: Default::default(),
            }),
        }
    }

    /// Whether the user is signed in: `Loading`, `Authenticated` or `Unauthenticated`.
    pub fn status(&self) -> Signal<AuthStatus> {
        self.status.into()
    }

    /// `true` when [`Auth::status`] is `Authenticated`.
    pub fn is_authenticated(&self) -> Signal<bool> {
        let status = self.status;
        Signal::derive(move || status.get() == AuthStatus::Authenticated)
    }

    /// The user state, `None` when signed out or when none was given.
    pub fn user(&self) -> Signal<Option<U>> {
        self.user.into()
    }

    /// The `Authorization` header value (`"Bearer <token>"`), `None` when signed out.
    pub fn header(&self) -> Signal<Option<String>> {
        self.header.into()
    }

    /// The access token, `None` when signed out.
    pub fn token(&self) -> Signal<Option<Token>> {
        self.token.into()
    }

    /// When the access token expires, `None` when signed out.
    pub fn expires_at(&self) -> Signal<Option<Timestamp>> {
        self.expires_at.into()
    }

    /// The access token's claims when it is a JWT (decoded, not verified), `None` otherwise.
    pub fn claims(&self) -> Signal<Option<Claims>> {
        self.claims.into()
    }

    /// The whole state, for anything the other signals do not cover (refresh token expiry,
    /// session version).
    pub fn state(&self) -> Signal<AuthState<U>> {
        self.state.into()
    }

    /// Refresh engine status: in flight, last success, last error.
    pub fn refresh_info(&self) -> Signal<RefreshInfo> {
        self.refresh_info.into()
    }

    /// Signs in and stores the session. On error (invalid or expired token, cookie too
    /// large, storage refused) nothing changes and the error says why.
    pub fn sign_in(&self, request: SignIn<U>) -> Result<(), AuthError> {
        let mut next = self.state.try_get_untracked().ok_or_else(disposed)?;
        let leeway = self.config(|config| config.leeway).ok_or_else(disposed)?;
        next.sign_in(request, Timestamp::now(), leeway)?;
        self.persist(&next)?;
        self.replace_session(next);
        Ok(())
    }

    /// Signs out: clears the state and the storage. A refresh in flight is dropped when it
    /// returns.
    pub fn sign_out(&self) {
        let Some(mut next) = self.state.try_get_untracked() else {
            return;
        };
        next.sign_out();
        let _ = self.persist(&next);
        self.replace_session(next);
    }

    /// Makes `next`, a new session or none, the current state: forgets the old session's
    /// refresh failures, ends `Loading`, and reschedules.
    fn replace_session(&self, next: AuthState<U>) {
        self.with_runner(RefreshRunner::reset_failures);
        self.state.set(next);
        self.loading.set(false);
        schedule(*self);
    }

    /// Calls the configured hook `pick` selects, if any.
    fn notify(&self, pick: impl FnOnce(&AuthConfig<U>) -> Option<Arc<dyn Fn() + Send + Sync>>) {
        if let Some(Some(hook)) = self.config(pick) {
            hook();
        }
    }

    /// Replaces the user state without signing in again.
    pub fn update_user(&self, user: U) -> Result<(), AuthError> {
        let mut next = self.state.try_get_untracked().ok_or_else(disposed)?;
        next.update_user(user)?;
        self.persist(&next)?;
        self.state.set(next);
        Ok(())
    }

    /// Refreshes now, or joins the refresh in flight, and says how it went.
    pub async fn refresh(self) -> RefreshOutcome {
        let Some(Some((flight, joined))) = self.inner.try_with_value(|inner| {
            inner.runner.as_ref().map(|runner| {
                let joined = runner.in_flight();
                (runner.trigger(Rc::new(self)), joined)
            })
        }) else {
            return RefreshOutcome::NotConfigured;
        };
        if joined {
            return flight.await;
        }
        self.refresh_info.try_update(|info| info.in_flight = true);
        let outcome = flight.await;
        self.after_refresh(&outcome);
        outcome
    }

    fn after_refresh(&self, outcome: &RefreshOutcome) {
        let now = Timestamp::now();
        let updated = self.refresh_info.try_update(|info| {
            info.in_flight = false;
            match outcome {
                RefreshOutcome::Refreshed => {
                    info.last_refreshed_at = Some(now);
                    info.last_error = None;
                    info.count += 1;
                }
                RefreshOutcome::RefreshedNotStored(reason) => {
                    info.last_refreshed_at = Some(now);
                    info.count += 1;
                    info.last_error = Some(reason.clone());
                }
                RefreshOutcome::SignedOut(reason) | RefreshOutcome::Failed(reason) => {
                    info.last_error = Some(reason.clone());
                }
                RefreshOutcome::Stale
                | RefreshOutcome::NotSignedIn
                | RefreshOutcome::NotConfigured => {}
            }
        });
        if updated.is_none() {
            return; // the provider is gone: no hooks, no timers
        }
        self.loading.set(false);
        match outcome {
            RefreshOutcome::Refreshed | RefreshOutcome::RefreshedNotStored(_) => {
                self.notify(|config| config.on_refreshed.clone())
            }
            RefreshOutcome::SignedOut(_) => self.notify(|config| config.on_session_expired.clone()),
            _ => {}
        }
        schedule(*self);
    }

    /// Ends the session because it expired (not a user sign-out), then tells
    /// `on_session_expired`.
    pub(crate) fn end_session(&self) {
        let Some(mut next) = self.state.try_get_untracked() else {
            return;
        };
        if !next.is_signed_in() {
            return schedule(*self);
        }
        next.sign_out();
        let _ = self.persist(&next);
        self.replace_session(next);
        self.notify(|config| config.on_session_expired.clone());
    }

    /// Stops timers and cross-tab listeners; called when the provider unmounts.
    pub(crate) fn shutdown(&self) {
        self.cancel_timer();
        #[cfg(target_arch = "wasm32")]
        {
            let listeners = self
                .inner
                .try_with_value(|inner| inner.tab_sync.borrow_mut().take());
            drop(listeners);
        }
    }

    /// Starts listening for other tabs' changes to the shared storage.
    pub(crate) fn start_tab_sync(&self) {
        #[cfg(target_arch = "wasm32")]
        {
            let auth = *self;
            let _ = self.inner.try_with_value(|inner| {
                let listeners = crate::sync::TabSync::start(
                    inner.config.shared(),
                    inner.config.name(),
                    move || auth.sync_from_storage(),
                );
                *inner.tab_sync.borrow_mut() = listeners;
            });
        }
    }

    /// Another tab changed the stored session: follow it (adopt its session or sign out).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn sync_from_storage(&self) {
        let Some(mut next) = self.state.try_get_untracked() else {
            return;
        };
        let stored = StateCell::stored(self);
        if next.sync_with(stored, Timestamp::now(), self.can_refresh()) {
            self.replace_session(next);
        }
    }

    /// Tells other tabs that the stored session changed (cookies; localStorage announces
    /// itself).
    fn announce(&self) {
        #[cfg(target_arch = "wasm32")]
        let _ = self.inner.try_with_value(|inner| {
            if let Some(listeners) = inner.tab_sync.borrow().as_ref() {
                listeners.announce();
            }
        });
    }
}

/// What the HTTP client (browser only) reads from the store.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl<U: UserState> Auth<U> {
    /// Whether a refresh is running.
    pub(crate) fn refresh_in_flight(&self) -> bool {
        self.inner
            .try_with_value(|inner| inner.runner.as_ref().is_some_and(RefreshRunner::in_flight))
            .unwrap_or(false)
    }

    /// Whether other tabs share this store's storage (cookie, localStorage).
    pub(crate) fn storage_is_shared(&self) -> bool {
        self.config(|config| config.shared() != crate::sync::Shared::No)
            .unwrap_or(false)
    }

    /// Whether a refresh callback is configured.
    pub(crate) fn can_refresh(&self) -> bool {
        self.config(|config| config.refresh.is_some())
            .unwrap_or(false)
    }

    /// The configured leeway.
    pub(crate) fn leeway(&self) -> std::time::Duration {
        self.config(|config| config.leeway).unwrap_or_default()
    }

    /// Whether somebody is signed in right now (untracked).
    pub(crate) fn is_signed_in_now(&self) -> bool {
        self.state
            .try_with_untracked(AuthState::is_signed_in)
            .unwrap_or(false)
    }

    /// The last refresh error while on-demand refreshes must wait out the backoff after a
    /// transient failure; `None` when a refresh may be tried now.
    pub(crate) fn backoff_error(&self) -> Option<String> {
        if self.refresh_in_flight() {
            return None; // joining the refresh in flight costs the server nothing
        }
        let backoff = self.timing()?.backoff;
        if !crate::refresh::schedule::in_backoff(&self.failures(), &backoff, Timestamp::now()) {
            return None;
        }
        let last = self
            .refresh_info
            .try_with_untracked(|info| info.last_error.clone())
            .flatten();
        Some(last.unwrap_or_else(|| "the last refresh failed".into()))
    }

    /// The header and session version right now (untracked).
    pub(crate) fn header_and_version(&self) -> (Option<String>, u64) {
        self.state
            .try_with_untracked(|s| (s.session().map(|s| s.header()), s.version()))
            .unwrap_or((None, 0))
    }
}

impl<U: UserState> Auth<U> {
    pub(crate) fn snapshot_state(&self) -> Option<AuthState<U>> {
        self.state.try_get_untracked()
    }

    pub(crate) fn timing(&self) -> Option<Timing> {
        self.inner
            .try_with_value(|inner| {
                inner.runner.as_ref().map(|runner| Timing {
                    interval: runner.config().interval,
                    leeway: inner.config.leeway,
                    backoff: runner.config().backoff,
                })
            })
            .flatten()
    }

    pub(crate) fn failures(&self) -> Failures {
        self.inner
            .try_with_value(|inner| inner.runner.as_ref().map(RefreshRunner::failures))
            .flatten()
            .unwrap_or_default()
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn set_timer(&self, timer: gloo_timers::callback::Timeout) {
        // If the provider is gone the timer is dropped here, which cancels it.
        let _ = self
            .inner
            .try_with_value(|inner| *inner.timer.borrow_mut() = Some(timer));
    }

    pub(crate) fn cancel_timer(&self) {
        #[cfg(target_arch = "wasm32")]
        {
            let timer = self
                .inner
                .try_with_value(|inner| inner.timer.borrow_mut().take())
                .flatten();
            drop(timer);
        }
    }

    fn config<R>(&self, read: impl FnOnce(&AuthConfig<U>) -> R) -> Option<R> {
        self.inner.try_with_value(|inner| read(&inner.config))
    }

    fn with_runner(&self, act: impl FnOnce(&RefreshRunner<U>)) {
        let _ = self
            .inner
            .try_with_value(|inner| inner.runner.as_ref().map(act));
    }

    fn persist(&self, state: &AuthState<U>) -> Result<(), AuthError> {
        let storage = self
            .inner
            .try_with_value(|inner| Arc::clone(&inner.storage))
            .ok_or_else(disposed)?;
        match state.session() {
            None => storage.clear(),
            Some(session) => {
                let text = record::encode(session)?;
                storage.save(&text, record::storage_expiry(session), Timestamp::now())?;
            }
        }
        self.announce();
        Ok(())
    }
}

fn disposed() -> AuthError {
    AuthError::Storage("the AuthProvider has been unmounted".into())
}

impl<U: UserState> StateCell<U> for Auth<U> {
    fn snapshot(&self) -> Option<AuthState<U>> {
        self.state.try_get_untracked()
    }

    fn commit(&self, next: AuthState<U>) -> Result<(), AuthError> {
        let stored = self.persist(&next);
        self.state.try_set(next);
        stored
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn publish(&self, next: AuthState<U>) {
        self.state.try_set(next);
    }

    fn stored(&self) -> Option<crate::state::Session<U>> {
        let storage = self
            .inner
            .try_with_value(|inner| Arc::clone(&inner.storage))?;
        record::decode(&storage.load()?, Timestamp::now()).ok()
    }

    fn settle(&self) -> futures::future::LocalBoxFuture<'static, ()> {
        crate::sync::settle(self.storage_is_shared())
    }

    fn exclusive(
        &self,
        attempt: futures::future::LocalBoxFuture<'static, RefreshOutcome>,
    ) -> futures::future::LocalBoxFuture<'static, RefreshOutcome> {
        let lock_name = self
            .storage_is_shared()
            .then(|| self.config(|config| config.name().to_owned()))
            .flatten();
        crate::sync::exclusive(lock_name, attempt)
    }
}
