//! Where the session lives between page loads.
//!
//! One small trait, [`TokenStorage`], with a cookie, `localStorage`, `sessionStorage` and an
//! in-memory implementation. The persisted form ([`record`]) and the cookie text
//! ([`cookie`]'s pure helpers) are pure functions tested natively; the implementations only
//! move strings in and out of the browser. On the host (tests, server rendering) the browser
//! storages hold nothing and accept every write, so the same code runs harmlessly there.

use crate::error::AuthError;
use crate::time::Timestamp;

pub mod cookie;
mod local;
mod memory;
pub mod record;
mod session;

pub(crate) use cookie::CookieStorage;
pub(crate) use local::LocalStorage;
pub use memory::MemoryStorage;
pub(crate) use session::SessionStorage;

/// A place that keeps one serialised session record.
///
/// Implementations never panic: a browser that refuses a read yields `None`, one that refuses
/// a write yields [`AuthError::Storage`].
pub trait TokenStorage: Send + Sync {
    /// The stored record, if any.
    fn load(&self) -> Option<String>;
    /// Stores `record`, which may be dropped by the browser at `expires_at` (`None`: keep it
    /// until cleared).
    fn save(
        &self,
        record: &str,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), AuthError>;
    /// Removes the record (only ours: nothing else is touched).
    fn clear(&self);
}
