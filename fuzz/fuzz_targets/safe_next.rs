//! `safe_next`: whatever `?next=` holds, the result is the default or a path on this origin
//! that stays one when leptos_router resolves it again, and it agrees with the `url` crate's
//! WHATWG parser (up to which characters each percent-encodes).
#![no_main]

use leptos_auth_kit::fuzzing::{normalize_next, router_view};
use leptos_auth_kit::guard::safe_next;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use url::Url;

/// Percent-decoded bytes, so that two parsers that encode different sets compare equal.
fn decoded(text: &str) -> Vec<u8> {
    percent_decode_str(text).collect()
}

/// Whether a path segment looks like a Windows drive letter (`C:`, `c|`): the `url` crate keeps
/// such a segment when `..` follows it, even on http (WHATWG, Chromium and Node do not; the
/// browser suite checks Chromium on one), so there the two are not compared.
fn has_drive_letter_segment(next: &str) -> bool {
    let path = next.split(['?', '#']).next().unwrap_or_default();
    path.split(['/', '\\']).any(|segment| {
        let bytes = segment.as_bytes();
        bytes.len() == 2 && bytes[0].is_ascii_alphabetic() && matches!(bytes[1], b':' | b'|')
    })
}

/// What the reference parser makes of `next` on `http://h/`: the path, query and fragment when
/// it stays on that origin with a path that does not name another host.
fn reference(next: &str) -> Option<String> {
    let url = Url::parse("http://h/").ok()?.join(next).ok()?;
    if url.scheme() != "http" || url.host_str() != Some("h") || url.port().is_some() {
        return None;
    }
    if url.path().starts_with("//") {
        return None;
    }
    let mut text = url.path().to_owned();
    if let Some(query) = url.query().filter(|query| !query.is_empty()) {
        text.push('?');
        text.push_str(query);
    }
    if let Some(fragment) = url.fragment().filter(|fragment| !fragment.is_empty()) {
        text.push('#');
        text.push_str(fragment);
    }
    Some(text)
}

fuzz_target!(|data: &[u8]| {
    let Ok(next) = std::str::from_utf8(data) else {
        return;
    };
    let resolved = safe_next(Some(next), "\u{0}default");
    let plain_path =
        next.starts_with('/') && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    let compare = !has_drive_letter_segment(next);
    if resolved == "\u{0}default" {
        // `//host` and `/\host` name a host, so they are refused even when it is this one.
        let names_host = next.starts_with("//") || next.starts_with("/\\");
        if plain_path && compare && !names_host {
            // Otherwise refused only when the reference parser leaves the origin too.
            assert_eq!(reference(next), None, "{next:?} refused");
        }
        return;
    }
    if compare {
        let expected =
            reference(next).unwrap_or_else(|| panic!("{next:?} -> {resolved:?} left the origin"));
        assert_eq!(
            decoded(&resolved),
            decoded(&expected),
            "{next:?}: {resolved:?} vs {expected:?}"
        );
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
