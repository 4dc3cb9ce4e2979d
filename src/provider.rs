//! `<AuthProvider>`: builds the store from the configuration and provides it to its children.

use leptos::prelude::*;
use leptos::tachys::reactive_graph::OwnedView;

use crate::auth::{Auth, UserState};
use crate::config::AuthConfig;
use crate::hooks::AuthContext;

/// Provides the auth store to its children. Wrap the whole app (or at least everything that
/// uses `use_auth`) in it, usually around the `<Router>`.
///
/// Each provider owns its subtree: its store is seen only by its own children, so sibling
/// providers (say, one per user type and storage key) never see each other's store, and a
/// nested provider serves its children in place of the outer one. Unmounting a provider
/// stops only its own timers and listeners.
///
/// The stored session is read synchronously while the provider is built, so a signed-in user
/// never sees a signed-out frame. Unusable stored values are cleared. When the provider
/// unmounts, its timers and listeners stop; a refresh answer still out is still stored when
/// it comes, if its token chain is still the current one (a rotated refresh token is never lost).
///
/// Server-rendered apps (features `ssr` on the server half, `hydrate` on the browser half):
/// on the server the provider reads the session cookie from the request
/// (`http::request::Parts`, which leptos_axum provides) and renders with it, starting
/// nothing; localStorage and sessionStorage cannot be seen there and render `Loading`. The
/// status it rendered travels with the HTML (never a token), so the browser's first render
/// while hydrating equals the server's; the store starts (timers, listeners, a due refresh)
/// once the page is hydrated.
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
    // The store lives on an owner of its own, as leptos' `<Provider>` does: its contexts
    // reach only these children (a sibling provider keeps its own), and its cleanup runs when
    // this subtree goes, not when the parent does.
    let owner = Owner::current().map_or_else(Owner::new, |parent| parent.child());
    let view = owner.with(|| {
        let auth = Auth::new(config);
        provide_context(auth);
        provide_context(AuthContext::from(auth));
        on_cleanup(move || auth.shutdown());
        // Hydrating a server render, the store starts once the page is hydrated (effects run
        // only in the browser, after hydration); a client-rendered app starts it at once.
        #[cfg(feature = "hydrate")]
        Effect::new(move || untrack(|| auth.start()));
        #[cfg(not(feature = "hydrate"))]
        auth.start();
        children()
    });
    OwnedView::new_with_owner(view, owner)
}
