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
    /// The browser refused the write (storage disabled, quota exceeded, invalid name).
    Storage(String),
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
            AuthError::Storage(reason) => write!(f, "could not store the session: {reason}"),
        }
    }
}

impl std::error::Error for AuthError {}
