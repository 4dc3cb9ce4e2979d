//! The refresh engine with real timers and a real provider in headless Chromium.
#![cfg(target_arch = "wasm32")]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::FutureExt;
use leptos::prelude::{GetUntracked, WithUntracked};
use leptos_auth_kit::prelude::*;
use leptos_auth_kit::refresh::Backoff;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A refresh callback that counts its calls and answers with `answer(call_number)` after
/// `delay`. Successful answers are opaque tokens `refreshed-N` living 3 s, rotating the
/// refresh token to `refresh-N`.
fn counted_refresh(
    delay: Duration,
    answer: fn(u32) -> Result<(), RefreshError>,
) -> (Arc<AtomicU32>, leptos_auth_kit::Refresh<User>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let refresh = create_refresh(
        RefreshConfig::new(NO_INTERVAL, move |_params: RefreshParams<User>| {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                sleep(delay).await;
                answer(call).map(|()| {
                    Refreshed::new(format!("refreshed-{call}"))
                        .expires_in(Duration::from_secs(3))
                        .refresh_token(format!("refresh-{call}"))
                })
            }
        })
        .backoff(Backoff::new(ms(200), ms(400))),
    );
    (calls, refresh)
}

fn sign_in_short(auth: Auth<User>) {
    auth.sign_in(
        SignIn::new("access-0")
            .expires_in(Duration::from_secs(2))
            .refresh_token("refresh-0")
            .user(User { name: "Ada".into() }),
    )
    .unwrap();
}

#[wasm_bindgen_test]
async fn refresh_runs_before_expiry_and_the_dom_shows_the_new_token() {
    let (calls, refresh) = counted_refresh(ms(50), |_| Ok(()));
    let config = AuthConfig::local_storage("refresh_on_time")
        .refresh(refresh)
        .leeway(ms(800));
    let mounted = mount(config);
    sign_in_short(mounted.auth);
    sleep(ms(900)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "not before expiry - leeway (1.2 s)"
    );
    sleep(ms(700)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(mounted.text(), "AuthenticatedAdarefreshed-1");
    let stored = local_storage()
        .get_item("refresh_on_time")
        .unwrap()
        .unwrap();
    assert!(
        stored.contains("refreshed-1") && stored.contains("refresh-1"),
        "rotation stored: {stored}"
    );
    let info = mounted.auth.refresh_info().get_untracked();
    assert_eq!(
        (info.count, info.in_flight, info.last_error),
        (1, false, None)
    );
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn rejected_refresh_signs_out_and_tells_the_app() {
    let (calls, refresh) = counted_refresh(ms(50), |_| {
        Err(RefreshError::Rejected("blacklisted".into()))
    });
    let expired = Arc::new(AtomicU32::new(0));
    let hook = expired.clone();
    let config = AuthConfig::cookie("refresh_rejected")
        .refresh(refresh)
        .leeway(ms(800))
        .on_session_expired(move || {
            hook.fetch_add(1, Ordering::SeqCst);
        });
    let mounted = mount(config);
    sign_in_short(mounted.auth);
    // Refresh at 1.2 s; a shared storage then waits 0.5 s for another tab's tokens.
    sleep(ms(1500)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        mounted.text().starts_with("Authenticated"),
        "not yet: another tab may have rotated"
    );
    sleep(ms(600)).await;
    assert_eq!(mounted.text(), "Unauthenticated");
    assert!(
        is_end_marker(cookie_record("refresh_rejected")),
        "no token left"
    );
    assert_eq!(expired.load(Ordering::SeqCst), 1);
    sleep(ms(1000)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no refresh after sign-out");
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn transient_failures_keep_the_session_and_retry_with_backoff() {
    let (calls, refresh) = counted_refresh(ms(20), |call| {
        if call <= 2 {
            Err(RefreshError::Transient("503 Service Unavailable".into()))
        } else {
            Ok(())
        }
    });
    let config = AuthConfig::local_storage("refresh_transient")
        .refresh(refresh)
        .leeway(ms(800));
    let mounted = mount(config);
    sign_in_short(mounted.auth);
    // Due at 1.2 s; the call starts once the lock has settled.
    sleep(ms(1300) + LOCK_SETTLE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        mounted.text().starts_with("Authenticated"),
        "kept after a transient failure"
    );
    let info = mounted.auth.refresh_info().get_untracked();
    assert_eq!(info.last_error.as_deref(), Some("503 Service Unavailable"));
    // Retries after 200 ms, then 400 ms (each once the lock has settled).
    sleep(ms(900) + 2 * LOCK_SETTLE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(mounted.text(), "AuthenticatedAdarefreshed-3");
    assert_eq!(mounted.auth.refresh_info().get_untracked().last_error, None);
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn unmounting_the_provider_stops_all_further_calls() {
    let (calls, refresh) = counted_refresh(ms(10), |_| Ok(()));
    let config = AuthConfig::local_storage("refresh_unmount")
        .refresh(refresh)
        .leeway(ms(2500));
    let mounted = mount(config);
    sign_in_short(mounted.auth);
    // 2-3 s tokens with a large leeway refresh at half-life: about every 1.5 s.
    sleep(ms(2000)).await;
    let before = calls.load(Ordering::SeqCst);
    assert!(before >= 1, "refreshing while mounted");
    mounted.unmount();
    sleep(ms(3500)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "no call after unmount"
    );
    local_storage().remove_item("refresh_unmount").unwrap();
}

#[wasm_bindgen_test]
async fn concurrent_manual_refreshes_share_one_call() {
    let (calls, refresh) = counted_refresh(ms(300), |_| Ok(()));
    let mounted = mount(AuthConfig::memory().refresh(refresh));
    mounted
        .auth
        .sign_in(SignIn::new("a").expires_in(Duration::from_secs(600)))
        .unwrap();
    let outcomes = futures::future::join_all((0..5).map(|_| mounted.auth.refresh())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(
        outcomes.iter().all(|o| *o == RefreshOutcome::Refreshed),
        "{outcomes:?}"
    );
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn sign_out_during_a_refresh_wins() {
    let (calls, refresh) = counted_refresh(ms(400), |_| Ok(()));
    let mounted = mount(AuthConfig::local_storage("refresh_race").refresh(refresh));
    mounted
        .auth
        .sign_in(SignIn::new("a").expires_in(Duration::from_secs(600)))
        .unwrap();
    let auth = mounted.auth;
    let outcome = Arc::new(std::sync::Mutex::new(None));
    let slot = outcome.clone();
    leptos::task::spawn_local(async move {
        let result = auth.refresh().await;
        *slot.lock().unwrap() = Some(result);
    });
    sleep(ms(100) + LOCK_SETTLE).await;
    mounted.auth.sign_out();
    sleep(ms(600)).await;
    assert_eq!(*outcome.lock().unwrap(), Some(RefreshOutcome::Stale));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(mounted.text(), "Unauthenticated");
    assert!(
        is_end_marker(local_storage().get_item("refresh_race").unwrap()),
        "no token left"
    );
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn expired_access_with_valid_refresh_refreshes_on_load_instead_of_signing_out() {
    let now = Timestamp::now().unix_millis();
    let record = format!(
        r#"{{"v":1,"token":"stale","token_type":"Bearer","expires_at":{},"refresh_token":"refresh-0","refresh_expires_at":{},"refreshed_at":{},"user":{{"name":"Ada"}}}}"#,
        now - 60_000,
        now + 3_600_000,
        now - 360_000
    );
    local_storage()
        .set_item("refresh_on_load", &record)
        .unwrap();
    let (calls, refresh) = counted_refresh(ms(200), |_| Ok(()));
    let mounted = mount(AuthConfig::local_storage("refresh_on_load").refresh(refresh));
    assert!(mounted.text().starts_with("Loading"), "{}", mounted.text());
    sleep(ms(400)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(mounted.text(), "AuthenticatedAdarefreshed-1");
    mounted.auth.sign_out();
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn a_refresh_that_keeps_the_user_does_not_rerender_views_reading_only_the_user() {
    use leptos::prelude::*;
    let (calls, refresh) = counted_refresh(ms(10), |_| Ok(()));
    let mounted = mount(AuthConfig::memory().refresh(refresh));
    mounted
        .auth
        .sign_in(
            SignIn::new("a")
                .expires_in(Duration::from_secs(600))
                .user(User { name: "Ada".into() }),
        )
        .unwrap();
    settle().await;
    let auth = mounted.auth;
    let user_runs = Arc::new(AtomicU32::new(0));
    let token_runs = Arc::new(AtomicU32::new(0));
    let (u, t) = (user_runs.clone(), token_runs.clone());
    let owner = Owner::new();
    owner.with(|| {
        Effect::new(move |_| {
            auth.user().track();
            u.fetch_add(1, Ordering::SeqCst);
        });
        Effect::new(move |_| {
            auth.token().track();
            t.fetch_add(1, Ordering::SeqCst);
        });
    });
    settle().await;
    let (users_before, tokens_before) = (
        user_runs.load(Ordering::SeqCst),
        token_runs.load(Ordering::SeqCst),
    );
    assert_eq!(auth.refresh().await, RefreshOutcome::Refreshed);
    settle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        token_runs.load(Ordering::SeqCst),
        tokens_before + 1,
        "the token changed"
    );
    assert_eq!(
        user_runs.load(Ordering::SeqCst),
        users_before,
        "the user did not"
    );
    drop(owner);
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn unmounting_mid_refresh_still_stores_the_rotated_refresh_token() {
    let (calls, refresh) = counted_refresh(ms(300), |_| Ok(()));
    let mounted = mount(AuthConfig::local_storage("refresh_unmount_mid").refresh(refresh));
    mounted
        .auth
        .sign_in(
            SignIn::new("a")
                .expires_in(Duration::from_secs(600))
                .refresh_token("refresh-0"),
        )
        .unwrap();
    let auth = mounted.auth;
    leptos::task::spawn_local(async move {
        auth.refresh().await;
    });
    sleep(ms(100) + LOCK_SETTLE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the call is out");
    mounted.unmount();
    sleep(ms(500)).await;
    let stored = local_storage()
        .get_item("refresh_unmount_mid")
        .unwrap()
        .unwrap_or_default();
    assert!(
        stored.contains("refresh-1") && stored.contains("refreshed-1"),
        "the server rotated the token: the late answer is stored: {stored}"
    );
    local_storage().remove_item("refresh_unmount_mid").unwrap();
}

#[wasm_bindgen_test]
async fn dropping_the_caller_that_started_a_refresh_does_not_stall_refreshing() {
    use futures::FutureExt;
    let (calls, refresh) = counted_refresh(ms(200), |_| Ok(()));
    let config = AuthConfig::local_storage("refresh_dropped")
        .refresh(refresh)
        .leeway(ms(800));
    let mounted = mount(config);
    sign_in_short(mounted.auth);
    // Poll the first caller once (it starts the flight), then drop it, as an aborted Action
    // or a select with a timeout would.
    assert!(mounted.auth.refresh().now_or_never().is_none());
    sleep(ms(400) + LOCK_SETTLE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(mounted.text(), "AuthenticatedAdarefreshed-1");
    assert!(!mounted.auth.refresh_info().get_untracked().in_flight);
    // The schedule goes on: refreshed-1 lives 3 s and is refreshed 0.8 s before it expires.
    sleep(ms(2400) + LOCK_SETTLE).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the timer still runs");
    assert_eq!(mounted.text(), "AuthenticatedAdarefreshed-2");
    mounted.auth.sign_out();
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn with_refresh_the_session_ends_with_the_refresh_token() {
    use leptos::prelude::*;
    let (_, refresh) = counted_refresh(ms(10), |_| Ok(()));
    let mounted = mount(AuthConfig::memory().refresh(refresh));
    let auth = mounted.auth;
    mounted
        .auth
        .sign_in(
            SignIn::new("a")
                .expires_in(Duration::from_secs(600))
                .refresh_token("r")
                .refresh_expires_in(Duration::from_secs(3600)),
        )
        .unwrap();
    settle().await;
    let session = auth.state().get_untracked().session().cloned().unwrap();
    let ends = auth.session_ends_at();
    assert_eq!(ends.get_untracked(), session.refresh_expires_at());
    assert_ne!(ends.get_untracked(), Some(session.expires_at()));
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn a_refresh_asked_for_while_the_state_is_being_read_publishes_without_failing() {
    let (calls, refresh) = counted_refresh(ms(50), |_| Ok(()));
    let mounted = mount(AuthConfig::local_storage("refresh_while_read").refresh(refresh));
    sign_in_short(mounted.auth);
    let auth = mounted.auth;
    // The first poll asks for the refresh: the store publishes that one is under way (its
    // refresh info changes, its state does not) while this closure holds a read of the state.
    let mut refreshing = Box::pin(auth.refresh());
    let first_poll = auth
        .state()
        .with_untracked(|_| (&mut refreshing).now_or_never());
    assert_eq!(first_poll, None, "the refresh is under way");
    assert!(auth.refresh_info().get_untracked().in_flight);
    assert_eq!(refreshing.await, RefreshOutcome::Refreshed);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    settle().await;
    assert!(mounted.text().contains("refreshed-1"), "{}", mounted.text());
    mounted.unmount();
}
