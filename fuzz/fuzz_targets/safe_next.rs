//! `safe_next`: whatever `?next=` holds, the result is the default or a path on this origin
//! that stays one when leptos_router resolves it again.
#![no_main]

use leptos_auth_kit::fuzzing::normalize_next;
use leptos_auth_kit::guard::safe_next;
use libfuzzer_sys::fuzz_target;

/// What leptos_router does to a path before parsing it: one leading slash, at most one
/// trailing slash.
fn router_view(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    let end = trimmed.find(['?', '#']).unwrap_or(trimmed.len());
    let (path, rest) = trimmed.split_at(end);
    let kept = path.trim_end_matches('/');
    let slash = if kept.len() < path.len() { "/" } else { "" };
    format!("/{kept}{slash}{rest}")
}

fuzz_target!(|data: &[u8]| {
    let Ok(next) = std::str::from_utf8(data) else {
        return;
    };
    let resolved = safe_next(Some(next), "\u{0}default");
    if resolved == "\u{0}default" {
        return;
    }
    assert!(resolved.starts_with('/'), "{next:?} -> {resolved:?}");
    assert!(
        !resolved.starts_with("//") && !resolved.starts_with("/\\"),
        "{next:?} -> {resolved:?}"
    );
    assert_eq!(
        normalize_next(&resolved).as_deref(),
        Some(resolved.as_str()),
        "not stable: {next:?}"
    );
    let again = normalize_next(&router_view(&resolved));
    assert!(
        again.is_some_and(|path| !path.starts_with("//")),
        "router: {next:?} -> {resolved:?}"
    );
});
