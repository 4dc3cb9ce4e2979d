//! The crate's error type.

use std::fmt;

use crate::time::Timestamp;

/// Why a token, a sign-in, a refresh result or a storage write was refused.
///
/// Every message says what to do about it; none contains a token.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::{AuthError, TokenInfo, Timestamp};
/// use std::time::Duration;
///
/// let err = TokenInfo::inspect("not-a-jwt", None, Timestamp::now(), Duration::ZERO).unwrap_err();
/// assert_eq!(err, AuthError::MissingExpiry);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is not usable: empty, containing spaces or control characters, or a JWT whose
    /// payload is not base64url-encoded JSON. The reason says which.
    MalformedToken(String),
    /// The token is longer than the crate accepts (see [`crate::token::MAX_TOKEN_LEN`]).
    TokenTooLarge {
        /// Length of the refused token in bytes.
        len: usize,
        /// The largest accepted length in bytes.
        max: usize,
    },
    /// The token is not a JWT with an `exp` claim and no explicit expires-in was given.
    MissingExpiry,
    /// The token expired at the given instant, which is not after now.
    Expired {
        /// When the token expired.
        expired_at: Timestamp,
    },
    /// The token's `nbf` claim is further in the future than the configured leeway allows.
    NotYetValid {
        /// The token's `nbf` claim.
        not_before: Timestamp,
    },
    /// The refresh token given at sign-in has already expired.
    RefreshTokenExpired,
    /// A refresh answered with the access token the session already had.
    TokenNotRenewed,
    /// The token type is empty or contains spaces or control characters.
    InvalidTokenType,
    /// The user state could not be built from the token's claims or could not be serialised.
    UserState(String),
    /// Nobody is signed in, so there is nothing to update.
    NotSignedIn,
    /// The serialised session does not fit in one cookie. Use `AuthConfig::local_storage`,
    /// keep less user state, or ask the server for shorter tokens.
    CookieTooLarge {
        /// Bytes the `name=value` pair would take.
        size: usize,
        /// The browser limit for one cookie's `name=value` pair.
        limit: usize,
    },
    /// The browser did not keep the session cookie although the write raised no error: its
    /// `Domain` does not match the page, it is `Secure` (or `__Host-`/`__Secure-`, or
    /// `SameSite=None`) on a plain-http page other than localhost, or the user's browser
    /// settings block cookies for this site.
    CookieRejected,
    /// The browser refused the write (storage disabled, quota exceeded, invalid name).
    Storage(String),
    /// Called during a server render (`ssr`): signing in, updating the user and refreshing
    /// happen in the browser, after hydration.
    NotInBrowser,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MalformedToken(reason) => write!(f, "malformed token: {reason}"),
            AuthError::TokenTooLarge { len, max } => {
                write!(f, "token is {len} bytes, more than the {max} bytes accepted")
            }
            AuthError::MissingExpiry => f.write_str(
                "token has no `exp` claim: give an explicit expires-in for opaque tokens",
            ),
            AuthError::Expired { expired_at } => write!(
                f,
                "token already expired at unix time {}s",
                expired_at.unix_seconds()
            ),
            AuthError::NotYetValid { not_before } => write!(
                f,
                "token is not valid before unix time {}s (`nbf`); check the clocks or raise the leeway",
                not_before.unix_seconds()
            ),
            AuthError::RefreshTokenExpired => f.write_str("refresh token already expired"),
            AuthError::TokenNotRenewed => {
                f.write_str("the refresh answered with the access token the session already had")
            }
            AuthError::InvalidTokenType => {
                f.write_str("token type must be one word such as `Bearer`")
            }
            AuthError::UserState(reason) => write!(f, "user state: {reason}"),
            AuthError::NotSignedIn => f.write_str("nobody is signed in"),
            AuthError::CookieTooLarge { size, limit } => write!(
                f,
                "session needs a {size}-byte cookie, over the {limit}-byte limit: \
                 use local storage or store less user state"
            ),
            AuthError::CookieRejected => f.write_str(
                "the browser did not store the session cookie: its Domain must match the \
                 page's host, Secure cookies need https (or localhost), and the browser \
                 must allow cookies for this site",
            ),
            AuthError::Storage(reason) => write!(f, "could not store the session: {reason}"),
            AuthError::NotInBrowser => {
                f.write_str("the session can only be changed in the browser, not while rendering on the server")
            }
        }
    }
}

impl std::error::Error for AuthError {}

/// A JSON deserialisation error as text that names the field and what was expected, never the
/// value found (serde's messages quote it: `invalid type: string "eyJ…", expected u64`, and
/// that value may be a token or an email).
pub(crate) fn json_error(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_path_to_error::Segment;
    let message = value_free(err.inner());
    let mut segments: Vec<&Segment> = err.path().iter().collect();
    if message.starts_with("unknown field") {
        // The last key is the unknown one: it came from the input, not from the type. (A
        // derived `Deserialize` refuses it while reading the key, so it is on the path. The
        // stored record's own visitor refuses it after, at the top, where the path is empty
        // and there is nothing to take off.)
        segments.pop();
    }
    let mut path = String::new();
    for segment in segments {
        if !path.is_empty() && !matches!(segment, Segment::Seq { .. }) {
            path.push('.');
        }
        match segment {
            // A struct's field name, or a map's key (data): only a short identifier is shown,
            // never something like an email or a token.
            Segment::Map { key } | Segment::Enum { variant: key } if !is_field_name(key) => {
                path.push('?');
            }
            _ => path.push_str(&segment.to_string()),
        }
    }
    if path.is_empty() {
        message
    } else {
        format!("`{path}`: {message}")
    }
}

/// A short identifier (`email`, `refresh_expires_at`, `user-name`), as field names are.
fn is_field_name(key: &str) -> bool {
    key.len() <= 32
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn value_free(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    if matches!(
        err.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        // The parser's own messages say what and where, never quote the input.
        return err.to_string();
    }
    let message = err.to_string();
    for kind in [
        "invalid type",
        "invalid value",
        "unknown field",
        "unknown variant",
    ] {
        if message.starts_with(kind) {
            // `{kind}: {value}, expected {what}` or `{kind} `{name}`, expected {what}`: the
            // expectation comes last and from the type, so it is safe to keep.
            return match message.rfind(", expected ") {
                Some(at) => format!("{kind}, {}", &message[at + 2..]),
                None => kind.to_owned(),
            };
        }
    }
    if ["invalid length ", "missing field `", "duplicate field `"]
        .iter()
        .any(|kind| message.starts_with(kind))
    {
        // Lengths and our own field names only.
        return message;
    }
    "refused by the type's own check".to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use crate::backends::Answer;
    use crate::state::{AuthState, SignIn};
    use crate::storage::record;
    use crate::time::Timestamp;
    use crate::token::tests::jwt;
    use crate::token::{Claims, TokenInfo};
    use crate::Refreshed;

    const MARKER: &str = "SECRETMARKER";
    const NOW: Timestamp = Timestamp::from_unix_seconds(1_000);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct User {
        name: String,
        #[serde(default)]
        age: u32,
        #[serde(default)]
        plan: Plan,
        #[serde(default)]
        email: Email,
        #[serde(default)]
        scores: std::collections::BTreeMap<String, u32>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    enum Plan {
        #[default]
        Free,
        Pro,
    }

    /// A type whose own check quotes the value it refuses.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(try_from = "String")]
    struct Email(String);

    impl TryFrom<String> for Email {
        type Error = String;
        fn try_from(text: String) -> Result<Self, String> {
            if text.contains('@') {
                Ok(Email(text))
            } else {
                Err(format!("{text} is not an email address"))
            }
        }
    }

    fn record(fields: &str) -> String {
        let token = jwt(r#"{"exp":2000}"#);
        format!(
            r#"{{"v":1,"token":"{token}","token_type":"Bearer","expires_at":2000000,"refreshed_at":1000{fields}}}"#
        )
    }

    /// Every error and state the crate shows, made from tokens and claims that carry a marker.
    #[test]
    #[rustfmt::skip]
    fn no_error_or_state_shows_a_token_or_claim_value() {
        let m = MARKER;
        let mut shown: Vec<(String, String)> = Vec::new();
        let mut show = |case: &str, text: String| shown.push((case.to_owned(), text));

        let records = [
            ("mistyped expiry", record(&format!(r#","refresh_token":"eyJ{m}","refresh_expires_at":"{m}""#)), "refresh_expires_at"),
            ("mistyped instant", record("").replace(r#""refreshed_at":1000"#, &format!(r#""refreshed_at":"eyJ{m}""#)), "refreshed_at"),
            ("mistyped user field", record(&format!(r#","user":{{"name":"ada","age":"{m}"}}"#)), "user.age"),
            ("unknown variant", record(&format!(r#","user":{{"name":"ada","plan":"{m}"}}"#)), "user.plan"),
            ("type's own check", record(&format!(r#","user":{{"name":"ada","email":"{m}"}}"#)), "user.email"),
            ("unknown field", record(&format!(r#","{m}":"{m}""#)), "unknown field"),
            ("token as a list", record("").replace(r#""token":""#, &format!(r#""token":["{m}"],"x":""#)), "token"),
            ("cut short", format!(r#"{{"v":1,"token":"{m}"#), "not JSON"),
        ];
        for (case, text, names) in records {
            let err = record::decode::<User>(&text, NOW).unwrap_err();
            assert!(err.to_string().contains(names), "{case}: {err}");
            show(case, format!("{err} {err:?}"));
            let restored = record::restore::<User>(Some(&text), NOW, true);
            show(case, format!("{restored:?}"));
        }

        let claims = [
            ("claim of another type", format!(r#"{{"exp":2000,"name":"ada","age":"{m}"}}"#), "age"),
            ("claim outside the enum", format!(r#"{{"exp":2000,"name":"ada","plan":"{m}"}}"#), "plan"),
            ("claim refused by its type", format!(r#"{{"exp":2000,"name":"ada","email":"{m}"}}"#), "email"),
            ("claim missing", format!(r#"{{"exp":2000,"sub":"{m}"}}"#), "name"),
            ("map keyed by an email", format!(r#"{{"exp":2000,"name":"ada","scores":{{"{m}@example.com":"x"}}}}"#), "scores.?"),
            ("map keyed by a token", format!(r#"{{"exp":2000,"name":"ada","scores":{{"eyJ{m}.eyJ{m}.sig":"x"}}}}"#), "scores.?"),
            ("map keyed by a long word", format!(r#"{{"exp":2000,"name":"ada","scores":{{"{m}{m}{m}{m}":"x"}}}}"#), "scores.?"),
        ];
        for (case, payload, names) in claims {
            let token = jwt(&payload);
            let err = Claims::decode(&token).unwrap().deserialize::<User>().unwrap_err();
            assert!(err.to_string().contains(names), "{case}: {err}");
            show(case, format!("{err} {err:?}"));
            let mut state = AuthState::<User>::signed_out();
            let err = state.sign_in(SignIn::new(token.clone()).user_from_claims(), NOW, Duration::ZERO).unwrap_err();
            show(case, format!("{err} {err:?} {state:?}"));
        }

        for token in [format!("eyJ{m}.eyJ{m}.sig"), format!("{m} {m}"), m.to_owned(), format!("a.{m}.c")] {
            let err = TokenInfo::inspect(&token, None, NOW, Duration::ZERO).unwrap_err();
            show("malformed token", format!("{err} {err:?}"));
        }

        let token = jwt(&format!(r#"{{"exp":2000,"sub":"{m}","jti":"{m}"}}"#));
        let refresh = format!("{m}-refresh");
        let request = SignIn::<User>::new(token.clone()).refresh_token(refresh.clone());
        show("sign-in request", format!("{request:?}"));
        let mut state = AuthState::<User>::signed_out();
        state.sign_in(request, NOW, Duration::ZERO).unwrap();
        show("signed-in state", format!("{state:?}"));
        show("refresh answer", format!("{:?}", Refreshed::<User>::new(token.clone()).refresh_token(refresh)));
        let answer = Answer { status: 200, body: format!(r#"{{"access":"{token}","refresh":"{m}"}}"#), date: None };
        show("server answer", format!("{answer:?}"));
        show("claims", format!("{:?}", Claims::decode(&token).unwrap()));

        for (case, text) in shown {
            assert!(!text.contains(MARKER), "{case} shows a value: {text}");
        }
    }
}
