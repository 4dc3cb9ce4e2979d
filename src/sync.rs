//! Cross-tab: sign-in, sign-out and refresh in one tab reach the others, and one tab refreshes
//! at a time.
//!
//! Browser shell. Another tab's change is announced by a `storage` event (localStorage) or a
//! `BroadcastChannel` message (cookies, which fire no event); the receiving tab re-reads
//! storage and applies the pure [`AuthState::sync_with`](crate::AuthState::sync_with).
//! Refreshes run under a Web Lock (`navigator.locks`) named after the storage key, so that
//! with refresh-token rotation the second tab finds the first one's new tokens in storage
//! instead of sending the old, now blacklisted, refresh token. sessionStorage and memory are
//! per tab: nothing to sync, no lock. Off the browser everything here does nothing.

use futures::future::LocalBoxFuture;

use crate::refresh::RefreshOutcome;

/// Which cross-tab mechanism a storage needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shared {
    /// Per-tab storage: nothing to share.
    No,
    /// localStorage: other tabs see `storage` events.
    LocalStorage,
    /// Cookies: changes are announced on a BroadcastChannel.
    Cookie,
}

/// Runs `attempt` holding the Web Lock `lock_name` when there is one and the browser has Web
/// Locks; otherwise runs it directly.
pub(crate) fn exclusive(
    lock_name: Option<String>,
    attempt: LocalBoxFuture<'static, RefreshOutcome>,
) -> LocalBoxFuture<'static, RefreshOutcome> {
    #[cfg(target_arch = "wasm32")]
    {
        match lock_name {
            Some(name) => Box::pin(browser::with_lock(name, attempt)),
            None => attempt,
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = lock_name;
        attempt
    }
}

/// How long the refresh lock is kept after a successful refresh (see `with_lock`).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) const LOCK_LINGER: std::time::Duration = std::time::Duration::from_millis(150);

/// How long a tab waits for another tab's storage write before it believes a rejected refresh.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits [`SETTLE`] for shared storages in the browser; returns at once otherwise.
pub(crate) fn settle(shared: bool) -> LocalBoxFuture<'static, ()> {
    #[cfg(target_arch = "wasm32")]
    if shared {
        return Box::pin(gloo_timers::future::sleep(SETTLE));
    }
    let _ = shared;
    Box::pin(async {})
}

#[cfg(target_arch = "wasm32")]
pub(crate) use browser::TabSync;

#[cfg(target_arch = "wasm32")]
mod browser {
    use std::cell::RefCell;
    use std::rc::Rc;

    use futures::future::LocalBoxFuture;
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    use super::Shared;
    use crate::refresh::RefreshOutcome;

    /// The listeners of one provider; dropping it removes them.
    pub(crate) struct TabSync {
        channel: Option<web_sys::BroadcastChannel>,
        on_message: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
        on_storage: Option<Closure<dyn FnMut(web_sys::StorageEvent)>>,
    }

    impl TabSync {
        /// Listens for other tabs' changes to `key` and calls `changed` for each.
        pub(crate) fn start(
            shared: Shared,
            key: &str,
            changed: impl Fn() + 'static,
        ) -> Option<Self> {
            let window = web_sys::window()?;
            match shared {
                Shared::No => None,
                Shared::Cookie => {
                    let channel = web_sys::BroadcastChannel::new(&channel_name(key)).ok()?;
                    let on_message =
                        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| changed());
                    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                    Some(Self {
                        channel: Some(channel),
                        on_message: Some(on_message),
                        on_storage: None,
                    })
                }
                Shared::LocalStorage => {
                    let key = key.to_owned();
                    let on_storage = Closure::<dyn FnMut(web_sys::StorageEvent)>::new(
                        move |event: web_sys::StorageEvent| {
                            // `key` is null when another tab cleared the whole storage.
                            let ours = event.key().is_none_or(|changed_key| changed_key == key);
                            let local = window_local_storage()
                                .zip(event.storage_area())
                                .is_some_and(|(local, area)| {
                                    JsValue::from(local) == JsValue::from(area)
                                });
                            if ours && local {
                                changed();
                            }
                        },
                    );
                    window
                        .add_event_listener_with_callback(
                            "storage",
                            on_storage.as_ref().unchecked_ref(),
                        )
                        .ok()?;
                    Some(Self {
                        channel: None,
                        on_message: None,
                        on_storage: Some(on_storage),
                    })
                }
            }
        }

        /// Tells the other tabs that our record changed (cookies only: localStorage writes
        /// raise `storage` events by themselves).
        pub(crate) fn announce(&self) {
            if let Some(channel) = &self.channel {
                let _ = channel.post_message(&JsValue::from_str("changed"));
            }
        }
    }

    impl Drop for TabSync {
        fn drop(&mut self) {
            if let Some(channel) = &self.channel {
                channel.set_onmessage(None);
                channel.close();
            }
            if let (Some(window), Some(on_storage)) = (web_sys::window(), &self.on_storage) {
                let _ = window.remove_event_listener_with_callback(
                    "storage",
                    on_storage.as_ref().unchecked_ref(),
                );
            }
            self.on_message.take();
        }
    }

    fn window_local_storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    fn channel_name(key: &str) -> String {
        format!("leptos-auth-kit:{key}")
    }

    /// `navigator.locks` and its `request` method, when the browser has Web Locks (read
    /// dynamically: web-sys only has them behind an unstable flag).
    fn lock_manager() -> Option<(JsValue, Function)> {
        let navigator = web_sys::window()?.navigator();
        let locks = Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
        if locks.is_undefined() || locks.is_null() {
            return None;
        }
        let request = Reflect::get(&locks, &JsValue::from_str("request")).ok()?;
        Some((locks, request.dyn_into().ok()?))
    }

    /// Runs `attempt` inside `navigator.locks.request(name, …)`.
    pub(super) async fn with_lock(
        name: String,
        attempt: LocalBoxFuture<'static, RefreshOutcome>,
    ) -> RefreshOutcome {
        let Some((locks, request)) = lock_manager() else {
            return attempt.await;
        };
        let outcome = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&outcome);
        let held = Closure::once(move |_lock: JsValue| -> Promise {
            wasm_bindgen_futures::future_to_promise(async move {
                let result = attempt.await;
                if result == RefreshOutcome::Refreshed {
                    // Hold the lock a moment longer: Chromium hands localStorage writes to
                    // other tabs' processes a few milliseconds late, and the next tab to get the
                    // lock must see our new tokens rather than send the rotated-away one.
                    gloo_timers::future::sleep(super::LOCK_LINGER).await;
                }
                *slot.borrow_mut() = Some(result);
                Ok(JsValue::UNDEFINED)
            })
        });
        let lock_name = JsValue::from_str(&format!("{}:refresh", channel_name(&name)));
        match request.call2(&locks, &lock_name, held.as_ref().unchecked_ref()) {
            Ok(promise) => {
                let _ = JsFuture::from(Promise::from(promise)).await;
            }
            Err(_) => {
                return RefreshOutcome::Failed("the browser refused the refresh lock".into());
            }
        }
        drop(held);
        let result = outcome.borrow_mut().take();
        result.unwrap_or_else(|| RefreshOutcome::Failed("the refresh lock was lost".into()))
    }
}
