//! Token decoding: any text gives claims or a typed error, and no error quotes the token.
#![no_main]

use std::time::Duration;

use leptos_auth_kit::fuzzing::T0;
use leptos_auth_kit::{Claims, TokenInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let quoted = |message: String| text.len() >= 8 && message.contains(text);
    if let Err(err) = Claims::decode(text) {
        assert!(!quoted(format!("{err} {err:?}")), "error quotes the token");
    }
    for expires_in in [None, Some(Duration::from_secs(60))] {
        match TokenInfo::inspect(text, expires_in, T0, Duration::from_secs(30)) {
            Ok(info) => assert!(!quoted(format!("{info:?}")), "Debug shows the token"),
            Err(err) => assert!(!quoted(format!("{err} {err:?}")), "error quotes the token"),
        }
    }
});
