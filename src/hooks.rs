//! Hooks that read the auth store provided by `<AuthProvider>`.
//!
//! `use_auth` and friends panic outside the provider with a message that says so; the `try_`
//! forms return `None` instead, for code that may run outside it.

use leptos::prelude::*;

use crate::auth::{Auth, AuthStatus, UserState};
use crate::error::AuthError;
use crate::state::SignIn;
use crate::token::Claims;

const OUTSIDE: &str = "no auth store found: wrap the app in <AuthProvider config=…> \
     (and use the same user type U in use_auth::<U>() as in AuthConfig::<U>)";

/// The parts of the store that do not depend on the user type, so that `use_sign_out`,
/// `use_is_authenticated` and `use_auth_header` need no type parameter.
#[derive(Clone, Copy)]
pub(crate) struct AuthContext {
    pub(crate) status: ReadSignal<AuthStatus>,
    /// The store's one `is_authenticated` memo, shared by every caller.
    pub(crate) is_authenticated: Memo<bool>,
    pub(crate) header: Memo<Option<String>>,
    /// The access token's claims, which the guards read.
    pub(crate) claims: Memo<Option<Claims>>,
    pub(crate) sign_out: Callback<()>,
}

impl<U: UserState> From<Auth<U>> for AuthContext {
    fn from(auth: Auth<U>) -> Self {
        Self {
            status: auth.status,
            is_authenticated: auth.is_authenticated,
            header: auth.header,
            claims: auth.claims,
            sign_out: Callback::new(move |()| auth.sign_out()),
        }
    }
}

pub(crate) fn context() -> AuthContext {
    use_context::<AuthContext>().expect(OUTSIDE)
}

/// The auth store's handle.
///
/// ## Usage
/// ```
/// use leptos::prelude::*;
/// use leptos_auth_kit::prelude::*;
///
/// #[component]
/// fn Status() -> impl IntoView {
///     let auth = use_auth::<()>();
///     move || if auth.is_authenticated().get() { "signed in" } else { "signed out" }
/// }
/// ```
///
/// Panics outside `<AuthProvider>`, or when `U` is not the provider's user type.
pub fn use_auth<U: UserState>() -> Auth<U> {
    try_use_auth().expect(OUTSIDE)
}

/// The auth store's handle, or `None` outside `<AuthProvider>`.
pub fn try_use_auth<U: UserState>() -> Option<Auth<U>> {
    use_context::<Auth<U>>()
}

/// A callback that signs in and returns why not when it cannot.
///
/// ## Usage
/// ```
/// use leptos::prelude::*;
/// use leptos_auth_kit::prelude::*;
///
/// #[component]
/// fn Login() -> impl IntoView {
///     let sign_in = use_sign_in::<()>();
///     let error = RwSignal::new(None::<String>);
///     let on_click = move |_| {
///         # let token_from_server = "opaque".to_string();
///         let request = SignIn::new(token_from_server).expires_in(std::time::Duration::from_secs(300));
///         if let Err(err) = sign_in.run(request) {
///             error.set(Some(err.to_string()));
///         }
///     };
///     view! { <button on:click=on_click>"Sign in"</button> <p>{error}</p> }
/// }
/// ```
pub fn use_sign_in<U: UserState>() -> Callback<SignIn<U>, Result<(), AuthError>> {
    let auth = use_auth::<U>();
    Callback::new(move |request| auth.sign_in(request))
}

/// A callback that signs out: `use_sign_out().run(())`.
pub fn use_sign_out() -> Callback<()> {
    context().sign_out
}

/// The user state, `None` when signed out.
pub fn use_auth_user<U: UserState>() -> Memo<Option<U>> {
    use_auth::<U>().user()
}

/// The `Authorization` header value, such as `Bearer eyJ…`; `None` when signed out.
pub fn use_auth_header() -> Memo<Option<String>> {
    context().header
}

/// Whether the user is signed in.
pub fn use_is_authenticated() -> Memo<bool> {
    context().is_authenticated
}

/// `Loading`, `Authenticated` or `Unauthenticated`.
pub fn use_auth_status() -> ReadSignal<AuthStatus> {
    context().status
}

/// Like [`use_auth_status`], but `None` outside `<AuthProvider>`.
pub fn try_use_auth_status() -> Option<ReadSignal<AuthStatus>> {
    use_context::<AuthContext>().map(|context| context.status)
}
