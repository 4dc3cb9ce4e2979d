//! The size benchmark with leptos-auth-kit: the baseline's features through the library.
//! The provider in localStorage, the SimpleJWT adapter's sign-in and refresh, `<RequireAuth>`
//! and `AuthClient`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_auth_kit::backends::simplejwt::SimpleJwt;
use leptos_auth_kit::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_navigate;
use leptos_router::path;
use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
}

#[derive(Clone, Deserialize)]
struct Me {
    name: String,
}

#[component]
fn App() -> impl IntoView {
    let config =
        AuthConfig::<User>::local_storage("_auth").refresh(SimpleJwt::new("/api").refresh());
    view! {
        <AuthProvider config=config>
            <Router>
                <Routes fallback=|| "Not found">
                    <Route path=path!("/login") view=Login/>
                    <Route path=path!("/") view=|| view! {
                        <RequireAuth redirect_to="/login" fallback=|| "Loading…"><Dashboard/></RequireAuth>
                    }/>
                </Routes>
            </Router>
        </AuthProvider>
    }
}

#[component]
fn Login() -> impl IntoView {
    let auth = use_auth::<User>();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(String::new());
    let navigate = use_navigate();
    let submit = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            let name = username.get_untracked();
            match SimpleJwt::new("/api")
                .sign_in::<User>(&name, &password.get_untracked())
                .await
            {
                Ok(request) => match auth.sign_in(request.user(User { name })) {
                    Ok(()) => navigate("/", Default::default()),
                    Err(err) => error.set(err.to_string()),
                },
                Err(err) => error.set(err.to_string()),
            }
        });
    };
    view! {
        <input bind:value=username/>
        <input type="password" bind:value=password/>
        <button on:click=submit>"Sign in"</button>
        <p>{error}</p>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let client = use_auth_client::<User>();
    let sign_out = use_sign_out();
    let me = LocalResource::new(move || async move {
        client
            .get_json::<Me>("/api/me")
            .await
            .map_err(|err| err.to_string())
    });
    view! {
        <p>{move || match me.get() {
            Some(Ok(me)) => format!("Hello, {}", me.name),
            Some(Err(err)) => err,
            None => "Loading…".to_owned(),
        }}</p>
        <button on:click=move |_| sign_out.run(())>"Sign out"</button>
    }
}

fn main() {
    leptos::mount::mount_to_body(App);
}
