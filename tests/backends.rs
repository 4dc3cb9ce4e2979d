//! The adapters' real network path in headless Chromium: a token server that is down.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use leptos_auth_kit::backends::sanic_jwt_extended::SanicJwtExtended;
use leptos_auth_kit::backends::simplejwt::SimpleJwt;
use leptos_auth_kit::backends::BackendError;
use leptos_auth_kit::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens on port 9 (discard) on loopback: connections are refused at once.
const DOWN: &str = "http://127.0.0.1:9";

#[wasm_bindgen_test]
async fn sign_in_against_a_server_that_is_down_is_transient() {
    let simplejwt = SimpleJwt::new(format!("{DOWN}/api"));
    let err = simplejwt
        .sign_in::<User>("ada", "lovelace")
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Transient(_)), "{err:?}");
    let sanic = SanicJwtExtended::new(format!("{DOWN}/auth"), format!("{DOWN}/refresh"));
    let err = sanic.sign_in::<User>("ada", "lovelace").await.unwrap_err();
    assert!(matches!(err, BackendError::Transient(_)), "{err:?}");
}

#[wasm_bindgen_test]
async fn refresh_against_a_server_that_is_down_keeps_the_session() {
    let backends = [
        SimpleJwt::new(format!("{DOWN}/api")).refresh::<User>(),
        SanicJwtExtended::new(format!("{DOWN}/auth"), format!("{DOWN}/refresh")).refresh::<User>(),
    ];
    for refresh in backends {
        let mounted = mount(AuthConfig::memory().refresh(refresh));
        let request = SignIn::new(jwt_expiring_in(600, "ada")).refresh_token("r");
        mounted.auth.sign_in(request).unwrap();
        let outcome = mounted.auth.refresh().await;
        assert!(matches!(outcome, RefreshOutcome::Failed(_)), "{outcome:?}");
        settle().await;
        assert!(
            mounted.text().starts_with("Authenticated"),
            "{}",
            mounted.text()
        );
        mounted.unmount();
    }
}
