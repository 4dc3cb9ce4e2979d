//! A stored record (localStorage / sessionStorage text): any text restores to a state or a
//! clean signed-out start, and a record that decodes survives encoding again unchanged.
#![no_main]

use leptos_auth_kit::fuzzing::{User, T0};
use leptos_auth_kit::storage::record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decodes = record::decode::<User>(text, T0).is_ok();
    for can_refresh in [false, true] {
        let restored = record::restore::<User>(Some(text), T0, can_refresh);
        // Only a record that decodes can sign anybody in.
        assert!(decodes || !restored.state.is_signed_in());
    }
    if let Ok(session) = record::decode::<User>(text, T0) {
        let again = record::encode(&session).expect("a decoded session encodes");
        assert_eq!(record::decode::<User>(&again, T0).as_ref(), Ok(&session));
    }
});
