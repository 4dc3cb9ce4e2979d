//! leptos-auth-kit in a server-rendered Leptos app: the pages and the server function
//! (`app`), the browser's entry point (`hydrate`), and the server binary (`main.rs`).
//!
//! The session lives in a cookie, so the server renders the signed-in pages from it: the
//! dashboard comes back as HTML with the user's name, a request without a session gets a 302
//! to the login page, and the browser picks the session up as it hydrates, then refreshes it on
//! schedule.

pub mod app;

/// The browser's entry point, called by the script `HydrationScripts` puts in the page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    leptos::mount::hydrate_body(app::App);
}
