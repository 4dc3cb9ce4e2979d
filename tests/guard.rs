//! `<RequireAuth>` in real headless Chromium, inside a real leptos_router `<Router>`: the guard
//! follows the claims of each new access token, not only those of the sign-in.
#![cfg(target_arch = "wasm32")]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use leptos::mount::mount_to;
use leptos::prelude::*;
use leptos_auth_kit::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_navigate;
use leptos_router::path;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// An unsigned JWT for Ada, living ten minutes, with these claims (`"role":"admin"`).
fn jwt_with(claims: &str) -> String {
    jwt_with_claims(600, "ada", claims)
}

/// The page's path and query (`window.location`, which the router keeps in step).
fn here() -> String {
    let location = web_sys::window().unwrap().location();
    format!(
        "{}{}",
        location.pathname().unwrap(),
        location.search().unwrap()
    )
}

/// Puts the page at `url` without loading anything, as the router's navigation does.
fn go_to(url: &str) {
    web_sys::window()
        .unwrap()
        .history()
        .unwrap()
        .replace_state_with_url(&JsValue::NULL, "", Some(url))
        .unwrap();
}

/// The router's navigation, taken from inside the `<Router>`.
type Navigate = Arc<dyn Fn(&str) + Send + Sync>;

/// A mounted app (see [`mount_app`]): the store's handle and the router's navigation.
struct App {
    element: web_sys::HtmlElement,
    auth: Auth<User>,
    navigate: Navigate,
    /// The page's URL before the app moved it.
    started_at: String,
    handle: Option<Box<dyn std::any::Any>>,
}

impl App {
    fn shows(&self) -> (String, String) {
        (here(), text(&self.element))
    }

    /// Unmounts the app, removes its element and puts the page's URL back.
    fn unmount(mut self) {
        self.handle.take();
        self.element.remove();
        go_to(&self.started_at);
    }
}

/// An app whose refresh callback answers, call after call, with the access tokens in
/// `answers`: a `/login` page, an `/admin` page that needs the `admin` role (others go to
/// `/no-role`) and a `/sensitive` page that needs a fresh token. It starts at `/login`.
async fn mount_app(key: &str, answers: Vec<String>) -> App {
    let started_at = web_sys::window().unwrap().location().href().unwrap();
    go_to("/login");
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let refresh = create_refresh(RefreshConfig::new(
        NO_INTERVAL,
        move |_params: RefreshParams<User>| {
            let next = answers.lock().unwrap().next();
            async move {
                next.map(|token| Refreshed::new(token).refresh_token("refresh"))
                    .ok_or_else(|| RefreshError::Rejected("no more answers".into()))
            }
        },
    ));
    let config = AuthConfig::<User>::local_storage(key).refresh(refresh);
    let element = container();
    type Slot = Arc<Mutex<Option<(Auth<User>, Navigate)>>>;
    let slot: Slot = Arc::new(Mutex::new(None));
    let sink = slot.clone();
    let handle = mount_to(element.clone(), move || {
        let sink = sink.clone();
        view! {
            <AuthProvider config=config>
                <Router>
                    <Routes fallback=|| "not found">
                        <Route path=path!("/login") view=move || {
                            let navigate = use_navigate();
                            *sink.lock().unwrap() = Some((
                                use_auth::<User>(),
                                Arc::new(move |to: &str| navigate(to, Default::default())),
                            ));
                            "login page"
                        }/>
                        <Route path=path!("/admin") view=|| view! {
                            <RequireAuth redirect_to="/login" role="admin" role_redirect_to="/no-role">
                                "admin page"
                            </RequireAuth>
                        }/>
                        <Route path=path!("/sensitive") view=|| view! {
                            <RequireAuth redirect_to="/login" fresh=true>
                                "sensitive page"
                            </RequireAuth>
                        }/>
                        <Route path=path!("/no-role") view=|| "no role page"/>
                    </Routes>
                </Router>
            </AuthProvider>
        }
    });
    settle().await;
    let rendered = slot.lock().unwrap().take();
    let (auth, navigate) = rendered.expect("the login page rendered");
    App {
        element,
        auth,
        navigate,
        started_at,
        handle: Some(Box::new(handle)),
    }
}

fn shown(url: &str, text: &str) -> (String, String) {
    (url.to_owned(), text.to_owned())
}

#[wasm_bindgen_test]
async fn a_refresh_that_drops_the_role_sends_the_user_away_and_one_that_keeps_it_does_not() {
    let app = mount_app(
        "guard_role_refresh",
        vec![
            jwt_with(r#""role":["staff","admin"]"#),
            jwt_with(r#""role":"staff""#),
        ],
    )
    .await;
    app.auth
        .sign_in(SignIn::new(jwt_with(r#""role":"admin""#)).user(User { name: "Ada".into() }))
        .unwrap();
    (app.navigate)("/admin");
    settle().await;
    assert_eq!(app.shows(), shown("/admin", "admin page"));

    // A new token that still carries the role (in the array form): the page stays.
    assert_eq!(app.auth.refresh().await, RefreshOutcome::Refreshed);
    settle().await;
    assert_eq!(app.shows(), shown("/admin", "admin page"));

    // The role is gone from the next token: the guard leaves the page, still signed in.
    assert_eq!(app.auth.refresh().await, RefreshOutcome::Refreshed);
    settle().await;
    assert_eq!(app.shows(), shown("/no-role", "no role page"));
    assert_eq!(app.auth.status().get_untracked(), AuthStatus::Authenticated);
    app.unmount();
}

#[wasm_bindgen_test]
async fn a_refreshed_token_without_fresh_sends_a_page_that_needs_one_to_sign_in_again() {
    // As servers do: a refresh's token is not fresh (here it has no `fresh` claim at all).
    let app = mount_app("guard_fresh_refresh", vec![jwt_with("")]).await;
    app.auth
        .sign_in(SignIn::new(jwt_with(r#""fresh":true"#)))
        .unwrap();
    (app.navigate)("/sensitive?tab=2");
    settle().await;
    assert_eq!(app.shows(), shown("/sensitive?tab=2", "sensitive page"));

    assert_eq!(app.auth.refresh().await, RefreshOutcome::Refreshed);
    settle().await;
    assert_eq!(
        app.shows(),
        shown("/login?next=%2Fsensitive%3Ftab%3D2", "login page")
    );
    assert_eq!(app.auth.status().get_untracked(), AuthStatus::Authenticated);
    app.unmount();
}
