//! `sessionStorage`: one tab, gone when it closes.

use super::local::web;
use super::TokenStorage;
use crate::error::AuthError;
use crate::time::Timestamp;

/// Keeps the record in `sessionStorage` under one key.
#[derive(Debug, Clone)]
pub struct SessionStorage {
    key: String,
}

impl SessionStorage {
    /// Storage under `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self { key: key.into() }
    }
}

impl TokenStorage for SessionStorage {
    fn load(&self) -> Option<String> {
        web::load(web::Area::Session, &self.key)
    }

    fn save(&self, record: &str, _: Option<Timestamp>, _: Timestamp) -> Result<(), AuthError> {
        web::save(web::Area::Session, &self.key, record)
    }

    fn clear(&self) {
        web::clear(web::Area::Session, &self.key)
    }
}
