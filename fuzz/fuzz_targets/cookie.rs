//! Cookie parsing: any `document.cookie` string yields our record or nothing, values round-trip
//! through the cookie encoding, and any name and value give a cookie string or a typed error.
#![no_main]

use leptos_auth_kit::fuzzing::{User, T0};
use leptos_auth_kit::storage::{cookie, record};
use leptos_auth_kit::CookieOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(found) = cookie::record_text(text, "_auth") {
        let _ = record::restore::<User>(Some(&found), T0, true);
        assert!(cookie::values(text, "_auth").count() >= 1);
    }
    assert_eq!(
        cookie::decode_value(&cookie::encode_value(text)).as_deref(),
        Some(text)
    );
    let (name, value) = text.split_once('=').unwrap_or((text, ""));
    if let Ok(set) = cookie::set_string(name, value, &CookieOptions::default(), None, T0, true) {
        // What we write parses back to the same name and value.
        let pair = set.split(';').next().unwrap_or_default();
        assert_eq!(cookie::find(pair, name), Some(value.trim()), "{set:?}");
    }
});
