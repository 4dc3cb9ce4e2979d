//! The provider and hooks in real headless Chromium: real DOM, cookies, localStorage, timers.
#![cfg(target_arch = "wasm32")]

mod common;

use std::time::Duration;

use common::*;
use leptos_auth_kit::prelude::*;
use leptos_auth_kit::AuthError;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn ada() -> User {
    User { name: "Ada".into() }
}

/// Signs Ada in with a 10-minute token, checks the page shows her, and returns the token.
async fn sign_in_ada(mounted: &Mounted) -> String {
    let token = jwt_expiring_in(600, "ada");
    mounted
        .auth
        .sign_in(SignIn::new(token.clone()).user(ada()))
        .unwrap();
    settle().await;
    assert_eq!(mounted.text(), format!("AuthenticatedAda{token}"));
    token
}

#[wasm_bindgen_test]
async fn cookie_sign_in_renders_persists_survives_reload_and_signs_out() {
    let name = "auth_cookie_cycle";
    let mounted = mount(AuthConfig::cookie(name));
    assert!(
        mounted.text().starts_with("Unauthenticated"),
        "{}",
        mounted.text()
    );

    let token = sign_in_ada(&mounted).await;

    // The cookie holds the whole record, with the attributes we promised.
    let value = cookie_value(name).expect("cookie written");
    let record = leptos_auth_kit::storage::cookie::decode_value(&value).unwrap();
    assert!(
        record.contains(&token) && record.contains(r#""name":"Ada""#),
        "{record}"
    );
    let attributes = cookie_attributes(name)
        .await
        .expect("cookieStore sees the cookie");
    assert_eq!(field(&attributes, "path"), "/");
    assert_eq!(field(&attributes, "sameSite"), "lax");
    assert_eq!(
        field(&attributes, "secure"),
        false,
        "page is http, so no Secure"
    );
    let expires = field(&attributes, "expires")
        .as_f64()
        .expect("not a session cookie");
    let exp_ms = (Timestamp::now().unix_seconds() + 600) as f64 * 1000.0;
    assert!(
        expires <= exp_ms + 1000.0 && expires > exp_ms - 5000.0,
        "cookie expires at {expires}, token at {exp_ms}"
    );

    // A reload: a new provider on the same cookie is signed in from its first frame.
    mounted.unmount();
    let reloaded = mount(AuthConfig::cookie(name));
    assert_eq!(
        reloaded.text(),
        format!("AuthenticatedAda{token}"),
        "no signed-out frame"
    );

    reloaded.auth.sign_out();
    settle().await;
    assert_eq!(reloaded.text(), "Unauthenticated");
    assert!(is_end_marker(cookie_record(name)), "no token left");
    reloaded.unmount();
}

#[wasm_bindgen_test]
async fn local_storage_sign_in_persists_survives_reload_and_signs_out() {
    let key = "auth_local_cycle";
    let mounted = mount(AuthConfig::local_storage(key));
    let token = sign_in_ada(&mounted).await;
    let stored = local_storage()
        .get_item(key)
        .unwrap()
        .expect("record stored");
    assert!(stored.contains(&token), "{stored}");
    assert_eq!(
        cookie_value(key),
        None,
        "local storage mode writes no cookie"
    );

    mounted.unmount();
    let reloaded = mount(AuthConfig::local_storage(key));
    assert_eq!(reloaded.text(), format!("AuthenticatedAda{token}"));

    reloaded
        .auth
        .update_user(User {
            name: "Grace".into(),
        })
        .unwrap();
    // Shown at once; stored under the cross-tab lock, once it has settled.
    settle().await;
    assert!(reloaded.text().contains("Grace"));
    sleep(LOCK_WAIT).await;
    assert!(local_storage()
        .get_item(key)
        .unwrap()
        .unwrap()
        .contains("Grace"));

    reloaded.auth.sign_out();
    settle().await;
    assert_eq!(reloaded.text(), "Unauthenticated");
    assert!(
        is_end_marker(local_storage().get_item(key).unwrap()),
        "no token left"
    );
    reloaded.unmount();
}

#[wasm_bindgen_test]
async fn expiring_token_flips_the_dom_to_signed_out_without_a_reload() {
    // (config, what it stored, what that may be once expired: the browser drops the cookie at
    // its Max-Age, which may come before the provider marks the end)
    type Row = (
        AuthConfig<User>,
        fn() -> Option<String>,
        fn(Option<String>) -> bool,
    );
    let rows: [Row; 2] = [
        (
            AuthConfig::cookie("auth_expiry"),
            || cookie_record("auth_expiry"),
            |text| text.is_none() || is_end_marker(text),
        ),
        (
            AuthConfig::local_storage("auth_expiry"),
            || local_storage().get_item("auth_expiry").unwrap(),
            is_end_marker,
        ),
    ];
    for (config, stored, expired) in rows {
        let mounted = mount(config);
        mounted
            .auth
            .sign_in(SignIn::new("opaque-token").expires_in(Duration::from_millis(1500)))
            .unwrap();
        settle().await;
        assert!(mounted.text().starts_with("Authenticated"));
        sleep(Duration::from_millis(1900)).await;
        assert_eq!(mounted.text(), "Unauthenticated");
        assert!(expired(stored()), "no token left");
        mounted.unmount();
    }
}

#[wasm_bindgen_test]
async fn corrupt_or_foreign_values_start_signed_out_and_are_cleared() {
    let expired_record = r#"{"v":1,"token":"t","token_type":"Bearer","expires_at":1000,"refresh_token":null,"refresh_expires_at":null,"refreshed_at":1000,"user":null}"#;
    let valid_but_user_changed = format!(
        r#"{{"v":1,"token":"t","token_type":"Bearer","expires_at":{},"refreshed_at":1000,"user":{{"nom":1}}}}"#,
        Timestamp::now().unix_millis() + 600_000
    );
    let planted: Vec<String> = vec![
        "garbage".into(),
        "{}".into(),
        r#"{"v":1}"#.into(),
        "null".into(),
        jwt_expiring_in(600, "react-auth-kit-style-raw-token"),
        expired_record.into(),
        valid_but_user_changed,
        r#"{"v":99,"token":"t"}"#.into(),
    ];
    for value in planted {
        // localStorage: the value as is.
        local_storage().set_item("auth_corrupt", &value).unwrap();
        local_storage()
            .set_item("unrelated_key", "keep me")
            .unwrap();
        let mounted = mount(AuthConfig::local_storage("auth_corrupt"));
        assert_eq!(mounted.text(), "Unauthenticated", "planted {value:?}");
        assert_eq!(
            local_storage().get_item("auth_corrupt").unwrap(),
            None,
            "cleared {value:?}"
        );
        assert_eq!(
            local_storage()
                .get_item("unrelated_key")
                .unwrap()
                .as_deref(),
            Some("keep me")
        );
        mounted.unmount();

        // Cookie: raw, and encoded the way we encode.
        for cookie in [
            value.replace([';', ' ', ','], ""),
            leptos_auth_kit::storage::cookie::encode_value(&value),
        ] {
            set_raw_cookie(&format!("auth_corrupt={cookie}; Path=/"));
            set_raw_cookie("unrelated_cookie=1; Path=/");
            let mounted = mount(AuthConfig::cookie("auth_corrupt"));
            assert_eq!(
                mounted.text(),
                "Unauthenticated",
                "planted cookie {cookie:?}"
            );
            assert_eq!(
                cookie_value("auth_corrupt"),
                None,
                "cleared cookie {cookie:?}"
            );
            assert_eq!(cookie_value("unrelated_cookie").as_deref(), Some("1"));
            mounted.unmount();
        }
    }
    local_storage().remove_item("unrelated_key").unwrap();
}

#[wasm_bindgen_test]
async fn invalid_tokens_are_refused_with_a_reason() {
    let mounted = mount(AuthConfig::local_storage("auth_invalid"));
    let rows = [
        (SignIn::new("not-a-jwt"), AuthError::MissingExpiry),
        (
            SignIn::new("a.!!!.c"),
            AuthError::MalformedToken("JWT payload is not base64url".into()),
        ),
    ];
    for (request, expected) in rows {
        assert_eq!(mounted.auth.sign_in(request), Err(expected));
    }
    assert!(matches!(
        mounted.auth.sign_in(SignIn::new(jwt_expiring_in(0, "ada"))),
        Err(AuthError::Expired { .. })
    ));
    settle().await;
    assert_eq!(mounted.text(), "Unauthenticated");
    mounted.unmount();
}

#[wasm_bindgen_test]
async fn refused_cookie_writes_are_typed_errors_and_change_nothing() {
    type Check = fn(&AuthError) -> bool;
    let rows: [(&str, AuthConfig<User>, User, Check); 2] = [
        (
            "auth_big",
            AuthConfig::cookie("auth_big"),
            User {
                name: "x".repeat(5000),
            },
            |err| matches!(err, AuthError::CookieTooLarge { .. }),
        ),
        // 127.0.0.1 cannot set a cookie for example.com: the browser drops it without an error.
        (
            "auth_domain",
            AuthConfig::cookie("auth_domain").cookie_domain("example.com"),
            ada(),
            |err| *err == AuthError::CookieRejected,
        ),
    ];
    for (name, config, user, expected) in rows {
        let mounted = mount(config);
        let err = mounted
            .auth
            .sign_in(SignIn::new(jwt_expiring_in(600, "ada")).user(user))
            .unwrap_err();
        assert!(expected(&err), "{name}: {err:?}");
        settle().await;
        assert_eq!(mounted.text(), "Unauthenticated", "{name}");
        assert_eq!(cookie_value(name), None, "{name}");
        mounted.unmount();
    }
}

#[wasm_bindgen_test]
async fn a_cookie_for_another_path_is_not_taken_for_refused() {
    // This page (/) cannot see a cookie at /elsewhere, so it cannot read it back.
    let mounted = mount(AuthConfig::cookie("auth_elsewhere").cookie_path("/elsewhere"));
    mounted
        .auth
        .sign_in(SignIn::new(jwt_expiring_in(600, "ada")).user(ada()))
        .unwrap();
    mounted.unmount();
    set_raw_cookie("auth_elsewhere=; Path=/elsewhere; Max-Age=0");
}

#[wasm_bindgen_test]
async fn a_host_prefixed_cookie_is_secure_host_only_and_at_the_root() {
    let mounted = mount(AuthConfig::host_cookie("auth"));
    // Chromium treats http://127.0.0.1 as a secure context, so Secure cookies are kept.
    sign_in_ada(&mounted).await;
    let attributes = cookie_attributes("__Host-auth").await.expect("stored");
    assert_eq!(field(&attributes, "secure"), true);
    assert_eq!(field(&attributes, "path"), "/");
    assert_eq!(field(&attributes, "domain"), wasm_bindgen::JsValue::NULL);
    mounted.auth.sign_out();
    settle().await;
    assert!(is_end_marker(cookie_record("__Host-auth")), "no token left");
    mounted.unmount();
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Staff {
    badge: u32,
}

/// What one subtree sees: its status (through the untyped context) and its hooks.
struct Seen {
    sign_out: leptos::prelude::Callback<()>,
    user_store: Option<Auth<User>>,
    staff_store: Option<Auth<Staff>>,
}

type Slot = std::sync::Arc<std::sync::Mutex<Option<Seen>>>;

/// What a rendered `Side` handed out.
fn seen(slot: &Slot) -> Seen {
    slot.lock().unwrap().take().expect("rendered")
}

/// The status a `Side` shows, `None` when it is not in the page.
fn shown(element: &web_sys::HtmlElement, label: &str) -> Option<String> {
    element
        .query_selector(&format!(".{label}"))
        .unwrap()
        .map(|p| p.text_content().unwrap_or_default())
}

#[leptos::component]
fn Side(label: &'static str, out: Slot) -> impl leptos::prelude::IntoView {
    use leptos::prelude::*;
    let status = use_auth_status();
    *out.lock().unwrap() = Some(Seen {
        sign_out: use_sign_out(),
        user_store: try_use_auth::<User>(),
        staff_store: try_use_auth::<Staff>(),
    });
    leptos::view! { <p class=label>{move || format!("{:?}", status.get())}</p> }
}

#[wasm_bindgen_test]
async fn sibling_providers_each_serve_their_own_subtree() {
    use leptos::prelude::*;
    let element = container();
    let (a, b): (Slot, Slot) = Default::default();
    let (a_out, b_out) = (a.clone(), b.clone());
    let show_a = RwSignal::new(true);
    let handle = leptos::mount::mount_to(element.clone(), move || {
        let users = AuthConfig::<User>::local_storage("sibling_users");
        let staff = AuthConfig::<Staff>::cookie("sibling_staff");
        view! {
            {move || show_a.get().then(|| {
                let (config, out) = (users.clone(), a_out.clone());
                view! {
                    <AuthProvider config=config>
                        <Side label="a" out=out/>
                    </AuthProvider>
                }
            })}
            <AuthProvider config=staff>
                <Side label="b" out=b_out/>
            </AuthProvider>
        }
    });
    let (a, b) = (seen(&a), seen(&b));
    let shown = |label: &str| shown(&element, label);

    // Each subtree finds its own store and not the sibling's.
    assert!(a.user_store.is_some() && a.staff_store.is_none());
    assert!(b.staff_store.is_some() && b.user_store.is_none());
    let users = a.user_store.unwrap();
    let staff = b.staff_store.unwrap();

    users
        .sign_in(SignIn::new(jwt_expiring_in(600, "ada")).user(ada()))
        .unwrap();
    settle().await;
    assert_eq!(shown("a").as_deref(), Some("Authenticated"));
    assert_eq!(shown("b").as_deref(), Some("Unauthenticated"));

    staff
        .sign_in(SignIn::new(jwt_expiring_in(600, "kim")).user(Staff { badge: 7 }))
        .unwrap();
    settle().await;
    assert_eq!(shown("b").as_deref(), Some("Authenticated"));

    // The untyped sign-out of one subtree signs out that store only.
    b.sign_out.run(());
    settle().await;
    assert_eq!(shown("a").as_deref(), Some("Authenticated"));
    assert_eq!(shown("b").as_deref(), Some("Unauthenticated"));
    assert!(users.is_authenticated().get_untracked());

    // Unmounting one provider disposes its store only.
    show_a.set(false);
    settle().await;
    assert_eq!(shown("a"), None);
    assert!(
        users
            .sign_in(SignIn::new(jwt_expiring_in(600, "ada")))
            .is_err(),
        "first store disposed"
    );
    staff
        .sign_in(SignIn::new(jwt_expiring_in(600, "kim")).user(Staff { badge: 7 }))
        .unwrap();
    settle().await;
    assert_eq!(shown("b").as_deref(), Some("Authenticated"));
    staff.sign_out();
    settle().await;
    assert_eq!(shown("b").as_deref(), Some("Unauthenticated"));

    drop(handle);
    element.remove();
    local_storage().remove_item("sibling_users").unwrap();
}

#[wasm_bindgen_test]
async fn a_nested_provider_serves_its_children_in_place_of_the_outer_one() {
    use leptos::prelude::*;
    let element = container();
    let (outer, inner): (Slot, Slot) = Default::default();
    let (outer_out, inner_out) = (outer.clone(), inner.clone());
    let handle = leptos::mount::mount_to(element.clone(), move || {
        let users = AuthConfig::<User>::local_storage("nested_users");
        let staff = AuthConfig::<Staff>::cookie("nested_staff");
        view! {
            <AuthProvider config=users>
                <Side label="outer" out=outer_out/>
                <AuthProvider config=staff>
                    <Side label="inner" out=inner_out/>
                </AuthProvider>
            </AuthProvider>
        }
    });
    let (outer, inner) = (seen(&outer), seen(&inner));
    let shown = |label: &str| shown(&element, label);
    // The inner subtree still finds the outer store by its type; the untyped hooks are the
    // inner provider's.
    assert!(outer.user_store.is_some() && outer.staff_store.is_none());
    assert!(inner.user_store.is_some() && inner.staff_store.is_some());
    outer
        .user_store
        .unwrap()
        .sign_in(SignIn::new(jwt_expiring_in(600, "ada")).user(ada()))
        .unwrap();
    settle().await;
    assert_eq!(shown("outer").as_deref(), Some("Authenticated"));
    assert_eq!(shown("inner").as_deref(), Some("Unauthenticated"));
    inner.sign_out.run(());
    settle().await;
    assert_eq!(shown("outer").as_deref(), Some("Authenticated"));
    outer.sign_out.run(());
    settle().await;
    assert_eq!(shown("outer").as_deref(), Some("Unauthenticated"));
    drop(handle);
    element.remove();
}

#[wasm_bindgen_test]
async fn getters_made_on_first_use_belong_to_the_provider_and_follow_the_session() {
    use leptos::prelude::*;
    let mounted = mount(AuthConfig::memory());
    let auth = mounted.auth;
    sign_in_ada(&mounted).await;
    let expires_at = auth
        .state()
        .get_untracked()
        .session()
        .map(|session| session.expires_at());
    assert!(expires_at.is_some());
    // First asked for (nothing had called these two getters) under an owner that goes at once.
    let owner = Owner::new();
    let (first, ends) = owner.with(|| (auth.expires_at(), auth.session_ends_at()));
    drop(owner);
    assert_eq!(
        first.get_untracked(),
        expires_at,
        "made from the current session"
    );
    assert_eq!(
        ends.get_untracked(),
        expires_at,
        "no refresh: the session ends with the access token"
    );
    assert_eq!(
        auth.expires_at(),
        first,
        "every later caller gets the same signal"
    );
    assert_eq!(auth.session_ends_at(), ends);
    // They outlived the owner that first asked: they belong to the provider, and follow it.
    auth.sign_out();
    settle().await;
    assert_eq!(first.try_get_untracked(), Some(None));
    assert_eq!(ends.try_get_untracked(), Some(None));
    mounted.unmount();
    // Once the provider is gone, a getter still answers (signed out) rather than panicking.
    let owner = Owner::new();
    let late = owner.with(|| auth.expires_at());
    assert_eq!(late.try_get_untracked(), Some(None));
}

#[leptos::component]
fn Grab(
    sink: std::sync::Arc<std::sync::Mutex<Option<Auth<User>>>>,
) -> impl leptos::prelude::IntoView {
    *sink.lock().unwrap() = Some(use_auth::<User>());
    "inside"
}

#[wasm_bindgen_test]
async fn a_provider_whose_subtree_goes_shuts_down_while_its_parent_stays() {
    use leptos::prelude::*;
    let element = container();
    let shown = RwSignal::new(true);
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None::<Auth<User>>));
    let sink = slot.clone();
    let handle = leptos::mount::mount_to(element.clone(), move || {
        let sink = sink.clone();
        let children = move || {
            let sink = sink.clone();
            let config: AuthConfig<User> = AuthConfig::memory();
            view! {
                <AuthProvider config=config>
                    <Grab sink=sink/>
                </AuthProvider>
            }
        };
        view! { <Show when=move || shown.get()>{children.clone()}</Show> }
    });
    let auth = slot.lock().unwrap().take().expect("rendered");
    assert_eq!(text(&element), "inside");
    // A signal made with the store and one made on first use, before the subtree goes.
    let user = auth.user();
    let expires_at = auth.expires_at();
    assert_eq!(
        auth.status().try_get_untracked(),
        Some(AuthStatus::Unauthenticated)
    );
    shown.set(false);
    settle().await;
    assert_eq!(text(&element), "");
    assert_eq!(auth.status().try_get_untracked(), None, "the store is gone");
    assert_eq!(user.try_get_untracked(), None, "its signals with it");
    assert_eq!(expires_at.try_get_untracked(), None);
    drop(handle);
    element.remove();
}

#[wasm_bindgen_test]
async fn a_provider_made_outside_any_owner_shuts_down_when_its_view_is_dropped() {
    use leptos::prelude::*;
    assert!(Owner::current().is_none(), "no owner around");
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None::<Auth<User>>));
    let sink = slot.clone();
    let config: AuthConfig<User> = AuthConfig::memory();
    let view = view! {
        <AuthProvider config=config>
            <Grab sink=sink/>
        </AuthProvider>
    };
    let auth = slot.lock().unwrap().take().expect("rendered");
    // A signal made with the store and one made on first use: neither keeps the provider
    // alive.
    let user = auth.user();
    let expires_at = auth.expires_at();
    assert_eq!(
        auth.status().try_get_untracked(),
        Some(AuthStatus::Unauthenticated)
    );
    drop(view);
    settle().await;
    assert_eq!(auth.status().try_get_untracked(), None, "the store is gone");
    assert_eq!(user.try_get_untracked(), None, "its signals with it");
    assert_eq!(expires_at.try_get_untracked(), None);
}

#[wasm_bindgen_test]
async fn a_sign_out_made_while_a_sign_in_is_published_leaves_every_signal_signed_out() {
    use leptos::prelude::{GetUntracked, With};
    use leptos::reactive::effect::ImmediateEffect;
    let mounted = mount(AuthConfig::local_storage("sign_out_inside_publish"));
    let auth = mounted.auth;
    // App code that reacts at once to the state (an ImmediateEffect) and signs out: the store
    // publishes the sign-out while it is still publishing the sign-in.
    let _effect = ImmediateEffect::new(move || {
        if auth.state().with(|state| state.is_signed_in()) {
            auth.sign_out();
        }
    });
    auth.sign_in(SignIn::new(jwt_expiring_in(600, "ada")).user(ada()))
        .unwrap();
    settle().await;
    assert!(!auth.state().get_untracked().is_signed_in());
    assert_eq!(auth.status().get_untracked(), AuthStatus::Unauthenticated);
    assert!(!auth.is_authenticated().get_untracked());
    assert_eq!(mounted.text(), "Unauthenticated");
    mounted.unmount();
}
