//! The return-to check in real headless Chromium: `safe_next` confirmed by the browser's own
//! URL parser, the one leptos_router navigates with.
#![cfg(target_arch = "wasm32")]

use leptos_auth_kit::guard::safe_next;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
#[rustfmt::skip]
fn crafted_next_links_resolve_on_this_origin_or_fall_back() {
    let rows = [
        ("/orders/7?tab=items#top", "/orders/7?tab=items#top"),
        ("/a/b/../c/./d", "/a/c/d"),
        ("/%2e%2e/x", "/x"),
        ("/a\\b", "/a/b"),
        ("/@evil.example", "/@evil.example"),
        ("/caf\u{e9}?q=\u{e9}", "/caf%C3%A9?q=%C3%A9"),
        ("/\u{ff0f}\u{ff0f}evil.example", "/%EF%BC%8F%EF%BC%8Fevil.example"),
        ("/a\"b<c>", "/a%22b%3Cc%3E"),
        ("/a^b`c{d}?q='^#`", "/a%5Eb%60c%7Bd%7D?q=%27^#%60"),
        ("/a?#", "/a"),
        ("/a?x#", "/a?x"),
        ("/a/E:/..", "/a/"),
        ("//evil.example", "/home"),
        ("/\\evil.example", "/home"),
        ("/.//evil.example", "/home"),
        ("/a/..//evil.example", "/home"),
        ("/%2e//evil.example", "/home"),
        ("/%2E%2E//evil.example", "/home"),
        ("/./\\evil.example", "/home"),
        ("https://evil.example", "/home"),
        ("javascript:alert(1)", "/home"),
        ("/\t/evil.example", "/home"),
    ];
    for (next, expected) in rows {
        assert_eq!(safe_next(Some(next), "/home"), expected, "{next:?}");
    }
}
