//! Page lifecycle: the store re-decides when the page comes back, and knows when it is offline.
//!
//! Browser shell. A laptop that slept, a background tab the browser froze or throttled, a page
//! restored from the back/forward cache: each may have missed its refresh time, and another
//! tab may have signed out meanwhile. The events that say the page is back
//! (`visibilitychange` to visible, `pageshow` from the back/forward cache, `focus`, `resume`)
//! feed the session engine a `Resumed` event; `online` and `offline` feed `Online`. What to do
//! then (re-read storage, refresh once if due, show a session that ended elsewhere as ended,
//! hold refreshes while offline) is the engine's decision.

use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;

/// What the page told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageEvent {
    /// The page is back and may have missed time.
    Resumed,
    /// The browser went online (`true`) or offline.
    Online(bool),
}

/// Events on `window`, and on `document`.
const WINDOW_EVENTS: [&str; 4] = ["pageshow", "focus", "online", "offline"];
const DOCUMENT_EVENTS: [&str; 2] = ["visibilitychange", "resume"];

/// The lifecycle listeners of one provider; dropping it removes them.
pub(crate) struct PageLifecycle {
    listener: Closure<dyn Fn(web_sys::Event)>,
}

impl PageLifecycle {
    /// Listens to the page and calls `seen` for each event that matters.
    pub(crate) fn start(seen: impl Fn(PageEvent) + 'static) -> Option<Self> {
        let window = web_sys::window()?;
        let document = window.document()?;
        let listener = Closure::<dyn Fn(web_sys::Event)>::new(move |event: web_sys::Event| {
            let page_event = match event.type_().as_str() {
                "online" => PageEvent::Online(true),
                "offline" => PageEvent::Online(false),
                // `pageshow` also comes with every first load, which needs no re-decision.
                "pageshow"
                    if !event
                        .dyn_ref::<web_sys::PageTransitionEvent>()
                        .is_some_and(|event| event.persisted()) =>
                {
                    return
                }
                "visibilitychange"
                    if web_sys::window()
                        .and_then(|window| window.document())
                        .is_some_and(|document| {
                            document.visibility_state() != web_sys::VisibilityState::Visible
                        }) =>
                {
                    return
                }
                _ => PageEvent::Resumed,
            };
            seen(page_event);
        });
        let lifecycle = Self { listener };
        // Built first: if one registration fails, dropping it still removes the others.
        let callback = lifecycle.listener.as_ref().unchecked_ref();
        for name in WINDOW_EVENTS {
            let _ = window.add_event_listener_with_callback(name, callback);
        }
        for name in DOCUMENT_EVENTS {
            let _ = document.add_event_listener_with_callback(name, callback);
        }
        Some(lifecycle)
    }
}

impl Drop for PageLifecycle {
    fn drop(&mut self) {
        let callback = self.listener.as_ref().unchecked_ref();
        if let Some(window) = web_sys::window() {
            for name in WINDOW_EVENTS {
                let _ = window.remove_event_listener_with_callback(name, callback);
            }
            if let Some(document) = window.document() {
                for name in DOCUMENT_EVENTS {
                    let _ = document.remove_event_listener_with_callback(name, callback);
                }
            }
        }
    }
}

/// `navigator.onLine`: `false` means the browser has no network at all; `true` may be
/// wrong (a captive portal), so a failed call still counts then.
pub(crate) fn is_online() -> bool {
    web_sys::window().is_none_or(|window| window.navigator().on_line())
}
