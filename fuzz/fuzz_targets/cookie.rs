//! Cookie parsing: any `document.cookie` string yields our record or nothing, values round-trip
//! through the cookie encoding, and any name and value give a cookie string or a typed error
//! (the checks are `fuzzing::cookie_case`, inside the crate, where the parsers are).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        leptos_auth_kit::fuzzing::cookie_case(text);
    }
});
