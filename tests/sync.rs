//! Cross-tab behaviour in headless Chromium. Another tab is a second provider in the same page
//! (its own BroadcastChannel object receives the first one's messages, and Web Locks are
//! shared), or, for localStorage, a real `StorageEvent` dispatched as the browser would.
#![cfg(target_arch = "wasm32")]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use leptos_auth_kit::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn cookie_sign_in_and_sign_out_reach_the_other_tab() {
    let first = mount(AuthConfig::cookie("sync_cookie"));
    let second = mount(AuthConfig::cookie("sync_cookie"));
    let token = jwt_expiring_in(600, "ada");
    first
        .auth
        .sign_in(SignIn::new(token.clone()).user(User { name: "Ada".into() }))
        .unwrap();
    settle().await;
    assert_eq!(second.text(), format!("AuthenticatedAda{token}"));
    second.auth.sign_out();
    settle().await;
    assert_eq!(first.text(), "Unauthenticated");
    first.unmount();
    second.unmount();
}

#[wasm_bindgen_test]
async fn local_storage_changes_from_another_tab_are_followed() {
    let mounted = mount(AuthConfig::local_storage("sync_local"));
    // Another tab signs in: it writes the record, and this tab gets a storage event.
    let other = mount(AuthConfig::memory());
    let token = jwt_expiring_in(600, "bob");
    other
        .auth
        .sign_in(SignIn::new(token.clone()).user(User { name: "Bob".into() }))
        .unwrap();
    let record = leptos_auth_kit::storage::record::encode(
        other.auth.state().get_untracked_session().as_ref().unwrap(),
    )
    .unwrap();
    other.unmount();
    local_storage().set_item("sync_local", &record).unwrap();
    dispatch_storage_event("sync_local");
    settle().await;
    assert_eq!(mounted.text(), format!("AuthenticatedBob{token}"));

    // Another tab signs out.
    local_storage().remove_item("sync_local").unwrap();
    dispatch_storage_event("sync_local");
    settle().await;
    assert_eq!(mounted.text(), "Unauthenticated");

    // Events for other keys are ignored.
    local_storage().set_item("sync_local", &record).unwrap();
    dispatch_storage_event("some_other_key");
    settle().await;
    assert_eq!(mounted.text(), "Unauthenticated");
    local_storage().remove_item("sync_local").unwrap();
    mounted.unmount();
}

fn dispatch_storage_event(key: &str) {
    let init = web_sys::StorageEventInit::new();
    init.set_key(Some(key));
    init.set_storage_area(Some(&local_storage()));
    let event = web_sys::StorageEvent::new_with_event_init_dict("storage", &init).unwrap();
    web_sys::window()
        .unwrap()
        .dispatch_event(event.unchecked_ref())
        .unwrap();
}

trait SessionOf {
    fn get_untracked_session(&self) -> Option<leptos_auth_kit::Session<User>>;
}

impl SessionOf for leptos::prelude::ReadSignal<leptos_auth_kit::AuthState<User>> {
    fn get_untracked_session(&self) -> Option<leptos_auth_kit::Session<User>> {
        use leptos::prelude::WithUntracked;
        self.with_untracked(|state| state.session().cloned())
    }
}

/// A token server with refresh-token rotation: a refresh token works once; reusing it is
/// rejected, as SimpleJWT's blacklist does.
fn rotating_server() -> (Arc<AtomicU32>, leptos_auth_kit::Refresh<User>) {
    let calls = Arc::new(AtomicU32::new(0));
    let valid = Arc::new(Mutex::new(String::from("refresh-0")));
    let counter = calls.clone();
    let refresh = create_refresh(RefreshConfig::new(
        NO_INTERVAL,
        move |params: RefreshParams<User>| {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let valid = valid.clone();
            async move {
                sleep(Duration::from_millis(200)).await;
                let sent = params
                    .refresh_token
                    .map(|t| t.expose().to_owned())
                    .unwrap_or_default();
                let mut current = valid.lock().unwrap();
                if sent != *current {
                    return Err(RefreshError::Rejected("Token is blacklisted".into()));
                }
                *current = format!("refresh-{call}");
                Ok(Refreshed::new(format!("access-{call}"))
                    .expires_in(Duration::from_secs(600))
                    .refresh_token(current.clone()))
            }
        },
    ));
    (calls, refresh)
}

#[wasm_bindgen_test]
async fn two_tabs_refreshing_at_once_with_rotation_both_stay_signed_in() {
    let (calls, refresh) = rotating_server();
    let first = mount(AuthConfig::cookie("sync_rotation").refresh(refresh.clone()));
    let second = mount(AuthConfig::cookie("sync_rotation").refresh(refresh));
    first
        .auth
        .sign_in(
            SignIn::new("access-0")
                .expires_in(Duration::from_secs(600))
                .refresh_token("refresh-0"),
        )
        .unwrap();
    settle().await;
    assert!(second.text().starts_with("Authenticated"));
    let (a, b) = futures::join!(first.auth.refresh(), second.auth.refresh());
    settle().await;
    assert_eq!(
        (a, b),
        (RefreshOutcome::Refreshed, RefreshOutcome::Refreshed)
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one tab refreshed, the other used its tokens"
    );
    assert_eq!(first.text(), "Authenticatedaccess-1");
    assert_eq!(second.text(), "Authenticatedaccess-1");
    first.auth.sign_out();
    first.unmount();
    second.unmount();
}

#[wasm_bindgen_test]
async fn update_user_in_one_tab_while_the_other_refreshes_keeps_the_rotated_token() {
    let (calls, refresh) = rotating_server();
    let first = mount(AuthConfig::cookie("sync_update_user").refresh(refresh.clone()));
    let second = mount(AuthConfig::cookie("sync_update_user").refresh(refresh));
    first
        .auth
        .sign_in(
            SignIn::new("access-0")
                .expires_in(Duration::from_secs(600))
                .refresh_token("refresh-0")
                .user(User { name: "Ada".into() }),
        )
        .unwrap();
    settle().await;
    let auth = first.auth;
    let refreshed = Arc::new(Mutex::new(None));
    let slot = refreshed.clone();
    leptos::task::spawn_local(async move {
        *slot.lock().unwrap() = Some(auth.refresh().await);
    });
    // The server answers after 200 ms; meanwhile the other tab renames the user.
    sleep(Duration::from_millis(50)).await;
    second
        .auth
        .update_user(User {
            name: "Countess".into(),
        })
        .unwrap();
    // The update is stored once the second tab holds the lock, after the refresh.
    sleep(Duration::from_millis(400) + LOCK_WAIT).await;
    assert_eq!(*refreshed.lock().unwrap(), Some(RefreshOutcome::Refreshed));
    assert_eq!(first.text(), "AuthenticatedCountessaccess-1");
    assert_eq!(second.text(), "AuthenticatedCountessaccess-1");
    // The next refresh sends the rotated token: had it been lost, the server would refuse.
    assert_eq!(second.auth.refresh().await, RefreshOutcome::Refreshed);
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(first.text(), "AuthenticatedCountessaccess-2");
    first.auth.sign_out();
    first.unmount();
    second.unmount();
}
