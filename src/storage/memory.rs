//! In-memory storage, for tests and server rendering.

use std::sync::{Arc, Mutex};

use super::TokenStorage;
use crate::error::AuthError;
use crate::time::Timestamp;

/// Keeps the record in memory. Clones share the same slot, so a test can keep one and watch
/// what the provider writes.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::storage::{MemoryStorage, TokenStorage};
/// use leptos_auth_kit::Timestamp;
///
/// let storage = MemoryStorage::default();
/// storage.save("{}", None, Timestamp::now()).unwrap();
/// assert_eq!(storage.load().as_deref(), Some("{}"));
/// ```
#[derive(Clone, Default)]
pub struct MemoryStorage {
    slot: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStorage(***)")
    }
}

impl TokenStorage for MemoryStorage {
    fn load(&self) -> Option<String> {
        self.slot.lock().ok()?.clone()
    }

    fn save(&self, record: &str, _: Option<Timestamp>, _: Timestamp) -> Result<(), AuthError> {
        let mut slot = self
            .slot
            .lock()
            .map_err(|_| AuthError::Storage("memory storage poisoned".into()))?;
        *slot = Some(record.to_owned());
        Ok(())
    }

    fn clear(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }
}
