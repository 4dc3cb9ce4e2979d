//! The persisted form of a session: one versioned JSON record under one key.
//!
//! Pure: no web-sys, time is passed in. One record (rather than React Auth Kit's four keys
//! `{name}`, `{name}_type`, `{name}_state`, `{name}_refresh`) means a write is all-or-nothing:
//! a half-written session cannot be read back. The record looks like
//!
//! ```json
//! {"v":1,"token":"eyJ…","token_type":"Bearer","expires_at":1700000300000,
//!  "refresh_token":"eyJ…","refresh_expires_at":1700086400000,
//!  "refreshed_at":1700000000000,"user":{"name":"ada"}}
//! ```
//!
//! with instants in Unix milliseconds, and the session's line, generation and epoch (see
//! [`Session`]) that tabs use to tell a stale write from a newer one. After a sign-out,
//! storage other tabs or providers can read (not memory) holds
//! `{"v":1,"ended":<line>,"epoch":<ms>}` instead: no token, no user, read as signed out (see
//! `Ended`). Anything else under our key — missing fields, another version, unknown fields, a
//! user state that no longer fits `U`, a tampered expiry — is refused with a
//! [`RecordError`], and the provider then clears the key and starts signed out.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::state::{check_token_type, line_of, AuthState, Session};
use crate::time::{earliest, Timestamp};
use crate::token::{check_token_text, jwt_expiry, Token};

/// The record format written by this version of the crate.
pub const RECORD_VERSION: u32 = 1;

#[derive(Serialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Record<U> {
    v: u32,
    token: String,
    token_type: String,
    expires_at: u64,
    refresh_token: Option<String>,
    refresh_expires_at: Option<u64>,
    refreshed_at: u64,
    user: Option<U>,
    /// How far the server's clock is ahead of the browser's, in ms; left out when zero.
    #[serde(skip_serializing_if = "is_zero")]
    clock_offset: i64,
    /// The session's line (see [`Session::line`]); a record written before it was kept is
    /// given the line of its chain token.
    line: Option<u64>,
    /// The session's generation within its line; left out when zero.
    #[serde(skip_serializing_if = "is_zero")]
    generation: u64,
    /// The sign-in's epoch (see [`Session::epoch`]); left out when zero.
    #[serde(skip_serializing_if = "is_zero")]
    epoch: u64,
}

/// The record's field names, for "unknown field" errors.
const FIELDS: &[&str] = &[
    "v",
    "token",
    "token_type",
    "expires_at",
    "refresh_token",
    "refresh_expires_at",
    "refreshed_at",
    "user",
    "clock_offset",
    "line",
    "generation",
    "epoch",
];

/// Reads a record as `#[derive(Deserialize)]` with `deny_unknown_fields` would (the same
/// errors: a missing, unknown or repeated field, a wrong type), from a JSON object only: the
/// derive's other forms (a sequence, fields by index or as bytes) cost the browser build
/// about 2 KB of wasm that no stored record uses.
impl<'de, U: Deserialize<'de>> Deserialize<'de> for Record<U> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor(PhantomData))
    }
}

struct RecordVisitor<U>(PhantomData<U>);

impl<'de, U: Deserialize<'de>> Visitor<'de> for RecordVisitor<U> {
    type Value = Record<U>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<U>, A::Error> {
        let mut v = None;
        let mut token = None;
        let mut token_type = None;
        let mut expires_at = None;
        let mut refresh_token = None;
        let mut refresh_expires_at = None;
        let mut refreshed_at = None;
        let mut user = None;
        let mut clock_offset = None;
        let mut line = None;
        let mut generation = None;
        let mut epoch = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "v" => once(&mut map, &mut v, "v")?,
                "token" => once(&mut map, &mut token, "token")?,
                "token_type" => once(&mut map, &mut token_type, "token_type")?,
                "expires_at" => once(&mut map, &mut expires_at, "expires_at")?,
                "refresh_token" => once(&mut map, &mut refresh_token, "refresh_token")?,
                "refresh_expires_at" => {
                    once(&mut map, &mut refresh_expires_at, "refresh_expires_at")?
                }
                "refreshed_at" => once(&mut map, &mut refreshed_at, "refreshed_at")?,
                "user" => once(&mut map, &mut user, "user")?,
                "clock_offset" => once(&mut map, &mut clock_offset, "clock_offset")?,
                "line" => once(&mut map, &mut line, "line")?,
                "generation" => once(&mut map, &mut generation, "generation")?,
                "epoch" => once(&mut map, &mut epoch, "epoch")?,
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        let missing = de::Error::missing_field;
        Ok(Record {
            v: v.ok_or_else(|| missing("v"))?,
            token: token.ok_or_else(|| missing("token"))?,
            token_type: token_type.ok_or_else(|| missing("token_type"))?,
            expires_at: expires_at.ok_or_else(|| missing("expires_at"))?,
            refresh_token: refresh_token.flatten(),
            refresh_expires_at: refresh_expires_at.flatten(),
            refreshed_at: refreshed_at.ok_or_else(|| missing("refreshed_at"))?,
            user: user.flatten(),
            clock_offset: clock_offset.unwrap_or_default(),
            line: line.flatten(),
            generation: generation.unwrap_or_default(),
            epoch: epoch.unwrap_or_default(),
        })
    }
}

/// Fills `slot` from the next value of `map`; a second value for it is an error.
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// What a sign-out leaves in storage that other tabs share, instead of nothing: the line it
/// ended and that line's epoch, no token and no user. A tab that signed in a moment before,
/// from a view the signing-out tab had not caught up with yet, sees that its own sign-in is
/// later and writes it back; every other tab reads it as signed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ended {
    v: u32,
    /// The line that ended.
    pub(crate) ended: u64,
    /// Its epoch.
    pub(crate) epoch: u64,
}

/// The epoch a stored value (a session or a sign-out's marker) names, 0 when none.
pub(crate) fn epoch_of(text: &str) -> u64 {
    crate::json::field(text, "epoch").unwrap_or(0)
}

impl Ended {
    /// The end of `session`'s line.
    pub(crate) fn of<U>(session: &Session<U>) -> Self {
        Self {
            v: RECORD_VERSION,
            ended: session.line,
            epoch: session.epoch,
        }
    }

    /// The stored form.
    pub(crate) fn encode(&self) -> String {
        format!(
            r#"{{"v":{},"ended":{},"epoch":{}}}"#,
            self.v, self.ended, self.epoch
        )
    }

    /// Reads a stored value as an end marker: a JSON object with these three fields, each
    /// once, and no other; `None` when it is anything else.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        serde_json::from_str::<Self>(text)
            .ok()
            .filter(|ended| ended.v == RECORD_VERSION)
    }
}

/// Reads a marker as `#[derive(Deserialize)]` with `deny_unknown_fields` would (the same
/// errors: a missing, unknown or repeated field, a wrong type), from a JSON object only, as
/// `Record`'s does: the derive's other forms cost the browser build about 1 KB of wasm.
impl<'de> Deserialize<'de> for Ended {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EndedVisitor)
    }
}

struct EndedVisitor;

impl<'de> Visitor<'de> for EndedVisitor {
    type Value = Ended;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Ended")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ended, A::Error> {
        let (mut v, mut ended, mut epoch) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "v" => once(&mut map, &mut v, "v")?,
                "ended" => once(&mut map, &mut ended, "ended")?,
                "epoch" => once(&mut map, &mut epoch, "epoch")?,
                other => return Err(de::Error::unknown_field(other, &["v", "ended", "epoch"])),
            }
        }
        let missing = de::Error::missing_field;
        Ok(Ended {
            v: v.ok_or_else(|| missing("v"))?,
            ended: ended.ok_or_else(|| missing("ended"))?,
            epoch: epoch.ok_or_else(|| missing("epoch"))?,
        })
    }
}

fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Why a stored value was not accepted as a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Not JSON, or not a record of ours (missing or unknown fields, wrong types).
    NotARecord(String),
    /// A record of another format version.
    UnknownVersion(u32),
    /// A record whose tokens are unusable.
    InvalidToken(String),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::NotARecord(reason) => {
                write!(f, "stored value is not a session record: {reason}")
            }
            RecordError::UnknownVersion(v) => {
                write!(f, "stored session record has unknown version {v}")
            }
            RecordError::InvalidToken(reason) => {
                write!(f, "stored session has an unusable token: {reason}")
            }
        }
    }
}

impl std::error::Error for RecordError {}

/// Serialises a session. Errors only if the user state cannot be serialised.
pub fn encode<U: Serialize>(session: &Session<U>) -> Result<String, AuthError> {
    let record = Record {
        v: RECORD_VERSION,
        token: session.auth_token.expose().to_owned(),
        token_type: session.token_type.clone(),
        expires_at: session.expires_at.unix_millis(),
        refresh_token: session
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        refresh_expires_at: session.refresh_expires_at.map(Timestamp::unix_millis),
        refreshed_at: session.refreshed_at.unix_millis(),
        user: session.user.as_ref(),
        clock_offset: session.clock_offset,
        line: Some(session.line),
        generation: session.generation,
        epoch: session.epoch,
    };
    serde_json::to_string(&record).map_err(|err| AuthError::UserState(err.to_string()))
}

/// Reads a session back. It may be expired: the store decides at start-up what an expired
/// session means (it keeps one a refresh can renew). The expiry is never later than the
/// JWT's own `exp`, whatever the record says, and `refreshed_at` is never in the future. An
/// error names the field that did not fit, never its value.
pub fn decode<U: DeserializeOwned>(text: &str, now: Timestamp) -> Result<Session<U>, RecordError> {
    decode_with(text, now, |text| {
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
            .map_err(|err| RecordError::NotARecord(crate::error::json_error(&err)))
    })
}

/// [`decode`] for the store, which drops what it cannot read without saying why: the browser
/// build then carries no tracking of field paths for an error nobody reads.
pub(crate) fn read<U: DeserializeOwned>(text: &str, now: Timestamp) -> Option<Session<U>> {
    decode_with(text, now, |text| {
        serde_json::from_str(text).map_err(|_| RecordError::NotARecord(String::new()))
    })
    .ok()
}

fn decode_with<U>(
    text: &str,
    now: Timestamp,
    parse: impl FnOnce(&str) -> Result<Record<U>, RecordError>,
) -> Result<Session<U>, RecordError> {
    // Peek at the version first so that a future format is reported as such.
    let no_version = || RecordError::NotARecord("no version field".into());
    let version = crate::json::field_of::<u64>(text, "v")
        .map_err(|err| {
            if err.is_data() {
                no_version()
            } else {
                RecordError::NotARecord("not JSON".into())
            }
        })?
        .ok_or_else(no_version)?;
    if version != u64::from(RECORD_VERSION) {
        return Err(RecordError::UnknownVersion(
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    let record = parse(text)?;
    let invalid = |err: AuthError| RecordError::InvalidToken(err.to_string());
    check_token_text(&record.token).map_err(invalid)?;
    if let Some(refresh_token) = &record.refresh_token {
        check_token_text(refresh_token).map_err(invalid)?;
    }
    if check_token_type(&record.token_type).is_err() {
        return Err(RecordError::InvalidToken("token type".into()));
    }
    let millis = |at: u64| Some(Timestamp::from_unix_millis(at));
    // Never later than the JWT's own `exp` (on this browser's clock), whatever the record says.
    let local = |exp: Timestamp| exp.shifted(record.clock_offset.saturating_neg());
    let stored = Timestamp::from_unix_millis(record.expires_at);
    let expires_at = jwt_expiry(&record.token).map_or(stored, |exp| stored.min(local(exp)));
    let refresh_expires_at = record.refresh_token.as_deref().and_then(|token| {
        earliest(
            record.refresh_expires_at.and_then(millis),
            jwt_expiry(token).map(local),
        )
    });
    let auth_token = Token::new(record.token);
    let refresh_token = record.refresh_token.map(Token::new);
    let line = record
        .line
        .unwrap_or_else(|| line_of(refresh_token.as_ref().unwrap_or(&auth_token), None));
    Ok(Session {
        auth_token,
        token_type: record.token_type,
        expires_at,
        refresh_token,
        refresh_expires_at,
        user: record.user,
        refreshed_at: Timestamp::from_unix_millis(record.refreshed_at).min(now),
        clock_offset: record.clock_offset,
        line,
        generation: record.generation,
        epoch: record.epoch,
    })
}

/// What start-up makes of the stored value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Restored<U> {
    /// The state to start in.
    pub(crate) state: AuthState<U>,
    /// Whether the stored value must be removed (it was unusable or its session is over).
    pub(crate) clear: bool,
}

/// Start-up: turns what storage holds under our key into the initial state. Anything that is
/// not a usable session of ours gives a signed-out state and asks for the key to be cleared,
/// except the marker a sign-out leaves in storage shared with other tabs, which is kept.
/// An expired access token is kept when a refresh can renew it (`can_refresh`) and the
/// refresh token has not expired.
pub(crate) fn restore<U: DeserializeOwned>(
    stored: Option<&str>,
    now: Timestamp,
    can_refresh: bool,
) -> Restored<U> {
    // Nothing, or what a sign-out leaves: signed out, and nothing to clear.
    let Some(text) = stored.filter(|text| Ended::decode(text).is_none()) else {
        return Restored {
            state: AuthState::signed_out(),
            clear: false,
        };
    };
    let state = AuthState::restored(read(text, now), now, can_refresh);
    Restored {
        clear: !state.is_signed_in(),
        state,
    }
}

/// When the stored copy may be dropped: the refresh token's expiry when one is kept (`None`,
/// keep, when that expiry is unknown), else the access token's.
pub(crate) fn storage_expiry<U>(session: &Session<U>) -> Option<Timestamp> {
    match &session.refresh_token {
        Some(_) => session.refresh_expires_at,
        None => Some(session.expires_at),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::SignIn;
    use crate::token::tests::jwt;

    const T0: Timestamp = Timestamp::from_unix_seconds(1_000_000);

    #[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
    struct User {
        name: String,
    }

    fn session(request: SignIn<User>) -> Session<User> {
        let mut state: AuthState<User> = AuthState::signed_out();
        state.sign_in(request, T0, Duration::ZERO).unwrap();
        state.session().cloned().unwrap()
    }

    fn full() -> Session<User> {
        session(
            SignIn::new(jwt(r#"{"exp":1000300}"#))
                .refresh_token(jwt(r#"{"exp":1086400}"#))
                .user(User { name: "ada".into() }),
        )
    }

    #[test]
    fn sessions_round_trip() {
        for original in [
            full(),
            session(SignIn::new("opaque").expires_in(Duration::from_secs(60))),
        ] {
            let text = encode(&original).unwrap();
            assert_eq!(decode::<User>(&text, T0), Ok(original));
        }
    }

    #[test]
    fn the_line_and_generation_are_stored_and_an_older_record_gets_its_line() {
        let mut original = full();
        original.generation = 3;
        let text = encode(&original).unwrap();
        assert!(
            text.contains(&format!(r#""line":{}"#, original.line)),
            "{text}"
        );
        assert_eq!(decode::<User>(&text, T0), Ok(original.clone()));
        // Written before lines were kept: the line of its chain token, generation 0.
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let fields = value.as_object_mut().unwrap();
        fields.remove("line");
        fields.remove("generation");
        let older = decode::<User>(&value.to_string(), T0).unwrap();
        assert_eq!(older.line, line_of(original.chain_token(), None));
        assert_eq!(older.generation, 0);
        // Every sign-in starts a line of its own, also one with the same tokens.
        let mut state: AuthState<User> = AuthState::signed_out();
        let request = || SignIn::new(jwt(r#"{"exp":1000300}"#)).refresh_token("r");
        state.sign_in(request(), T0, Duration::ZERO).unwrap();
        let first = state.session().unwrap().line;
        state
            .sign_in(request(), T0 + Duration::from_millis(1), Duration::ZERO)
            .unwrap();
        assert_ne!(state.session().unwrap().line, first);
    }

    #[test]
    fn the_epoch_is_stored_and_a_sign_outs_marker_holds_no_token() {
        let original = full();
        assert_eq!(original.epoch, T0.unix_millis(), "the sign-in instant");
        let text = encode(&original).unwrap();
        assert!(text.contains(&format!(r#""epoch":{}"#, original.epoch)));
        assert_eq!(decode::<User>(&text, T0), Ok(original.clone()));
        // The marker names the line and its epoch, and nothing else.
        let marker = Ended::of(&original).encode();
        assert_eq!(
            marker,
            format!(
                r#"{{"v":1,"ended":{},"epoch":{}}}"#,
                original.line, original.epoch
            )
        );
        assert_eq!(Ended::decode(&marker), Some(Ended::of(&original)));
        assert!(!marker.contains(original.auth_token().expose()));
        // It is not a session, and start-up keeps it (signed out, nothing to clear).
        assert!(decode::<User>(&marker, T0).is_err());
        let restored = restore::<User>(Some(&marker), T0, true);
        assert!(!restored.state.is_signed_in());
        assert!(!restored.clear);
        // A session record, another version or extra fields are no marker.
        for other in [
            text.as_str(),
            r#"{"v":2,"ended":1,"epoch":1}"#,
            r#"{"v":1,"ended":1,"epoch":1,"token":"t"}"#,
            r#"{"v":1,"ended":"1","epoch":1}"#,
        ] {
            assert_eq!(Ended::decode(other), None, "{other}");
        }
    }

    #[test]
    fn the_clock_offset_is_stored_and_caps_the_expiry_on_this_clock() {
        // This browser is 2 minutes ahead of the server.
        let now = T0 + Duration::from_secs(120);
        let token = jwt(r#"{"iat":1000000,"exp":1000300}"#);
        let mut state: AuthState<User> = AuthState::signed_out();
        let request = SignIn::new(token)
            .refresh_token(jwt(r#"{"iat":1000000,"exp":1086400}"#))
            .user(User { name: "ada".into() });
        state.sign_in(request, now, Duration::ZERO).unwrap();
        let original = state.session().cloned().unwrap();
        let text = encode(&original).unwrap();
        assert!(text.contains(r#""clock_offset":-120000"#), "{text}");
        // Another tab, or the next page load, reads the same session on the same clock.
        assert_eq!(decode::<User>(&text, now), Ok(original.clone()));
        let local_exp = Timestamp::from_unix_seconds(1_000_420);
        assert_eq!(original.expires_at(), local_exp);
        // A tampered expiry is capped at the JWT's exp on this clock, not the server's.
        let tampered = text.replace("1000420000", "9999999999999");
        assert_eq!(
            decode::<User>(&tampered, now).unwrap().expires_at(),
            local_exp
        );
        // Without skew nothing is added to the record.
        assert!(!encode(&full()).unwrap().contains("clock_offset"));
    }

    #[test]
    fn tampered_expiry_is_capped_at_the_jwt_exp() {
        let text = encode(&full())
            .unwrap()
            .replace("1000300000", "9999999999999");
        let restored = decode::<User>(&text, T0).unwrap();
        assert_eq!(
            restored.expires_at(),
            Timestamp::from_unix_seconds(1_000_300)
        );
    }

    #[test]
    #[rustfmt::skip]
    fn refused_values_table() {
        let good = encode(&full()).unwrap();
        let not_a_record = |s: &str| matches!(decode::<User>(s, T0), Err(RecordError::NotARecord(_)));
        let rows: Vec<(&str, String, fn(&Result<Session<User>, RecordError>) -> bool)> = vec![
            ("empty", String::new(), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("not json", "eyJhbGciOi.abc.def".into(), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("json string", r#""token""#.into(), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("react auth kit state", r#"{"name":"ada"}"#.into(), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("future version", good.replace(r#""v":1"#, r#""v":2"#), |r| r == &Err(RecordError::UnknownVersion(2))),
            ("partial: no token", good.replacen(r#""token":"#, r#""tok":"#, 1), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("wrong type", good.replace(r#""expires_at":1000300000"#, r#""expires_at":"soon""#), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("user state no longer fits", good.replace(r#"{"name":"ada"}"#, r#"{"nom":"ada"}"#), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("user state wrong type", good.replace(r#"{"name":"ada"}"#, "[1]"), |r| matches!(r, Err(RecordError::NotARecord(_)))),
            ("token with newline", good.replacen(r#""token":""#, r#""token":"a\nb"#, 1), |r| matches!(r, Err(RecordError::InvalidToken(_)))),
            ("empty token", encode(&session(SignIn::new("x").expires_in(Duration::from_secs(9)))).unwrap().replace(r#""token":"x""#, r#""token":"""#), |r| matches!(r, Err(RecordError::InvalidToken(_)))),
            ("truncated", good[..good.len() / 2].to_owned(), |r| matches!(r, Err(RecordError::NotARecord(_)))),
        ];
        for (case, text, ok) in rows {
            let got = decode::<User>(&text, T0);
            assert!(ok(&got), "case {case}: got {got:?}");
        }
        assert!(not_a_record("null"));
    }

    /// The derive that `Record`'s hand-written `Deserialize` stands for (named alike, so
    /// that its messages are the same).
    mod derived {
        use super::User;

        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct Record {
            pub v: u32,
            pub token: String,
            pub token_type: String,
            pub expires_at: u64,
            #[serde(default)]
            pub refresh_token: Option<String>,
            #[serde(default)]
            pub refresh_expires_at: Option<u64>,
            pub refreshed_at: u64,
            #[serde(default)]
            pub user: Option<User>,
            #[serde(default)]
            pub clock_offset: i64,
            #[serde(default)]
            pub line: Option<u64>,
            #[serde(default)]
            pub generation: u64,
            #[serde(default)]
            pub epoch: u64,
        }

        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct Ended {
            pub v: u32,
            pub ended: u64,
            pub epoch: u64,
        }
    }

    /// The object `every_field` with each of `names` left out, given each of `others` (JSON)
    /// instead of its value, and given twice: first as null, and first as its own value (so
    /// that a field null cannot stand for is refused as repeated, not as null).
    fn each_field_varied(every_field: &str, names: &[&str], others: &[&str]) -> Vec<String> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(every_field).unwrap();
        let mut texts = Vec::new();
        for name in names {
            let mut left_out = object.clone();
            left_out.remove(*name);
            texts.push(serde_json::to_string(&left_out).unwrap());
            for other in others {
                let mut changed = object.clone();
                changed.insert(name.to_string(), serde_json::from_str(other).unwrap());
                texts.push(serde_json::to_string(&changed).unwrap());
            }
            for first in ["null".to_owned(), object[*name].to_string()] {
                texts.push(every_field.replacen('{', &format!(r#"{{"{name}":{first},"#), 1));
            }
        }
        texts
    }

    #[test]
    fn end_markers_read_as_the_derive_would() {
        let derived = |text: &str| {
            serde_json::from_str::<derived::Ended>(text)
                .map(|d| Ended {
                    v: d.v,
                    ended: d.ended,
                    epoch: d.epoch,
                })
                .map_err(|err| err.to_string())
        };
        let ours = |text: &str| serde_json::from_str::<Ended>(text).map_err(|err| err.to_string());
        let every_field = r#"{"v":1,"ended":7,"epoch":4}"#;
        let mut texts = vec![
            every_field.to_owned(),
            Ended::of(&full()).encode(),
            r#"{"epoch":4,"ended":7,"v":1}"#.into(),
            r#"{"v":2,"ended":7,"epoch":4}"#.into(),
            r#"{"\u0076":1,"ended":7,"epoch":4}"#.into(),
            r#"{"v":1,"ended":7,"epoch":4,"token":"t"}"#.into(),
            encode(&full()).unwrap(),
            "{}".into(),
            format!("{every_field} x"),
            r#"{"v":1} x"#.into(),
            "[1,7,4]".into(),
            r#""ended""#.into(),
            "null".into(),
        ];
        texts.extend(each_field_varied(
            every_field,
            &["v", "ended", "epoch"],
            &["null", r#""x""#, "1.5", "-1", "[]", "{}", "4294967296"],
        ));
        for text in &texts {
            if text.starts_with('[') {
                // The one form the derive reads and ours does not (never written).
                assert!(derived(text).is_ok());
                assert!(ours(text).is_err());
            } else {
                assert_eq!(ours(text), derived(text), "text: {text}");
            }
        }
        assert_eq!(ours(every_field).ok(), Ended::decode(every_field));
    }

    #[test]
    fn records_read_as_the_derive_would_field_by_field() {
        let derived = |text: &str| {
            serde_json::from_str::<derived::Record>(text)
                .map(|d| Record {
                    v: d.v,
                    token: d.token,
                    token_type: d.token_type,
                    expires_at: d.expires_at,
                    refresh_token: d.refresh_token,
                    refresh_expires_at: d.refresh_expires_at,
                    refreshed_at: d.refreshed_at,
                    user: d.user,
                    clock_offset: d.clock_offset,
                    line: d.line,
                    generation: d.generation,
                    epoch: d.epoch,
                })
                .map_err(|err| err.to_string())
        };
        let ours =
            |text: &str| serde_json::from_str::<Record<User>>(text).map_err(|err| err.to_string());
        let every_field = r#"{"v":1,"token":"a","token_type":"Bearer","expires_at":5,"refresh_token":"r","refresh_expires_at":9,"refreshed_at":2,"user":{"name":"ada"},"clock_offset":-3,"line":7,"generation":1,"epoch":4}"#;
        let mut texts = vec![
            every_field.to_owned(),
            r#"{"v":1,"token":"a","token_type":"Bearer","expires_at":5,"refreshed_at":2}"#.into(),
            encode(&full()).unwrap(),
            r#"{"t\u006fken":"a","v":1,"token_type":"Bearer","expires_at":5,"refreshed_at":2}"#.into(),
            r#"{"v":1,"token":"a","token_type":"Bearer","expires_at":5,"refreshed_at":2,"extra":0}"#.into(),
            "{}".into(),
            format!("{every_field} x"),
            r#"{"v":1} x"#.into(),
            r#""record""#.into(),
            "7".into(),
            "null".into(),
        ];
        texts.extend(each_field_varied(
            every_field,
            FIELDS,
            &["null", r#""x""#, "1.5", "-1", "[]", "{}"],
        ));
        for text in &texts {
            assert_eq!(ours(text), derived(text), "text: {text}");
        }
        // The one form the derive reads and ours does not: a record as a JSON array, which
        // this crate never writes.
        let array = r#"[1,"a","Bearer",5,null,null,2,null,0,null,0,0]"#;
        assert!(derived(array).is_ok());
        assert_eq!(
            ours(array),
            Err("invalid type: sequence, expected struct Record at line 1 column 0".into())
        );
    }

    #[test]
    fn refused_values_never_echo_the_token() {
        let text = encode(&full())
            .unwrap()
            .replace(r#""expires_at":1000300000"#, r#""expires_at":"x""#);
        let err = decode::<User>(&text, T0).unwrap_err().to_string();
        assert!(!err.contains("eyJ"), "{err}");
    }

    #[test]
    fn refreshed_at_from_the_future_is_clamped_to_now() {
        let text = encode(&full()).unwrap().replace(
            r#""refreshed_at":1000000000"#,
            r#""refreshed_at":9000000000000"#,
        );
        assert_eq!(decode::<User>(&text, T0).unwrap().refreshed_at(), T0);
    }

    /// Both storages: localStorage hands over the value as is, the cookie goes through
    /// `document.cookie` parsing and our base64url layer (or arrives raw, when foreign).
    fn through_each_storage(value: &str) -> [(&'static str, Option<String>); 3] {
        use crate::storage::cookie::{encode_value, record_text};
        let raw_cookie = value.replace([';', ' ', ','], "");
        [
            ("localStorage", Some(value.to_owned())),
            (
                "cookie",
                record_text(
                    &format!("theme=dark; _auth={}; lang=en", encode_value(value)),
                    "_auth",
                ),
            ),
            (
                "raw cookie",
                record_text(&format!("theme=dark; _auth={raw_cookie}"), "_auth"),
            ),
        ]
    }

    #[test]
    fn start_up_matrix() {
        let valid = encode(&full()).unwrap();
        let expired_access = encode(&session(
            SignIn::new(jwt(r#"{"exp":1000300}"#)).refresh_token(jwt(r#"{"exp":1086400}"#)),
        ))
        .unwrap();
        let after_access_expiry = T0 + Duration::from_secs(400);
        let after_refresh_expiry = T0 + Duration::from_secs(90_000);
        // (case, stored value, now, can_refresh, signed in afterwards)
        let rows: Vec<(&str, String, Timestamp, bool, bool)> = vec![
            ("valid", valid.clone(), T0, false, true),
            (
                "partial",
                r#"{"v":1,"token":"abc"}"#.into(),
                T0,
                false,
                false,
            ),
            ("malformed json", valid[..40].to_owned(), T0, false, false),
            ("not json", "hello".into(), T0, false, false),
            (
                "wrong types",
                valid.replace(r#""token_type":"Bearer""#, r#""token_type":7"#),
                T0,
                false,
                false,
            ),
            (
                "unparsable user state",
                valid.replace(r#"{"name":"ada"}"#, r#"{"name":42}"#),
                T0,
                false,
                false,
            ),
            (
                "foreign: react auth kit raw token",
                jwt(r#"{"exp":1000300}"#),
                T0,
                false,
                false,
            ),
            (
                "foreign: json of someone else",
                r#"{"theme":"dark"}"#.into(),
                T0,
                false,
                false,
            ),
            (
                "expired access, no refresh",
                expired_access.clone(),
                after_access_expiry,
                false,
                false,
            ),
            (
                "expired access, refresh possible",
                expired_access.clone(),
                after_access_expiry,
                true,
                true,
            ),
            (
                "refresh token expired too",
                expired_access,
                after_refresh_expiry,
                true,
                false,
            ),
        ];
        for (case, value, now, can_refresh, signed_in) in rows {
            for (storage, text) in through_each_storage(&value) {
                if storage == "raw cookie" && signed_in {
                    continue; // a raw (unencoded) cookie is never one of ours
                }
                let restored = restore::<User>(text.as_deref(), now, can_refresh);
                assert_eq!(
                    restored.state.is_signed_in(),
                    signed_in,
                    "{case} via {storage}"
                );
                assert_eq!(restored.clear, !signed_in, "{case} via {storage}");
            }
        }
        let missing = restore::<User>(None, T0, true);
        assert!(!missing.state.is_signed_in() && !missing.clear);
    }

    #[test]
    fn debug_of_state_and_session_hides_tokens() {
        let mut state = AuthState::<User>::signed_out();
        state
            .sign_in(
                SignIn::new("s3cr3t-access")
                    .expires_in(Duration::from_secs(60))
                    .refresh_token("s3cr3t-refresh"),
                T0,
                Duration::ZERO,
            )
            .unwrap();
        let shown = format!("{state:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("Token(***)"), "{shown}");
    }

    #[test]
    fn storage_expiry_follows_the_longest_lived_token() {
        assert_eq!(
            storage_expiry(&full()),
            Some(Timestamp::from_unix_seconds(1_086_400))
        );
        let access_only = session(SignIn::new(jwt(r#"{"exp":1000300}"#)));
        assert_eq!(
            storage_expiry(&access_only),
            Some(Timestamp::from_unix_seconds(1_000_300))
        );
        let opaque_refresh = session(SignIn::new(jwt(r#"{"exp":1000300}"#)).refresh_token("r"));
        assert_eq!(storage_expiry(&opaque_refresh), None);
    }
}
