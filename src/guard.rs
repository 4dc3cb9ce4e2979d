//! Route guards: `<RequireAuth>`, helpers for leptos_router's `<ProtectedRoute>`, and the
//! safe return-to after sign-in.
//!
//! The decisions (who may see a page, where to send the others, which `?next=` is safe) are
//! pure functions tested natively; the components only read signals and navigate.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::auth::AuthStatus;
use crate::hooks::context;
use crate::token::Claims;

/// What a guard decides for the current user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Not known yet (start-up refresh running): show the fallback.
    Loading,
    /// Show the page.
    Granted,
    /// Not signed in: go to the login page.
    SignInRequired,
    /// Signed in without the required role.
    RoleRequired,
    /// Signed in, but the page needs a fresh token (one from a password sign-in, not a
    /// refresh): sign in again.
    FreshRequired,
}

/// Decides access from the status and the access token's claims.
///
/// A role matches a `role` claim that is that string or an array containing it (the
/// sanic-jwt-extended shape); freshness is a `fresh: true` claim.
pub(crate) fn decide_access(
    status: AuthStatus,
    claims: Option<&Claims>,
    role: Option<&str>,
    fresh: bool,
) -> Access {
    match status {
        AuthStatus::Loading => return Access::Loading,
        AuthStatus::Unauthenticated => return Access::SignInRequired,
        AuthStatus::Authenticated => {}
    }
    if let Some(role) = role {
        let has_role = claims.is_some_and(|claims| {
            claims.get::<String>("role").as_deref() == Some(role)
                || claims
                    .get::<Vec<String>>("role")
                    .is_some_and(|roles| roles.iter().any(|r| r == role))
        });
        if !has_role {
            return Access::RoleRequired;
        }
    }
    if fresh && claims.is_none_or(|claims| claims.get::<bool>("fresh") != Some(true)) {
        return Access::FreshRequired;
    }
    Access::Granted
}

/// Where to go after sign-in: `next` resolved on this origin, as a normalised path, query and
/// fragment, when it stays on this origin; else `default`. Use it for every return-to URL:
/// anything else is an open redirect, or a link that breaks the app.
///
/// `next` must be an absolute path (`/…`) without control characters or spaces. Its dot
/// segments are resolved and backslashes read as slashes, as a browser's URL parser does,
/// and a path that then starts with `//` (another host, such as `/.//evil.example`) is
/// refused. In the browser the result is checked once more with the browser's own parser
/// (`URL`), the one leptos_router navigates with.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::guard::safe_next;
///
/// assert_eq!(safe_next(Some("/dashboard?tab=2"), "/"), "/dashboard?tab=2");
/// assert_eq!(safe_next(Some("/a/../orders"), "/"), "/orders");
/// assert_eq!(safe_next(Some("//evil.example"), "/"), "/");
/// assert_eq!(safe_next(Some("/.//evil.example"), "/"), "/");
/// assert_eq!(safe_next(Some("https://evil.example"), "/"), "/");
/// ```
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    next.and_then(normalize_next)
        .and_then(|path| confirm_in_browser(&path))
        .unwrap_or_else(|| default.to_owned())
}

/// `next` resolved as a path on this origin the way the WHATWG URL parser resolves it for an
/// `http(s)` base, percent-encoded as it encodes; `None` when it is not an absolute path or
/// names another host.
pub(crate) fn normalize_next(next: &str) -> Option<String> {
    if !next.starts_with('/') || next.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let (rest, fragment) = match next.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (next, None),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    // Backslashes are slashes in http(s) URLs; a second slash up front starts a host.
    let path = path.replace('\\', "/");
    if path.starts_with("//") {
        return None;
    }
    let parts: Vec<&str> = path[1..].split('/').collect();
    let mut segments: Vec<&str> = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match dot_segment(part) {
            Some(Dots::Two) => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            Some(Dots::One) => {
                if last {
                    segments.push("");
                }
            }
            None => segments.push(part),
        }
    }
    let path = format!("/{}", segments.join("/"));
    if path.starts_with("//") {
        return None;
    }
    let mut resolved = percent_encode(&path, |b| !b"\"<>`{}^".contains(&b));
    // An empty query or fragment is dropped, as `URL.search` and `URL.hash` drop it.
    if let Some(query) = query.filter(|query| !query.is_empty()) {
        resolved.push('?');
        resolved.push_str(&percent_encode(query, |b| !b"\"<>'".contains(&b)));
    }
    if let Some(fragment) = fragment.filter(|fragment| !fragment.is_empty()) {
        resolved.push('#');
        resolved.push_str(&percent_encode(fragment, |b| !b"\"<>`".contains(&b)));
    }
    Some(resolved)
}

enum Dots {
    One,
    Two,
}

/// `.` and `..`, also written `%2e` (any case), as the URL parser reads them.
fn dot_segment(segment: &str) -> Option<Dots> {
    match segment.to_ascii_lowercase().as_str() {
        "." | "%2e" => Some(Dots::One),
        ".." | ".%2e" | "%2e." | "%2e%2e" => Some(Dots::Two),
        _ => None,
    }
}

/// Percent-encodes non-ASCII bytes and the ASCII bytes `keep` refuses (upper-case hex, as the
/// URL parser writes it).
fn percent_encode(text: &str, keep: impl Fn(u8) -> bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii() && keep(byte) {
            encoded.push(byte as char);
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    encoded
}

/// The browser's own parser on the normalised path (the one leptos_router navigates with):
/// the same origin, and a path that does not start with `//`.
#[cfg(target_arch = "wasm32")]
fn confirm_in_browser(path: &str) -> Option<String> {
    let origin = web_sys::window()?.location().origin().ok()?;
    let url = web_sys::Url::new_with_base(path, &origin).ok()?;
    let pathname = url.pathname();
    (url.origin() == origin && !pathname.starts_with("//") && !pathname.starts_with("/\\"))
        .then(|| format!("{pathname}{}{}", url.search(), url.hash()))
}

#[cfg(not(target_arch = "wasm32"))]
fn confirm_in_browser(path: &str) -> Option<String> {
    Some(path.to_owned())
}

/// `redirect_to` with `next=<path_and_query>` added to its query, percent-encoded.
pub(crate) fn with_next(redirect_to: &str, path_and_query: &str) -> String {
    let separator = if redirect_to.contains('?') { '&' } else { '?' };
    format!(
        "{redirect_to}{separator}next={}",
        encode_component(path_and_query)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(text: &str) -> String {
    percent_encode(text, |byte| {
        byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte)
    })
}

/// Shows its children only to signed-in users (optionally with a role or a fresh token).
///
/// Others are sent, with history *replaced* so that Back does not bounce, to
/// `redirect_to?next=<current path and query>`; users without the role to `role_redirect_to`
/// (default `/`); users whose token is not fresh to `fresh_redirect_to` (default
/// `redirect_to`), also with `next`. While the status is `Loading` the `fallback` is shown.
/// The guard reacts: signing out on a protected page leaves it.
///
/// In a server render (feature `ssr`) the same decision is a real redirect: leptos_router's
/// server redirect, which leptos_axum answers with `302` and `Location` (for requests that
/// accept `text/html`). There the guard must be inside a `<Route>`'s view, as leptos_router's
/// `<Redirect>` needs the matched route.
///
/// ## Usage
/// ```
/// use leptos::prelude::*;
/// use leptos_auth_kit::guard::RequireAuth;
///
/// #[component]
/// fn AdminPage() -> impl IntoView {
///     view! {
///         <RequireAuth redirect_to="/login" role="admin" fallback=|| "Loading…">
///             <p>"Only admins see this"</p>
///         </RequireAuth>
///     }
/// }
/// ```
///
/// Must be used inside a leptos_router `<Router>` and `<AuthProvider>`.
#[component]
pub fn RequireAuth(
    /// Where to send users who are not signed in (`?next=` is added).
    #[prop(into)]
    redirect_to: String,
    /// A role the user must have (`role` claim).
    #[prop(optional, into)]
    role: Option<String>,
    /// Where to send signed-in users without the role (default `/`).
    #[prop(optional, into)]
    role_redirect_to: Option<String>,
    /// Whether the page needs a fresh token (`fresh` claim).
    #[prop(optional)]
    fresh: bool,
    /// Where to send users whose token is not fresh (default `redirect_to`; `?next=` added).
    #[prop(optional, into)]
    fresh_redirect_to: Option<String>,
    /// Shown while the status is `Loading`.
    #[prop(optional, into)]
    fallback: ViewFn,
    /// The protected content.
    children: ChildrenFn,
) -> impl IntoView {
    let auth = context();
    let location = use_location();
    let navigate = use_navigate();
    let access = Memo::new(move |_| {
        auth.claims.with(|claims| {
            decide_access(auth.status.get(), claims.as_ref(), role.as_deref(), fresh)
        })
    });
    // Where this user goes instead, if anywhere.
    let target = move |access: Access| {
        let here = || {
            let path = location.pathname.get_untracked();
            let search = location.search.get_untracked();
            if search.is_empty() {
                path
            } else {
                format!("{path}?{search}")
            }
        };
        match access {
            Access::Loading | Access::Granted => None,
            Access::SignInRequired => Some(with_next(&redirect_to, &here())),
            Access::RoleRequired => Some(role_redirect_to.clone().unwrap_or_else(|| "/".into())),
            Access::FreshRequired => Some(with_next(
                fresh_redirect_to.as_deref().unwrap_or(&redirect_to),
                &here(),
            )),
        }
    };
    // On the server: a real redirect (302 with `Location`, which leptos_axum sets from
    // leptos_router's server redirect), not an empty page.
    #[cfg(feature = "ssr")]
    if let Some(path) = target(access.get_untracked()) {
        leptos_router::components::Redirect(leptos_router::components::RedirectProps {
            path,
            options: None,
        });
    }
    // In the browser (effects run only there): follow every change of access.
    Effect::new(move |_| {
        if let Some(target) = target(access.get()) {
            navigate(
                &target,
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    move || match access.get() {
        Access::Granted => children().into_any(),
        Access::Loading => fallback.run(),
        _ => ().into_any(),
    }
}

/// A `condition` for leptos_router's `<ProtectedRoute>`: `None` while loading, then whether
/// the user is signed in.
///
/// ## Usage
/// ```
/// use leptos::prelude::*;
/// use leptos_router::components::{ProtectedRoute, Route, Router, Routes};
/// use leptos_router::path;
/// use leptos_auth_kit::guard::{is_signed_in_condition, login_redirect};
///
/// #[component]
/// fn AppRoutes() -> impl IntoView {
///     view! {
///         <Router>
///             <Routes fallback=|| "Not found">
///                 <Route path=path!("/login") view=|| "login"/>
///                 <ProtectedRoute
///                     path=path!("/dashboard")
///                     condition=is_signed_in_condition()
///                     redirect_path=login_redirect("/login")
///                     view=|| "dashboard"
///                 />
///             </Routes>
///         </Router>
///     }
/// }
/// ```
pub fn is_signed_in_condition() -> impl Fn() -> Option<bool> + Send + Sync + Clone + 'static {
    let status = context().status;
    move || match status.get() {
        AuthStatus::Loading => None,
        AuthStatus::Authenticated => Some(true),
        AuthStatus::Unauthenticated => Some(false),
    }
}

/// A `redirect_path` for `<ProtectedRoute>`: `login_path?next=<the page the user asked for>`.
pub fn login_redirect(login_path: &str) -> impl Fn() -> String + Send + Sync + Clone + 'static {
    let login_path = login_path.to_owned();
    move || {
        let here = current_path_and_query().unwrap_or_else(|| "/".into());
        with_next(&login_path, &here)
    }
}

fn current_path_and_query() -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        let location = web_sys::window()?.location();
        Some(format!(
            "{}{}",
            location.pathname().ok()?,
            location.search().ok()?
        ))
    }
    #[cfg(not(target_arch = "wasm32"))]
    None
}

/// The page to go to after sign-in: the `?next=` of the current URL when it is a safe
/// same-origin path (see [`safe_next`]), else `default`.
///
/// ## Usage
/// ```
/// use leptos::prelude::*;
/// use leptos_router::hooks::use_navigate;
/// use leptos_auth_kit::guard::use_next_path;
///
/// #[component]
/// fn AfterLogin() -> impl IntoView {
///     let next = use_next_path("/dashboard");
///     let navigate = use_navigate();
///     let on_signed_in = move || navigate(&next.get_untracked(), Default::default());
///     # let _ = on_signed_in;
/// }
/// ```
pub fn use_next_path(default: &str) -> Signal<String> {
    let query = use_query_map();
    let default = default.to_owned();
    Signal::derive(move || query.with(|query| safe_next(query.get_str("next"), &default)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::tests::jwt;

    /// Crafted return-to links: each either lands on a same-origin path or on the default.
    #[rustfmt::skip]
    pub(crate) const NEXT_CASES: &[(&str, &str)] = &[
        ("/orders/7?tab=items#top", "/orders/7?tab=items#top"),
        ("/", "/"),
        ("/a/b/../c/./d", "/a/c/d"),
        ("/a/..", "/"),
        ("/a/.", "/a/"),
        ("/..", "/"),
        ("/../../etc", "/etc"),
        ("/%2e%2e/x", "/x"),
        ("/%2E./x", "/x"),
        ("/a\\b", "/a/b"),
        ("/a%2F%2Fb", "/a%2F%2Fb"),
        ("/@evil.example", "/@evil.example"),
        ("/x?next=//evil.example#//evil", "/x?next=//evil.example#//evil"),
        ("/caf\u{e9}?q=\u{e9}#\u{e9}", "/caf%C3%A9?q=%C3%A9#%C3%A9"),
        ("/\u{2215}\u{2215}evil.example", "/%E2%88%95%E2%88%95evil.example"),
        ("/\u{ff0f}\u{ff0f}evil.example", "/%EF%BC%8F%EF%BC%8Fevil.example"),
        ("/a\"b<c>", "/a%22b%3Cc%3E"),
        ("/a^b`c{d}?q='^#`", "/a%5Eb%60c%7Bd%7D?q=%27^#%60"),
        ("/a?#", "/a"),
        ("/a?x#", "/a?x"),
        ("/a/E:/..", "/a/"),
        // Another host, before or after normalisation.
        ("//evil.example", "/home"),
        ("//evil.example/path", "/home"),
        ("/\\evil.example", "/home"),
        ("/.//evil.example", "/home"),
        ("/./\\evil.example", "/home"),
        ("/a/..//evil.example", "/home"),
        ("/%2e//evil.example", "/home"),
        ("/%2E%2E//evil.example", "/home"),
        ("/a/../..//evil.example", "/home"),
        // Not an absolute path.
        ("https://evil.example", "/home"),
        ("javascript:alert(1)", "/home"),
        ("evil.example", "/home"),
        ("\\\\evil.example", "/home"),
        ("", "/home"),
        ("/\t/evil.example", "/home"),
        ("/\n/evil.example", "/home"),
        ("/ok path", "/home"),
        ("/\u{3000}/evil.example", "/home"),
    ];

    /// Natively this checks the pure resolution; in Chromium (`cargo test --target
    /// wasm32-unknown-unknown`) the same table also checks the browser's own parser, the one
    /// leptos_router navigates with.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn safe_next_table() {
        assert_eq!(safe_next(None, "/home"), "/home");
        for (next, expected) in NEXT_CASES {
            assert_eq!(safe_next(Some(next), "/home"), *expected, "{next:?}");
        }
    }

    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[test]
    fn safe_paths_stay_safe_when_the_router_resolves_them_again() {
        for (next, _) in NEXT_CASES {
            let Some(path) = normalize_next(next) else {
                continue;
            };
            assert!(!path.starts_with("//"), "{next:?} gave {path:?}");
            assert_eq!(
                normalize_next(&path).as_deref(),
                Some(path.as_str()),
                "{next:?}"
            );
            let routed = crate::fuzzing::router_view(&path);
            let again = normalize_next(&routed);
            assert!(
                again.is_some_and(|p| !p.starts_with("//")),
                "{next:?} -> {routed:?}"
            );
        }
    }

    #[test]
    fn access_table() {
        use AuthStatus::*;
        let claims = |payload: &str| Claims::decode(&jwt(payload)).ok();
        let admin_fresh = claims(r#"{"exp":1,"role":"admin","fresh":true}"#);
        let admin_stale = claims(r#"{"exp":1,"role":"admin","fresh":false}"#);
        let roles_list = claims(r#"{"exp":1,"role":["user","admin"]}"#);
        let user = claims(r#"{"exp":1,"role":"user"}"#);
        let rows = [
            (
                "loading",
                Loading,
                None,
                Some("admin"),
                true,
                Access::Loading,
            ),
            (
                "signed out",
                Unauthenticated,
                None,
                None,
                false,
                Access::SignInRequired,
            ),
            (
                "signed in, no requirement",
                Authenticated,
                None,
                None,
                false,
                Access::Granted,
            ),
            (
                "role matches",
                Authenticated,
                admin_stale.clone(),
                Some("admin"),
                false,
                Access::Granted,
            ),
            (
                "role in a list",
                Authenticated,
                roles_list,
                Some("admin"),
                false,
                Access::Granted,
            ),
            (
                "wrong role",
                Authenticated,
                user,
                Some("admin"),
                false,
                Access::RoleRequired,
            ),
            (
                "role needed, opaque token",
                Authenticated,
                None,
                Some("admin"),
                false,
                Access::RoleRequired,
            ),
            (
                "fresh",
                Authenticated,
                admin_fresh,
                Some("admin"),
                true,
                Access::Granted,
            ),
            (
                "not fresh",
                Authenticated,
                admin_stale,
                Some("admin"),
                true,
                Access::FreshRequired,
            ),
            (
                "fresh needed, opaque token",
                Authenticated,
                None,
                None,
                true,
                Access::FreshRequired,
            ),
        ];
        for (case, status, claims, role, fresh, expected) in rows {
            assert_eq!(
                decide_access(status, claims.as_ref(), role, fresh),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn next_is_percent_encoded_and_joins_the_query() {
        // (redirect_to, the page, the sign-in link)
        let rows = [
            (
                "/login",
                "/a b?x=1&y=é",
                "/login?next=%2Fa%20b%3Fx%3D1%26y%3D%C3%A9",
            ),
            (
                "/login",
                "/orders?id=7&x=1",
                "/login?next=%2Forders%3Fid%3D7%26x%3D1",
            ),
            ("/login?fresh=1", "/pay", "/login?fresh=1&next=%2Fpay"),
        ];
        for (redirect_to, page, expected) in rows {
            assert_eq!(with_next(redirect_to, page), expected);
        }
    }
}
