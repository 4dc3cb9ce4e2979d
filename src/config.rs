//! The store's configuration: where the session is kept, the leeway, refresh and events.
//! The equivalent of React Auth Kit's `createStore`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::note::Note;
use crate::refresh::Refresh;
use crate::storage::{CookieStorage, LocalStorage, MemoryStorage, SessionStorage, TokenStorage};
use crate::time::Timestamp;
use crate::token::Token;

/// The cookie `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level navigations (the default).
    #[default]
    Lax,
    /// Sent on every request; browsers then require `Secure`, which is added automatically.
    None,
}

impl SameSite {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// Attributes of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// `Domain`; default none (host-only cookie, the safest).
    pub domain: Option<String>,
    /// `Path`; default `/`.
    pub path: String,
    /// `Secure`; default `None`, meaning on when the page is served over https.
    pub secure: Option<bool>,
    /// `SameSite`; default `Lax`.
    pub same_site: SameSite,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            domain: None,
            path: "/".to_owned(),
            secure: None,
            same_site: SameSite::Lax,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum StorageChoice {
    Cookie(CookieOptions),
    Local,
    Session,
    Memory(MemoryStorage),
}

impl StorageChoice {
    /// Opens the cookie storage. [`AuthConfig::cookie`] and [`AuthConfig::host_cookie`] choose
    /// this opener, the other constructors theirs: an app links only the storage it uses (the
    /// cookie code alone is a few KB of wasm).
    fn open_cookie(name: &str, choice: &Self) -> Arc<dyn TokenStorage> {
        let options = match choice {
            Self::Cookie(options) => options.clone(),
            _ => CookieOptions::default(),
        };
        Arc::new(CookieStorage::new(name.to_owned(), options))
    }

    fn open_local(name: &str, _: &Self) -> Arc<dyn TokenStorage> {
        Arc::new(LocalStorage::new(name.to_owned()))
    }

    fn open_session(name: &str, _: &Self) -> Arc<dyn TokenStorage> {
        Arc::new(SessionStorage::new(name.to_owned()))
    }

    fn open_memory(_: &str, choice: &Self) -> Arc<dyn TokenStorage> {
        match choice {
            Self::Memory(memory) => Arc::new(memory.clone()),
            _ => Arc::new(MemoryStorage::default()),
        }
    }
}

/// Opens the configured storage: one of `StorageChoice`'s openers.
type Open = fn(&str, &StorageChoice) -> Arc<dyn TokenStorage>;

type Hook = Arc<dyn Fn() + Send + Sync>;

/// `on_session_ending`: how long before the end, and what to call with the end instant.
#[derive(Clone)]
pub(crate) struct EndingHook {
    pub(crate) before: Duration,
    pub(crate) callback: Arc<dyn Fn(Timestamp) + Send + Sync>,
}

/// How the auth store behaves. Build one and hand it to `<AuthProvider config=…>`.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::prelude::*;
/// use std::time::Duration;
///
/// #[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User { name: String }
///
/// let config = AuthConfig::<User>::cookie("_auth")
///     .same_site(SameSite::Strict)
///     .leeway(Duration::from_secs(30));
/// ```
///
/// Cookie options are ignored by the other storages.
pub struct AuthConfig<U> {
    pub(crate) name: String,
    pub(crate) storage: StorageChoice,
    open: Open,
    pub(crate) leeway: Duration,
    pub(crate) refresh: Option<Refresh<U>>,
    pub(crate) on_refreshed: Option<Hook>,
    pub(crate) on_session_expired: Option<Hook>,
    pub(crate) on_session_ending: Option<EndingHook>,
    pub(crate) revoke: Option<Arc<dyn Fn(Token) + Send + Sync>>,
    pub(crate) log: Option<fn(&Note)>,
}

impl<U> Clone for AuthConfig<U> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            storage: self.storage.clone(),
            open: self.open,
            leeway: self.leeway,
            refresh: self.refresh.clone(),
            on_refreshed: self.on_refreshed.clone(),
            on_session_expired: self.on_session_expired.clone(),
            on_session_ending: self.on_session_ending.clone(),
            revoke: self.revoke.clone(),
            log: self.log,
        }
    }
}

impl<U> fmt::Debug for AuthConfig<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("name", &self.name)
            .field("storage", &self.storage)
            .field("leeway", &self.leeway)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

/// The default leeway, 30 s: the access token is refreshed this long before it expires (half
/// way through its life when it lives less than twice this), and a token this close to its
/// expiry is treated as expiring. Change it with [`AuthConfig::leeway`].
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

impl<U> AuthConfig<U> {
    fn new(name: impl Into<String>, storage: StorageChoice, open: Open) -> Self {
        Self {
            name: name.into(),
            storage,
            open,
            leeway: DEFAULT_LEEWAY,
            refresh: None,
            on_refreshed: None,
            on_session_expired: None,
            on_session_ending: None,
            revoke: None,
            log: None,
        }
    }

    /// Keep the session in a cookie called `name` (`Path=/`, `SameSite=Lax`, `Secure` on
    /// https). The cookie is readable by the page's JavaScript, like React Auth Kit's.
    pub fn cookie(name: impl Into<String>) -> Self {
        Self::new(
            name,
            StorageChoice::Cookie(CookieOptions::default()),
            StorageChoice::open_cookie,
        )
    }

    /// Keep the session in a cookie called `__Host-{name}`: `Secure`, `Path=/` and no
    /// `Domain`, which the browser enforces for that prefix, so no sibling subdomain and no
    /// plain-http page can set, shadow or read over it. Recommended on https (browsers also
    /// accept it on `http://localhost`); the cookie's domain and path options are refused.
    ///
    /// ## Usage
    /// ```
    /// use leptos_auth_kit::AuthConfig;
    /// let config = AuthConfig::<()>::host_cookie("auth");
    /// assert_eq!(config.name(), "__Host-auth");
    /// ```
    pub fn host_cookie(name: impl AsRef<str>) -> Self {
        let options = CookieOptions {
            secure: Some(true),
            ..CookieOptions::default()
        };
        Self::new(
            format!("{}{}", crate::storage::cookie::HOST_PREFIX, name.as_ref()),
            StorageChoice::Cookie(options),
            StorageChoice::open_cookie,
        )
    }

    /// Keep the session in `localStorage` under the key `name`: it survives restarts and is
    /// shared by the origin's tabs.
    pub fn local_storage(name: impl Into<String>) -> Self {
        Self::new(name, StorageChoice::Local, StorageChoice::open_local)
    }

    /// Keep the session in `sessionStorage` under the key `name`: one tab, gone when it
    /// closes.
    pub fn session_storage(name: impl Into<String>) -> Self {
        Self::new(name, StorageChoice::Session, StorageChoice::open_session)
    }

    /// Keep the session in memory only (tests, server rendering): gone on reload.
    pub fn memory() -> Self {
        Self::in_memory(MemoryStorage::default())
    }

    /// Keep the session in the given memory storage, to inspect it in tests.
    pub fn in_memory(storage: MemoryStorage) -> Self {
        Self::new(
            "memory",
            StorageChoice::Memory(storage),
            StorageChoice::open_memory,
        )
    }

    fn cookie_options(mut self, change: impl FnOnce(&mut CookieOptions)) -> Self {
        if let StorageChoice::Cookie(options) = &mut self.storage {
            change(options);
        }
        self
    }

    /// Cookie `Domain` (default: none, a host-only cookie).
    pub fn cookie_domain(self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        self.cookie_options(|options| options.domain = Some(domain))
    }

    /// Cookie `Path` (default `/`).
    pub fn cookie_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.cookie_options(|options| options.path = path)
    }

    /// Force the cookie `Secure` attribute on or off (default: on when the page is https).
    pub fn cookie_secure(self, secure: bool) -> Self {
        self.cookie_options(|options| options.secure = Some(secure))
    }

    /// Cookie `SameSite` (default `Lax`).
    pub fn same_site(self, same_site: SameSite) -> Self {
        self.cookie_options(|options| options.same_site = same_site)
    }

    /// How long before the access token's expiry it is refreshed, and the allowance for a
    /// request on its way: default [`DEFAULT_LEEWAY`] (30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refresh tokens with this callback (see `create_refresh`).
    pub fn refresh(mut self, refresh: Refresh<U>) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// Revokes refresh tokens that nothing will use again, so that none stays valid on the
    /// server after a sign-out. `revoke` is called with:
    /// - the session's refresh token, when the user signs out (in the tab that signs out);
    /// - a new refresh token that a refresh answer brings for a session that has ended by then
    ///   (signed out here or in another tab, ended by itself, or replaced by a new sign-in), in
    ///   the tab that made the refresh, also after its provider unmounted;
    /// - a refresh token this tab's own refresh stored a moment before another tab, which had
    ///   not seen it yet, signed the session out.
    ///
    /// The token of a session that ends by itself (expired, or refused by the server) is not
    /// revoked: the server already refuses it. Storage is already cleared when the hook runs;
    /// its errors are its own. A tab duplicated by the browser ("Duplicate tab") copies
    /// sessionStorage, so with `session_storage` both tabs hold the same refresh token: a
    /// sign-out in one revokes it, and the other is signed out at its next refresh.
    ///
    /// The adapters provide one for servers with a revoke endpoint:
    ///
    /// ```
    /// use leptos_auth_kit::backends::simplejwt::SimpleJwt;
    /// use leptos_auth_kit::prelude::*;
    ///
    /// let simplejwt = SimpleJwt::new("/api");
    /// let config = AuthConfig::<()>::local_storage("_auth")
    ///     .refresh(simplejwt.refresh())
    ///     .revoke_on_sign_out(simplejwt.revoke()); // POST /api/token/blacklist/
    /// ```
    pub fn revoke_on_sign_out(mut self, revoke: impl Fn(Token) + Send + Sync + 'static) -> Self {
        self.revoke = Some(Arc::new(revoke));
        self
    }

    /// Logs each decision of the store to the browser console (off by default), each line
    /// starting with `[leptos-auth-kit]`: sign-in, the timer and why (refresh due, retry after
    /// a failure, the refresh token's end), waiting for and holding the cross-tab lock, a
    /// refresh started, finished or failed and why, another tab's tokens adopted, an answer
    /// dropped, sign-out and its cause, a token revoked. Never a token, a refresh token or a
    /// claim; a failure's reason is the refresh callback's own error text, so keep tokens out
    /// of your `RefreshError`s. An app that never calls this carries none of the formatting;
    /// the decision points that would make a line cost it about 0.4 KB of gzipped wasm.
    ///
    /// ```
    /// use leptos_auth_kit::prelude::*;
    /// let config = AuthConfig::<()>::local_storage("_auth").debug(cfg!(debug_assertions));
    /// ```
    pub fn debug(mut self, on: bool) -> Self {
        self.log = on.then_some(crate::engine::note::to_console as fn(&Note));
        self
    }

    /// Called after every successful refresh.
    pub fn on_refreshed(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_refreshed = Some(Arc::new(hook));
        self
    }

    /// Called when the session ends without a sign-out: the token expired with nothing to
    /// refresh it, the refresh token expired, or the server rejected a refresh.
    pub fn on_session_expired(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_session_expired = Some(Arc::new(hook));
        self
    }

    /// Called once, `before` the session ends (see [`Session::ends_at`]), with the instant it
    /// ends, so the app can say "you will be signed out in 5 minutes" and offer to sign in
    /// again. When a refresh moves the end later (a rotating server issues each new refresh
    /// token with a full lifetime), it is called again before the new end. Nothing is called
    /// when the end is not known (an opaque refresh token without `refresh_expires_in`).
    /// Each tab (each provider) calls its own, and a page opened inside the window calls it at
    /// once. `before` is at least 1 s.
    ///
    /// ## Usage
    /// ```
    /// use leptos_auth_kit::prelude::*;
    /// use std::time::Duration;
    ///
    /// let config = AuthConfig::<()>::local_storage("auth").on_session_ending(
    ///     Duration::from_secs(300),
    ///     |ends_at: Timestamp| {
    ///         let left = ends_at.saturating_duration_since(Timestamp::now());
    ///         leptos::logging::log!("signed out in {} s", left.as_secs());
    ///     },
    /// );
    /// ```
    ///
    /// [`Session::ends_at`]: crate::Session::ends_at
    pub fn on_session_ending(
        mut self,
        before: Duration,
        callback: impl Fn(Timestamp) + Send + Sync + 'static,
    ) -> Self {
        self.on_session_ending = Some(EndingHook {
            before: before.max(Duration::from_secs(1)),
            callback: Arc::new(callback),
        });
        self
    }

    /// The storage key or cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How other tabs share this storage.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn shared(&self) -> crate::sync::Shared {
        match self.storage {
            StorageChoice::Cookie(_) => crate::sync::Shared::Cookie,
            StorageChoice::Local => crate::sync::Shared::LocalStorage,
            StorageChoice::Session | StorageChoice::Memory(_) => crate::sync::Shared::No,
        }
    }

    /// Whether refreshes take the cross-tab lock (and settle before believing a rejection):
    /// every storage another provider may share, in another tab or after a remount in this
    /// one (sessionStorage too); not a memory storage.
    pub(crate) fn refresh_lock(&self) -> bool {
        !matches!(self.storage, StorageChoice::Memory(_))
    }

    /// What a server render can know of the session.
    #[cfg_attr(
        not(any(all(feature = "ssr", not(target_arch = "wasm32")), feature = "hydrate")),
        allow(dead_code)
    )]
    pub(crate) fn server_sees(&self) -> ServerSees {
        match self.storage {
            StorageChoice::Cookie(_) => ServerSees::Cookie,
            StorageChoice::Local | StorageChoice::Session => ServerSees::Nothing,
            StorageChoice::Memory(_) => ServerSees::SignedOut,
        }
    }

    /// The storage this configuration writes to (the server render reads the request).
    #[cfg_attr(all(feature = "ssr", not(target_arch = "wasm32")), allow(dead_code))]
    pub(crate) fn storage(&self) -> Arc<dyn TokenStorage> {
        (self.open)(&self.name, &self.storage)
    }
}

/// What a server render can know of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerSees {
    /// The session cookie, sent with every request.
    Cookie,
    /// Nothing: localStorage and sessionStorage stay in the browser. Both halves render
    /// `Loading`, and the browser resolves it after hydration.
    Nothing,
    /// A memory store starts signed out on every page load, on both sides.
    SignedOut,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_secure_ones() {
        let config = AuthConfig::<()>::cookie("_auth");
        let StorageChoice::Cookie(options) = &config.storage else {
            panic!("cookie storage")
        };
        assert_eq!(
            options,
            &CookieOptions {
                domain: None,
                path: "/".into(),
                secure: None,
                same_site: SameSite::Lax
            }
        );
        assert_eq!(config.leeway, Duration::from_secs(30));
        assert!(config.refresh.is_none());
    }

    #[test]
    fn cookie_setters_apply_to_cookies_and_are_ignored_elsewhere() {
        let config = AuthConfig::<()>::cookie("_auth")
            .cookie_domain("example.com")
            .cookie_path("/app")
            .cookie_secure(true)
            .same_site(SameSite::Strict);
        let StorageChoice::Cookie(options) = &config.storage else {
            panic!("cookie storage")
        };
        assert_eq!(
            options,
            &CookieOptions {
                domain: Some("example.com".into()),
                path: "/app".into(),
                secure: Some(true),
                same_site: SameSite::Strict
            }
        );
        let local = AuthConfig::<()>::local_storage("_auth").cookie_secure(true);
        assert!(matches!(local.storage, StorageChoice::Local));
    }
}
