//! `AuthConfig::debug(true)` in headless Chromium: the console gets a line for each decision
//! of a sign-in, a refresh and a sign-out, and never a token.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use leptos_auth_kit::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// What `console.log` is given while `capture` runs, in order.
struct Console {
    lines: Rc<RefCell<Vec<String>>>,
    original: JsValue,
    _sink: Closure<dyn Fn(JsValue)>,
}

impl Console {
    fn capture() -> Self {
        let lines = Rc::new(RefCell::new(Vec::new()));
        let into = lines.clone();
        let sink = Closure::<dyn Fn(JsValue)>::new(move |value: JsValue| {
            into.borrow_mut()
                .push(value.as_string().unwrap_or_default());
        });
        let console = console();
        let original = js_sys::Reflect::get(&console, &"log".into()).unwrap();
        js_sys::Reflect::set(&console, &"log".into(), sink.as_ref()).unwrap();
        Console {
            lines,
            original,
            _sink: sink,
        }
    }

    /// The library's lines so far.
    fn ours(&self) -> Vec<String> {
        let lines = self.lines.borrow();
        let ours = lines
            .iter()
            .filter(|line| line.starts_with("[leptos-auth-kit]"));
        ours.cloned().collect()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = js_sys::Reflect::set(&console(), &"log".into(), &self.original);
    }
}

fn console() -> JsValue {
    js_sys::Reflect::get(&js_sys::global(), &"console".into()).unwrap()
}

const SECRET: &str = "SECRETMARKER";

#[wasm_bindgen_test]
async fn debug_logs_every_decision_and_never_a_token() {
    let refresh = create_refresh(RefreshConfig::new(
        NO_INTERVAL,
        |_: RefreshParams<User>| async {
            sleep(Duration::from_millis(50)).await;
            Ok(Refreshed::new(format!("{SECRET}-access-1"))
                .expires_in(Duration::from_secs(60))
                .refresh_token(format!("{SECRET}-refresh-1")))
        },
    ));
    let config = AuthConfig::local_storage("debug_log")
        .refresh(refresh)
        .leeway(Duration::from_millis(800))
        .debug(true);
    let console = Console::capture();
    let mounted = mount(config);
    mounted
        .auth
        .sign_in(
            SignIn::new(format!("{SECRET}-access-0"))
                .expires_in(Duration::from_secs(2))
                .refresh_token(format!("{SECRET}-refresh-0"))
                .user(User {
                    name: format!("{SECRET}-name"),
                }),
        )
        .unwrap();
    // Refreshed at 1.2 s (2 s - 800 ms leeway), after the lock and its 150 ms settle.
    sleep(Duration::from_millis(1_800)).await;
    assert!(
        mounted.text().contains("access-1"),
        "refreshed: {}",
        mounted.text()
    );
    mounted.auth.sign_out();
    settle().await;
    let lines = console.ours();
    drop(console);
    mounted.unmount();
    let text = lines.join("\n");
    for expected in [
        "signed in; the access token expires in 2000 ms",
        "timer set: refresh due (interval, or access expiry minus leeway), in ",
        "refresh wanted: waiting for the cross-tab lock",
        "cross-tab lock held",
        "refresh started: calling the refresh callback",
        "refresh finished: new access and refresh tokens stored",
        "signed out by the user",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains(SECRET),
        "a token or user value logged:\n{text}"
    );
}

#[wasm_bindgen_test]
async fn without_debug_nothing_is_logged() {
    let console = Console::capture();
    let mounted = mount(AuthConfig::local_storage("debug_quiet"));
    mounted
        .auth
        .sign_in(SignIn::new("quiet-access").expires_in(Duration::from_secs(60)))
        .unwrap();
    mounted.auth.sign_out();
    settle().await;
    assert_eq!(console.ours(), Vec::<String>::new());
    drop(console);
    mounted.unmount();
}
