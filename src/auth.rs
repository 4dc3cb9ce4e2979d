//! The auth handle: a `Copy` struct of signals and actions, returned by `use_auth`, and the
//! browser shell that runs the session engine.
//!
//! Browser shell only: [`BrowserIo`] carries out the engine's commands with gloo-timers,
//! `spawn_local`, Web Locks and the configured storage, and feeds back what happens. Every
//! decision (when to refresh, whether an answer applies, when to sign out) is the engine's
//! (`crate::engine`).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::channel::oneshot;
use leptos::prelude::*;
use leptos::reactive::owner::{LocalStorage as LocalArena, WeakOwner};

use crate::config::AuthConfig;
#[cfg(any(all(feature = "ssr", not(target_arch = "wasm32")), feature = "hydrate"))]
use crate::config::ServerSees;
use crate::engine::{Driver, Event, Hook, Id, Io, Settings};
use crate::error::AuthError;
use crate::refresh::{RefreshOutcome, RefreshParams};
use crate::state::{AuthState, SignIn};
pub use crate::state::{AuthStatus, RefreshInfo, UserState};
use crate::storage::TokenStorage;
use crate::time::Timestamp;
use crate::token::{Claims, Token};

type Shell<U> = Driver<U, BrowserIo<U>>;

/// The signals the shell publishes the engine's state to (their write halves; the store
/// hands out the read halves).
struct Published<U: UserState> {
    state: (ReadSignal<AuthState<U>>, WriteSignal<AuthState<U>>),
    status: (ReadSignal<AuthStatus>, WriteSignal<AuthStatus>),
    info: (ReadSignal<RefreshInfo>, WriteSignal<RefreshInfo>),
}

impl<U: UserState> Clone for Published<U> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<U: UserState> Copy for Published<U> {}

/// Carries out the engine's commands in the browser.
pub(crate) struct BrowserIo<U: UserState> {
    config: AuthConfig<U>,
    storage: Arc<dyn TokenStorage>,
    /// The signals, once they exist (they are made from the engine's first state).
    published: Cell<Option<Published<U>>>,
    /// How many publishes have started: one that a signal's subscribers interrupt with a
    /// newer one (an `ImmediateEffect` that signs out) writes none of its older values after.
    publishes: Cell<u64>,
    /// The driver this runs for (set once it exists).
    driver: Weak<Shell<U>>,
    #[cfg(target_arch = "wasm32")]
    timer: RefCell<Option<gloo_timers::callback::Timeout>>,
    #[cfg(target_arch = "wasm32")]
    tab_sync: RefCell<Option<crate::sync::TabSync>>,
    #[cfg(target_arch = "wasm32")]
    lifecycle: RefCell<Option<crate::lifecycle::PageLifecycle>>,
    locks: RefCell<Pending<oneshot::Sender<()>>>,
    waiters: RefCell<Pending<oneshot::Sender<RefreshOutcome>>>,
}

/// What waits on an engine id: a few entries at most (the refresh under way and the callers
/// of `refresh()` waiting on it), so a list, which costs the binary less than a `HashMap`.
struct Pending<T>(Vec<(Id, T)>);

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> Pending<T> {
    /// Puts `item` under `id`, dropping what was there (as `HashMap::insert` would).
    fn insert(&mut self, id: Id, item: T) {
        self.remove(id);
        self.0.push((id, item));
    }

    /// The item waiting on `id`, taken out.
    fn remove(&mut self, id: Id) -> Option<T> {
        let at = self.0.iter().position(|(waiting, _)| *waiting == id)?;
        Some(self.0.swap_remove(at).1)
    }
}

impl<U: UserState> BrowserIo<U> {
    /// The driver, kept alive by whoever holds the result (a refresh call still out keeps
    /// it alive after unmount, so that its answer is still stored).
    fn driver(&self) -> Option<Rc<Shell<U>>> {
        self.driver.upgrade()
    }
}

impl<U: UserState> Io<U> for BrowserIo<U> {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn load(&self) -> Option<String> {
        self.storage.load()
    }

    fn save(
        &self,
        text: Option<&str>,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), AuthError> {
        match text {
            Some(text) => self.storage.save(text, expires_at, now)?,
            None => self.storage.clear(),
        }
        #[cfg(target_arch = "wasm32")]
        if let Some(listeners) = self.tab_sync.borrow().as_ref() {
            listeners.announce();
        }
        Ok(())
    }

    fn call_refresh(&self, call: Id, params: RefreshParams<U>) {
        let (Some(refresh), Some(driver)) = (self.config.refresh.as_ref(), self.driver()) else {
            return;
        };
        let answer = (refresh.callback)(params);
        #[cfg(target_arch = "wasm32")]
        leptos::task::spawn_local(async move {
            let result = answer.await;
            driver.feed(Event::Answered { call, result });
        });
        // Off the browser there is no task executor: the call is never made and the engine's
        // timeout (also inert there) never fires. Server rendering starts no refresh anyway.
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (answer, driver, call);
    }

    fn acquire_lock(&self, flight: Id) {
        let Some(driver) = self.driver() else {
            return;
        };
        let (release, released) = oneshot::channel();
        self.locks.borrow_mut().insert(flight, release);
        #[cfg(target_arch = "wasm32")]
        crate::sync::request_lock(
            self.config.name(),
            move || {
                leptos::task::spawn_local(async move {
                    gloo_timers::future::sleep(crate::engine::LOCK_SETTLE).await;
                    driver.feed(Event::LockGranted(flight));
                });
            },
            released,
        );
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (driver, released);
    }

    fn release_lock(&self, flight: Id) {
        if let Some(release) = self.locks.borrow_mut().remove(flight) {
            let _ = release.send(());
        }
    }

    fn set_timer(&self, at: Option<Timestamp>, now: Timestamp) {
        #[cfg(target_arch = "wasm32")]
        {
            let driver = self.driver.clone();
            let timer = at.map(|at| {
                let delay = crate::refresh::schedule::timer_delay(at, now);
                let millis = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
                gloo_timers::callback::Timeout::new(millis, move || {
                    if let Some(driver) = driver.upgrade() {
                        driver.feed(Event::Wake);
                    }
                })
            });
            // Replacing the old timer drops it, which cancels it.
            *self.timer.borrow_mut() = timer;
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (at, now);
    }

    fn publish(&self, state: &AuthState<U>, status: AuthStatus, info: &RefreshInfo) {
        let Some(Published {
            state: state_signal,
            status: status_signal,
            info: info_signal,
        }) = self.published.get()
        else {
            return;
        };
        // Writing a signal may run app code at once that changes the session again: its
        // publish writes all three signals, newer, and this one stops.
        let this = self.publishes.get().wrapping_add(1);
        self.publishes.set(this);
        let latest = || self.publishes.get() == this;
        replace_if_changed(state_signal, state);
        if latest() {
            replace_if_changed(status_signal, &status);
        }
        if latest() {
            replace_if_changed(info_signal, info);
        }
    }

    fn hook(&self, hook: Hook) {
        let config = &self.config;
        match hook {
            Hook::Refreshed => {
                if let Some(hook) = &config.on_refreshed {
                    hook();
                }
            }
            Hook::SessionExpired => {
                if let Some(hook) = &config.on_session_expired {
                    hook();
                }
            }
            Hook::SessionEnding(ends_at) => {
                if let Some(ending) = &config.on_session_ending {
                    (ending.callback)(ends_at);
                }
            }
            Hook::Revoke(token) => {
                if let Some(revoke) = &config.revoke {
                    revoke(token);
                }
            }
        }
    }

    fn resolve(&self, waiter: Id, outcome: RefreshOutcome) {
        if let Some(sender) = self.waiters.borrow_mut().remove(waiter) {
            let _ = sender.send(outcome);
        }
    }
}

/// What the first render shows. In a server-rendered app it is made on the server and sent
/// with the HTML (`SharedValue`), so that the browser's first render while hydrating is the
/// server's: the status only, never a token (the session itself is in the cookie both read).
/// Elsewhere it is made in the browser from what storage holds.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct FirstRender {
    status: AuthStatus,
    /// Made on the server (read while hydrating).
    from_server: bool,
}

impl FirstRender {
    /// Made by `make` on the server or in a browser that is not hydrating; read from the
    /// HTML while hydrating (`make` when it is missing there).
    fn shared(make: impl FnOnce() -> Self) -> Self {
        SharedValue::new(make).into_inner()
    }
}

/// The auth store's handle: signals to read and actions to call. `Copy`, so it can be moved
/// into any number of closures. Get it with `use_auth::<U>()`.
///
/// All signals are reactive: views reading them update on sign-in, sign-out, refresh and
/// expiry. Views reading only [`Auth::user`] do not re-render when a refresh keeps the same
/// user. The signals go with the provider; once it is gone, [`Auth::token`],
/// [`Auth::expires_at`] and [`Auth::session_ends_at`] read as signed out.
pub struct Auth<U: UserState> {
    // Read signals and memos, handed out as they are (not wrapped in `Signal`): every caller
    // gets the same one, a getter allocates nothing but on the first call of one made on
    // first use, and an app links the code of the kinds it reads only (a `Signal` carries
    // code for every kind of signal it may wrap, and making one links code for its type).
    // These are made with the store: the ones the untyped hooks and the guards share
    // (`status`, `is_authenticated`, `header`, `claims`, see `AuthContext`), and `user`,
    // which most apps read. The rarely read `token`, `expires_at` and `session_ends_at` are
    // made on first use (`OnFirstUse`), so that an app links only those it reads.
    pub(crate) status: ReadSignal<AuthStatus>,
    state: ReadSignal<AuthState<U>>,
    info: ReadSignal<RefreshInfo>,
    pub(crate) is_authenticated: Memo<bool>,
    user: Memo<Option<U>>,
    pub(crate) header: Memo<Option<String>>,
    pub(crate) claims: Memo<Option<Claims>>,
    on_first_use: StoredValue<OnFirstUse<U>>,
    /// The browser shell; `None` in a server render.
    shell: Option<StoredValue<Rc<Shell<U>>, LocalArena>>,
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
    /// signed-out frame) and drops and clears anything unusable. Nothing runs until
    /// [`Auth::start`].
    ///
    /// Server-rendered apps: on the server (`ssr`) the store is read from the request's
    /// cookie and nothing else is built (no engine, no timer); in the browser the first
    /// render while hydrating shows what the server rendered (see [`FirstRender`]).
    pub(crate) fn new(config: AuthConfig<U>) -> Self {
        let settings = Settings {
            log: config.log,
            revoke: config.revoke.is_some(),
            warn_before: config
                .on_session_ending
                .as_ref()
                .map(|ending| ending.before),
            ..Settings::new(
                config.leeway,
                config.refresh.as_ref(),
                config.refresh_lock(),
            )
        };
        let can_refresh = config.refresh.is_some();
        let (state, status, shell) = Self::first_render(config, settings);
        let published = Published {
            state: signal(state),
            status: signal(status),
            info: signal(RefreshInfo::default()),
        };
        if let Some(shell) = &shell {
            shell.io().published.set(Some(published));
        }
        let state = published.state.0;
        let status = published.status.0;
        Self {
            status,
            state,
            info: published.info.0,
            is_authenticated: Memo::new(move |_| status.get() == AuthStatus::Authenticated),
            user: Memo::new(move |_| state.with(|s| s.session().and_then(|s| s.user().cloned()))),
            header: Memo::new(move |_| state.with(|s| s.session().map(|s| s.header()))),
            claims: Memo::new(move |_| {
                state.with(|s| {
                    s.session()
                        .and_then(|s| Claims::decode(s.auth_token().expose()).ok())
                })
            }),
            on_first_use: StoredValue::new(OnFirstUse {
                state,
                owner: Owner::current().map(|owner| owner.downgrade()),
                can_refresh,
                token: OnceLock::new(),
                expires_at: OnceLock::new(),
                ends_at: OnceLock::new(),
            }),
            shell: shell.map(StoredValue::new_local),
        }
    }

    /// The server's first render: the session in the request's cookie (localStorage and
    /// sessionStorage cannot be seen there: `Loading`). No engine runs on the server.
    #[cfg(all(feature = "ssr", not(target_arch = "wasm32")))]
    fn first_render(
        config: AuthConfig<U>,
        settings: Settings,
    ) -> (AuthState<U>, AuthStatus, Option<Rc<Shell<U>>>) {
        let (state, status) = match config.server_sees() {
            ServerSees::Cookie => {
                let (stored, judged_at) =
                    crate::server::stored_for_render::<U>(config.name(), Timestamp::now());
                let (engine, _) = crate::engine::Engine::<U>::start(settings, stored, judged_at);
                (engine.state().clone(), engine.status())
            }
            ServerSees::Nothing => (AuthState::signed_out(), AuthStatus::Loading),
            ServerSees::SignedOut => (AuthState::signed_out(), AuthStatus::Unauthenticated),
        };
        let first = FirstRender::shared(|| FirstRender {
            status,
            from_server: true,
        });
        (state, first.status, None)
    }

    /// The browser's first render: what storage holds, or, while hydrating a server render,
    /// what the server rendered.
    #[cfg(not(all(feature = "ssr", not(target_arch = "wasm32"))))]
    fn first_render(
        config: AuthConfig<U>,
        settings: Settings,
    ) -> (AuthState<U>, AuthStatus, Option<Rc<Shell<U>>>) {
        let storage = config.storage();
        // What the server read too, before the engine clears anything it finds unusable on
        // this clock (an access token that expired since the server rendered).
        #[cfg(feature = "hydrate")]
        let (sees, stored) = (config.server_sees(), storage.load());
        let shell = Rc::new_cyclic(|driver| {
            Driver::new(
                settings,
                BrowserIo {
                    config,
                    storage,
                    published: Cell::new(None),
                    publishes: Cell::new(0),
                    driver: driver.clone(),
                    #[cfg(target_arch = "wasm32")]
                    timer: RefCell::default(),
                    #[cfg(target_arch = "wasm32")]
                    tab_sync: RefCell::default(),
                    #[cfg(target_arch = "wasm32")]
                    lifecycle: RefCell::default(),
                    locks: RefCell::default(),
                    waiters: RefCell::default(),
                },
            )
        });
        let (state, status) = {
            let engine = shell.engine();
            (engine.state().clone(), engine.status())
        };
        let first = FirstRender::shared(|| FirstRender {
            status,
            from_server: false,
        });
        if !first.from_server {
            return (state, status, Some(shell));
        }
        // Hydrating: the server's status, and the session both read from the cookie (the
        // engine's own judgement, on this browser's clock, is published after hydration).
        #[cfg(feature = "hydrate")]
        let state = match (sees, first.status) {
            (ServerSees::Cookie, AuthStatus::Authenticated | AuthStatus::Loading) => {
                let mut hydrated = AuthState::signed_out();
                if let Some(session) =
                    stored.and_then(|text| crate::storage::record::read(&text, Timestamp::now()))
                {
                    hydrated.adopt(session);
                }
                hydrated
            }
            _ => AuthState::signed_out(),
        };
        (state, first.status, Some(shell))
    }

    fn shell(&self) -> Option<Rc<Shell<U>>> {
        self.shell?.try_get_value()
    }

    fn feed(&self, event: Event<U>) {
        if let Some(shell) = self.shell() {
            shell.feed(event);
        }
    }

    /// Whether the user is signed in: `Loading`, `Authenticated` or `Unauthenticated`.
    pub fn status(&self) -> ReadSignal<AuthStatus> {
        self.status
    }

    /// `true` when [`Auth::status`] is `Authenticated`.
    pub fn is_authenticated(&self) -> Memo<bool> {
        self.is_authenticated
    }

    /// The user state, `None` when signed out or when none was given.
    pub fn user(&self) -> Memo<Option<U>> {
        self.user
    }

    /// The `Authorization` header value (`"Bearer <token>"`), `None` when signed out.
    pub fn header(&self) -> Memo<Option<String>> {
        self.header
    }

    /// The access token, `None` when signed out.
    pub fn token(&self) -> Memo<Option<Token>> {
        self.on_first_use(
            |made| &made.token,
            |s, _| s.session().map(|s| s.auth_token().clone()),
        )
    }

    /// When the access token expires, `None` when signed out.
    pub fn expires_at(&self) -> Memo<Option<Timestamp>> {
        self.on_first_use(
            |made| &made.expires_at,
            |s, _| s.session().map(|s| s.expires_at()),
        )
    }

    /// When the session ends unless the user signs in again, on this browser's clock: the
    /// refresh token's expiry when refresh is configured, the access token's otherwise; `None`
    /// when signed out or when the end is not known (see [`Session::ends_at`]). A rotating
    /// server moves it later on every refresh. To warn ahead of it, see
    /// [`AuthConfig::on_session_ending`].
    ///
    /// [`Session::ends_at`]: crate::Session::ends_at
    pub fn session_ends_at(&self) -> Memo<Option<Timestamp>> {
        self.on_first_use(
            |made| &made.ends_at,
            |s, can_refresh| s.session().and_then(|s| s.ends_at(can_refresh)),
        )
    }

    /// The access token's claims when it is a JWT (decoded, not verified), `None` otherwise.
    pub fn claims(&self) -> Memo<Option<Claims>> {
        self.claims
    }

    /// The whole state, for anything the other signals do not cover (refresh token expiry,
    /// session version).
    pub fn state(&self) -> ReadSignal<AuthState<U>> {
        self.state
    }

    /// Refresh engine status: in flight, last success, last error.
    pub fn refresh_info(&self) -> ReadSignal<RefreshInfo> {
        self.info
    }

    /// Signs in and stores the session. On error (invalid or expired token, cookie too
    /// large, storage refused) nothing changes and the error says why.
    pub fn sign_in(&self, request: SignIn<U>) -> Result<(), AuthError> {
        self.shell().ok_or_else(disposed)?.sign_in(request)
    }

    /// Signs out: clears the state and removes the tokens from storage. Storage that other
    /// tabs or providers can read (cookies, localStorage, sessionStorage; not memory) keeps a
    /// marker naming the sign-in that ended, with no token and no user, so that a sign-in
    /// another tab made at the same moment is not wiped; it reads as signed out everywhere. A
    /// refresh answer still out is dropped when it comes. Signed out already (once storage is
    /// read), it writes nothing.
    pub fn sign_out(&self) {
        self.feed(Event::SignOut);
    }

    /// Replaces the user state without signing in again. A refresh under way (in this tab or
    /// another) keeps its new tokens and the new user state.
    ///
    /// The new state shows at once. Storage that other tabs share (cookies, localStorage) is
    /// written once this tab holds the cross-tab refresh lock, merged into what storage holds
    /// then, so that it never puts back tokens another tab just replaced. That is within a
    /// few milliseconds unless another tab's refresh holds the lock (until its answer comes);
    /// a reload before then loses the update, and an error storing it shows in
    /// [`Auth::refresh_info`]'s `last_error`. Errors here: not signed in, or a user state that
    /// does not serialise (and, for storage no other tab shares, a refused write).
    pub fn update_user(&self, user: U) -> Result<(), AuthError> {
        self.shell().ok_or_else(disposed)?.update_user(user)
    }

    /// Refreshes now, or joins the refresh under way, and says how it went. The refresh runs
    /// on its own: dropping this future does not stop or stall it.
    pub async fn refresh(self) -> RefreshOutcome {
        let Some(shell) = self.shell() else {
            return RefreshOutcome::Stale;
        };
        let (answer, answered) = oneshot::channel();
        let waiter = shell.new_waiter();
        shell.io().waiters.borrow_mut().insert(waiter, answer);
        shell.feed(Event::RefreshRequested(waiter));
        drop(shell);
        answered.await.unwrap_or(RefreshOutcome::Stale)
    }

    /// Makes the first decision (refresh at once, set the timer) and starts listening to
    /// other tabs and to the page's lifecycle; called when the provider mounts.
    pub(crate) fn start(&self) {
        // After hydrating a server render, what the engine itself read replaces it (with no
        // borrow of the engine held: the app's effects may feed it at once).
        if let Some(shell) = self.shell() {
            shell.publish();
        }
        #[cfg(target_arch = "wasm32")]
        if let Some(shell) = self.shell() {
            use crate::lifecycle::{is_online, PageEvent, PageLifecycle};
            let io = shell.io();
            let driver = Rc::downgrade(&shell);
            *io.tab_sync.borrow_mut() =
                crate::sync::TabSync::start(io.config.shared(), io.config.name(), move || {
                    if let Some(driver) = driver.upgrade() {
                        driver.feed(Event::StorageChanged);
                    }
                });
            let driver = Rc::downgrade(&shell);
            *io.lifecycle.borrow_mut() = PageLifecycle::start(move |event| {
                if let Some(driver) = driver.upgrade() {
                    match event {
                        // An `online` sent while the page was frozen or cached may be lost.
                        PageEvent::Resumed => {
                            driver.feed(Event::Online(is_online()));
                            driver.feed(Event::Resumed);
                        }
                        PageEvent::Online(online) => driver.feed(Event::Online(online)),
                    }
                }
            });
            if !is_online() {
                shell.feed(Event::Online(false));
            }
        }
        self.feed(Event::Wake);
    }

    /// Stops timers and cross-tab listeners; called when the provider unmounts. A refresh
    /// answer still out is still stored when it comes, if its chain is still current.
    pub(crate) fn shutdown(&self) {
        if let Some(shell) = self.shell() {
            shell.feed(Event::Unmounted);
            // The engine keeps only the timers of what it still finishes (a call's deadline,
            // the late-call hold); they go with the driver once nothing holds it.
            #[cfg(target_arch = "wasm32")]
            {
                shell.io().tab_sync.borrow_mut().take();
                shell.io().lifecycle.borrow_mut().take();
            }
        }
    }
}

/// What the HTTP client (browser only) reads from the store.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl<U: UserState> Auth<U> {
    /// The state right now (untracked).
    pub(crate) fn snapshot_state(&self) -> Option<AuthState<U>> {
        self.shell().map(|shell| shell.engine().state().clone())
    }

    /// Whether a refresh is under way.
    pub(crate) fn refresh_in_flight(&self) -> bool {
        self.shell().is_some_and(|shell| shell.engine().in_flight())
    }

    /// Whether a refresh callback is configured.
    pub(crate) fn can_refresh(&self) -> bool {
        self.shell()
            .is_some_and(|shell| shell.engine().settings().can_refresh())
    }

    /// The configured leeway.
    pub(crate) fn leeway(&self) -> Duration {
        self.shell()
            .map(|shell| shell.engine().settings().leeway)
            .unwrap_or_default()
    }

    /// Whether somebody is signed in right now (untracked).
    pub(crate) fn is_signed_in_now(&self) -> bool {
        self.shell()
            .is_some_and(|shell| shell.engine().state().is_signed_in())
    }

    /// The header and session version right now (untracked).
    pub(crate) fn header_and_version(&self) -> (Option<String>, u64) {
        self.shell()
            .map(|shell| {
                let engine = shell.engine();
                let state = engine.state();
                (state.session().map(|s| s.header()), state.version())
            })
            .unwrap_or((None, 0))
    }
}

fn disposed() -> AuthError {
    if cfg!(all(feature = "ssr", not(target_arch = "wasm32"))) {
        AuthError::NotInBrowser
    } else {
        AuthError::Storage("the AuthProvider has been unmounted".into())
    }
}

/// The memos of the rarely read getters (`token`, `expires_at`, `session_ends_at`), each
/// made on the first call of its getter (owned by the provider, then handed to every caller):
/// an app that never calls one links none of its code. (Measured with the size benchmark:
/// 1.2 KB gzip saved for an app that calls none. `user`, read by most apps, is made with the
/// store: made on first use, it saves 0.17 KB gzip for an app that never reads it and costs
/// 0.5 KB more for one that does.)
struct OnFirstUse<U: UserState> {
    /// The state they read: the signal itself, not a `Signal` wrapper (a read through a
    /// `Signal` carries code for every kind of signal it may wrap: 1.5 KB gzip more for an app
    /// that reads one of these getters, measured with `expires_at`).
    state: ReadSignal<AuthState<U>>,
    /// The provider's owner, which the memos belong to (so that they go with it). Weak: the
    /// owner holds this value, and a strong reference to it here would keep it alive, so that
    /// its cleanup (the store's shutdown) would not run when the provider's subtree goes.
    owner: Option<WeakOwner>,
    /// Whether refresh is configured (the session's end depends on it).
    can_refresh: bool,
    token: OnceLock<Memo<Option<Token>>>,
    expires_at: OnceLock<Memo<Option<Timestamp>>>,
    ends_at: OnceLock<Memo<Option<Timestamp>>>,
}

impl<U: UserState> Auth<U> {
    /// The memo in `slot`, made on first use: a memo of `read` (given the state and whether
    /// refresh is configured) under the provider's owner, kept for every later caller. With no
    /// owner to put it under, a memo for this caller only; once the provider is gone, one that
    /// reads the default (the state can no longer be read).
    fn on_first_use<T: Clone + PartialEq + Default + Send + Sync + 'static>(
        &self,
        slot: fn(&OnFirstUse<U>) -> &OnceLock<Memo<T>>,
        read: fn(&AuthState<U>, bool) -> T,
    ) -> Memo<T> {
        let found = self.on_first_use.try_with_value(|made| {
            slot(made).get().copied().ok_or_else(|| {
                let owner = made.owner.as_ref().and_then(WeakOwner::upgrade);
                (owner, made.can_refresh, made.state)
            })
        });
        let make = move |can_refresh, state: Option<ReadSignal<AuthState<U>>>| {
            Memo::new(move |_| {
                state
                    .and_then(|state| state.try_with(|s| read(s, can_refresh)))
                    .unwrap_or_default()
            })
        };
        match found {
            Some(Ok(signal)) => signal,
            // Made outside `try_with_value`: a new memo takes the arena that it holds.
            Some(Err((Some(owner), can_refresh, state))) => {
                let signal = owner.with(|| make(can_refresh, Some(state)));
                self.on_first_use
                    .try_with_value(|made| *slot(made).get_or_init(|| signal))
                    .unwrap_or(signal)
            }
            // No owner to put it under (none when the store was made, or it is being dropped):
            // a memo for this caller only, reading the state while it lasts.
            Some(Err((None, can_refresh, state))) => make(can_refresh, Some(state)),
            // The provider is gone: a memo that reads the default.
            None => make(false, None),
        }
    }
}

/// Puts `value` in a signal (its read and write halves) when it differs from what the signal
/// holds (subscribers are told only then); nothing once the signal is disposed. The write
/// lock is taken only for a change, so that publishing while user code reads an unchanged
/// signal cannot fail; the value is cloned into place (`clone_from`: 0.15 KB gzip less than
/// setting a clone, three types over).
fn replace_if_changed<T: Clone + PartialEq + Send + Sync + 'static>(
    (read, write): (ReadSignal<T>, WriteSignal<T>),
    value: &T,
) {
    if read.try_with_untracked(|current| current != value) == Some(true) {
        write.try_update(|current| current.clone_from(value));
    }
}

#[cfg(test)]
mod tests {
    use futures::channel::oneshot;

    use super::Pending;

    #[test]
    fn an_item_put_again_under_its_id_drops_the_older() {
        let mut pending = Pending::default();
        let (older, mut older_heard) = oneshot::channel::<()>();
        let (newer, mut newer_heard) = oneshot::channel::<()>();
        pending.insert(1, older);
        pending.insert(1, newer);
        assert_eq!(older_heard.try_recv(), Err(oneshot::Canceled), "dropped");
        assert_eq!(newer_heard.try_recv(), Ok(None), "kept");
        assert!(pending
            .remove(1)
            .is_some_and(|newer| newer.send(()).is_ok()));
        assert_eq!(newer_heard.try_recv(), Ok(Some(())));
    }

    #[test]
    fn pending_gives_each_item_back_once_by_its_id() {
        let mut pending = Pending::default();
        pending.insert(1, "a");
        pending.insert(2, "b");
        pending.insert(3, "c");
        assert_eq!(pending.remove(2), Some("b"));
        assert_eq!(pending.remove(2), None);
        // Put again under an id, the newer item replaces the older (which is dropped).
        pending.insert(1, "a2");
        assert_eq!(pending.remove(1), Some("a2"));
        assert_eq!(pending.remove(1), None);
        assert_eq!(pending.remove(3), Some("c"));
        assert_eq!(pending.remove(4), None);
    }
}
