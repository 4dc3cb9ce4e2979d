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

/// The listeners in real Chromium: which page events wake the store, which do not, and that
/// dropping the listeners silences them.
#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    fn window() -> web_sys::Window {
        web_sys::window().unwrap()
    }

    fn document() -> web_sys::Document {
        window().document().unwrap()
    }

    fn event(name: &str) -> web_sys::Event {
        web_sys::Event::new(name).unwrap()
    }

    fn pageshow(persisted: bool) -> web_sys::Event {
        let init = web_sys::PageTransitionEventInit::new();
        init.set_persisted(persisted);
        web_sys::PageTransitionEvent::new_with_event_init_dict("pageshow", &init)
            .unwrap()
            .into()
    }

    /// Makes `document.visibilityState` read `state` until `restore_visibility`.
    fn pretend_visibility(state: &str) {
        let descriptor = js_sys::Object::new();
        js_sys::Reflect::set(&descriptor, &"value".into(), &state.into()).unwrap();
        js_sys::Reflect::set(&descriptor, &"configurable".into(), &true.into()).unwrap();
        js_sys::Object::define_property(&document(), &"visibilityState".into(), &descriptor);
    }

    /// Back to the prototype's getter.
    fn restore_visibility() {
        js_sys::Reflect::delete_property(&document(), &JsValue::from_str("visibilityState"))
            .unwrap();
    }

    /// Starts the listeners and returns them with what they heard.
    fn listen() -> (PageLifecycle, Rc<RefCell<Vec<PageEvent>>>) {
        let heard = Rc::new(RefCell::new(Vec::new()));
        let sink = heard.clone();
        let lifecycle = PageLifecycle::start(move |event| sink.borrow_mut().push(event)).unwrap();
        (lifecycle, heard)
    }

    #[wasm_bindgen_test]
    #[rustfmt::skip]
    fn each_page_event_wakes_the_store_or_not() {
        let window = || -> web_sys::EventTarget { window().into() };
        let document = || -> web_sys::EventTarget { document().into() };
        use PageEvent::*;
        // (case, where, what, `document.visibilityState` meanwhile, what the store hears)
        let rows: [(&str, web_sys::EventTarget, web_sys::Event, Option<&str>, &[PageEvent]); 9] = [
            ("back/forward cache", window(), pageshow(true), None, &[Resumed]),
            ("first load's pageshow", window(), pageshow(false), None, &[]),
            ("tab visible again", document(), event("visibilitychange"), Some("visible"), &[Resumed]),
            ("tab hidden", document(), event("visibilitychange"), Some("hidden"), &[]),
            ("window focused", window(), event("focus"), None, &[Resumed]),
            ("frozen page resumed", document(), event("resume"), None, &[Resumed]),
            ("online", window(), event("online"), None, &[Online(true)]),
            ("offline", window(), event("offline"), None, &[Online(false)]),
            ("an event it does not listen to", window(), event("blur"), None, &[]),
        ];
        for (case, target, event, visibility, expected) in rows {
            let (lifecycle, heard) = listen();
            if let Some(state) = visibility {
                pretend_visibility(state);
            }
            target.dispatch_event(&event).unwrap();
            restore_visibility();
            assert_eq!(*heard.borrow(), expected, "case: {case}");
            drop(lifecycle);
        }
    }

    #[wasm_bindgen_test]
    fn dropped_listeners_hear_nothing() {
        let (lifecycle, heard) = listen();
        drop(lifecycle);
        window().dispatch_event(&pageshow(true)).unwrap();
        window().dispatch_event(&event("online")).unwrap();
        document().dispatch_event(&event("resume")).unwrap();
        document()
            .dispatch_event(&event("visibilitychange"))
            .unwrap();
        assert_eq!(*heard.borrow(), []);
    }
}
