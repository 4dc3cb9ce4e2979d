//! Issuing and checking the demo's HS256 JWTs, in the two dialects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// A demo account.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub id: u32,
    pub username: &'static str,
    pub password: &'static str,
    pub role: &'static str,
}

pub const ACCOUNTS: [Account; 2] = [
    Account {
        id: 1,
        username: "ada",
        password: "lovelace",
        role: "admin",
    },
    Account {
        id: 2,
        username: "bob",
        password: "builder",
        role: "user",
    },
];

pub fn account(username: &str, password: &str) -> Option<Account> {
    ACCOUNTS
        .into_iter()
        .find(|a| a.username == username && a.password == password)
}

pub fn account_by_name(username: &str) -> Option<Account> {
    ACCOUNTS.into_iter().find(|a| a.username == username)
}

/// Claims of both dialects. SimpleJWT: `token_type`, `user_id`, `username`, `role`;
/// sanic-jwt-extended: `type`, `identity`, `fresh`, `role`. Both: `exp`, `iat`, `jti`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// Issue order, for revocation in tests.
    #[serde(default)]
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh: Option<bool>,
    pub role: String,
}

impl Claims {
    /// `access` or `refresh`, whichever dialect.
    pub fn purpose(&self) -> Option<&str> {
        self.token_type.as_deref().or(self.kind.as_deref())
    }

    /// The account name, whichever dialect.
    pub fn name(&self) -> Option<&str> {
        self.username.as_deref().or(self.identity.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    SimpleJwt,
    SanicJwtExtended,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// The sequence number the next token will get.
pub fn next_seq() -> u64 {
    SEQ.load(Ordering::SeqCst)
}

fn new_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::SeqCst)
}

fn new_jti(seq: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{seq:x}")
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A signed token for `account`.
    pub fn issue(
        &self,
        account: Account,
        dialect: Dialect,
        purpose: &str,
        fresh: bool,
        lifetime_secs: u64,
    ) -> (String, Claims) {
        let iat = now();
        let seq = new_seq();
        let claims = match dialect {
            Dialect::SimpleJwt => Claims {
                exp: iat + lifetime_secs,
                iat,
                jti: new_jti(seq),
                seq,
                token_type: Some(purpose.into()),
                kind: None,
                user_id: Some(account.id),
                username: Some(account.username.into()),
                identity: None,
                fresh: None,
                role: account.role.into(),
            },
            Dialect::SanicJwtExtended => Claims {
                exp: iat + lifetime_secs,
                iat,
                jti: new_jti(seq),
                seq,
                token_type: None,
                kind: Some(purpose.into()),
                user_id: None,
                username: None,
                identity: Some(account.username.into()),
                fresh: Some(fresh),
                role: account.role.into(),
            },
        };
        (self.sign(&claims), claims)
    }

    /// Signs `claims` with HS256.
    pub fn sign(&self, claims: &Claims) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// The claims of a token we signed that has not expired (no leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenProblem> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenProblem::Expired,
                _ => TokenProblem::Invalid,
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Expired,
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_the_dialect_claims() {
        let keys = Keys::new(b"test");
        let (token, claims) =
            keys.issue(ACCOUNTS[0], Dialect::SanicJwtExtended, "access", true, 60);
        let verified = keys.verify(&token).unwrap();
        assert_eq!(verified, claims);
        assert_eq!(
            (verified.purpose(), verified.name(), verified.fresh),
            (Some("access"), Some("ada"), Some(true))
        );
        let (simple, _) = keys.issue(ACCOUNTS[1], Dialect::SimpleJwt, "refresh", false, 60);
        let verified = keys.verify(&simple).unwrap();
        assert_eq!(
            (verified.purpose(), verified.user_id, verified.fresh),
            (Some("refresh"), Some(2), None)
        );
    }

    #[test]
    fn foreign_tampered_and_expired_tokens_are_refused() {
        let keys = Keys::new(b"test");
        let (token, _) = keys.issue(ACCOUNTS[0], Dialect::SimpleJwt, "access", false, 60);
        assert_eq!(
            Keys::new(b"other").verify(&token),
            Err(TokenProblem::Invalid)
        );
        assert_eq!(keys.verify("not.a.jwt"), Err(TokenProblem::Invalid));
        let (_, mut claims) = keys.issue(ACCOUNTS[0], Dialect::SimpleJwt, "access", false, 60);
        claims.exp = now() - 1;
        assert_eq!(keys.verify(&keys.sign(&claims)), Err(TokenProblem::Expired));
    }
}
