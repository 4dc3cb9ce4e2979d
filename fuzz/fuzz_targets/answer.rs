//! Adapter answers: any status and body (JSON, HTML, garbage) give tokens or a typed error,
//! and only a 200 gives tokens.
#![no_main]

use leptos_auth_kit::backends::{sanic_jwt_extended, simplejwt, Answer};
use leptos_auth_kit::fuzzing::User;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, hi, lo, body @ ..] = data else {
        return;
    };
    let answer = Answer {
        status: u16::from_be_bytes([*hi, *lo]),
        body: String::from_utf8_lossy(body).into_owned(),
        date: None,
    };
    let ok_status = answer.status == 200;
    let accepted = match kind % 4 {
        0 => simplejwt::refresh_answer::<User>(answer).is_ok(),
        1 => simplejwt::sign_in_answer::<User>(answer).is_ok(),
        2 => sanic_jwt_extended::refresh_answer::<User>(answer).is_ok(),
        _ => sanic_jwt_extended::sign_in_answer::<User>(answer).is_ok(),
    };
    assert!(!accepted || ok_status, "tokens taken from a non-200 answer");
});
