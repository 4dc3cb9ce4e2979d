//! `localStorage`: survives restarts, shared by every tab of the origin.

use super::TokenStorage;
use crate::error::AuthError;
use crate::time::Timestamp;

/// Keeps the record in `localStorage` under one key.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    key: String,
}

impl LocalStorage {
    /// Storage under `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Self { key: key.into() }
    }
}

impl TokenStorage for LocalStorage {
    fn load(&self) -> Option<String> {
        web::load(web::Area::Local, &self.key)
    }

    fn save(&self, record: &str, _: Option<Timestamp>, _: Timestamp) -> Result<(), AuthError> {
        web::save(web::Area::Local, &self.key, record)
    }

    fn clear(&self) {
        web::clear(web::Area::Local, &self.key)
    }
}

/// The Web Storage calls shared by `localStorage` and `sessionStorage`.
pub(crate) mod web {
    use crate::error::AuthError;

    #[derive(Clone, Copy)]
    pub(crate) enum Area {
        Local,
        Session,
    }

    #[cfg(target_arch = "wasm32")]
    fn area(area: Area) -> Option<web_sys::Storage> {
        use gloo_storage::Storage as _;
        // gloo's `raw()` panics when storage is unavailable (some privacy modes); check first.
        let window = web_sys::window()?;
        let available = match area {
            Area::Local => window.local_storage(),
            Area::Session => window.session_storage(),
        };
        match available {
            Ok(Some(_)) => Some(match area {
                Area::Local => gloo_storage::LocalStorage::raw(),
                Area::Session => gloo_storage::SessionStorage::raw(),
            }),
            _ => None,
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn load(area_kind: Area, key: &str) -> Option<String> {
        area(area_kind)?.get_item(key).ok().flatten()
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn save(area_kind: Area, key: &str, value: &str) -> Result<(), AuthError> {
        let storage = area(area_kind)
            .ok_or_else(|| AuthError::Storage("web storage is not available".into()))?;
        storage
            .set_item(key, value)
            .map_err(|_| AuthError::Storage("the browser refused the write (quota?)".into()))
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn clear(area_kind: Area, key: &str) {
        if let Some(storage) = area(area_kind) {
            let _ = storage.remove_item(key);
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn load(_: Area, _: &str) -> Option<String> {
        None
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn save(_: Area, _: &str, _: &str) -> Result<(), AuthError> {
        Ok(())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn clear(_: Area, _: &str) {}
}
