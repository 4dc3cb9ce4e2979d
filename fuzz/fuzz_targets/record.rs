//! A stored record (localStorage / sessionStorage text): any text restores to a state or a
//! clean signed-out start, and a record that decodes survives encoding again unchanged (the
//! checks are `fuzzing::record_case`, inside the crate).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        leptos_auth_kit::fuzzing::record_case(text);
    }
});
