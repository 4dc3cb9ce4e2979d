//! The door the fuzz targets in `fuzz/` come through: the internals they exercise, reached
//! without making them public. Compiled only with `--cfg fuzzing` (which `cargo fuzz` sets)
//! and in this crate's own tests.
//!
//! Each target's seeds are made here, by the crate's own encoders, and committed under
//! `fuzz/seeds/<target>/`; a unit test keeps the committed files equal to what the encoders
//! make now (`UPDATE_FUZZ_SEEDS=1 cargo test --lib fuzzing` rewrites them).

use std::time::Duration;

use crate::base64url;
use crate::engine::{Command, Engine, Event, Settings};
use crate::refresh::schedule::{clamp_timeout, Backoff, Timing};
use crate::state::{AuthState, SignIn};
use crate::storage::{cookie, record};
use crate::time::Timestamp;
use crate::Refreshed;

/// Where every fuzzed history starts (local clock).
pub const T0: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

/// An unsigned JWT with this payload, encoded the way the crate decodes it.
pub fn jwt(payload: &str) -> String {
    format!(
        "{}.{}.c2ln",
        base64url::encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        base64url::encode(payload.as_bytes())
    )
}

/// What leptos_router's `resolve_path` does to an absolute path before parsing it: one
/// leading slash, and a run of trailing slashes (query and fragment included) cut to one.
pub fn router_view(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    let kept = trimmed.trim_end_matches('/');
    let slash = if kept.len() < trimmed.len() { "/" } else { "" };
    format!("/{kept}{slash}")
}

/// The user type the fuzz targets restore records into (strings only: a JSON float does not
/// survive serde_json's parse and print exactly, which is not ours to test).
pub type User = std::collections::BTreeMap<String, String>;

/// `safe_next`'s normalisation on its own (natively `safe_next` is just this, with a default).
pub fn normalize_next(next: &str) -> Option<String> {
    crate::guard::normalize_next(next)
}

/// The `cookie` target: any `document.cookie` string yields our record or nothing, values
/// round-trip through the cookie encoding, and any name and value give a cookie string or a
/// typed error that parses back to the same name and value.
pub fn cookie_case(text: &str) {
    if let Some(found) = cookie::record_text(text, "_auth") {
        let _ = record::restore::<User>(Some(&found), T0, true);
        assert!(cookie::values(text, "_auth").count() >= 1);
    }
    assert_eq!(
        cookie::decode_value(&cookie::encode_value(text)).as_deref(),
        Some(text)
    );
    let (name, value) = text.split_once('=').unwrap_or((text, ""));
    let options = crate::CookieOptions::default();
    if let Ok(set) = cookie::set_string(name, value, &options, None, T0, true) {
        let pair = set.split(';').next().unwrap_or_default();
        assert_eq!(cookie::find(pair, name), Some(value.trim()), "{set:?}");
    }
}

/// The `record` target: any stored text restores to a state or a clean signed-out start, and
/// a record that decodes survives encoding again unchanged.
pub fn record_case(text: &str) {
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
}

/// The `answer` target: any status and body (JSON, HTML, garbage) give tokens or a typed
/// error, and only a 200 gives tokens. `kind` picks the dialect and the request.
pub fn answer_case(kind: u8, status: u16, body: &[u8]) {
    use crate::backends::{sanic_jwt_extended, simplejwt, Answer};
    let answer = Answer {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
        date: None,
    };
    let accepted = match kind % 4 {
        0 => simplejwt::refresh_answer::<User>(answer).is_ok(),
        1 => simplejwt::sign_in_answer::<User>(answer).is_ok(),
        2 => sanic_jwt_extended::refresh_answer::<User>(answer).is_ok(),
        _ => sanic_jwt_extended::sign_in_answer::<User>(answer).is_ok(),
    };
    assert!(
        !accepted || status == 200,
        "tokens taken from a non-200 answer"
    );
}

/// One refresh schedule: the server's token lifetime and clock, and the store's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleCase {
    /// Access-token lifetime the server grants, in ms (whole seconds go into `exp`).
    pub lifetime_ms: u32,
    /// How far the browser's clock is ahead of the server's (negative: behind), in ms.
    pub skew_ms: i32,
    /// The store's leeway, in ms.
    pub leeway_ms: u32,
    /// The refresh interval, in ms.
    pub interval_ms: u32,
    /// How long the server takes to answer a refresh, in ms.
    pub answer_ms: u16,
}

impl ScheduleCase {
    /// Bytes the schedule target is fed: 18 little-endian bytes, missing ones read as 0.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut padded = [0u8; 18];
        for (slot, byte) in padded.iter_mut().zip(bytes) {
            *slot = *byte;
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([padded[at], padded[at + 1], padded[at + 2], padded[at + 3]])
        };
        Self {
            lifetime_ms: u32_at(0),
            skew_ms: u32_at(4) as i32,
            leeway_ms: u32_at(8),
            interval_ms: u32_at(12),
            answer_ms: u16::from_le_bytes([padded[16], padded[17]]),
        }
    }

    /// The inverse of [`ScheduleCase::from_bytes`], for seeds.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(18);
        bytes.extend_from_slice(&self.lifetime_ms.to_le_bytes());
        bytes.extend_from_slice(&self.skew_ms.to_le_bytes());
        bytes.extend_from_slice(&self.leeway_ms.to_le_bytes());
        bytes.extend_from_slice(&self.interval_ms.to_le_bytes());
        bytes.extend_from_slice(&self.answer_ms.to_le_bytes());
        bytes
    }
}

/// Why a schedule run is a defect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleFault {
    /// The engine kept deciding at one instant without letting time pass.
    Loop {
        /// Where it spun.
        at: Timestamp,
    },
}

/// Runs one tab signed in with `case`'s tokens for `horizon` against a server that always
/// answers a refresh with a new token of the same lifetime, and returns when the refresh
/// callback was called. Empty when the first token is already unusable on this clock.
pub fn refresh_calls(
    case: ScheduleCase,
    horizon: Duration,
) -> Result<Vec<Timestamp>, ScheduleFault> {
    let token_at = |local: Timestamp| {
        let server_ms = local.unix_millis() as i64 - i64::from(case.skew_ms);
        let exp = (server_ms + i64::from(case.lifetime_ms)).max(0) / 1000;
        jwt(&format!(r#"{{"exp":{exp}}}"#))
    };
    let settings = Settings {
        leeway: Duration::from_millis(case.leeway_ms.into()),
        timing: Some(Timing {
            interval: Duration::from_millis(case.interval_ms.into()),
            leeway: Duration::from_millis(case.leeway_ms.into()),
            backoff: Backoff::default(),
        }),
        timeout: clamp_timeout(Duration::from_secs(30)),
        shared: false,
        warn_before: None,
        log: None,
        revoke: false,
    };
    let mut now = T0;
    let end = T0 + horizon;
    let (mut engine, _) = Engine::<User>::start(settings, None, now);
    let Ok((session, text)) = engine.prepare_sign_in(SignIn::new(token_at(now)), now, None) else {
        return Ok(Vec::new());
    };
    let mut stored = Some(text.clone());
    let mut timer = None;
    let mut answer: Option<(u64, Timestamp)> = None;
    let mut calls = Vec::new();
    let mut at_this_instant = 0u32;
    let mut commands = engine.handle(now, stored.clone(), Event::SignedIn { session, text });
    loop {
        for command in commands.drain(..) {
            match command {
                Command::Persist { text, .. } => stored = text,
                Command::SetTimer(at) => timer = at,
                Command::CallRefresh { call, .. } => {
                    calls.push(now);
                    answer = Some((call, now + Duration::from_millis(case.answer_ms.into())));
                }
                _ => {}
            }
        }
        let next = match (timer, answer) {
            (Some(at), Some((_, answered_at))) => at.min(answered_at),
            (Some(at), None) => at,
            (None, Some((_, answered_at))) => answered_at,
            (None, None) => return Ok(calls),
        };
        if next > end {
            return Ok(calls);
        }
        if next <= now {
            at_this_instant += 1;
            if at_this_instant > 1_000 {
                return Err(ScheduleFault::Loop { at: now });
            }
        } else {
            at_this_instant = 0;
            now = next;
        }
        commands = match answer {
            Some((call, answered_at)) if answered_at <= now => {
                answer = None;
                let result = Ok(Refreshed::new(token_at(now)));
                engine.handle(now, stored.clone(), Event::Answered { call, result })
            }
            _ => {
                timer = None;
                engine.handle(now, stored.clone(), Event::Wake)
            }
        };
    }
}

/// The fuzz targets' seeds: `(target, file name, bytes)`, made by the crate's encoders.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, name.to_owned(), bytes));
    };
    let payloads = [
        ("exp", r#"{"exp":1700000300}"#),
        (
            "claims",
            r#"{"exp":1700000300,"iat":1700000000,"nbf":1700000000,"sub":"ada","role":["user","admin"],"fresh":true,"email":"ada@example.com"}"#,
        ),
        ("fractional", r#"{"exp":1700000300.5,"nbf":1.7e9}"#),
        ("huge", r#"{"exp":18446744073709551615,"iat":-1}"#),
        ("no-exp", r#"{"sub":"ada"}"#),
        ("scalar", "1700000300"),
        ("array", r#"["ada",{"exp":1700000300}]"#),
    ];
    for (name, payload) in payloads {
        add("token", name, jwt(payload).into_bytes());
    }
    add(
        "token",
        "opaque",
        b"8f14e45fceea167a5a36dedd4bea2543".to_vec(),
    );

    let now = T0;
    let mut sessions = Vec::new();
    let mut state = AuthState::<User>::signed_out();
    let user: User = [("name".to_owned(), "ada".to_owned())]
        .into_iter()
        .collect();
    let full = SignIn::new(jwt(r#"{"exp":1700000300}"#))
        .refresh_token(jwt(r#"{"exp":1700086400}"#))
        .user(user);
    if state.sign_in(full, now, Duration::ZERO).is_ok() {
        sessions.push(("full", state.session().cloned()));
    }
    let opaque = SignIn::new("opaque-token").expires_in(Duration::from_secs(300));
    if state.sign_in(opaque, now, Duration::ZERO).is_ok() {
        sessions.push(("opaque", state.session().cloned()));
    }
    if let Some(Some(session)) = sessions.first().map(|(_, session)| session) {
        // What a sign-out leaves in shared storage.
        let ended = record::Ended::of(session).encode();
        add("record", "ended", ended.into_bytes());
    }
    for (name, session) in sessions {
        let Some(text) = session.and_then(|session| record::encode(&session).ok()) else {
            continue;
        };
        add("record", name, text.clone().into_bytes());
        let value = cookie::encode_value(&text);
        add("cookie", name, format!("_auth={value}").into_bytes());
        add(
            "cookie",
            &format!("{name}-behind-foreign"),
            format!("theme=dark; _auth={}; _auth={value}", jwt("{}")).into_bytes(),
        );
    }
    add(
        "cookie",
        "foreign-only",
        format!("_auth={}", jwt(r#"{"exp":1}"#)).into_bytes(),
    );

    for (name, next) in [
        ("plain", "/orders/7?tab=items#top"),
        ("dots", "/a/b/../c/./d"),
        ("encoded-dots", "/%2e%2e/x"),
        ("host-after-dots", "/.//evil.example"),
        ("backslash", "/\\evil.example"),
        ("unicode", "/caf\u{e9}?q=\u{ff0f}"),
    ] {
        add("safe_next", name, next.as_bytes().to_vec());
    }

    // Answers: one byte for the dialect and kind, two for the status, then the body.
    let access = jwt(r#"{"exp":1700000300}"#);
    let rotated = jwt(r#"{"exp":1700086400}"#);
    let bodies = [
        (
            "simplejwt-refresh",
            0u8,
            200u16,
            format!(r#"{{"access":"{access}","refresh":"{rotated}"}}"#),
        ),
        (
            "simplejwt-sign-in",
            1,
            200,
            format!(r#"{{"access":"{access}","refresh":"{rotated}"}}"#),
        ),
        (
            "sanic-refresh",
            2,
            200,
            format!(r#"{{"access_token":"{access}"}}"#),
        ),
        (
            "sanic-sign-in",
            3,
            200,
            format!(r#"{{"access_token":"{access}","refresh_token":"{rotated}"}}"#),
        ),
        (
            "rejected",
            0,
            401,
            r#"{"detail":"Token is blacklisted","code":"token_not_valid"}"#.to_owned(),
        ),
        (
            "proxy-page",
            2,
            502,
            "<html><body>Bad gateway</body></html>".to_owned(),
        ),
    ];
    for (name, kind, status, body) in bodies {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&status.to_be_bytes());
        bytes.extend_from_slice(body.as_bytes());
        add("answer", name, bytes);
    }

    let cases = [
        (
            "five-minutes",
            ScheduleCase {
                lifetime_ms: 300_000,
                skew_ms: 0,
                leeway_ms: 30_000,
                interval_ms: 3_600_000,
                answer_ms: 50,
            },
        ),
        (
            "one-second",
            ScheduleCase {
                lifetime_ms: 1_000,
                skew_ms: 0,
                leeway_ms: 30_000,
                interval_ms: 3_600_000,
                answer_ms: 10,
            },
        ),
        (
            "clock-ahead",
            ScheduleCase {
                lifetime_ms: 300_000,
                skew_ms: 299_000,
                leeway_ms: 30_000,
                interval_ms: 3_600_000,
                answer_ms: 50,
            },
        ),
        (
            "clock-behind",
            ScheduleCase {
                lifetime_ms: 4_000,
                skew_ms: -30_000,
                leeway_ms: 1_000,
                interval_ms: 1_000,
                answer_ms: 200,
            },
        ),
    ];
    for (name, case) in cases {
        add("schedule", name, case.to_bytes());
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seed files are what the encoders make now.
    #[test]
    fn committed_fuzz_seeds_are_what_the_encoders_make() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let update = std::env::var_os("UPDATE_FUZZ_SEEDS").is_some();
        for (target, name, bytes) in seeds() {
            let path = root.join(target).join(&name);
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_else(|err| {
                panic!("{}: {err} (UPDATE_FUZZ_SEEDS=1 writes it)", path.display())
            });
            assert_eq!(
                committed,
                bytes,
                "{} is stale (UPDATE_FUZZ_SEEDS=1 rewrites it)",
                path.display()
            );
        }
    }

    /// The checks the `cookie`, `record` and `answer` targets run hold on every seed (natively,
    /// so a broken check shows in `cargo test`, not only under the fuzzer).
    #[test]
    fn the_target_checks_pass_on_the_seeds() {
        let mut ran = [0; 3];
        for (target, _, bytes) in seeds() {
            match (target, std::str::from_utf8(&bytes)) {
                ("cookie", Ok(text)) => {
                    cookie_case(text);
                    ran[0] += 1;
                }
                ("record", Ok(text)) => {
                    record_case(text);
                    ran[1] += 1;
                }
                ("answer", _) => {
                    if let [kind, hi, lo, body @ ..] = bytes.as_slice() {
                        answer_case(*kind, u16::from_be_bytes([*hi, *lo]), body);
                        ran[2] += 1;
                    }
                }
                _ => {}
            }
        }
        assert!(ran.iter().all(|&n| n > 0), "seeds run per target: {ran:?}");
    }

    #[test]
    fn schedule_bytes_round_trip() {
        let case = ScheduleCase {
            lifetime_ms: 300_000,
            skew_ms: -299_000,
            leeway_ms: 7,
            interval_ms: u32::MAX,
            answer_ms: 65_535,
        };
        assert_eq!(ScheduleCase::from_bytes(&case.to_bytes()), case);
        assert_eq!(ScheduleCase::from_bytes(&[]).lifetime_ms, 0);
    }

    #[test]
    fn the_schedule_harness_counts_refreshes() {
        let hour = Duration::from_secs(3_600);
        let five_minutes = ScheduleCase {
            lifetime_ms: 300_000,
            skew_ms: 0,
            leeway_ms: 30_000,
            interval_ms: 3_600_000,
            answer_ms: 50,
        };
        // Refreshed 30 s before each expiry: every 270 s or so.
        let calls = refresh_calls(five_minutes, hour).unwrap();
        assert!((12..=14).contains(&calls.len()), "{}", calls.len());
        // 1 s tokens: at most one call a second.
        let one_second = ScheduleCase {
            lifetime_ms: 1_000,
            ..five_minutes
        };
        let calls = refresh_calls(one_second, Duration::from_secs(60)).unwrap();
        assert!(calls
            .windows(2)
            .all(|pair| pair[1].saturating_duration_since(pair[0]) >= Duration::from_secs(1)));
        assert!(calls.len() <= 61, "{}", calls.len());
        // Already expired on this clock: nothing to run.
        let expired = ScheduleCase {
            skew_ms: 400_000,
            ..five_minutes
        };
        assert_eq!(refresh_calls(expired, hour), Ok(Vec::new()));
    }
}
