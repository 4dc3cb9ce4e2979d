//! The demo: login (both server dialects), a protected dashboard calling `/api/me` through
//! `AuthClient`, a token inspector with a live countdown and refresh log, a page that needs a
//! fresh token, an admin page, sign-out, and a cookie / localStorage switch.

use std::time::Duration;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_auth_kit::backends::sanic_jwt_extended::SanicJwtExtended;
use leptos_auth_kit::backends::simplejwt::SimpleJwt;
use leptos_auth_kit::backends::BackendError;
use leptos_auth_kit::guard::RequireAuth;
use leptos_auth_kit::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::path;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The user, read from the access token's claims in either dialect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoUser {
    #[serde(alias = "identity")]
    pub username: String,
    pub role: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Storage {
    Cookie,
    Local,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dialect {
    SimpleJwt,
    Sanic,
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// A preference from `?name=value` (remembered) or from localStorage.
fn preference(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let from_query = search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned));
    let storage = local_storage()?;
    if let Some(value) = &from_query {
        let _ = storage.set_item(&format!("demo_{name}"), value);
    }
    from_query.or_else(|| storage.get_item(&format!("demo_{name}")).ok().flatten())
}

fn preferences() -> (Storage, Dialect) {
    let storage = match preference("storage").as_deref() {
        Some("local") => Storage::Local,
        _ => Storage::Cookie,
    };
    let dialect = match preference("dialect").as_deref() {
        Some("sanic") => Dialect::Sanic,
        _ => Dialect::SimpleJwt,
    };
    (storage, dialect)
}

fn simplejwt() -> SimpleJwt {
    SimpleJwt::new("/api")
}

fn sanic() -> SanicJwtExtended {
    SanicJwtExtended::new("/api/sanic/auth", "/api/sanic/refresh")
}

/// The session end `on_session_ending` last warned of: the nav shows a notice while it is still
/// the session's end.
#[derive(Clone, Copy)]
struct EndingNotice(RwSignal<Option<Timestamp>>);

fn config(storage: Storage, dialect: Dialect, notice: EndingNotice) -> AuthConfig<DemoUser> {
    let config = match storage {
        Storage::Cookie => AuthConfig::cookie("demo_auth"),
        Storage::Local => AuthConfig::local_storage("demo_auth"),
    };
    let config = match dialect {
        // Each refresh token a sign-out retires is blacklisted, also one that a refresh under
        // way at that moment brings.
        Dialect::SimpleJwt => config
            .refresh(simplejwt().refresh())
            .revoke_on_sign_out(simplejwt().revoke()),
        Dialect::Sanic => config.refresh(sanic().refresh()),
    };
    config
        .leeway(Duration::from_secs(10))
        .on_session_ending(Duration::from_secs(60), move |ends_at| {
            notice.0.set(Some(ends_at))
        })
}

#[component]
pub fn App() -> impl IntoView {
    let (storage, dialect) = preferences();
    let notice = EndingNotice(RwSignal::new(None));
    provide_context(notice);
    let config = config(storage, dialect, notice);
    view! {
        <AuthProvider config=config>
            <Router>
                <Nav storage=storage dialect=dialect/>
                <main>
                    <Routes fallback=|| view! { <p>"Not found"</p> }>
                        <Route path=path!("/login") view=move || view! { <Login dialect=dialect/> }/>
                        <Route
                            path=path!("/")
                            view=|| view! { <RequireAuth redirect_to="/login"><Dashboard/></RequireAuth> }
                        />
                        <Route
                            path=path!("/tokens")
                            view=|| view! { <RequireAuth redirect_to="/login"><Tokens/></RequireAuth> }
                        />
                        <Route
                            path=path!("/fresh")
                            view=|| {
                                view! {
                                    <RequireAuth redirect_to="/login" fresh=true fresh_redirect_to="/login?fresh=1">
                                        <p data-page="fresh">"This page needs a fresh token: you signed in with your password moments ago."</p>
                                    </RequireAuth>
                                }
                            }
                        />
                        <Route
                            path=path!("/admin")
                            view=|| {
                                view! {
                                    <RequireAuth redirect_to="/login" role="admin">
                                        <p data-page="admin">"Admins only."</p>
                                    </RequireAuth>
                                }
                            }
                        />
                    </Routes>
                </main>
            </Router>
        </AuthProvider>
    }
}

/// Refresh log entries, newest last.
#[derive(Clone, Copy)]
struct RefreshLog(RwSignal<Vec<String>>);

/// The last "50 concurrent calls" result and how many runs there were. Shown in the nav so it
/// stays visible when a failed refresh signs the user out and the guard leaves the dashboard.
#[derive(Clone, Copy)]
struct Burst {
    runs: RwSignal<u32>,
    result: RwSignal<String>,
}

#[component]
fn Nav(storage: Storage, dialect: Dialect) -> impl IntoView {
    let auth = use_auth::<DemoUser>();
    let log = RwSignal::new(Vec::<String>::new());
    provide_context(RefreshLog(log));
    let burst = Burst {
        runs: RwSignal::new(0),
        result: RwSignal::new(String::new()),
    };
    provide_context(burst);
    let info = auth.refresh_info();
    let EndingNotice(ending) = expect_context::<EndingNotice>();
    let ending_soon =
        move || ending.get().is_some() && ending.get() == auth.session_ends_at().get();
    Effect::new(move |previous: Option<(u32, Option<String>)>| {
        let info = info.get();
        let key = (info.count, info.last_error.clone());
        if previous.is_some_and(|previous| previous != key) {
            let at = info
                .last_refreshed_at
                .map(|t| t.unix_millis())
                .unwrap_or_default();
            let entry = match &info.last_error {
                Some(error) => format!("refresh failed: {error}"),
                None => format!("refresh #{} at {}", info.count, at),
            };
            log.update(|log| log.push(entry));
        }
        key
    });
    let sign_out = move |_| auth.sign_out();
    let switch = move |name: &'static str| {
        move |ev: leptos::ev::Event| {
            if let Some(storage) = local_storage() {
                let _ = storage.set_item(&format!("demo_{name}"), &event_target_value(&ev));
            }
            auth.sign_out();
            if let Some(window) = web_sys::window() {
                let _ = window.location().reload();
            }
        }
    };
    view! {
        <nav>
            <A href="/">"Dashboard"</A>
            " | "
            <A href="/tokens">"Tokens"</A>
            " | "
            <A href="/fresh">"Fresh-only"</A>
            " | "
            <A href="/admin">"Admin"</A>
            " | "
            <span id="status">{move || format!("{:?}", auth.status().get())}</span>
            " "
            <span id="user">{move || auth.user().get().map(|u| format!("{} ({})", u.username, u.role))}</span>
            " "
            <Show when=move || auth.is_authenticated().get()>
                <button id="sign-out" on:click=sign_out>"Sign out"</button>
            </Show>
            " storage: "
            <select id="storage-select" on:change=switch("storage")>
                <option value="cookie" selected=storage == Storage::Cookie>"cookie"</option>
                <option value="local" selected=storage == Storage::Local>"localStorage"</option>
            </select>
            " server: "
            <select id="dialect-select" on:change=switch("dialect")>
                <option value="simplejwt" selected=dialect == Dialect::SimpleJwt>"SimpleJWT"</option>
                <option value="sanic" selected=dialect == Dialect::Sanic>"sanic-jwt-extended"</option>
            </select>
            " refreshes: "
            <span id="refresh-count">{move || info.get().count}</span>
            <Show when=ending_soon>
                <p id="session-ending" class="error">"Your session ends within a minute: sign in again to stay signed in."</p>
            </Show>
            <p id="burst-result">
                {move || {
                    let result = burst.result.get();
                    if result.is_empty() { String::new() } else { format!("run={} {result}", burst.runs.get()) }
                }}
            </p>
        </nav>
    }
}

#[component]
fn Login(dialect: Dialect) -> impl IntoView {
    let auth = use_auth::<DemoUser>();
    let next = use_next_path("/");
    let query = use_query_map();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (user, pass) = (username.get_untracked(), password.get_untracked());
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            let request: Result<SignIn<DemoUser>, BackendError> = match dialect {
                Dialect::SimpleJwt => simplejwt().sign_in(&user, &pass).await,
                Dialect::Sanic => sanic().sign_in(&user, &pass).await,
            };
            busy.set(false);
            let signed_in = request.map_err(|err| err.to_string()).and_then(|request| {
                auth.sign_in(request.user_from_claims())
                    .map_err(|err| err.to_string())
            });
            match signed_in {
                Ok(()) => {
                    error.set(None);
                    navigate(&next.get_untracked(), Default::default());
                }
                Err(message) => error.set(Some(message)),
            }
        });
    };
    view! {
        <section data-page="login">
            <h1>"Sign in"</h1>
            <Show when=move || query.with(|q| q.get_str("fresh").is_some())>
                <p id="fresh-notice">"This page needs a fresh sign-in: enter your password again."</p>
            </Show>
            <form on:submit=submit>
                <label>"Username " <input id="username" bind:value=username autocomplete="username"/></label>
                <label>"Password " <input id="password" type="password" bind:value=password autocomplete="current-password"/></label>
                <button id="sign-in" type="submit" disabled=move || busy.get()>"Sign in"</button>
            </form>
            <p id="login-error" class="error">{move || error.get()}</p>
            <p class="hint">"Accounts: ada / lovelace (admin), bob / builder (user)."</p>
        </section>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let client = use_auth_client::<DemoUser>();
    let me = RwSignal::new(String::from("loading…"));
    let calls = RwSignal::new(0u32);
    let failures = RwSignal::new(0u32);
    let burst = expect_context::<Burst>();
    let call_me = move || {
        spawn_local(async move {
            let result = client.get_json::<Value>("/api/me").await;
            calls.update(|n| *n += 1);
            match result {
                Ok(value) => me.set(value.to_string()),
                Err(err) => {
                    failures.update(|n| *n += 1);
                    me.set(format!("error: {err}"));
                }
            }
        })
    };
    call_me();
    // Fifty concurrent calls: with a revoked or expired access token they must share one
    // refresh and all succeed (or all fail with the same typed error).
    let run_burst = move |_| {
        burst.result.set(String::new());
        spawn_local(async move {
            let answers = futures::future::join_all((0..50).map(|_| client.get("/api/me"))).await;
            let (mut ok, mut unauthorized, mut failed, mut first_error) = (0, 0, 0, String::new());
            for answer in answers {
                match answer {
                    Ok(response) if response.status() == 200 => ok += 1,
                    Ok(response) if response.status() == 401 => unauthorized += 1,
                    Ok(response) => {
                        failed += 1;
                        first_error = format!("HTTP {}", response.status());
                    }
                    Err(err) => {
                        failed += 1;
                        if first_error.is_empty() {
                            first_error = format!("{err:?}");
                        }
                    }
                }
            }
            burst.runs.update(|runs| *runs += 1);
            burst.result.set(format!(
                "calls=50 ok={ok} unauthorized={unauthorized} failed={failed} error={first_error}"
            ));
        });
    };
    view! {
        <section data-page="dashboard">
            <h1>"Dashboard"</h1>
            <p>"GET /api/me: " <code id="me-result">{me}</code></p>
            <p id="me-stats">{move || format!("calls={} failures={}", calls.get(), failures.get())}</p>
            <button id="call-me" on:click=move |_| call_me()>"Call /api/me"</button>
            " "
            <button id="burst" on:click=run_burst>"50 concurrent calls"</button>
        </section>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let auth = use_auth::<DemoUser>();
    let RefreshLog(log) = expect_context::<RefreshLog>();
    let now = RwSignal::new(Timestamp::now());
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(Timestamp::now()),
        Duration::from_millis(250),
    ) {
        on_cleanup(move || handle.clear());
    }
    let left = move |at: Option<Timestamp>, unknown: &str| match at {
        Some(at) => {
            let left = at.saturating_duration_since(now.get());
            format!("{:.1} s", left.as_secs_f64())
        }
        None => unknown.to_owned(),
    };
    let countdown = move || left(auth.expires_at().get(), "signed out");
    let session_ends = move || left(auth.session_ends_at().get(), "not known");
    let clock_offset = move || {
        auth.state()
            .with(|s| s.session().map(|s| s.clock_offset_ms()))
            .unwrap_or_default()
    };
    let claims = move || {
        auth.claims()
            .get()
            .map(|claims| serde_json::to_string_pretty(claims.as_map()).unwrap_or_default())
            .unwrap_or_else(|| "(not a JWT)".into())
    };
    let refresh_now = move |_| {
        spawn_local(async move {
            auth.refresh().await;
        })
    };
    let has_refresh_token = move || {
        auth.state()
            .with(|s| s.session().is_some_and(|s| s.refresh_token().is_some()))
    };
    // Changes the user state in place (`update_user`): a refresh running meanwhile, here or in
    // another tab, keeps both its new tokens and the new name.
    let renames = RwSignal::new(0u32);
    let rename_error = RwSignal::new(String::new());
    let rename = move |_| {
        let Some(mut user) = auth.user().get_untracked() else {
            return;
        };
        renames.update(|n| *n += 1);
        let base = user
            .username
            .split('~')
            .next()
            .unwrap_or_default()
            .to_owned();
        user.username = format!("{base}~{}", renames.get_untracked());
        if let Err(err) = auth.update_user(user) {
            rename_error.set(err.to_string());
        }
    };
    view! {
        <section data-page="tokens">
            <h1>"Token inspector"</h1>
            <p>"Access token expires in " <strong id="countdown">{countdown}</strong></p>
            <p>"Session ends in " <strong id="session-ends">{session_ends}</strong></p>
            <p>"Server clock ahead of this browser's by " <span id="clock-offset">{clock_offset}</span> " ms"</p>
            <p>"Refresh token kept: " <span id="has-refresh">{move || has_refresh_token().to_string()}</span></p>
            <pre id="claims">{claims}</pre>
            <button id="refresh-now" on:click=refresh_now>"Refresh now"</button>
            <button id="update-user" on:click=rename>"Rename (update_user)"</button>
            <span id="update-error" class="error">{move || rename_error.get()}</span>
            <h2>"Refresh log"</h2>
            <ol id="refresh-log">
                <For each=move || log.get().into_iter().enumerate() key=|(i, _)| *i let:entry>
                    <li>{entry.1}</li>
                </For>
            </ol>
        </section>
    }
}
