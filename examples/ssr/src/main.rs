//! The server half: leptos_axum renders the pages (and answers the server function), and the
//! demo server's API (`/api/token/…`, `/api/me`) is mounted beside them in the same axum app.
//!
//! Configured as cargo-leptos would: `LEPTOS_SITE_ADDR` (default `127.0.0.1:3000`),
//! `LEPTOS_SITE_ROOT` (where `pkg/` with the wasm is), `LEPTOS_OUTPUT_NAME`.
//! `SSR_EXAMPLE_TEST_CONTROLS=1` also mounts the demo server's test controls (counters, token
//! lifetimes), for the Playwright suite.

use std::process::exit;

use axum::Router;
use demo_server::routes::{self, AppState, RefreshMode, Settings};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use ssr_example::app::{shell, App};

#[tokio::main]
async fn main() {
    let mut options = match get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(err) => {
            eprintln!("ssr-example: bad LEPTOS_* settings: {err}");
            exit(2);
        }
    };
    if options.output_name.is_empty() {
        options.output_name = "ssr_example".into();
    }
    let address = options.site_addr;
    let state = AppState::new(
        demo_server::DEMO_SECRET.as_bytes(),
        Settings {
            access_secs: 300,
            refresh_secs: 86_400,
            rotate: true,
            refresh_mode: RefreshMode::Normal,
        },
    );
    let mut api = routes::api(state.clone());
    // The Playwright suite changes token lifetimes and reads counters; nobody else may.
    if std::env::var_os("SSR_EXAMPLE_TEST_CONTROLS").is_some() {
        api = api.merge(routes::test_controls(state));
    }
    let pages = generate_route_list(App);
    let app = Router::new()
        .leptos_routes(&options, pages, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
        .merge(api);
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("ssr-example: cannot listen on {address}: {err}");
            exit(1);
        }
    };
    println!("ssr-example listening on http://{address} (accounts: ada / lovelace, bob / builder)");
    if let Err(err) = axum::serve(listener, app.into_make_service()).await {
        eprintln!("ssr-example: {err}");
        exit(1);
    }
}
