//! Cross-tab: sign-in, sign-out and refresh in one tab reach the others, and one tab refreshes
//! at a time.
//!
//! Browser shell. Another tab's change is announced by a `storage` event (localStorage) or a
//! `BroadcastChannel` message (cookies, which fire no event); the receiving tab feeds the
//! session engine a `StorageChanged` event, and the engine re-reads storage and follows it.
//! Refreshes run under a Web Lock (`navigator.locks`) named after the storage key, which the
//! engine asks for and gives back, so that with refresh-token rotation the second tab finds
//! the first one's new tokens in storage instead of sending the old, now blacklisted, refresh
//! token. sessionStorage and memory are per tab: nothing to announce or listen for (refreshes
//! still take the lock with sessionStorage, which a remounted provider in the same tab may
//! share: see `AuthConfig::refresh_lock`). This module only executes: every decision is the
//! engine's.

/// Which cross-tab mechanism a storage needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) enum Shared {
    /// Per-tab storage: nothing to share.
    No,
    /// localStorage: other tabs see `storage` events.
    LocalStorage,
    /// Cookies: changes are announced on a BroadcastChannel.
    Cookie,
}

#[cfg(target_arch = "wasm32")]
pub(crate) use browser::{request_lock, TabSync};

#[cfg(target_arch = "wasm32")]
mod browser {
    use futures::channel::oneshot;
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    use super::Shared;

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

    /// Asks for the refresh lock of store `name`: `granted` runs once it is held, and the
    /// lock is held until `release` fires (or its sender is dropped). Without Web Locks, or
    /// if the browser refuses the request, `granted` runs at once (a lock is an optimisation
    /// the engine does not depend on for safety: it settles before believing a rejection).
    pub(crate) fn request_lock(
        name: &str,
        granted: impl FnOnce() + 'static,
        release: oneshot::Receiver<()>,
    ) {
        let Some((locks, request)) = lock_manager() else {
            wasm_bindgen_futures::spawn_local(async move { granted() });
            return;
        };
        let granted = std::rc::Rc::new(std::cell::Cell::new(Some(granted)));
        let run = granted.clone();
        let held = Closure::once_into_js(move |_lock: JsValue| -> Promise {
            if let Some(granted) = run.take() {
                granted();
            }
            wasm_bindgen_futures::future_to_promise(async move {
                let _ = release.await;
                Ok(JsValue::UNDEFINED)
            })
        });
        let lock_name = JsValue::from_str(&format!("{}:refresh", channel_name(name)));
        let requested = request.call2(&locks, &lock_name, &held);
        // A refusal may come as a throw or as a rejected promise; either way the refresh goes
        // on without the lock rather than waiting for a grant that never comes.
        wasm_bindgen_futures::spawn_local(async move {
            let refused = match requested {
                Ok(promise) => JsFuture::from(Promise::from(promise)).await.is_err(),
                Err(_) => true,
            };
            if refused {
                if let Some(granted) = granted.take() {
                    granted();
                }
            }
        });
    }
}
