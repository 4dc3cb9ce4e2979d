//! Token decoding: any text gives claims or a typed error, and no error quotes the token.
#![no_main]

use std::time::Duration;

use leptos_auth_kit::fuzzing::T0;
use leptos_auth_kit::{Claims, TokenInfo};
use libfuzzer_sys::fuzz_target;

/// What the library says about `text`: each error's `Display` and `Debug`, and the `Debug` of
/// what it accepts.
fn messages(text: &str) -> Vec<String> {
    let mut said = Vec::new();
    if let Err(err) = Claims::decode(text) {
        said.extend([err.to_string(), format!("{err:?}")]);
    }
    for expires_in in [None, Some(Duration::from_secs(60))] {
        match TokenInfo::inspect(text, expires_in, T0, Duration::from_secs(30)) {
            Ok(info) => said.push(format!("{info:?}")),
            Err(err) => said.extend([err.to_string(), format!("{err:?}")]),
        }
    }
    said
}

/// `text` with every ASCII letter and digit moved one place on (`a` to `b`, `z` to `a`, `9` to
/// `0`), except in a JWT's payload: the library takes the same path (it reads only the payload,
/// and the checks before that look at the shape), but quoting the token now shows other text.
fn shifted(text: &str) -> String {
    let shift = |part: &str| -> String {
        let next =
            |c: char, first: u8, count: u8| char::from(first + (c as u8 - first + 1) % count);
        part.chars()
            .map(|c| match c {
                'a'..='z' => next(c, b'a', 26),
                'A'..='Z' => next(c, b'A', 26),
                '0'..='9' => next(c, b'0', 10),
                _ => c,
            })
            .collect()
    };
    match text.split('.').collect::<Vec<_>>()[..] {
        [header, payload, signature] => format!("{}.{payload}.{}", shift(header), shift(signature)),
        _ => shift(text),
    }
}

/// Some message shows `text`.
fn quotes(text: &str) -> bool {
    text.len() >= 8 && messages(text).iter().any(|said| said.contains(text))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A message that reads like the input by chance ("malformed token", "MissingExp" given as
    // a token) is no quote: a message that quotes its input quotes the shifted input as well.
    assert!(
        !(quotes(text) && quotes(&shifted(text))),
        "a message quotes the token"
    );
});
