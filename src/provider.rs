//! `<AuthProvider>`: builds the store from the configuration and provides it to its children.

use leptos::prelude::*;

use crate::auth::{Auth, UserState};
use crate::config::AuthConfig;
use crate::hooks::AuthContext;
use crate::refresh::driver::schedule;

/// Provides the auth store to its children. Wrap the whole app (or at least everything that
/// uses `use_auth`) in it, usually around the `<Router>`.
///
/// The stored session is read synchronously while the provider is built, so a signed-in user
/// never sees a signed-out frame. Unusable stored values are cleared. When the provider
/// unmounts, its timers stop and a refresh still in flight is ignored when it returns.
///
/// ## Usage
/// ```
/// use leptos::prelude::*;
/// use leptos_auth_kit::prelude::*;
///
/// #[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct User { name: String }
///
/// #[component]
/// fn App() -> impl IntoView {
///     let config = AuthConfig::<User>::cookie("_auth");
///     view! {
///         <AuthProvider config=config>
///             <Greeting/>
///         </AuthProvider>
///     }
/// }
///
/// #[component]
/// fn Greeting() -> impl IntoView {
///     let auth = use_auth::<User>();
///     move || match auth.user().get() {
///         Some(user) => format!("Hello, {}", user.name),
///         None => "Please sign in".to_string(),
///     }
/// }
/// ```
#[component]
pub fn AuthProvider<U>(
    /// Where to keep the session, leeway, refresh and events.
    config: AuthConfig<U>,
    children: Children,
) -> impl IntoView
where
    U: UserState,
{
    let auth = Auth::new(config);
    provide_context(auth);
    provide_context(AuthContext::from(auth));
    on_cleanup(move || auth.shutdown());
    auth.start_tab_sync();
    schedule(auth);
    children()
}
