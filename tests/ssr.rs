//! The server half of a server-rendered app (feature `ssr`, native): `<AuthProvider>` renders
//! from the request's cookie, as leptos_axum provides it (`http::request::Parts` in context),
//! and `<RequireAuth>` answers with a server redirect. Run with
//! `cargo test --features ssr --test ssr`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leptos::prelude::*;
use leptos_auth_kit::prelude::*;
use leptos_auth_kit::storage::cookie::encode_value;
use leptos_router::components::{provide_server_redirect, Route, Router, Routes};
use leptos_router::location::RequestUrl;
use leptos_router::path;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    name: String,
}

/// A JWT (unsigned: the store decodes, it does not verify) expiring `secs` from now.
fn jwt_for(secs: i64) -> String {
    let now = Timestamp::now().unix_seconds() as i64;
    let payload = format!(r#"{{"iat":{now},"exp":{},"sub":"7"}}"#, now + secs);
    let b64 = |text: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    };
    format!("{}.{}.sig", b64(r#"{"alg":"HS256"}"#), b64(&payload))
}

/// A stored session record as the browser half writes it.
fn record(access_secs: i64, refresh_secs: i64) -> String {
    let now = Timestamp::now().unix_millis();
    let at = |secs: i64| now.saturating_add_signed(secs * 1_000);
    format!(
        r#"{{"v":1,"token":"{}","token_type":"Bearer","expires_at":{},"refresh_token":"refresh-secret","refresh_expires_at":{},"refreshed_at":{},"user":{{"name":"Ada"}}}}"#,
        jwt_for(access_secs),
        at(access_secs),
        at(refresh_secs),
        now
    )
}

fn cookie(name: &str, record: &str) -> String {
    format!("theme=dark; {name}={}", encode_value(record))
}

/// Renders `app` for a request to `url` with this `Cookie` header; returns the HTML and
/// where the server redirected to.
fn render<V: IntoView + 'static>(
    url: &str,
    cookies: Option<String>,
    app: impl FnOnce() -> V,
) -> (String, Option<String>) {
    let redirected = Arc::new(Mutex::new(None));
    let owner = Owner::new();
    let html = owner.with(|| {
        let mut request = http::Request::builder().uri(url);
        if let Some(cookies) = cookies {
            request = request.header(http::header::COOKIE, cookies);
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        provide_context(parts);
        provide_context(RequestUrl::new(url));
        let sink = redirected.clone();
        provide_server_redirect(move |path| *sink.lock().unwrap() = Some(path.to_owned()));
        app().into_view().to_html()
    });
    let redirected = redirected.lock().unwrap().clone();
    (html, redirected)
}

#[component]
fn Greeting() -> impl IntoView {
    let auth = use_auth::<User>();
    view! {
        <p id="status">{move || format!("{:?}", auth.status().get())}</p>
        <p id="user">{move || auth.user().get().map(|user| user.name)}</p>
        // An app that renders the whole state shows no token (`Debug` hides them).
        <p id="state">{move || format!("{:?}", auth.state().get())}</p>
    }
}

/// How many times any test's refresh callback ran: never, on the server.
static REFRESH_CALLS: AtomicUsize = AtomicUsize::new(0);

fn refresh() -> leptos_auth_kit::Refresh<User> {
    create_refresh(RefreshConfig::new(
        Duration::from_secs(3_600),
        |_: RefreshParams<User>| {
            // Counted when the call is made, whether or not its future is ever polled.
            REFRESH_CALLS.fetch_add(1, Ordering::SeqCst);
            async { Err(RefreshError::Transient("not on the server".into())) }
        },
    ))
}

fn greeting(config: AuthConfig<User>) -> impl IntoView {
    view! { <AuthProvider config=config><Greeting/></AuthProvider> }
}

#[test]
fn the_server_renders_from_the_session_cookie() {
    let ended = r#"{"v":1,"ended":42,"epoch":1}"#;
    // (the request's cookies, the status rendered, whether the user's name shows)
    let rows = [
        (
            Some(cookie("_auth", &record(300, 3_600))),
            "Authenticated",
            true,
        ),
        (None, "Unauthenticated", false),
        (Some("theme=dark".to_owned()), "Unauthenticated", false),
        (Some(cookie("_auth", "{corrupt")), "Unauthenticated", false),
        (Some(cookie("_auth", ended)), "Unauthenticated", false),
        // Expired access token, valid refresh token: the browser refreshes after hydration.
        (Some(cookie("_auth", &record(-10, 3_600))), "Loading", true),
        // Both expired by the clock (a browser drops the cookie then, at its Max-Age; one sent
        // anyway): Loading, as the browser half asks the server once before it signs out.
        (Some(cookie("_auth", &record(-10, -5))), "Loading", true),
    ];
    for (cookies, status, shows_user) in rows {
        let (html, _) = render("/", cookies.clone(), || {
            greeting(AuthConfig::cookie("_auth").refresh(refresh()))
        });
        assert!(html.contains(status), "{cookies:?}: {html}");
        assert_eq!(html.contains("Ada"), shows_user, "{cookies:?}: {html}");
        assert!(!html.contains("refresh-secret"), "{html}");
        assert!(
            !html.contains(&jwt_for(300)[..20]),
            "no access token: {html}"
        );
        assert!(html.contains("AuthState"), "the state is rendered: {html}");
    }
    // Rendering `Loading` (an expired access token) asks nothing: the browser refreshes.
    assert_eq!(REFRESH_CALLS.load(Ordering::SeqCst), 0);
}

#[test]
fn local_and_session_storage_render_loading_and_memory_signed_out() {
    let cookies = Some(cookie("_auth", &record(300, 3_600)));
    let rows = [
        (AuthConfig::<User>::local_storage("_auth"), "Loading"),
        (AuthConfig::<User>::session_storage("_auth"), "Loading"),
        (AuthConfig::<User>::memory(), "Unauthenticated"),
    ];
    for (config, status) in rows {
        let (html, _) = render("/", cookies.clone(), || greeting(config));
        assert!(html.contains(status), "{html}");
        assert!(!html.contains("Ada"), "{html}");
    }
}

#[test]
fn changing_the_session_on_the_server_is_a_typed_error() {
    let (html, _) = render("/", None, || {
        view! {
            <AuthProvider config={AuthConfig::<User>::cookie("_auth")}>
                {
                    let result = use_sign_in::<User>().run(SignIn::new(jwt_for(300)));
                    format!("{result:?}")
                }
            </AuthProvider>
        }
    });
    assert!(html.contains("NotInBrowser"), "{html}");
}

/// A component shared by both halves that sends with the client: it compiles on the server,
/// and a call there sends nothing and says why.
#[component]
fn Orders() -> impl IntoView {
    let client = use_auth_client::<User>();
    let sent = futures::executor::block_on(client.get("/api/orders")).map(|_| ());
    let read = futures::executor::block_on(client.get_json::<Vec<String>>("/api/orders"));
    format!("{sent:?} {read:?}")
}

#[test]
fn the_client_compiles_on_the_server_and_sends_nothing_there() {
    let signed_in = Some(cookie("_auth", &record(300, 3_600)));
    let (html, _) = render("/", signed_in, || {
        view! { <AuthProvider config={AuthConfig::<User>::cookie("_auth")}><Orders/></AuthProvider> }
    });
    assert!(
        html.contains("Err(NotInBrowser) Err(NotInBrowser)"),
        "{html}"
    );
}

#[test]
fn every_getter_and_hook_hands_out_the_stores_one_signal() {
    // Not a new derived signal (or a new `Signal` wrapper) per call: the store's own memo or
    // signal, the same for the handle's getter and the untyped hook.
    let (html, _) = render("/", None, || {
        view! {
            <AuthProvider config={AuthConfig::<User>::cookie("_auth")}>
                {
                    let auth = use_auth::<User>();
                    let shared = [
                        use_is_authenticated() == auth.is_authenticated()
                            && use_is_authenticated() == use_is_authenticated(),
                        use_auth_status() == auth.status()
                            && leptos_auth_kit::try_use_auth_status() == Some(auth.status()),
                        use_auth_header() == auth.header(),
                        use_auth_user::<User>() == auth.user(),
                        auth.claims() == auth.claims(),
                        auth.state() == auth.state(),
                        auth.refresh_info() == auth.refresh_info(),
                        // Made on first use, then the same for every later caller.
                        auth.token() == auth.token()
                            && auth.expires_at() == auth.expires_at()
                            && auth.session_ends_at() == auth.session_ends_at(),
                    ];
                    format!("shared: {shared:?}")
                }
            </AuthProvider>
        }
    });
    assert!(
        html.contains("shared: [true, true, true, true, true, true, true, true]"),
        "{html}"
    );
}

fn guarded_app() -> impl IntoView {
    view! {
        <AuthProvider config={AuthConfig::<User>::cookie("_auth").refresh(refresh())}>
            <Router>
                <Routes fallback=|| "not found">
                    <Route path=path!("/login") view=|| "login page"/>
                    <Route
                        path=path!("/dashboard")
                        view=|| view! {
                            <RequireAuth redirect_to="/login" fallback=|| "checking…">
                                <Greeting/>
                            </RequireAuth>
                        }
                    />
                </Routes>
            </Router>
        </AuthProvider>
    }
}

#[test]
fn require_auth_redirects_on_the_server() {
    let (html, redirected) = render("/dashboard?tab=2", None, guarded_app);
    assert_eq!(
        redirected.as_deref(),
        Some("/login?next=%2Fdashboard%3Ftab%3D2")
    );
    assert!(!html.contains("Ada"), "{html}");

    let signed_in = Some(cookie("_auth", &record(300, 3_600)));
    let (html, redirected) = render("/dashboard", signed_in, guarded_app);
    assert_eq!(redirected, None);
    assert!(html.contains("Ada"), "{html}");

    let refreshing = Some(cookie("_auth", &record(-10, 3_600)));
    let (html, redirected) = render("/dashboard", refreshing, guarded_app);
    assert_eq!(redirected, None);
    assert!(
        html.contains("checking…"),
        "the fallback while Loading: {html}"
    );
}
