//! # leptos-auth-kit
//!
//! A client-side authentication store for [Leptos](https://leptos.dev) 0.8 apps: an
//! [`AuthProvider`] that keeps the session in a cookie or `localStorage`, hooks whose signals
//! update the UI on sign-in, sign-out, refresh and expiry, and token refresh driven by your own
//! callback on a timer.
//!
//! ## Quick start
//! ```
//! use leptos::prelude::*;
//! use leptos_auth_kit::prelude::*;
//! use std::time::Duration;
//!
//! #[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct User { name: String }
//!
//! #[component]
//! fn App() -> impl IntoView {
//!     let config = AuthConfig::<User>::cookie("_auth").leeway(Duration::from_secs(30));
//!     view! { <AuthProvider config=config><Home/></AuthProvider> }
//! }
//!
//! #[component]
//! fn Home() -> impl IntoView {
//!     let auth = use_auth::<User>();
//!     let sign_out = use_sign_out();
//!     view! {
//!         <Show
//!             when=move || auth.is_authenticated().get()
//!             fallback=|| view! { <Login/> }
//!         >
//!             <p>"Hello " {move || auth.user().get().map(|user| user.name)}</p>
//!             <button on:click=move |_| sign_out.run(())>"Sign out"</button>
//!         </Show>
//!     }
//! }
//!
//! #[component]
//! fn Login() -> impl IntoView {
//!     let sign_in = use_sign_in::<User>();
//!     let error = RwSignal::new(String::new());
//!     let on_click = move |_| {
//!         // After POSTing the credentials to your server:
//!         # let access = "opaque-token".to_string();
//!         let request = SignIn::new(access)
//!             .expires_in(Duration::from_secs(300)) // only for opaque tokens; JWTs carry `exp`
//!             .user(User { name: "ada".into() });
//!         if let Err(err) = sign_in.run(request) {
//!             error.set(err.to_string());
//!         }
//!     };
//!     view! { <button on:click=on_click>"Sign in"</button> <p>{error}</p> }
//! }
//! ```
//!
//! ## Layout
//! Pure modules (tested natively, time passed in): [`token`], [`state`], [`config`],
//! [`storage::record`], the refresh schedule, and the session engine that makes every
//! decision about the session (when to refresh, whether an answer applies, when to sign out;
//! checked by a multi-tab simulation). Browser shell: [`AuthProvider`], [`Auth`] and the
//! storages, which only carry out the engine's commands.

#![warn(missing_docs)]

mod auth;
pub mod backends;
mod base64url;
pub mod client;
pub mod config;
mod engine;
mod error;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
mod hooks;
mod json;
#[cfg(target_arch = "wasm32")]
mod lifecycle;
mod provider;
pub mod refresh;
pub mod server;
pub mod state;
pub mod storage;
mod sync;
mod time;
pub mod token;

/// The README's examples are compiled as doc tests, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use auth::Auth;
pub use config::{AuthConfig, CookieOptions, SameSite};
pub use error::AuthError;
pub use hooks::{
    try_use_auth, try_use_auth_status, use_auth, use_auth_header, use_auth_status, use_auth_user,
    use_is_authenticated, use_sign_in, use_sign_out,
};
pub use provider::{AuthProvider, AuthProviderProps};
pub use refresh::{
    create_refresh, Refresh, RefreshConfig, RefreshError, RefreshOutcome, RefreshParams,
};
pub use state::{AuthState, Refreshed, Session, SignIn};
pub use state::{AuthStatus, RefreshInfo, UserState};
pub use time::Timestamp;
pub use token::{Claims, Token, TokenInfo};

/// The gloo-net this crate sends with (0.6, the version Leptos 0.8 uses). Build the requests
/// of [`client::AuthClient::send_with`] with it (`leptos_auth_kit::gloo_net::http::Request`):
/// a request from another gloo-net version is another type and does not compile there.
pub use gloo_net;

/// Everything an app usually needs: `use leptos_auth_kit::prelude::*;`.
pub mod prelude {
    pub use crate::client::{use_auth_client, AuthClient};
    pub use crate::guard::{use_next_path, RequireAuth};
    pub use crate::{
        create_refresh, try_use_auth, use_auth, use_auth_header, use_auth_status, use_auth_user,
        use_is_authenticated, use_sign_in, use_sign_out, Auth, AuthConfig, AuthError, AuthProvider,
        AuthStatus, RefreshConfig, RefreshError, RefreshOutcome, RefreshParams, Refreshed,
        SameSite, SignIn, Timestamp,
    };
}
