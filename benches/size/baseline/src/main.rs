//! The baseline of the size benchmark: what an app writes by hand without the library.
//! A login that posts to SimpleJWT and keeps the access token in localStorage, a guarded
//! route, and one authorised API call.

use gloo_net::http::Request;
use gloo_storage::{LocalStorage, Storage};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::hooks::use_navigate;
use leptos_router::path;
use serde::Deserialize;

const KEY: &str = "_auth";

#[derive(Deserialize)]
struct Tokens {
    access: String,
}

#[derive(Clone, Deserialize)]
struct Me {
    name: String,
}

#[component]
fn App() -> impl IntoView {
    let token = RwSignal::new(LocalStorage::get::<String>(KEY).ok());
    provide_context(token);
    view! {
        <Router>
            <Routes fallback=|| "Not found">
                <Route path=path!("/login") view=Login/>
                <Route path=path!("/") view=move || view! {
                    <Show when=move || token.get().is_some() fallback=|| view! { <Redirect path="/login"/> }>
                        <Dashboard/>
                    </Show>
                }/>
            </Routes>
        </Router>
    }
}

#[component]
fn Login() -> impl IntoView {
    let token = expect_context::<RwSignal<Option<String>>>();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(String::new());
    let navigate = use_navigate();
    let submit = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            let body = serde_json::json!({"username": username.get_untracked(), "password": password.get_untracked()});
            let answer = match Request::post("/api/token/").json(&body) {
                Ok(request) => request.send().await,
                Err(err) => Err(err),
            };
            match answer {
                Ok(response) if response.ok() => match response.json::<Tokens>().await {
                    Ok(tokens) => {
                        let _ = LocalStorage::set(KEY, &tokens.access);
                        token.set(Some(tokens.access));
                        navigate("/", Default::default());
                    }
                    Err(err) => error.set(err.to_string()),
                },
                Ok(response) => error.set(format!("sign-in failed: {}", response.status())),
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
    let token = expect_context::<RwSignal<Option<String>>>();
    let me = LocalResource::new(move || async move {
        let bearer = format!("Bearer {}", token.get().unwrap_or_default());
        let response = Request::get("/api/me")
            .header("Authorization", &bearer)
            .send()
            .await
            .map_err(|err| err.to_string())?;
        if response.status() == 401 {
            LocalStorage::delete(KEY);
            token.set(None);
            return Err("signed out".to_owned());
        }
        response.json::<Me>().await.map_err(|err| err.to_string())
    });
    let sign_out = move |_| {
        LocalStorage::delete(KEY);
        token.set(None);
    };
    view! {
        <p>{move || match me.get() {
            Some(Ok(me)) => format!("Hello, {}", me.name),
            Some(Err(err)) => err,
            None => "Loading…".to_owned(),
        }}</p>
        <button on:click=sign_out>"Sign out"</button>
    }
}

fn main() {
    leptos::mount::mount_to_body(App);
}
