//! The leptos-auth-kit demo app. Build and serve it from the repository root with
//! `cargo xtask demo` (trunk serve + the demo server).

#[cfg(target_arch = "wasm32")]
mod app;

fn main() {
    #[cfg(target_arch = "wasm32")]
    leptos::mount::mount_to_body(app::App);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("The demo is a browser app: run `cargo xtask demo` from the repository root.");
}
