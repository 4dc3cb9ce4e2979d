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

/// `SimpleJwt::revoke` POSTs the token to `/token/blacklist/` with `keepalive`, so that a
/// page left right after the sign-out does not cancel it. `window.fetch` is replaced for the
/// test to see the request the browser is given.
#[wasm_bindgen_test]
async fn revoke_blacklists_with_a_request_that_outlives_the_page() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};

    let seen: Rc<RefCell<Vec<web_sys::Request>>> = Rc::default();
    let sink = seen.clone();
    let fake = Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |request: JsValue| {
        sink.borrow_mut().push(request.unchecked_into());
        let response = web_sys::Response::new_with_opt_str(Some("{}")).unwrap();
        js_sys::Promise::resolve(&response).unchecked_into::<js_sys::Promise>()
    });
    let window = web_sys::window().unwrap();
    let original = js_sys::Reflect::get(&window, &"fetch".into()).unwrap();
    js_sys::Reflect::set(&window, &"fetch".into(), fake.as_ref()).unwrap();
    let revoke = SimpleJwt::new("/api").revoke();
    revoke(leptos_auth_kit::token::Token::new("refresh-to-revoke"));
    sleep(std::time::Duration::from_millis(50)).await;
    js_sys::Reflect::set(&window, &"fetch".into(), &original).unwrap();

    let requests: Vec<web_sys::Request> = seen.borrow().clone();
    assert_eq!(requests.len(), 1, "one request");
    let request = &requests[0];
    assert!(
        request.url().ends_with("/api/token/blacklist/"),
        "{}",
        request.url()
    );
    assert_eq!(request.method(), "POST");
    let keepalive = js_sys::Reflect::get(request, &"keepalive".into()).unwrap();
    assert_eq!(keepalive, JsValue::TRUE, "keepalive");
    let body = wasm_bindgen_futures::JsFuture::from(request.text().unwrap())
        .await
        .unwrap();
    assert_eq!(
        body.as_string().as_deref(),
        Some(r#"{"refresh":"refresh-to-revoke"}"#)
    );
}
