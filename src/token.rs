//! Tokens and their claims.
//!
//! Pure: no web-sys, time is passed in. JWT payloads are decoded **without verifying the
//! signature**: the client cannot check it and does not need to; it only reads `exp` to know
//! when to refresh. The server remains the authority on every request.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::json;
use crate::time::{earliest, Timestamp};

/// The longest token accepted, in bytes. Real access and refresh tokens are well under 2 KB;
/// anything near this is a mistake or an attack on storage.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A secret token (access or refresh). Its `Debug` prints `Token(***)`, and it has no
/// `Display`, so it cannot end up in a log by accident.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::Token;
///
/// let token = Token::new("secret-value");
/// assert_eq!(format!("{token:?}"), "Token(***)");
/// assert_eq!(token.expose(), "secret-value");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for an `Authorization` header or a request body. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The claims of a JWT payload, decoded without verification.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::Claims;
/// # let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGEiLCJleHAiOjQxMDI0NDQ4MDAsInJvbGUiOiJhZG1pbiJ9.";
/// let claims = Claims::decode(jwt).unwrap();
/// assert_eq!(claims.subject(), Some("ada"));
/// assert_eq!(claims.get::<String>("role").as_deref(), Some("admin"));
/// ```
#[derive(Clone)]
pub struct Claims {
    /// The payload: the text of a JSON object.
    payload: String,
    /// `sub`, read at decode time so that [`Claims::subject`] can lend it.
    subject: Option<String>,
    /// The whole payload as a map, built the first time [`Claims::as_map`] asks: reading a
    /// claim walks the text, so an app that never asks for the map carries no `Value` tree.
    map: OnceLock<Map<String, Value>>,
}

impl PartialEq for Claims {
    /// Claims are equal when their payloads are the same text (the same token's claims are);
    /// the same claims in another order or spacing are not.
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload
    }
}

impl fmt::Debug for Claims {
    /// Claims are not the token, but they can carry personal data: only the names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(json::names(&self.payload)).finish()
    }
}

impl Claims {
    /// Decodes the payload of a compact JWS (`header.payload.signature`).
    ///
    /// Errors with [`AuthError::MalformedToken`] when the token does not have three parts, the
    /// payload is not base64url, or it is not a JSON object; [`AuthError::TokenTooLarge`]
    /// past [`MAX_TOKEN_LEN`].
    pub fn decode(token: &str) -> Result<Self, AuthError> {
        check_token_text(token)?;
        let mut parts = token.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::MalformedToken(
                "a JWT has three dot-separated parts".into(),
            ));
        };
        let bytes = crate::base64url::decode(payload)
            .ok_or_else(|| AuthError::MalformedToken("JWT payload is not base64url".into()))?;
        let not_json = || AuthError::MalformedToken("JWT payload is not JSON".into());
        let payload = String::from_utf8(bytes).map_err(|_| not_json())?;
        let subject = json::field_of(&payload, "sub").map_err(|err| {
            if err.is_data() {
                AuthError::MalformedToken("JWT payload is not a JSON object".into())
            } else {
                not_json()
            }
        })?;
        Ok(Self {
            payload,
            subject,
            map: OnceLock::new(),
        })
    }

    /// `exp`: when the token expires. `None` when absent or not a non-negative number.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.numeric_date("exp")
    }

    /// `iat`: when the token was issued.
    pub fn issued_at(&self) -> Option<Timestamp> {
        self.numeric_date("iat")
    }

    /// `nbf`: the token is not valid before this instant.
    pub fn not_before(&self) -> Option<Timestamp> {
        self.numeric_date("nbf")
    }

    /// `sub`: the subject, usually the user id.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// One claim deserialised into `T`; `None` when absent or of another type.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        json::field(&self.payload, name)
    }

    /// All claims deserialised into `T` (for example a user type with `#[serde(rename)]`
    /// fields). Errors with [`AuthError::UserState`] saying which field did not fit.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, AuthError> {
        // From the map, as `get` reads: a name given twice counts once, with its last value.
        serde_path_to_error::deserialize(Value::Object(self.as_map().clone())).map_err(|err| {
            AuthError::UserState(format!(
                "claims do not fit the user type: {}",
                crate::error::json_error(&err)
            ))
        })
    }

    /// The raw claims. The map is built the first time it is asked for; [`Claims::get`] reads
    /// one claim without it (an app that never calls this carries no `Value` parser). A
    /// payload with a claim that `Value` cannot hold (nested deeper than 128 levels, a number
    /// beyond `f64`, a lone surrogate escape) gives an empty map; its other claims still read
    /// with [`Claims::get`].
    pub fn as_map(&self) -> &Map<String, Value> {
        self.map
            .get_or_init(|| serde_json::from_str(&self.payload).unwrap_or_default())
    }

    fn numeric_date(&self, name: &str) -> Option<Timestamp> {
        let seconds: f64 = self.get(name)?;
        (seconds.is_finite() && seconds >= 0.0)
            .then(|| Timestamp::from_unix_millis((seconds * 1000.0).min(u64::MAX as f64) as u64))
    }
}

/// What the store needs to know about a token it is about to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    /// When the token stops being valid.
    pub expires_at: Timestamp,
    /// The decoded claims, when the token is a JWT.
    pub claims: Option<Claims>,
}

impl TokenInfo {
    /// Checks a token and works out when it expires.
    ///
    /// The expiry is the JWT's `exp`, or `now + expires_in` for an opaque token; when both
    /// are known the earlier wins (a token is never used past its `exp`). A token whose `nbf`
    /// is more than `leeway` in the future is refused, as is an already expired one.
    ///
    /// ## Usage
    /// ```
    /// use leptos_auth_kit::{TokenInfo, Timestamp};
    /// use std::time::Duration;
    ///
    /// let now = Timestamp::from_unix_seconds(1_000);
    /// let info = TokenInfo::inspect("opaque-abc", Some(Duration::from_secs(300)), now, Duration::ZERO).unwrap();
    /// assert_eq!(info.expires_at, Timestamp::from_unix_seconds(1_300));
    /// ```
    pub fn inspect(
        token: &str,
        expires_in: Option<Duration>,
        now: Timestamp,
        leeway: Duration,
    ) -> Result<Self, AuthError> {
        Self::inspect_skewed(token, expires_in, now, leeway, 0)
    }

    /// [`TokenInfo::inspect`] for a server whose clock is `clock_offset` ms ahead of this one
    /// (negative: behind): `exp` and `nbf` are turned into local instants first.
    pub(crate) fn inspect_skewed(
        token: &str,
        expires_in: Option<Duration>,
        now: Timestamp,
        leeway: Duration,
        clock_offset: i64,
    ) -> Result<Self, AuthError> {
        check_token_text(token)?;
        let claims = match Claims::decode(token) {
            Ok(claims) => Some(claims),
            // An opaque token may contain dots; only insist on a JWT when nothing else tells
            // us when the token expires.
            Err(err) if expires_in.is_none() && token.split('.').count() == 3 => return Err(err),
            Err(_) => None,
        };
        let local = |at: Timestamp| at.shifted(clock_offset.saturating_neg());
        let from_claims = claims.as_ref().and_then(Claims::expires_at).map(local);
        let from_caller = expires_in.map(|expires_in| now + expires_in);
        let expires_at = earliest(from_claims, from_caller).ok_or(AuthError::MissingExpiry)?;
        if expires_at <= now {
            return Err(AuthError::Expired {
                expired_at: expires_at,
            });
        }
        if let Some(not_before) = claims.as_ref().and_then(Claims::not_before) {
            if local(not_before) > now + leeway {
                return Err(AuthError::NotYetValid { not_before });
            }
        }
        Ok(Self { expires_at, claims })
    }
}

/// The `exp` of `token` when it is a JWT that has one.
pub(crate) fn jwt_expiry(token: &str) -> Option<Timestamp> {
    Claims::decode(token).ok()?.expires_at()
}

/// Offsets below this are the noise of whole-second `iat` and of the network: the server's
/// clock is taken to agree with this one, and `exp` is used as it is.
pub const SKEW_THRESHOLD: Duration = Duration::from_secs(5);

/// How far the server's clock is ahead of this one, in ms (negative: behind), judged from a
/// JWT's `iat` and a local instant no later than its issue: when the request was sent, or
/// (at sign-in) when the answer came. `None` when the token has no `iat`; zero within
/// [`SKEW_THRESHOLD`]. Measured from the send time, the time the server took counts as its
/// clock being ahead, so the local expiry errs early, never late.
pub(crate) fn clock_offset(token: &str, local: Timestamp) -> Option<i64> {
    let issued_at = Claims::decode(token).ok()?.issued_at()?;
    Some(offset_between(issued_at, local))
}

/// How far the server's clock, reading `server` when this one read `local`, is ahead of this
/// one, in ms; zero within [`SKEW_THRESHOLD`].
pub(crate) fn offset_between(server: Timestamp, local: Timestamp) -> i64 {
    let offset = i64::try_from(server.unix_millis())
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(local.unix_millis()).unwrap_or(i64::MAX));
    if offset.unsigned_abs() < SKEW_THRESHOLD.as_millis() as u64 {
        0
    } else {
        offset
    }
}

/// Rejects what can never be a token: empty, oversized, or text that would break an HTTP
/// header or a cookie.
pub(crate) fn check_token_text(token: &str) -> Result<(), AuthError> {
    if token.is_empty() {
        return Err(AuthError::MalformedToken("token is empty".into()));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AuthError::MalformedToken(
            "token contains spaces or control characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::Deserialize;

    /// An unsigned JWT with `payload` as its claims (the signature is never checked).
    pub(crate) use crate::fuzzing::jwt;

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_000_000);
    const LEEWAY: Duration = Duration::from_secs(30);

    fn padded(payload: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE;
        use base64::Engine;
        format!("h.{}.s", URL_SAFE.encode(payload))
    }

    #[test]
    #[rustfmt::skip]
    fn inspect_table() {
        let huge = format!("a{}", "b".repeat(MAX_TOKEN_LEN));
        let secs = |s| Ok(Timestamp::from_unix_seconds(s));
        let malformed = |r: &str| Err(AuthError::MalformedToken(r.into()));
        // (case, token, explicit expires-in, expected expires_at or error)
        let rows: Vec<(&str, String, Option<u64>, Result<Timestamp, AuthError>)> = vec![
            ("valid jwt", jwt(r#"{"exp":1000100}"#), None, secs(1_000_100)),
            ("padded payload", padded(r#"{"exp":1000100,"s":"x"}"#), None, secs(1_000_100)),
            ("unpadded payload", jwt(r#"{"exp":1000100,"s":"x"}"#), None, secs(1_000_100)),
            ("fractional exp", jwt(r#"{"exp":1000100.5}"#), None, Ok(Timestamp::from_unix_millis(1_000_100_500))),
            ("earlier of exp and expires-in", jwt(r#"{"exp":1000100}"#), Some(50), secs(1_000_050)),
            ("exp earlier than expires-in", jwt(r#"{"exp":1000100}"#), Some(500), secs(1_000_100)),
            ("opaque with expires-in", "opaque-token".into(), Some(60), secs(1_000_060)),
            ("opaque with dots and expires-in", "a.b.c".into(), Some(60), secs(1_000_060)),
            ("opaque without expires-in", "opaque-token".into(), None, Err(AuthError::MissingExpiry)),
            ("jwt without exp", jwt(r#"{"sub":"ada"}"#), None, Err(AuthError::MissingExpiry)),
            ("exp as a string", jwt(r#"{"exp":"1000100"}"#), None, Err(AuthError::MissingExpiry)),
            ("negative exp", jwt(r#"{"exp":-5}"#), None, Err(AuthError::MissingExpiry)),
            ("bad base64", "h.!!!.s".into(), None, malformed("JWT payload is not base64url")),
            ("bad json", format!("h.{}.s", crate::base64url::encode(b"{nope")), None, malformed("JWT payload is not JSON")),
            ("json array", jwt("[1,2]"), None, malformed("JWT payload is not a JSON object")),
            ("empty", String::new(), Some(60), malformed("token is empty")),
            ("whitespace", "abc def".into(), Some(60), malformed("token contains spaces or control characters")),
            ("newline", "abc\r\nSet-Cookie: x".into(), Some(60), malformed("token contains spaces or control characters")),
            ("expired", jwt(r#"{"exp":999999}"#), None, Err(AuthError::Expired { expired_at: Timestamp::from_unix_seconds(999_999) })),
            ("expiring exactly now", jwt(r#"{"exp":1000000}"#), None, Err(AuthError::Expired { expired_at: NOW })),
            ("nbf within leeway", jwt(r#"{"exp":1000100,"nbf":1000020}"#), None, secs(1_000_100)),
            ("nbf in the future", jwt(r#"{"exp":1000100,"nbf":1000031}"#), None, Err(AuthError::NotYetValid { not_before: Timestamp::from_unix_seconds(1_000_031) })),
            ("huge", huge.clone(), Some(60), Err(AuthError::TokenTooLarge { len: huge.len(), max: MAX_TOKEN_LEN })),
        ];
        for (case, token, expires_in, expected) in rows {
            let got = TokenInfo::inspect(&token, expires_in.map(Duration::from_secs), NOW, LEEWAY)
                .map(|info| info.expires_at);
            assert_eq!(got, expected, "case: {case}");
        }
    }

    #[test]
    fn standard_claims_are_read() {
        let claims = Claims::decode(&jwt(
            r#"{"exp":10,"iat":5,"nbf":6,"sub":"ada","role":"admin"}"#,
        ))
        .unwrap();
        assert_eq!(claims.expires_at(), Some(Timestamp::from_unix_seconds(10)));
        assert_eq!(claims.issued_at(), Some(Timestamp::from_unix_seconds(5)));
        assert_eq!(claims.not_before(), Some(Timestamp::from_unix_seconds(6)));
        assert_eq!(claims.subject(), Some("ada"));
        assert_eq!(claims.get::<String>("role").as_deref(), Some("admin"));
        assert_eq!(claims.get::<u32>("role"), None);
    }

    #[test]
    fn a_deeply_nested_claim_leaves_the_others_readable() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let claims =
            Claims::decode(&jwt(&format!(r#"{{"exp":10,"sub":"ada","x":{deep}}}"#))).unwrap();
        assert_eq!(claims.expires_at(), Some(Timestamp::from_unix_seconds(10)));
        assert_eq!(claims.subject(), Some("ada"));
        assert!(claims.as_map().is_empty());
    }

    #[test]
    fn claims_deserialize_into_a_user_type_or_say_why_not() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct User {
            #[serde(rename = "sub")]
            name: String,
            role: String,
        }
        let claims = Claims::decode(&jwt(r#"{"exp":10,"sub":"ada","role":"admin"}"#)).unwrap();
        assert_eq!(
            claims.deserialize::<User>(),
            Ok(User {
                name: "ada".into(),
                role: "admin".into()
            })
        );
        let missing_role = Claims::decode(&jwt(r#"{"exp":10,"sub":"ada"}"#)).unwrap();
        let err = missing_role.deserialize::<User>().unwrap_err();
        assert!(
            matches!(&err, AuthError::UserState(m) if m.contains("role")),
            "{err}"
        );
    }

    #[test]
    fn jwt_needs_exactly_three_parts() {
        for token in ["onlyone", "a.b", "a.b.c.d"] {
            assert!(
                matches!(Claims::decode(token), Err(AuthError::MalformedToken(_))),
                "{token}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_token_or_claim_values() {
        let token = Token::new("s3cr3t");
        assert_eq!(format!("{token:?}"), "Token(***)");
        let claims = Claims::decode(&jwt(r#"{"exp":10,"email":"ada@example.com"}"#)).unwrap();
        let shown = format!("{claims:?}");
        assert!(!shown.contains("ada@example.com"), "{shown}");
        assert!(shown.contains("email"));
    }
}
