//! Helpers shared by the browser test suites: real DOM, cookies, storage and timers.
#![allow(dead_code)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use leptos::mount::mount_to;
use leptos::prelude::*;
use leptos_auth_kit::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
}

/// An unsigned JWT expiring `seconds` from now (the client never checks signatures).
pub fn jwt_expiring_in(seconds: u64, subject: &str) -> String {
    jwt_with_claims(seconds, subject, "")
}

/// [`jwt_expiring_in`] with more claims, written as JSON members (`"role":"admin"`; empty for
/// none).
pub fn jwt_with_claims(seconds: u64, subject: &str, claims: &str) -> String {
    let exp = Timestamp::now().unix_seconds() + seconds;
    let more = if claims.is_empty() {
        String::new()
    } else {
        format!(",{claims}")
    };
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp},"sub":"{subject}"{more}}}"#));
    format!("{header}.{payload}.signature")
}

/// A refresh interval long enough never to come in a test: refreshes come from the token's
/// expiry, or when asked for.
pub const NO_INTERVAL: Duration = Duration::from_secs(86_400);

pub async fn sleep(duration: Duration) {
    gloo_timers::future::sleep(duration).await;
}

/// How long a provider with shared storage holds the cross-tab lock before it reads storage
/// and acts (the engine's `LOCK_SETTLE`): a refresh call starts this much later.
pub const LOCK_SETTLE: Duration = Duration::from_millis(150);

/// Long enough for a write made under the cross-tab lock: it comes `LOCK_SETTLE` after the
/// lock is granted.
pub const LOCK_WAIT: Duration = Duration::from_millis(300);

/// Lets Leptos run its effects and re-render.
pub async fn settle() {
    sleep(Duration::from_millis(20)).await;
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A fresh element in the page to mount into.
pub fn container() -> web_sys::HtmlElement {
    let element: web_sys::HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&element).unwrap();
    element
}

/// What a component rendered.
pub fn text(element: &web_sys::HtmlElement) -> String {
    element.text_content().unwrap_or_default()
}

/// A provider with a child that shows the status, user and token, and hands out its handle.
pub struct Mounted {
    pub element: web_sys::HtmlElement,
    pub auth: Auth<User>,
    handle: Option<Box<dyn std::any::Any>>,
}

impl Mounted {
    pub fn text(&self) -> String {
        text(&self.element)
    }

    /// Unmounts the provider, like closing the page.
    pub fn unmount(mut self) {
        self.handle.take();
        self.element.remove();
    }
}

pub fn mount(config: AuthConfig<User>) -> Mounted {
    let element = container();
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None::<Auth<User>>));
    let out = slot.clone();
    let handle = mount_to(element.clone(), move || {
        view! {
            <AuthProvider config=config>
                <Probe sink=out/>
            </AuthProvider>
        }
    });
    let auth = slot.lock().unwrap().take().expect("probe rendered");
    Mounted {
        element,
        auth,
        handle: Some(Box::new(handle)),
    }
}

#[component]
fn Probe(sink: std::sync::Arc<std::sync::Mutex<Option<Auth<User>>>>) -> impl IntoView {
    let auth = use_auth::<User>();
    *sink.lock().unwrap() = Some(auth);
    view! {
        <p class="status">{move || format!("{:?}", auth.status().get())}</p>
        <p class="user">{move || auth.user().get().map(|user| user.name)}</p>
        <p class="token">{move || auth.token().get().map(|t| t.expose().to_owned())}</p>
    }
}

pub fn document_cookie() -> String {
    document()
        .unchecked_into::<web_sys::HtmlDocument>()
        .cookie()
        .unwrap_or_default()
}

pub fn set_raw_cookie(text: &str) {
    document()
        .unchecked_into::<web_sys::HtmlDocument>()
        .set_cookie(text)
        .unwrap();
}

/// The values of the cookies called `name`, in `document.cookie`'s order.
fn cookie_values(name: &str) -> Vec<String> {
    document_cookie()
        .split(';')
        .filter_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
        .collect()
}

/// The session record a cookie holds, decoded: the first value that is a record of ours, or
/// else the first value as it is (as the store reads it).
pub fn cookie_record(name: &str) -> Option<String> {
    use leptos_auth_kit::storage::{cookie::decode_value, record::RECORD_VERSION};
    let ours = format!("{{\"v\":{RECORD_VERSION},");
    let values = cookie_values(name);
    values
        .iter()
        .find_map(|value| decode_value(value).filter(|text| text.starts_with(&ours)))
        .or_else(|| values.first().cloned())
}

/// Whether `text` is what a sign-out leaves in storage the tabs share: a marker naming the
/// line that ended (`{"v":1,"ended":…,"epoch":…}`), with no token and no user.
pub fn is_end_marker(text: Option<String>) -> bool {
    let Some(Ok(serde_json::Value::Object(fields))) = text.map(|t| serde_json::from_str(&t)) else {
        return false;
    };
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys == ["ended", "epoch", "v"]
}

/// The value of the first cookie called `name`.
pub fn cookie_value(name: &str) -> Option<String> {
    cookie_values(name).into_iter().next()
}

/// The cookie's attributes as the browser stored them, read with the Cookie Store API.
pub async fn cookie_attributes(name: &str) -> Option<JsValue> {
    let window = web_sys::window().unwrap();
    let store = js_sys::Reflect::get(&window, &"cookieStore".into()).ok()?;
    let get: js_sys::Function = js_sys::Reflect::get(&store, &"get".into())
        .ok()?
        .unchecked_into();
    let promise: js_sys::Promise = get.call1(&store, &name.into()).ok()?.unchecked_into();
    let cookie = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    (!cookie.is_null() && !cookie.is_undefined()).then_some(cookie)
}

pub fn field(object: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(object, &name.into()).unwrap()
}

pub fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}
