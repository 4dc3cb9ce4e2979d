//! The pages, shared by both halves: the same components render on the server from the
//! session cookie and hydrate in the browser.

use std::time::Duration;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_auth_kit::backends::simplejwt::SimpleJwt;
use leptos_auth_kit::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::hooks::use_navigate;
use leptos_router::{path, SsrMode};
use serde::{Deserialize, Serialize};

/// The session cookie's name, read by the server (`SessionReader`) and written by the browser.
pub const COOKIE: &str = "ssr_auth";

/// The localStorage key of the session when [`STORAGE_CHOICE`] asks for it.
pub const LOCAL_KEY: &str = "ssr_auth_local";

/// A cookie that, set to `local`, keeps the session in localStorage instead (the home page's
/// button switches): the server cannot see it, so both halves render `Loading` and the
/// browser resolves it right after hydration.
pub const STORAGE_CHOICE: &str = "ssr_example_storage";

/// The user, read from the access token's claims (the demo server puts them there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Who signed in.
    pub username: String,
    /// `admin` or `user`.
    pub role: String,
}

/// The SimpleJWT endpoints, mounted under `/api` in the same axum app.
fn backend() -> SimpleJwt {
    SimpleJwt::new("/api")
}

/// The HTML document around the app (the server renders it; the browser hydrates `<body>`).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>"leptos-auth-kit: server-rendered"</title>
                <link rel="icon" href="data:,"/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The app: the provider keeps the session in a cookie the server can read.
#[component]
pub fn App() -> impl IntoView {
    let local = local_storage_chosen();
    provide_context(LocalStorageChosen(local));
    let config = if local {
        AuthConfig::<User>::local_storage(LOCAL_KEY)
    } else {
        AuthConfig::<User>::cookie(COOKIE)
    };
    let config = config.refresh(backend().refresh());
    view! {
        <AuthProvider config=config>
            <Router>
                <Header/>
                <main>
                    <Routes fallback=|| view! { <p>"Not found."</p> }>
                        <Route path=path!("/") view=Home/>
                        <Route path=path!("/login") view=Login/>
                        // Async: the server answers once the server function's data is in,
                        // so the page is whole without JavaScript.
                        <Route path=path!("/dashboard") view=GuardedDashboard ssr=SsrMode::Async/>
                    </Routes>
                </main>
            </Router>
        </AuthProvider>
    }
}

/// Whether the session lives in localStorage (see [`STORAGE_CHOICE`]), in context.
#[derive(Clone, Copy)]
struct LocalStorageChosen(bool);

/// Whether the [`STORAGE_CHOICE`] cookie asks for localStorage. Read from the request on the
/// server and from `document.cookie` in the browser: both halves see the same cookie, so they
/// choose alike on every page and every reload.
fn local_storage_chosen() -> bool {
    #[cfg(feature = "ssr")]
    let cookies = use_context::<http::request::Parts>().map(|parts| {
        parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ")
    });
    #[cfg(not(feature = "ssr"))]
    let cookies = {
        use wasm_bindgen::JsCast;
        document()
            .dyn_into::<web_sys::HtmlDocument>()
            .ok()
            .and_then(|document| document.cookie().ok())
    };
    let chosen = format!("{STORAGE_CHOICE}=local");
    cookies.is_some_and(|cookies| cookies.split(';').any(|pair| pair.trim() == chosen))
}

/// Sets or clears the [`STORAGE_CHOICE`] cookie and loads the page again (browser only).
fn choose_local_storage(local: bool) {
    use wasm_bindgen::JsCast;
    let Ok(document) = document().dyn_into::<web_sys::HtmlDocument>() else {
        return;
    };
    let max_age = if local { 31_536_000 } else { 0 };
    let _ = document.set_cookie(&format!(
        "{STORAGE_CHOICE}=local; Path=/; Max-Age={max_age}; SameSite=Lax"
    ));
    let _ = window().location().reload();
}

/// Status, user, navigation and sign-out, on every page; in the browser, a log of every
/// status the store went through since the page was hydrated.
#[component]
fn Header() -> impl IntoView {
    let auth = use_auth::<User>();
    let sign_out = use_sign_out();
    let log = RwSignal::new(Vec::<String>::new());
    // Effects run in the browser only, after hydration.
    Effect::new(move || {
        let status = format!("{:?}", auth.status().get());
        log.update(|log| log.push(status));
    });
    let name = move || auth.user().get().map(|user| user.username);
    view! {
        <header>
            <nav>
                <A href="/">"Home"</A>" "
                <A href="/dashboard">"Dashboard"</A>" "
                <Show
                    when=move || auth.is_authenticated().get()
                    fallback=|| view! { <A href="/login">"Sign in"</A> }
                >
                    <button id="sign-out" on:click=move |_| sign_out.run(())>"Sign out"</button>
                </Show>
            </nav>
            <p>
                "Status: " <span id="status">{move || format!("{:?}", auth.status().get())}</span>
                " · user: " <span id="user">{name}</span>
            </p>
            <p>"Seen in the browser: " <span id="status-log">{move || log.get().join(" ")}</span></p>
        </header>
    }
}

#[component]
fn Home() -> impl IntoView {
    let LocalStorageChosen(local) = expect_context::<LocalStorageChosen>();
    let (kept_in, other) = if local {
        (
            "localStorage: the server cannot see it",
            "Keep it in a cookie",
        )
    } else {
        (
            "a cookie: the server renders from it",
            "Keep it in localStorage",
        )
    };
    view! {
        <h1>"leptos-auth-kit, server-rendered"</h1>
        <p>"Sign in as ada / lovelace or bob / builder, then open the dashboard and reload it."</p>
        <p>"The session is kept in " <span id="storage-mode">{kept_in}</span> ". "
            <button id="switch-storage" on:click=move |_| choose_local_storage(!local)>{other}</button>
        </p>
    }
}

#[component]
fn Login() -> impl IntoView {
    let auth = use_auth::<User>();
    let next = use_next_path("/dashboard");
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (user, pass) = (username.get_untracked(), password.get_untracked());
        let navigate = navigate.clone();
        spawn_local(async move {
            let signed_in = match backend().sign_in::<User>(&user, &pass).await {
                Ok(request) => auth
                    .sign_in(request.user_from_claims())
                    .map_err(|err| err.to_string()),
                Err(err) => Err(err.to_string()),
            };
            match signed_in {
                Ok(()) => navigate(&next.get_untracked(), Default::default()),
                Err(message) => error.set(Some(message)),
            }
        });
    };
    view! {
        <h1>"Sign in"</h1>
        <form on:submit=submit>
            <label>"Username " <input id="username" bind:value=username autocomplete="username"/></label>
            <label>"Password " <input id="password" type="password" bind:value=password autocomplete="current-password"/></label>
            <button id="sign-in" type="submit">"Sign in"</button>
        </form>
        <p id="login-error">{move || error.get()}</p>
    }
}

#[component]
fn GuardedDashboard() -> impl IntoView {
    view! {
        <RequireAuth redirect_to="/login" fallback=|| view! { <p id="checking">"Checking your session…"</p> }>
            <Dashboard/>
        </RequireAuth>
    }
}

/// Who the request's session cookie says is signed in, trusted only after the JWT's signature
/// is checked: `None` without a session cookie (a localStorage session never reaches the
/// server), an error for a token the check refuses. The name comes from the verified token's
/// claims, never from the user stored beside it (the browser writes that, so anybody can).
#[server]
pub async fn whoami() -> Result<Option<String>, ServerFnError> {
    use leptos_auth_kit::server::NoSession;
    let parts: http::request::Parts = leptos_axum::extract().await?;
    let session = match crate::app::verified::reader().from_parts::<User>(&parts) {
        Ok(session) => session,
        Err(NoSession::Missing | NoSession::SignedOut) => return Ok(None),
        Err(why) => return Err(ServerFnError::new(format!("no verified session: {why}"))),
    };
    let name = session
        .claims()
        .and_then(|claims| claims.get::<String>("username"))
        .ok_or_else(|| ServerFnError::new("the verified token names nobody"))?;
    Ok(Some(format!("{name}, signature verified by the server")))
}

/// The server's session reader, with the demo server's key (server half only).
#[cfg(feature = "ssr")]
pub mod verified {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    use leptos_auth_kit::server::SessionReader;
    use serde::Deserialize;

    /// The claim the check needs beyond the signature and `exp`.
    #[derive(Deserialize)]
    struct Kind {
        token_type: String,
    }

    /// Reads [`super::COOKIE`] and accepts only access tokens signed with the demo server's
    /// key (a refresh token, signed with the same key, is refused).
    pub fn reader() -> SessionReader {
        SessionReader::new(super::COOKIE).verify(|token| {
            let key = DecodingKey::from_secret(demo_server::DEMO_SECRET.as_bytes());
            let checked = decode::<Kind>(token.expose(), &key, &Validation::new(Algorithm::HS256))
                .map_err(|err| err.to_string())?;
            match checked.claims.token_type.as_str() {
                "access" => Ok(()),
                other => Err(format!("a {other} token is not an access token")),
            }
        })
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let auth = use_auth::<User>();
    let client = use_auth_client::<User>();
    let verified = Resource::new(|| (), |()| whoami());
    let me = RwSignal::new(String::new());
    let call_me = move |_| {
        spawn_local(async move {
            let answer = client.get_json::<serde_json::Value>("/api/me").await;
            me.set(match answer {
                Ok(body) => body.to_string(),
                Err(err) => format!("failed: {err}"),
            });
        })
    };
    view! {
        <h1 id="dashboard">"Dashboard of " {move || auth.user().get().map(|user| user.username)}</h1>
        <Suspense fallback=|| view! { <p>"Asking the server…"</p> }>
            <p id="verified">
                {move || {
                    verified
                        .get()
                        .map(|answer| match answer {
                            Ok(Some(verified)) => verified,
                            Ok(None) => "The server sees no session.".to_owned(),
                            Err(err) => err.to_string(),
                        })
                }}
            </p>
        </Suspense>
        <button id="ask-server" on:click=move |_| verified.refetch()>"Ask the server again"</button>
        <button id="call-me" on:click=call_me>"Call /api/me"</button>
        <pre id="me">{move || me.get()}</pre>
        <TokenInspector/>
    }
}

/// The claims (never the token), the expiry countdown and the refresh count. The countdown
/// starts in the browser: the server and the hydrating browser both render "…", so their
/// HTML agrees.
#[component]
fn TokenInspector() -> impl IntoView {
    let auth = use_auth::<User>();
    let now = RwSignal::new(None::<Timestamp>);
    Effect::new(move || {
        now.set(Some(Timestamp::now()));
        if let Ok(handle) = set_interval_with_handle(
            move || now.set(Some(Timestamp::now())),
            Duration::from_millis(250),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let left = move |at: Option<Timestamp>| match (now.get(), at) {
        (Some(now), Some(at)) => {
            format!("{:.1} s", at.saturating_duration_since(now).as_secs_f64())
        }
        (None, _) => "…".to_owned(),
        (Some(_), None) => "not known".to_owned(),
    };
    let claims = move || {
        auth.claims()
            .get()
            .map(|claims| serde_json::to_string_pretty(claims.as_map()).unwrap_or_default())
            .unwrap_or_else(|| "(not a JWT)".into())
    };
    view! {
        <section id="inspector">
            <h2>"Token inspector"</h2>
            <p>"Access token expires in " <span id="expires-in">{move || left(auth.expires_at().get())}</span></p>
            <p>"Session ends in " <span id="session-ends">{move || left(auth.session_ends_at().get())}</span></p>
            <p>"Refreshes since this page loaded: " <span id="refresh-count">{move || auth.refresh_info().get().count}</span></p>
            <pre id="claims">{claims}</pre>
        </section>
    }
}
