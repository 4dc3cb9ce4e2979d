//! Adapter answers: any status and body (JSON, HTML, garbage) give tokens or a typed error,
//! and only a 200 gives tokens (the checks are `fuzzing::answer_case`, inside the crate).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let [kind, hi, lo, body @ ..] = data {
        leptos_auth_kit::fuzzing::answer_case(*kind, u16::from_be_bytes([*hi, *lo]), body);
    }
});
