//! The engine driven by hand: one test per defect the session-engine review found, and the
//! rules of the module docs, with exact instants and a recording [`Io`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::refresh::schedule::Backoff;
use crate::refresh::{create_refresh, RefreshConfig};
use crate::token::tests::jwt;

const T0: Timestamp = Timestamp::from_unix_seconds(1_000_000);
const NO_INTERVAL: Duration = Duration::from_secs(86_400);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Storage shared by the tabs of one test.
type Shelf = Rc<RefCell<Option<String>>>;

/// Records every command; storage is a shared cell, time is set by the test.
struct TestIo {
    clock: Rc<Cell<Timestamp>>,
    storage: Shelf,
    refuse_writes: Cell<bool>,
    /// Writes made (clears included).
    writes: Cell<u32>,
    calls: RefCell<Vec<(Id, RefreshParams<String>)>>,
    locks: RefCell<Vec<Id>>,
    released: RefCell<Vec<Id>>,
    timer: Cell<Option<Timestamp>>,
    hooks: RefCell<Vec<Hook>>,
    resolved: RefCell<Vec<(Id, RefreshOutcome)>>,
    published: Cell<u32>,
    /// What the shell was asked to do, in order (see [`done`]).
    trace: RefCell<Vec<&'static str>>,
}

impl Io<String> for TestIo {
    fn now(&self) -> Timestamp {
        self.clock.get()
    }
    fn load(&self) -> Option<String> {
        self.storage.borrow().clone()
    }
    fn save(
        &self,
        text: Option<&str>,
        _: Option<Timestamp>,
        _: Timestamp,
    ) -> Result<(), AuthError> {
        if self.refuse_writes.get() && text.is_some() {
            return Err(AuthError::Storage("quota exceeded".into()));
        }
        self.writes.set(self.writes.get() + 1);
        self.trace.borrow_mut().push("save");
        *self.storage.borrow_mut() = text.map(str::to_owned);
        Ok(())
    }
    fn call_refresh(&self, call: Id, params: RefreshParams<String>) {
        self.trace.borrow_mut().push("call");
        self.calls.borrow_mut().push((call, params));
    }
    fn acquire_lock(&self, flight: Id) {
        self.trace.borrow_mut().push("lock");
        self.locks.borrow_mut().push(flight);
    }
    fn release_lock(&self, flight: Id) {
        self.trace.borrow_mut().push("release");
        self.released.borrow_mut().push(flight);
    }
    fn set_timer(&self, at: Option<Timestamp>, _: Timestamp) {
        self.trace.borrow_mut().push("timer");
        self.timer.set(at);
    }
    fn publish(&self, _: &AuthState<String>, _: AuthStatus, _: &RefreshInfo) {
        self.trace.borrow_mut().push("publish");
        self.published.set(self.published.get() + 1);
    }
    fn hook(&self, hook: Hook) {
        self.trace.borrow_mut().push("hook");
        self.hooks.borrow_mut().push(hook);
    }
    fn resolve(&self, waiter: Id, outcome: RefreshOutcome) {
        self.trace.borrow_mut().push("resolve");
        self.resolved.borrow_mut().push((waiter, outcome));
    }
}

type Tab = Driver<String, TestIo>;

struct Setup {
    shared: bool,
    backoff: Backoff,
    timeout: Duration,
    refresh: bool,
    warn_before: Option<Duration>,
    /// The page opens offline.
    offline: bool,
    /// `AuthConfig::debug`'s logger.
    log: Option<fn(&note::Note)>,
    /// A `revoke_on_sign_out` hook is configured.
    revoke: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            shared: false,
            backoff: Backoff::default(),
            timeout: secs(30),
            refresh: true,
            warn_before: None,
            offline: false,
            log: None,
            revoke: false,
        }
    }
}

fn tab_with(setup: Setup, clock: &Rc<Cell<Timestamp>>, storage: &Shelf) -> Tab {
    let refresh = create_refresh(
        RefreshConfig::new(NO_INTERVAL, |_: RefreshParams<String>| async {
            Err(RefreshError::Transient("the tests answer by hand".into()))
        })
        .backoff(setup.backoff)
        .timeout(setup.timeout),
    );
    let settings = Settings {
        warn_before: setup.warn_before,
        log: setup.log,
        revoke: setup.revoke,
        ..Settings::new(secs(30), setup.refresh.then_some(&refresh), setup.shared)
    };
    let tab = Driver::new(
        settings,
        TestIo {
            clock: clock.clone(),
            storage: storage.clone(),
            refuse_writes: Cell::new(false),
            writes: Cell::new(0),
            calls: RefCell::default(),
            locks: RefCell::default(),
            released: RefCell::default(),
            timer: Cell::new(None),
            hooks: RefCell::default(),
            resolved: RefCell::default(),
            published: Cell::new(0),
            trace: RefCell::default(),
        },
    );
    if setup.offline {
        tab.feed(Event::Online(false));
    }
    tab.feed(Event::Wake);
    tab
}

/// The default setup with a `revoke_on_sign_out` hook.
fn revoking() -> Setup {
    Setup {
        revoke: true,
        ..Setup::default()
    }
}

/// One tab with its own clock and storage.
fn tab(setup: Setup) -> Tab {
    tab_with(setup, &Rc::new(Cell::new(T0)), &Shelf::default())
}

/// Signs in with an access token living `access` seconds and refresh token `r1`.
fn sign_in(tab: &Tab, access: u64) {
    tab.sign_in(
        SignIn::new("a1")
            .expires_in(secs(access))
            .refresh_token("r1")
            .user("ada".to_string()),
    )
    .unwrap();
}

fn at(tab: &Tab, offset: Duration) {
    tab.io().clock.set(T0 + offset);
}

/// The timer fires at `offset` (and is gone).
fn wake_at(tab: &Tab, offset: Duration) {
    at(tab, offset);
    tab.io().timer.set(None);
    tab.feed(Event::Wake);
}

fn rotated(n: u32) -> Refreshed<String> {
    Refreshed::new(format!("a{n}"))
        .expires_in(secs(300))
        .refresh_token(format!("r{n}"))
}

fn calls(tab: &Tab) -> usize {
    tab.io().calls.borrow().len()
}

/// The id and sent refresh token of the last call.
fn last_call(tab: &Tab) -> (Id, String) {
    let calls = tab.io().calls.borrow();
    let (id, params) = calls.last().expect("a refresh call");
    let sent = params.refresh_token.as_ref().map(|t| t.expose().to_owned());
    (*id, sent.unwrap_or_default())
}

fn answer(tab: &Tab, call: Id, result: Result<Refreshed<String>, RefreshError>) {
    tab.feed(Event::Answered { call, result });
}

fn session(tab: &Tab) -> Option<Session<String>> {
    tab.engine().state().session().cloned()
}

fn refresh_token(tab: &Tab) -> Option<String> {
    session(tab).and_then(|s| s.refresh_token().map(|t| t.expose().to_owned()))
}

fn user(tab: &Tab) -> Option<String> {
    session(tab).and_then(|s| s.user().cloned())
}

/// The refresh token storage holds.
fn stored_refresh(storage: &Shelf, now: Timestamp) -> Option<String> {
    let text = storage.borrow().clone()?;
    let session: Session<String> = record::decode(&text, now).ok()?;
    session.refresh_token().map(|t| t.expose().to_owned())
}

/// The line a sign-out's marker in storage says ended, if storage holds one.
fn ended_line(storage: &Shelf) -> Option<u64> {
    storage
        .borrow()
        .as_deref()
        .and_then(Ended::decode)
        .map(|end| end.ended)
}

fn request(tab: &Tab) -> Id {
    let waiter = tab.new_waiter();
    tab.feed(Event::RefreshRequested(waiter));
    waiter
}

fn outcome_of(tab: &Tab, waiter: Id) -> Option<RefreshOutcome> {
    let resolved = tab.io().resolved.borrow();
    resolved
        .iter()
        .find(|(id, _)| *id == waiter)
        .map(|(_, outcome)| outcome.clone())
}

/// A tab signed in (300 s access token, refresh token `r1`) with a refresh call out: the tab,
/// the waiter and the call.
fn refreshing(setup: Setup) -> (Tab, Id, Id) {
    let tab = tab(setup);
    sign_in(&tab, 300);
    let waiter = request(&tab);
    let (call, _) = last_call(&tab);
    (tab, waiter, call)
}

/// A tab whose first refresh call (2 s timeout) timed out and was retried after the backoff:
/// the tab, the first call and the retry, both sending `r1`.
fn timed_out_and_retried() -> (Tab, Id, Id) {
    timed_out_and_retried_with(Setup::default())
}

/// [`timed_out_and_retried`] with this setup (its timeout made 2 s).
fn timed_out_and_retried_with(setup: Setup) -> (Tab, Id, Id) {
    let (tab, _, first) = refreshing(Setup {
        timeout: secs(2),
        ..setup
    });
    wake_at(&tab, secs(2)); // the first call times out
    wake_at(&tab, secs(3)); // the backoff retry sends r1 again
    let (retry, _) = last_call(&tab);
    (tab, first, retry)
}

/// Two tabs sharing a clock and storage; the first signs in and the second has heard of it.
fn two_tabs() -> (Tab, Tab, Rc<Cell<Timestamp>>, Shelf) {
    two_tabs_with_refresh_for(secs(86_400))
}

/// The tab refreshes under the cross-tab lock and the server rotates to `a{n}`/`r{n}`.
fn refresh_under_lock(tab: &Tab, n: u32) {
    request(tab);
    grant(tab);
    let (call, _) = last_call(tab);
    answer(tab, call, Ok(rotated(n)));
}

/// What the shell was asked to do since the last look, in order.
fn done(tab: &Tab) -> Vec<&'static str> {
    tab.io().trace.borrow_mut().drain(..).collect()
}

/// Grants the tab's last lock request; returns its id.
fn grant(tab: &Tab) -> Id {
    let lock = *tab.io().locks.borrow().last().expect("a lock request");
    tab.feed(Event::LockGranted(lock));
    lock
}

#[test]
fn the_schedule_refreshes_leeway_before_expiry_and_stores_the_rotation() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(270)));
    wake_at(&tab, secs(270));
    let (call, sent) = last_call(&tab);
    assert_eq!(sent, "r1");
    assert!(tab.engine().info().in_flight);
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    assert_eq!(stored_refresh(&tab.io().storage, T0).as_deref(), Some("r2"));
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::Refreshed]);
    assert_eq!(tab.engine().info().count, 1);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(270 + 270)));
}

#[test]
fn update_user_in_this_tab_during_a_refresh_keeps_the_rotated_token() {
    let (tab, _, call) = refreshing(Setup::default());
    tab.update_user("ada lovelace".into()).unwrap();
    answer(&tab, call, Ok(rotated(2)));
    let session = session(&tab).unwrap();
    assert_eq!(session.refresh_token().unwrap().expose(), "r2");
    assert_eq!(session.user().map(String::as_str), Some("ada lovelace"));
    assert_eq!(stored_refresh(&tab.io().storage, T0).as_deref(), Some("r2"));
}

#[test]
fn update_user_in_another_tab_during_a_refresh_keeps_the_rotated_token_and_the_user() {
    let (a, b, _clock, storage) = two_tabs();
    // B refreshes under the lock.
    let flight = request(&b);
    grant(&b);
    let (call, sent) = last_call(&b);
    assert_eq!(sent, "r1");
    // Meanwhile A updates the user: at once in A, in storage once A holds the lock, which B
    // holds until its answer comes.
    let before = storage.borrow().clone();
    a.update_user("countess".into()).unwrap();
    assert_eq!(user(&a).as_deref(), Some("countess"));
    assert_eq!(*storage.borrow(), before, "not written outside the lock");
    answer(&b, call, Ok(rotated(2)));
    assert_eq!(outcome_of(&b, flight), Some(RefreshOutcome::Refreshed));
    let lock = grant(&a);
    let stored: Session<String> = record::decode(&storage.borrow().clone().unwrap(), T0).unwrap();
    assert_eq!(stored.refresh_token().unwrap().expose(), "r2");
    assert_eq!(stored.user().map(String::as_str), Some("countess"));
    assert_eq!(a.io().released.borrow().last(), Some(&lock));
    // B's storage event comes only now: A's update merges into B's rotation.
    b.feed(Event::StorageChanged);
    assert_eq!(user(&b).as_deref(), Some("countess"));
    // And when A hears of B's next rotation only after its update, the update still lands
    // on the newest tokens.
    wake_at(&b, secs(1)); // the minimum spacing since the last call
    let flight = request(&b);
    grant(&b);
    let (call, sent) = last_call(&b);
    assert_eq!(sent, "r2");
    a.update_user("ada again".into()).unwrap();
    answer(&b, call, Ok(rotated(3)));
    assert_eq!(outcome_of(&b, flight), Some(RefreshOutcome::Refreshed));
    grant(&a);
    let stored: Session<String> = record::decode(&storage.borrow().clone().unwrap(), T0).unwrap();
    assert_eq!(stored.refresh_token().unwrap().expose(), "r3");
    assert_eq!(stored.user().map(String::as_str), Some("ada again"));
}

#[test]
fn unusable_access_token_keeps_the_rotated_refresh_token_and_counts_as_a_failure() {
    let (tab, waiter, call) = refreshing(Setup::default());
    answer(
        &tab,
        call,
        Ok(Refreshed::new("no-expiry").refresh_token("r2")),
    );
    assert!(matches!(
        outcome_of(&tab, waiter),
        Some(RefreshOutcome::Failed(_))
    ));
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    assert_eq!(stored_refresh(&tab.io().storage, T0).as_deref(), Some("r2"));
    assert_eq!(session(&tab).unwrap().auth_token().expose(), "a1");
    // The retry after the backoff sends the new refresh token.
    wake_at(&tab, secs(1));
    assert_eq!(last_call(&tab).1, "r2");
}

#[test]
fn an_answer_with_the_same_access_token_is_a_transient_failure_with_backoff() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    wake_at(&tab, secs(270));
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(Refreshed::new("a1").expires_in(secs(300))));
    assert_eq!(tab.engine().failures.count, 1);
    assert_eq!(
        tab.io().timer.get(),
        Some(T0 + secs(271)),
        "backoff, not a loop"
    );
}

#[test]
fn an_answer_after_the_timeout_is_stored_when_its_chain_is_current() {
    let (tab, waiter, call) = refreshing(Setup::default());
    wake_at(&tab, secs(30));
    assert!(matches!(
        outcome_of(&tab, waiter),
        Some(RefreshOutcome::Failed(reason)) if reason.contains("timed out")
    ));
    assert!(!tab.engine().in_flight());
    at(&tab, secs(31));
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    assert_eq!(stored_refresh(&tab.io().storage, T0).as_deref(), Some("r2"));
}

#[test]
fn a_rejection_while_a_timed_out_call_with_the_same_token_is_out_does_not_sign_out() {
    let (tab, first, retry) = timed_out_and_retried();
    let sent = last_call(&tab).1;
    assert_ne!(first, retry);
    assert_eq!(sent, "r1");
    // The server had rotated r1 for the first call: it refuses the retry.
    answer(
        &tab,
        retry,
        Err(RefreshError::Rejected("Token is blacklisted".into())),
    );
    assert!(tab.engine().state().is_signed_in());
    // The first call's answer arrives at last.
    answer(&tab, first, Ok(rotated(2)));
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    assert!(tab
        .io()
        .hooks
        .borrow()
        .iter()
        .all(|h| *h != Hook::SessionExpired));
}

#[test]
fn an_answer_after_unmount_is_stored_when_its_chain_is_current() {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let tab = tab_with(Setup::default(), &clock, &storage);
    sign_in(&tab, 300);
    let waiter = request(&tab);
    let (call, _) = last_call(&tab);
    tab.feed(Event::Unmounted);
    assert_eq!(outcome_of(&tab, waiter), Some(RefreshOutcome::Stale));
    assert_eq!(
        tab.io().timer.get(),
        Some(T0 + secs(30)),
        "only the deadline of the call still out"
    );
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("r2"));
    assert!(tab.io().hooks.borrow().is_empty(), "no hooks after unmount");
    assert_eq!(tab.io().timer.get(), None, "no timers after unmount");
    // A remounted provider starts from the rotated token.
    let again = tab_with(Setup::default(), &clock, &storage);
    assert_eq!(refresh_token(&again).as_deref(), Some("r2"));
}

#[test]
fn after_unmount_a_late_answer_for_a_chain_signed_out_elsewhere_is_dropped() {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let tab = tab_with(Setup::default(), &clock, &storage);
    sign_in(&tab, 300);
    request(&tab);
    let (call, _) = last_call(&tab);
    tab.feed(Event::Unmounted);
    storage.borrow_mut().take(); // another provider signed out
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(*storage.borrow(), None, "nothing signed out comes back");
}

#[test]
fn sign_out_and_new_sign_in_win_over_a_late_answer() {
    let (tab, waiter, call) = refreshing(Setup::default());
    tab.feed(Event::SignOut);
    assert_eq!(outcome_of(&tab, waiter), Some(RefreshOutcome::Stale));
    answer(&tab, call, Ok(rotated(2)));
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(*tab.io().storage.borrow(), None);

    sign_in(&tab, 300);
    request(&tab);
    let (call, _) = last_call(&tab);
    tab.sign_in(SignIn::new("b1").expires_in(secs(300)).refresh_token("s1"))
        .unwrap();
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(refresh_token(&tab).as_deref(), Some("s1"));
    assert_eq!(stored_refresh(&tab.io().storage, T0).as_deref(), Some("s1"));
}

#[test]
fn fifty_requests_make_one_call_and_dropping_the_first_waiter_changes_nothing() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    let waiters: Vec<Id> = (0..50).map(|_| request(&tab)).collect();
    assert_eq!(calls(&tab), 1);
    // Nobody listens for the first waiter any more (its future was dropped): the flight runs
    // on, the others get their answer, and the schedule goes on.
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    for waiter in &waiters[1..] {
        assert_eq!(outcome_of(&tab, *waiter), Some(RefreshOutcome::Refreshed));
    }
    assert!(!tab.engine().in_flight());
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(270)));
    let later = request(&tab);
    wake_at(&tab, secs(1));
    assert_eq!(calls(&tab), 2, "a later request starts a new flight");
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(3)));
    assert_eq!(outcome_of(&tab, later), Some(RefreshOutcome::Refreshed));
}

#[test]
fn on_demand_refreshes_during_the_backoff_fail_at_once_without_a_call() {
    let (tab, _, call) = refreshing(Setup::default());
    answer(&tab, call, Err(RefreshError::Transient("503".into())));
    let waiter = request(&tab);
    assert_eq!(
        outcome_of(&tab, waiter),
        Some(RefreshOutcome::Failed("503".into()))
    );
    assert_eq!(calls(&tab), 1);
}

#[test]
fn a_rejection_signs_out_at_once_for_per_tab_storage() {
    let (tab, waiter, call) = refreshing(Setup::default());
    answer(
        &tab,
        call,
        Err(RefreshError::Rejected("blacklisted".into())),
    );
    assert_eq!(
        outcome_of(&tab, waiter),
        Some(RefreshOutcome::SignedOut("blacklisted".into()))
    );
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::SessionExpired]);
    assert_eq!(*tab.io().storage.borrow(), None);
}

#[test]
fn a_rejection_with_shared_storage_waits_for_another_tabs_tokens() {
    let (a, b, clock, storage) = two_tabs();
    let line = session(&b).unwrap().line;
    // Both send r1 (a browser without Web Locks); A's call rotates it first.
    let waiter = request(&b);
    grant(&b);
    a.feed(Event::RefreshRequested(a.new_waiter()));
    grant(&a);
    let (b_call, _) = last_call(&b);
    let (a_call, _) = last_call(&a);
    // The server answers B's refusal before A's answer (with the rotated token) lands.
    answer(
        &b,
        b_call,
        Err(RefreshError::Rejected("Token is blacklisted".into())),
    );
    answer(&a, a_call, Ok(rotated(2)));
    assert!(
        b.engine().state().is_signed_in(),
        "settling, not signed out"
    );
    assert_eq!(b.io().timer.get(), Some(T0 + SETTLE));
    clock.set(T0 + SETTLE);
    b.feed(Event::Wake);
    assert_eq!(outcome_of(&b, waiter), Some(RefreshOutcome::Refreshed));
    assert_eq!(refresh_token(&b).as_deref(), Some("r2"));
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("r2"));

    // Without another tab's tokens the rejection stands after the settle time.
    let waiter = request(&b);
    clock.set(T0 + secs(2));
    b.feed(Event::Wake);
    grant(&b);
    let (call, _) = last_call(&b);
    answer(&b, call, Err(RefreshError::Rejected("revoked".into())));
    clock.set(T0 + secs(2) + SETTLE);
    b.feed(Event::Wake);
    assert_eq!(
        outcome_of(&b, waiter),
        Some(RefreshOutcome::SignedOut("revoked".into()))
    );
    assert_eq!(
        ended_line(&storage),
        Some(line),
        "no token left, its end marked"
    );
}

#[test]
fn under_the_lock_a_tab_uses_tokens_another_tab_refreshed_meanwhile() {
    let (a, b, _clock, _storage) = two_tabs();
    let waiter = request(&b);
    let lock = *b.io().locks.borrow().last().unwrap();
    // A refreshes first and stores r2; B's storage event is late, but the lock grant re-reads.
    a.feed(Event::RefreshRequested(a.new_waiter()));
    let a_lock = grant(&a);
    let (a_call, _) = last_call(&a);
    answer(&a, a_call, Ok(rotated(2)));
    assert_eq!(a.io().released.borrow().last(), Some(&a_lock));
    b.feed(Event::LockGranted(lock));
    assert_eq!(calls(&b), 0, "no call: the other tab's tokens are ours");
    assert_eq!(outcome_of(&b, waiter), Some(RefreshOutcome::Refreshed));
    assert_eq!(refresh_token(&b).as_deref(), Some("r2"));
    assert_eq!(b.io().released.borrow().last(), Some(&lock));
}

#[test]
fn a_lock_granted_after_the_flight_ended_is_given_back() {
    let tab = tab(Setup {
        shared: true,
        ..Setup::default()
    });
    sign_in(&tab, 300);
    request(&tab);
    let lock = *tab.io().locks.borrow().last().unwrap();
    tab.feed(Event::SignOut);
    tab.feed(Event::LockGranted(lock));
    assert_eq!(calls(&tab), 0);
    // Given back at once, once the sign-out made outside it is confirmed.
    assert_eq!(tab.io().released.borrow().last(), Some(&lock));
    assert_eq!(tab.io().locks.borrow().len(), 1, "no second lock request");
}

#[test]
#[rustfmt::skip]
fn following_another_tab() {
    // (case, we are signed in, storage then holds, we are signed in afterwards, refresh token)
    let rows: Vec<(&str, bool, Option<(&str, u64)>, bool, Option<&str>)> = vec![
        ("another tab refreshed: adopt", true, Some(("r2", 300)), true, Some("r2")),
        ("another tab signed in: adopt", false, Some(("s1", 300)), true, Some("s1")),
        ("another tab signed out: sign out", true, None, false, None),
        ("stored session is over: sign out", true, Some(("r2", 0)), false, None),
        ("both signed out: nothing", false, None, false, None),
    ];
    for (case, signed_in, stored, after, refresh) in rows {
        let tab = tab(Setup { refresh: false, ..Setup::default() });
        if signed_in {
            sign_in(&tab, 300);
        }
        let before = tab.engine().state().version();
        *tab.io().storage.borrow_mut() = stored.map(|(token, lifetime)| {
            let mut state = AuthState::<String>::signed_out();
            let exp = 1_000_000 + lifetime;
            state.sign_in(SignIn::new(jwt(&format!(r#"{{"exp":{exp}}}"#))).expires_in(secs(lifetime.max(1))).refresh_token(token), T0 - secs(1), Duration::ZERO).unwrap();
            let mut stored = state.session().unwrap().clone();
            // Signed in here: another tab's refresh of our sign-in.
            if let Some(ours) = session(&tab) {
                (stored.line, stored.epoch, stored.generation) = (ours.line, ours.epoch, 1);
            }
            record::encode(&stored).unwrap()
        });
        at(&tab, secs(1));
        tab.feed(Event::StorageChanged);
        assert_eq!(tab.engine().state().is_signed_in(), after, "{case}");
        assert_eq!(refresh_token(&tab).as_deref(), refresh, "{case}");
        assert_eq!(tab.engine().state().version() != before, signed_in || after, "{case}: version");
    }
}

#[test]
fn a_refused_write_keeps_the_new_tokens_in_memory_and_reports_it() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    tab.io().refuse_writes.set(true);
    let waiter = request(&tab);
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    assert!(matches!(
        outcome_of(&tab, waiter),
        Some(RefreshOutcome::RefreshedNotStored(_))
    ));
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    // Storage still holding r1 is not mistaken for another tab's write.
    tab.feed(Event::StorageChanged);
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    tab.io().refuse_writes.set(false);
    wake_at(&tab, secs(1));
    let waiter = request(&tab);
    let (call, sent) = last_call(&tab);
    assert_eq!(sent, "r2");
    answer(&tab, call, Ok(rotated(3)));
    assert_eq!(outcome_of(&tab, waiter), Some(RefreshOutcome::Refreshed));
    assert_eq!(stored_refresh(&tab.io().storage, T0).as_deref(), Some("r3"));
}

/// Runs `tab` for `span` of its own time against a server that answers every call 50 ms later
/// with `issue(answered_at)`, a fresh JWT; returns how many calls it made.
fn calls_within(tab: &Tab, span: Duration, issue: impl Fn(Timestamp) -> String) -> usize {
    let end = tab.io().now() + span;
    let mut answered = 0;
    while let Some(wake) = tab.io().timer.get().filter(|wake| *wake <= end) {
        tab.io().clock.set(wake);
        tab.feed(Event::Wake);
        let calls = tab.io().calls.borrow().len();
        if calls > answered {
            answered = calls;
            let (call, _) = last_call(tab);
            let answered_at = wake + millis(50);
            tab.io().clock.set(answered_at);
            let access = format!("{}{calls}", issue(answered_at)); // unique signature
            tab.feed(Event::Answered {
                call,
                result: Ok(Refreshed::new(access).refresh_token(format!("r{calls}"))),
            });
        }
    }
    calls(tab)
}

/// A JWT whose `exp` is `lifetime` after `issued_at` on the server's clock, in whole seconds.
fn jwt_lasting(issued_at: Timestamp, lifetime: Duration) -> String {
    jwt(&format!(
        r#"{{"exp":{}}}"#,
        (issued_at + lifetime).unix_seconds()
    ))
}

#[test]
fn refresh_calls_are_at_least_a_second_apart_with_one_second_jwts() {
    // Defect: 1 s JWTs with whole-second `exp` refreshed about ten times a second.
    let tab = tab(Setup::default());
    let issue = |at: Timestamp| jwt_lasting(at, secs(1));
    tab.sign_in(SignIn::new(issue(T0 + millis(100))).refresh_token("r0"))
        .unwrap();
    let calls = calls_within(&tab, secs(60), issue);
    assert!(calls <= 61, "{calls} calls in a minute");
    assert!(calls >= 30, "{calls} calls: it still refreshes");
}

#[test]
fn a_clock_far_ahead_of_the_server_is_held_to_one_call_a_second() {
    // Defect: 5-minute tokens with the browser 299 s ahead refreshed 35,999 times an hour.
    // (Measuring expiry on the local clock is the clock issue's work; here the floor holds.)
    let tab = tab(Setup::default());
    let ahead = secs(299);
    let issue = |at: Timestamp| jwt_lasting(at - ahead, secs(300));
    tab.sign_in(SignIn::new(issue(T0)).refresh_token("r0"))
        .unwrap();
    let calls = calls_within(&tab, secs(3600), issue);
    assert!(calls <= 3_601, "{calls} calls in an hour");
}

#[test]
fn zero_backoff_does_not_retry_in_a_loop() {
    let tab = tab(Setup {
        backoff: Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
        },
        ..Setup::default()
    });
    sign_in(&tab, 300);
    wake_at(&tab, secs(270));
    let (call, _) = last_call(&tab);
    answer(&tab, call, Err(RefreshError::Transient("down".into())));
    assert_eq!(
        tab.io().timer.get(),
        Some(T0 + secs(270) + millis(100)),
        "the backoff is at least 100 ms"
    );
}

#[test]
fn huge_timeouts_are_clamped_to_what_a_browser_timer_can_wait() {
    for timeout in [Duration::MAX, secs(60 * 86_400)] {
        let tab = tab(Setup {
            timeout,
            ..Setup::default()
        });
        assert_eq!(
            tab.engine().settings().timeout,
            crate::refresh::schedule::MAX_TIMER_DELAY
        );
        sign_in(&tab, 300);
        request(&tab);
        assert!(tab.io().timer.get().is_some());
    }
}

#[test]
fn without_refresh_an_earlier_refresh_token_expiry_ends_the_session() {
    let tab = tab(Setup {
        refresh: false,
        ..Setup::default()
    });
    sign_in_ending(&tab, 100);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(100)));
    wake_at(&tab, secs(100));
    assert!(!tab.engine().state().is_signed_in());
}

// A refresh token that looks expired by the browser's clock: the server is asked once before
// the session ends (the clock may have jumped since the server last told its time).

/// A tab signed in with a 300 s access token and a refresh token ending at 400 s, whose clock
/// then jumps to 1,000 s and wakes: the refresh token looks expired.
fn jumped_past_the_refresh_end() -> Tab {
    let tab = tab(Setup::default());
    sign_in_ending(&tab, 400);
    wake_at(&tab, secs(1_000));
    tab
}

/// [`jumped_past_the_refresh_end`], with the final call it made answered by `result`.
fn final_call_answered(result: Result<Refreshed<String>, RefreshError>) -> Tab {
    let tab = jumped_past_the_refresh_end();
    let (call, _) = last_call(&tab);
    answer(&tab, call, result);
    tab
}

#[test]
fn a_refresh_token_that_looks_expired_is_sent_once_and_an_answer_keeps_the_session() {
    let tab = jumped_past_the_refresh_end();
    assert_eq!(calls(&tab), 1, "the server is asked");
    assert!(tab.engine().state().is_signed_in());
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2).refresh_expires_in(secs(400))));
    assert!(tab.engine().state().is_signed_in());
    assert!(tab
        .io()
        .hooks
        .borrow()
        .iter()
        .all(|h| *h != Hook::SessionExpired));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(1_000 + 270)));
}

#[test]
fn a_refresh_token_that_looks_expired_ends_the_session_when_the_server_refuses_it() {
    let tab = final_call_answered(Err(RefreshError::Rejected("token expired".into())));
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::SessionExpired]);
    assert_eq!(
        tab.engine().info().last_error.as_deref(),
        Some("token expired")
    );
}

#[test]
fn a_refresh_token_that_looks_expired_ends_the_session_when_the_server_cannot_be_asked() {
    let tab = final_call_answered(Err(RefreshError::Transient("502 Bad Gateway".into())));
    // At once: not after a backoff (signed in meanwhile), nor after the late-call hold.
    assert_eq!(calls(&tab), 1, "asked once");
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::SessionExpired]);
}

#[test]
fn a_final_call_that_times_out_holds_the_session_for_its_late_answer() {
    // A timeout does not say the server could not be asked: it may have rotated the token,
    // and the late answer is the only copy of the new one. (The session simulation, run
    // past its usual 10,000 histories, found sessions the server still honoured lost when the
    // clock decided at the timeout.)
    let timed_out = || {
        let tab = jumped_past_the_refresh_end();
        let (call, _) = last_call(&tab);
        wake_at(&tab, secs(1_000 + 30));
        assert!(tab.engine().state().is_signed_in(), "held for the answer");
        assert!(tab.io().hooks.borrow().is_empty(), "no hook yet");
        assert_eq!(
            tab.io().timer.get(),
            Some(T0 + secs(1_000) + LATE_CALL_HOLD),
            "woken at the end of the hold, not before"
        );
        (tab, call)
    };
    // The late answer comes, with the rotation: the session goes on with it.
    let (tab, call) = timed_out();
    at(&tab, secs(1_000 + 200));
    answer(&tab, call, Ok(rotated(2).refresh_expires_in(secs(400))));
    assert!(tab.engine().state().is_signed_in());
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    assert_eq!(
        stored_refresh(&tab.io().storage, T0 + secs(1_000 + 200)).as_deref(),
        Some("r2")
    );
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::Refreshed]);
    // No answer within the hold: the clock decides then, without asking the server again.
    let (tab, _) = timed_out();
    wake_at(&tab, secs(1_000) + LATE_CALL_HOLD);
    assert_eq!(calls(&tab), 1, "asked once");
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::SessionExpired]);
}

#[test]
fn an_answer_to_a_refresh_token_that_still_looks_expired_leaves_its_end_unknown() {
    // Nothing in the answer judges the clock anew (no `iat`, no `Date`): the refresh token the
    // server just accepted, kept (no rotation) or a new one whose `exp` is behind this
    // clock, still looks expired. The server said otherwise: its end is unknown from here,
    // and only a refusal ends the session. No second "final" call, no call loop.
    let behind = jwt(&format!(r#"{{"exp":{}}}"#, (T0 + secs(500)).unix_seconds()));
    for refresh in [None, Some(behind)] {
        let mut answer_ = Refreshed::new("a2").expires_in(secs(300));
        if let Some(refresh) = &refresh {
            answer_ = answer_.refresh_token(refresh.clone());
        }
        let tab = final_call_answered(Ok(answer_));
        assert!(tab.engine().state().is_signed_in(), "{refresh:?}");
        assert_eq!(session(&tab).unwrap().refresh_expires_at(), None);
        assert_eq!(*tab.io().hooks.borrow(), vec![Hook::Refreshed]);
        wake_at(&tab, secs(1_005));
        assert_eq!(calls(&tab), 1, "no call until the next refresh is due");
        assert_eq!(tab.io().timer.get(), Some(T0 + secs(1_000 + 270)));
    }
}

/// A tab whose refresh token (opaque, kept: no rotation) ends at 400 s, refreshed at 270 s,
/// and asked about at its end: the final call is out.
fn final_call_at_the_end() -> Tab {
    let tab = tab(Setup::default());
    sign_in_ending(&tab, 400);
    wake_at(&tab, secs(270));
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(Refreshed::new("a2").expires_in(secs(300))));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(400)));
    wake_at(&tab, secs(400));
    assert_eq!(calls(&tab), 2, "the server is asked at the end");
    tab
}

/// An access token issued at `at` on a server clock that agrees with the tab's (whole
/// seconds, as `iat` is), living 300 s.
fn access_issued_at(at: Timestamp) -> String {
    let iat = at.unix_seconds();
    jwt(&format!(r#"{{"iat":{iat},"exp":{}}}"#, iat + 300))
}

#[test]
fn an_answer_in_the_refresh_tokens_last_second_ends_the_session_where_announced() {
    // Many servers (jsonwebtoken's validation among them) accept a token during the second its
    // whole-second `exp` names, so the call made at the end, on a clock that agrees with the
    // server's, may be answered. The answer's `iat` says the clock is right: the end stays,
    // and the session ends where `session_ends_at` said, at once, with no further call and
    // no "refreshed" before it. (Regression: the end was forgotten, and the session lasted
    // until the next refresh was refused.) Also when the server rotates to a refresh token
    // with an absolute end (its `exp` is the old one's): no call loop on the new token.
    let absolute_end = jwt(&format!(r#"{{"exp":{}}}"#, (T0 + secs(400)).unix_seconds()));
    for rotates in [false, true] {
        for late in [millis(0), millis(400), millis(4_900)] {
            let case = format!("rotates: {rotates}, answered {late:?} after the end");
            let tab = final_call_at_the_end();
            let (call, _) = last_call(&tab);
            let waiter = request(&tab);
            at(&tab, secs(400) + late);
            let mut answer_ = Refreshed::new(access_issued_at(T0 + secs(400)));
            if rotates {
                answer_ = answer_.refresh_token(absolute_end.clone());
            }
            let writes = tab.io().writes.get();
            answer(&tab, call, Ok(answer_));
            assert!(!tab.engine().state().is_signed_in(), "{case}");
            assert_eq!(
                tab.io().writes.get(),
                writes + 1,
                "{case}: the sign-out's write only, the new tokens never stored"
            );
            assert_eq!(calls(&tab), 2, "{case}");
            assert_eq!(
                *tab.io().hooks.borrow(),
                vec![Hook::Refreshed, Hook::SessionExpired],
                "{case}: the refresh at 270 s, then the end"
            );
            assert!(
                matches!(outcome_of(&tab, waiter), Some(RefreshOutcome::SignedOut(_))),
                "{case}"
            );
        }
    }
}

#[test]
fn a_refresh_sent_just_before_the_end_and_answered_after_it_ends_the_session_at_once() {
    // Not the final call: an on-demand refresh (a 401) sent 0.1 s before the end, answered
    // 0.3 s after it. The session ends on the answer, with no further call.
    let tab = tab(Setup::default());
    sign_in_ending(&tab, 400);
    wake_at(&tab, secs(270));
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(Refreshed::new("a2").expires_in(secs(300))));
    at(&tab, millis(399_900));
    let waiter = request(&tab);
    assert_eq!(calls(&tab), 2);
    let (call, _) = last_call(&tab);
    at(&tab, millis(400_300));
    answer(
        &tab,
        call,
        Ok(Refreshed::new(access_issued_at(T0 + secs(399)))),
    );
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(calls(&tab), 2);
    assert!(matches!(
        outcome_of(&tab, waiter),
        Some(RefreshOutcome::SignedOut(_))
    ));
}

#[test]
fn a_final_call_answered_with_a_new_refresh_token_keeps_the_session() {
    // The server rotated: the new refresh token ends later. The answer's `iat` judges the
    // clock right, and the session goes on to the new end.
    let tab = final_call_at_the_end();
    let (call, _) = last_call(&tab);
    at(&tab, millis(400_400));
    let answer_ = Refreshed::new(access_issued_at(T0 + secs(400)))
        .refresh_token("r2")
        .refresh_expires_in(secs(400));
    answer(&tab, call, Ok(answer_));
    assert!(tab.engine().state().is_signed_in());
    assert_eq!(refresh_token(&tab).as_deref(), Some("r2"));
    assert_eq!(
        session(&tab).unwrap().refresh_expires_at(),
        Some(T0 + millis(800_400))
    );
    assert_eq!(
        *tab.io().hooks.borrow(),
        vec![Hook::Refreshed, Hook::Refreshed]
    );
}

#[test]
fn an_answer_that_says_nothing_of_the_servers_time_leaves_a_past_end_unknown() {
    // Without `iat` or `Date`, an end that looks a few seconds past may be a clock that jumped
    // forward by that much: the server accepted the token, so only its refusal ends the session.
    let tab = final_call_at_the_end();
    let (call, _) = last_call(&tab);
    at(&tab, secs(403));
    answer(&tab, call, Ok(Refreshed::new("a3").expires_in(secs(300))));
    assert!(tab.engine().state().is_signed_in());
    assert_eq!(session(&tab).unwrap().refresh_expires_at(), None);
    assert_eq!(calls(&tab), 2);
}

#[test]
fn offline_with_the_probe_due_the_server_is_still_asked() {
    let tab = tab(Setup::default());
    sign_in_ending(&tab, 400);
    tab.feed(Event::Online(false));
    wake_at(&tab, secs(1_000));
    assert_eq!(
        calls(&tab),
        1,
        "`navigator.onLine` may be wrong: the probe asks"
    );
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2).refresh_expires_in(secs(400))));
    assert!(tab.engine().state().is_signed_in());
}

#[test]
fn offline_a_flight_under_way_does_not_spin_the_timer() {
    // Defect: with a flight under way the probe cannot start, and a probe instant in the
    // past set the timer to the past again at every wake.
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    tab.feed(Event::Online(false));
    at(&tab, secs(250));
    request(&tab); // a 401: the call hangs
    wake_at(&tab, secs(270));
    let timer = tab.io().timer.get().expect("the call's deadline");
    assert!(timer > T0 + secs(270), "{timer:?}");
}

/// A page opened at 500 s on a session another tab signed in with a refresh token ending at
/// 400 s: its clock, its storage, and the new tab.
fn page_loaded_past_the_refresh_end() -> (Rc<Cell<Timestamp>>, Shelf, Tab) {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let first = tab_with(Setup::default(), &clock, &storage);
    sign_in_ending(&first, 400);
    clock.set(T0 + secs(500));
    let tab = tab_with(Setup::default(), &clock, &storage);
    (clock, storage, tab)
}

#[test]
fn a_page_loaded_with_a_refresh_token_that_looks_expired_asks_the_server() {
    let (clock, storage, tab) = page_loaded_past_the_refresh_end();
    assert_eq!(tab.engine().status(), AuthStatus::Loading);
    assert_eq!(calls(&tab), 1);
    let (call, _) = last_call(&tab);
    answer(
        &tab,
        call,
        Err(RefreshError::Rejected("token expired".into())),
    );
    assert_eq!(tab.engine().status(), AuthStatus::Unauthenticated);
    assert!(stored_refresh(&storage, clock.get()).is_none());
}

#[test]
fn a_page_loaded_with_a_refresh_token_that_looks_expired_stays_loading_while_its_call_may_answer() {
    // The final call times out: the page is not known to be signed in (nor out) until its
    // late answer comes or the hold is over.
    for late_answer in [true, false] {
        let (clock, storage, tab) = page_loaded_past_the_refresh_end();
        let (call, _) = last_call(&tab);
        wake_at(&tab, secs(500 + 30));
        assert_eq!(tab.engine().status(), AuthStatus::Loading, "{late_answer}");
        assert_eq!(
            tab.engine().info().last_error.as_deref(),
            Some("refresh timed out after 30000 ms")
        );
        if late_answer {
            at(&tab, secs(500 + 100));
            answer(&tab, call, Ok(rotated(2).refresh_expires_in(secs(400))));
            assert_eq!(tab.engine().status(), AuthStatus::Authenticated);
            assert_eq!(stored_refresh(&storage, clock.get()).as_deref(), Some("r2"));
        } else {
            wake_at(&tab, secs(500) + LATE_CALL_HOLD);
            assert_eq!(tab.engine().status(), AuthStatus::Unauthenticated);
            assert_eq!(calls(&tab), 1, "asked once");
            assert!(stored_refresh(&storage, clock.get()).is_none());
        }
    }
}

#[test]
fn loading_at_start_up_ends_when_the_start_up_refresh_answers() {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let first = tab_with(Setup::default(), &clock, &storage);
    sign_in(&first, 300);
    clock.set(T0 + secs(400));
    let tab = tab_with(Setup::default(), &clock, &storage);
    assert_eq!(tab.engine().status(), AuthStatus::Loading);
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(tab.engine().status(), AuthStatus::Authenticated);
}

#[test]
fn without_rotation_an_answered_call_neither_holds_the_lock_nor_delays_the_end() {
    // Regression: an answered call was also filed as "late", so with a server that does not
    // rotate (the same refresh token throughout) the lock was kept and the expiry deferred.
    let (a, _b, clock, _storage) = two_tabs_with_refresh_for(secs(10));
    request(&a);
    let lock = grant(&a);
    let (call, _) = last_call(&a);
    answer(&a, call, Ok(Refreshed::new("a2").expires_in(secs(300))));
    assert_eq!(a.io().released.borrow().last(), Some(&lock));
    assert!(a.engine().late.is_empty());
    // At the refresh token's expiry the server is asked at once (under the lock, after a
    // re-read), and its refusal ends the session.
    clock.set(T0 + secs(10));
    a.feed(Event::Wake);
    grant(&a);
    assert_eq!(calls(&a), 2, "asked at the expiry, not after a hold");
    let (call, _) = last_call(&a);
    answer(
        &a,
        call,
        Err(RefreshError::Rejected("token expired".into())),
    );
    clock.set(T0 + secs(10) + SETTLE);
    a.feed(Event::Wake);
    assert!(!a.engine().state().is_signed_in());
}

#[test]
fn a_tab_waiting_for_the_lock_does_not_refresh_what_another_tab_just_refreshed_without_rotation() {
    let (a, b, _clock, _storage) = two_tabs_with_refresh_for(secs(600));
    request(&b); // B waits for the lock A is about to take
    request(&a);
    let a_lock = *a.io().locks.borrow().last().unwrap();
    a.feed(Event::LockGranted(a_lock));
    let (call, _) = last_call(&a);
    answer(&a, call, Ok(Refreshed::new("a2").expires_in(secs(300))));
    grant(&b);
    assert_eq!(
        calls(&b),
        0,
        "the access token it wanted replaced already was"
    );
    assert_eq!(session(&b).unwrap().auth_token().expose(), "a2");
}

#[test]
fn waiters_that_join_while_another_tab_holds_the_lock_are_answered_after_the_timeout() {
    let (_a, b, clock, _storage) = two_tabs();
    let first = request(&b);
    clock.set(T0 + secs(30));
    b.feed(Event::Wake);
    assert!(matches!(
        outcome_of(&b, first),
        Some(RefreshOutcome::Failed(_))
    ));
    let later = request(&b);
    assert_eq!(b.io().timer.get(), Some(T0 + secs(60)));
    clock.set(T0 + secs(60));
    b.feed(Event::Wake);
    assert!(matches!(
        outcome_of(&b, later),
        Some(RefreshOutcome::Failed(_))
    ));
}

/// A tab on storage other tabs share.
fn shared_tab(clock: &Rc<Cell<Timestamp>>, storage: &Shelf) -> Tab {
    let setup = Setup {
        shared: true,
        ..Setup::default()
    };
    tab_with(setup, clock, storage)
}

/// Two tabs sharing a clock and storage, both signed out.
fn two_signed_out_tabs() -> (Tab, Tab, Rc<Cell<Timestamp>>, Shelf) {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let a = shared_tab(&clock, &storage);
    let b = shared_tab(&clock, &storage);
    (a, b, clock, storage)
}

/// Two tabs sharing storage; the first signs in with a refresh token living `refresh`.
fn two_tabs_with_refresh_for(refresh: Duration) -> (Tab, Tab, Rc<Cell<Timestamp>>, Shelf) {
    let (a, b, clock, storage) = two_signed_out_tabs();
    a.sign_in(
        SignIn::new("a1")
            .expires_in(secs(300))
            .refresh_token("r1")
            .refresh_expires_in(refresh),
    )
    .unwrap();
    b.feed(Event::StorageChanged);
    (a, b, clock, storage)
}

#[test]
fn without_rotation_late_answers_out_of_order_do_not_bring_back_an_older_access_token() {
    let (tab, first, second) = timed_out_and_retried();
    answer(&tab, second, Ok(Refreshed::new("a3").expires_in(secs(300))));
    at(&tab, secs(4));
    answer(&tab, first, Ok(Refreshed::new("a2").expires_in(secs(290))));
    assert_eq!(session(&tab).unwrap().auth_token().expose(), "a3");
}

#[test]
fn a_stale_write_of_a_rotated_token_is_healed_by_the_tab_that_rotated_it() {
    // Chromium hands storage writes to other tabs' processes late: a tab that had not yet seen
    // the rotation writes r1 back (say a late answer of its own). Its user state is no newer
    // than ours (user updates with shared storage are written under the lock, from a fresh
    // view), so ours is written back whole.
    let (a, b, _clock, storage) = two_tabs();
    refresh_under_lock(&a, 2);
    let stale = {
        let mut old = session(&b).unwrap();
        old.user = Some("renamed elsewhere".into());
        record::encode(&old).unwrap()
    };
    *storage.borrow_mut() = Some(stale);
    a.feed(Event::StorageChanged);
    let stored: Session<String> = record::decode(&storage.borrow().clone().unwrap(), T0).unwrap();
    assert_eq!(
        stored.refresh_token().unwrap().expose(),
        "r2",
        "the rotation is back"
    );
    assert_eq!(stored.user(), session(&a).unwrap().user());
    assert_ne!(stored.user().map(String::as_str), Some("renamed elsewhere"));
    b.feed(Event::StorageChanged);
    assert_eq!(refresh_token(&b).as_deref(), Some("r2"));
}

#[test]
fn a_stale_write_after_a_sign_out_is_cleared_again() {
    let (a, b, _clock, storage) = two_tabs();
    let stale = record::encode(&session(&b).unwrap()).unwrap();
    let line = session(&a).unwrap().line;
    a.feed(Event::SignOut);
    *storage.borrow_mut() = Some(stale);
    a.feed(Event::StorageChanged);
    assert_eq!(
        ended_line(&storage),
        Some(line),
        "nothing signed out comes back"
    );
    assert!(!a.engine().state().is_signed_in());
}

// Wake and lifecycle (the shell feeds `Resumed` on visibilitychange, pageshow, focus and
// resume, and `Online` on online/offline).

#[test]
fn resumed_after_a_sleep_past_the_refresh_time_refreshes_once_and_sets_the_timer_anew() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(270)));
    // Asleep past the expiry: the timer has not fired (browser timers count awake time).
    at(&tab, secs(400));
    tab.feed(Event::Resumed);
    assert_eq!(calls(&tab), 1, "the due refresh runs at once");
    // focus and visibilitychange come together, then the old timer fires late: still one.
    tab.feed(Event::Resumed);
    tab.feed(Event::Wake);
    assert_eq!(calls(&tab), 1);
    assert_eq!(
        tab.io().timer.get(),
        Some(T0 + secs(400 + 30)),
        "the call's deadline"
    );
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(400 + 270)));
    assert!(tab.engine().state().is_signed_in());
}

#[test]
fn resumed_before_the_refresh_time_only_sets_the_timer_anew() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    tab.io().timer.set(None); // say the browser lost it while frozen
    at(&tab, secs(100));
    tab.feed(Event::Resumed);
    assert_eq!(calls(&tab), 0);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(270)));
}

#[test]
fn a_page_back_from_the_cache_after_a_sign_out_elsewhere_shows_signed_out() {
    // In the back/forward cache the page heard neither the storage event nor the broadcast.
    let (a, b, _clock, _storage) = two_tabs();
    a.feed(Event::SignOut);
    assert!(b.engine().state().is_signed_in(), "b missed it");
    b.feed(Event::Resumed);
    assert!(!b.engine().state().is_signed_in());
    assert_eq!(b.engine().status(), AuthStatus::Unauthenticated);
    assert_eq!(calls(&b), 0);
}

#[test]
fn offline_the_schedule_waits_for_the_network_and_refreshes_once_when_it_is_back() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    offline_at(&tab, secs(260));
    wake_at(&tab, secs(270));
    assert_eq!(calls(&tab), 0, "no call while offline");
    assert_eq!(
        tab.io().timer.get(),
        Some(T0 + secs(320)),
        "the refresh token never ends: only the probe, a minute after going offline"
    );
    // 30 s offline, past the access token's expiry: still signed in.
    at(&tab, secs(310));
    assert!(tab.engine().state().is_signed_in());
    tab.feed(Event::Online(true));
    assert_eq!(calls(&tab), 1, "one refresh as the network comes back");
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(tab.engine().info().count, 1);
    assert_eq!(tab.engine().status(), AuthStatus::Authenticated);
}

#[test]
fn failures_while_offline_do_not_count_toward_the_backoff() {
    let (tab, waiter, call) = refreshing(Setup::default());
    tab.feed(Event::Online(false));
    answer(
        &tab,
        call,
        Err(RefreshError::Transient("network error".into())),
    );
    assert!(matches!(
        outcome_of(&tab, waiter),
        Some(RefreshOutcome::Failed(_))
    ));
    // An on-demand refresh (a request the app sends anyway) is not held back by a backoff.
    at(&tab, secs(1));
    request(&tab);
    assert_eq!(calls(&tab), 2);
    let (second, _) = last_call(&tab);
    answer(
        &tab,
        second,
        Err(RefreshError::Transient("network error".into())),
    );
    tab.feed(Event::Online(true));
    at(&tab, secs(2));
    request(&tab);
    assert_eq!(calls(&tab), 3, "no backoff from the offline failures");
}

/// The browser goes offline at `offset`.
fn offline_at(tab: &Tab, offset: Duration) {
    at(tab, offset);
    tab.feed(Event::Online(false));
}

/// The timer fires at `offset` and the offline probe it starts fails, as offline calls do.
fn probe_fails_at(tab: &Tab, offset: Duration) {
    wake_at(tab, offset);
    let (call, _) = last_call(tab);
    answer(tab, call, Err(RefreshError::Transient("offline".into())));
}

#[test]
fn offline_the_end_of_the_refresh_token_still_ends_the_session() {
    let tab = tab(Setup::default());
    sign_in_ending(&tab, 400);
    offline_at(&tab, secs(260));
    wake_at(&tab, secs(270));
    assert_eq!(calls(&tab), 0);
    // The probe (a minute after going offline) fails, as offline calls do; the next one
    // would come after the refresh token's end.
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(320)));
    probe_fails_at(&tab, secs(320));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(380)));
    probe_fails_at(&tab, secs(380));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(400)));
    // Offline the server cannot be asked: the clock ends the session, without a call.
    wake_at(&tab, secs(400));
    assert_eq!(calls(&tab), 2);
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::SessionExpired]);
}

#[test]
fn offline_a_due_refresh_is_tried_once_a_minute_in_case_navigator_online_is_wrong() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    offline_at(&tab, secs(250));
    // Due at 270, but the network looks gone: the first try a minute after it went.
    wake_at(&tab, secs(270));
    assert_eq!(calls(&tab), 0);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(310)));
    // A second `offline` does not push the try back.
    offline_at(&tab, secs(290));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(310)));
    probe_fails_at(&tab, secs(310));
    assert_eq!(calls(&tab), 1);
    // A failed try does not grow the backoff; the next is a minute later.
    assert_eq!(tab.engine().failures.count, 0);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(370)));
    wake_at(&tab, secs(340));
    assert_eq!(calls(&tab), 1, "not before the minute is over");
    // `online` never came, but this try works: the network is back and the schedule with it.
    wake_at(&tab, secs(370));
    assert_eq!(calls(&tab), 2);
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    assert!(!tab.engine().offline);
    assert_eq!(tab.engine().info().count, 1);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(370 + 270)));
}

#[test]
fn offline_for_long_when_the_refresh_falls_due_it_is_tried_at_once() {
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    tab.feed(Event::Online(false));
    wake_at(&tab, secs(270));
    assert_eq!(calls(&tab), 1, "offline since 0 s, due at 270 s");
}

// The session's end and `on_session_ending`.

fn warned(tab: &Tab) -> Vec<Timestamp> {
    let hooks = tab.io().hooks.borrow();
    hooks
        .iter()
        .filter_map(|hook| match hook {
            Hook::SessionEnding(at) => Some(*at),
            _ => None,
        })
        .collect()
}

/// Signs in with a 300 s access token and refresh token `r1` living `refresh` seconds.
fn sign_in_ending(tab: &Tab, refresh: u64) {
    tab.sign_in(
        SignIn::new("a1")
            .expires_in(secs(300))
            .refresh_token("r1")
            .refresh_expires_in(secs(refresh)),
    )
    .unwrap();
}

/// A tab warning 60 s ahead, signed in with a 600 s refresh token, refreshed without rotation
/// at 270 s (the end stays at 600 s) and warned at 540 s.
fn warned_once() -> Tab {
    let tab = tab(Setup {
        warn_before: Some(secs(60)),
        ..Setup::default()
    });
    sign_in_ending(&tab, 600);
    assert_eq!(session(&tab).unwrap().ends_at(true), Some(T0 + secs(600)));
    wake_at(&tab, secs(270));
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(Refreshed::new("a2").expires_in(secs(300))));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(540)), "the warning");
    wake_at(&tab, secs(540));
    assert_eq!(warned(&tab), [T0 + secs(600)]);
    tab
}

#[test]
fn on_session_ending_runs_once_before_the_end_and_again_when_a_rotation_moves_it() {
    let tab = warned_once();
    wake_at(&tab, secs(541));
    assert_eq!(warned(&tab), [T0 + secs(600)], "once per end");
    // A rotation with a full new lifetime moves the end, and the warning with it.
    at(&tab, secs(550));
    request(&tab);
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(3).refresh_expires_in(secs(600))));
    assert_eq!(session(&tab).unwrap().ends_at(true), Some(T0 + secs(1_150)));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(550 + 270)));
    wake_at(&tab, secs(1_090));
    assert_eq!(warned(&tab), [T0 + secs(600), T0 + secs(1_150)]);
}

#[test]
fn on_session_ending_runs_at_once_when_the_page_opens_inside_the_window() {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let setup = || Setup {
        warn_before: Some(secs(300)),
        ..Setup::default()
    };
    let first = tab_with(setup(), &clock, &storage);
    first
        .sign_in(
            SignIn::new("a1")
                .expires_in(secs(60))
                .refresh_token("r1")
                .refresh_expires_in(secs(3_600)),
        )
        .unwrap();
    assert!(warned(&first).is_empty());
    clock.set(T0 + secs(3_400));
    let reopened = tab_with(setup(), &clock, &storage);
    assert_eq!(warned(&reopened), [T0 + secs(3_600)]);
}

#[test]
fn without_refresh_the_session_ends_with_the_access_token_and_is_warned_of() {
    let tab = tab(Setup {
        refresh: false,
        warn_before: Some(secs(60)),
        ..Setup::default()
    });
    sign_in(&tab, 300);
    assert_eq!(session(&tab).unwrap().ends_at(false), Some(T0 + secs(300)));
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(240)));
    wake_at(&tab, secs(240));
    assert_eq!(warned(&tab), [T0 + secs(300)]);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(300)));
}

#[test]
fn an_opaque_refresh_token_has_no_known_end_and_no_warning() {
    let tab = tab(Setup {
        warn_before: Some(secs(60)),
        ..Setup::default()
    });
    sign_in(&tab, 300);
    assert_eq!(session(&tab).unwrap().ends_at(true), None);
    assert_eq!(tab.io().timer.get(), Some(T0 + secs(270)));
    wake_at(&tab, secs(270));
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    wake_at(&tab, secs(500));
    assert!(warned(&tab).is_empty());
}

#[test]
fn an_end_moved_by_less_than_the_lead_is_not_warned_of_again() {
    let tab = warned_once();
    // A rotation whose refresh token ends 1 s later (a lifetime re-stated from the first).
    at(&tab, secs(545));
    request(&tab);
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(3).refresh_expires_in(secs(56))));
    assert_eq!(session(&tab).unwrap().ends_at(true), Some(T0 + secs(601)));
    wake_at(&tab, secs(560));
    assert_eq!(warned(&tab), [T0 + secs(600)], "no second notice for 1 s");
    // Signed out and in again: a new session, a new notice.
    tab.feed(Event::SignOut);
    tab.sign_in(
        SignIn::new("b1")
            .expires_in(secs(300))
            .refresh_token("s1")
            .refresh_expires_in(secs(30)),
    )
    .unwrap();
    assert_eq!(warned(&tab), [T0 + secs(600), T0 + secs(590)]);
}

#[test]
fn a_page_opened_offline_with_an_expired_access_token_is_not_left_loading() {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let first = tab_with(Setup::default(), &clock, &storage);
    sign_in(&first, 300);
    clock.set(T0 + secs(400));
    let reopened = tab_with(
        Setup {
            offline: true,
            ..Setup::default()
        },
        &clock,
        &storage,
    );
    assert_eq!(calls(&reopened), 0);
    assert_eq!(reopened.engine().status(), AuthStatus::Authenticated);
    reopened.feed(Event::Online(true));
    assert_eq!(calls(&reopened), 1);
}

#[test]
fn an_answer_while_marked_offline_means_the_network_works() {
    // `navigator.onLine` can be false while the server answers (a captive check, a VPN).
    let tab = tab(Setup::default());
    sign_in(&tab, 300);
    tab.feed(Event::Online(false));
    request(&tab); // a 401 from a request the app sent anyway
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    // The schedule runs again without an `online` event.
    wake_at(&tab, secs(270));
    assert_eq!(calls(&tab), 2);
}

#[test]
fn a_second_tab_adopts_the_clock_offset_with_the_session() {
    // The server's clock is an hour ahead of this browser's.
    let server = T0 + secs(3_600);
    let token = jwt(&format!(
        r#"{{"iat":{},"exp":{}}}"#,
        server.unix_seconds(),
        server.unix_seconds() + 300
    ));
    let (a, b, _clock, _storage) = two_tabs();
    a.sign_in(SignIn::new(token).refresh_token("r9")).unwrap();
    b.feed(Event::StorageChanged);
    let (ours, theirs) = (session(&a).unwrap(), session(&b).unwrap());
    assert_eq!(ours.clock_offset_ms(), 3_600_000);
    assert_eq!(theirs.clock_offset_ms(), 3_600_000);
    assert_eq!(theirs.expires_at(), T0 + secs(300));
    assert_eq!(a.io().timer.get(), Some(T0 + secs(270)));
    assert_eq!(b.io().timer.get(), Some(T0 + secs(270)));
}

/// B's refresh is out under the lock when A writes (`write`); B's answer comes while B's view
/// of storage still lags behind A's write (Chromium hands writes to other tabs' processes a
/// little late), so B writes its rotation over it. Returns the tabs and the storage after B's
/// write.
fn stale_answer_over(write: impl FnOnce(&Tab)) -> (Tab, Tab, Shelf) {
    let (a, b, _clock, storage) = two_tabs();
    request(&b);
    grant(&b);
    let (call, _) = last_call(&b);
    let seen_by_b = storage.borrow().clone();
    write(&a);
    let written_by_a = storage.replace(seen_by_b);
    answer(&b, call, Ok(rotated(2)));
    assert_ne!(*storage.borrow(), written_by_a, "B wrote over A's write");
    (a, b, storage)
}

#[test]
fn a_sign_out_written_over_by_a_stale_refresh_answer_is_cleared_again() {
    let (a, b, storage) = stale_answer_over(|a| a.feed(Event::SignOut));
    let line = session(&b).unwrap().line;
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("r2"));
    // A hears of B's write: the line it signed out of came back, so it marks its end again,
    // and confirms that under the lock.
    a.feed(Event::StorageChanged);
    assert_eq!(ended_line(&storage), Some(line));
    assert!(session(&a).is_none());
    grant(&a);
    assert_eq!(ended_line(&storage), Some(line));
    b.feed(Event::StorageChanged);
    assert!(session(&b).is_none(), "nothing signed out comes back");
}

#[test]
fn a_sign_in_written_over_by_a_stale_refresh_answer_is_written_back() {
    let (a, b, storage) = stale_answer_over(|a| {
        a.sign_in(
            SignIn::new("grace-a1")
                .expires_in(secs(300))
                .refresh_token("grace-r1"),
        )
        .unwrap();
    });
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("r2"));
    a.feed(Event::StorageChanged);
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("grace-r1"));
    assert_eq!(refresh_token(&a).as_deref(), Some("grace-r1"));
    b.feed(Event::StorageChanged);
    assert_eq!(
        refresh_token(&b).as_deref(),
        Some("grace-r1"),
        "the new sign-in wins"
    );
}

#[test]
fn a_write_from_an_earlier_generation_is_repaired_by_a_tab_that_knows_a_later_one() {
    let (a, b, _clock, storage) = two_tabs();
    let generation_0 = storage.borrow().clone();
    refresh_under_lock(&b, 2);
    a.feed(Event::StorageChanged);
    assert_eq!(session(&a).unwrap().generation, 1);
    // A third tab that had not seen the rotation yet writes the session it knew.
    *storage.borrow_mut() = generation_0;
    a.feed(Event::StorageChanged);
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("r2"));
    assert_eq!(refresh_token(&a).as_deref(), Some("r2"));
}

#[test]
fn an_answer_still_applies_after_storage_went_back_to_an_earlier_generation() {
    let (a, b, _clock, storage) = two_tabs();
    refresh_under_lock(&a, 2);
    b.feed(Event::StorageChanged);
    let generation_1 = storage.borrow().clone();
    wake_at(&b, secs(1));
    request(&b);
    grant(&b);
    let (call, sent) = last_call(&b);
    assert_eq!(sent, "r2");
    // While B's call is out, a stale write puts the first generation back; B keeps its own
    // view (a later generation) and writes it back.
    *storage.borrow_mut() = Some(
        record::encode(&{
            let mut first = session(&b).unwrap();
            first.generation = 0;
            first.refresh_token = Some(Token::new("r1"));
            first
        })
        .unwrap(),
    );
    b.feed(Event::StorageChanged);
    assert_eq!(*storage.borrow(), generation_1);
    answer(&b, call, Ok(rotated(3)));
    assert_eq!(
        stored_refresh(&storage, T0).as_deref(),
        Some("r3"),
        "the rotation is kept"
    );
}

#[test]
fn a_session_keeps_its_line_through_rotations_and_a_new_sign_in_starts_another() {
    let (a, b, _clock, _storage) = two_tabs();
    let line = session(&a).unwrap().line;
    refresh_under_lock(&a, 2);
    b.feed(Event::StorageChanged);
    assert_eq!(session(&b).unwrap().line, line);
    assert_eq!(session(&b).unwrap().generation, 1);
    a.sign_in(SignIn::new("a9").expires_in(secs(300)).refresh_token("r9"))
        .unwrap();
    assert_ne!(session(&a).unwrap().line, line);
    assert_eq!(session(&a).unwrap().generation, 0);
}

#[test]
fn signing_in_again_with_the_same_tokens_starts_a_line_no_tab_heals_away() {
    let (a, b, clock, storage) = two_tabs();
    // B signs in over A's session (ending its line), then A signs in again with its first
    // tokens: a new line, which B follows instead of writing its own back.
    b.sign_in(SignIn::new("g1").expires_in(secs(300)).refresh_token("gr1"))
        .unwrap();
    a.feed(Event::StorageChanged);
    clock.set(T0 + secs(1));
    a.sign_in(SignIn::new("a1").expires_in(secs(300)).refresh_token("r1"))
        .unwrap();
    let written = storage.borrow().clone();
    b.feed(Event::StorageChanged);
    a.feed(Event::StorageChanged);
    assert_eq!(*storage.borrow(), written, "nobody wrote over it");
    assert_eq!(refresh_token(&b).as_deref(), Some("r1"));
}

#[test]
fn an_unusable_answer_with_the_same_refresh_token_is_no_new_generation() {
    let (tab, _, call) = refreshing(Setup::default());
    answer(
        &tab,
        call,
        Ok(Refreshed::new("no-expiry").refresh_token("r1")),
    );
    assert_eq!(session(&tab).unwrap().generation, 0);
    wake_at(&tab, secs(1));
    let (call, _) = last_call(&tab);
    answer(
        &tab,
        call,
        Ok(Refreshed::new("no-expiry").refresh_token("r2")),
    );
    assert_eq!(session(&tab).unwrap().generation, 1, "a rotation is one");
}

/// Tab B, whose view of storage had not caught up with A's sign-in of a moment ago, ends the
/// session it knew (`end`) and writes over A's sign-in.
fn stale_end_over_a_sign_in(end: impl FnOnce(&Tab)) -> (Tab, Tab, Shelf) {
    let (a, b, clock, storage) = two_tabs();
    let seen_by_b = storage.borrow().clone();
    clock.set(T0 + millis(1));
    a.sign_in(
        SignIn::new("grace-a1")
            .expires_in(secs(300))
            .refresh_token("grace-r1"),
    )
    .unwrap();
    let written_by_a = storage.replace(seen_by_b);
    end(&b);
    assert!(session(&b).is_none());
    assert_ne!(*storage.borrow(), written_by_a, "B wrote over A's sign-in");
    assert!(
        ended_line(&storage).is_some(),
        "B marked the end of its line"
    );
    (a, b, storage)
}

#[test]
fn a_sign_out_from_a_stale_view_does_not_undo_a_later_sign_in() {
    let (a, b, storage) = stale_end_over_a_sign_in(|b| b.feed(Event::SignOut));
    // A hears of the end of a line older than its sign-in: it writes its session back.
    a.feed(Event::StorageChanged);
    assert_eq!(refresh_token(&a).as_deref(), Some("grace-r1"));
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("grace-r1"));
    b.feed(Event::StorageChanged);
    assert_eq!(refresh_token(&b).as_deref(), Some("grace-r1"));
}

#[test]
fn a_session_ended_by_the_server_from_a_stale_view_does_not_undo_a_later_sign_in() {
    let (a, b, storage) = stale_end_over_a_sign_in(|b| {
        let waiter = request(b);
        grant(b);
        let (call, _) = last_call(b);
        answer(b, call, Err(RefreshError::Rejected("revoked".into())));
        b.io().clock.set(T0 + secs(1));
        b.feed(Event::Wake);
        assert_eq!(
            outcome_of(b, waiter),
            Some(RefreshOutcome::SignedOut("revoked".into()))
        );
    });
    a.feed(Event::StorageChanged);
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("grace-r1"));
    b.feed(Event::StorageChanged);
    assert_eq!(refresh_token(&b).as_deref(), Some("grace-r1"));
}

#[test]
fn the_end_of_a_later_sign_in_signs_out_a_tab_that_slept_through_it() {
    // A sleeps holding the first sign-in; meanwhile B signs in anew and signs out. On waking
    // A finds the end of a later line than its own: it follows, it does not write its own back.
    let (a, b, clock, storage) = two_tabs();
    clock.set(T0 + secs(60));
    b.sign_in(
        SignIn::new("b1")
            .expires_in(secs(300))
            .refresh_token("b-r1"),
    )
    .unwrap();
    b.feed(Event::SignOut);
    let marker = storage.borrow().clone();
    a.feed(Event::Resumed);
    assert!(session(&a).is_none());
    assert_eq!(*storage.borrow(), marker, "A wrote nothing");
}

#[test]
fn signing_out_while_signed_out_writes_nothing() {
    // B's view has not caught up with A's sign-in: its sign-out must not wipe it.
    let (a, b, _clock, storage) = two_signed_out_tabs();
    sign_in(&a, 300);
    let written = storage.replace(None);
    let writes = b.io().writes.get();
    b.feed(Event::SignOut);
    assert_eq!(b.io().writes.get(), writes, "B wrote nothing");
    *storage.borrow_mut() = written.clone();
    b.feed(Event::StorageChanged);
    assert_eq!(refresh_token(&b).as_deref(), Some("r1"));
    assert_eq!(*storage.borrow(), written);
}

#[test]
fn a_stored_session_of_an_earlier_sign_in_is_written_over_by_a_later_one() {
    let (a, c, clock, storage) = two_signed_out_tabs();
    sign_in(&a, 300);
    // C signs in a moment later from a view that had not seen A's sign-in; then a write of
    // A's session from before lands (A's stale view, say).
    let first = storage.replace(None);
    clock.set(T0 + millis(1));
    c.sign_in(
        SignIn::new("g1")
            .expires_in(secs(300))
            .refresh_token("g-r1"),
    )
    .unwrap();
    *storage.borrow_mut() = first;
    c.feed(Event::StorageChanged);
    assert_eq!(stored_refresh(&storage, T0).as_deref(), Some("g-r1"));
    a.feed(Event::StorageChanged);
    assert_eq!(
        refresh_token(&a).as_deref(),
        Some("g-r1"),
        "the later sign-in wins"
    );
}

#[test]
fn a_sign_in_is_later_than_every_stored_one_whatever_the_clock_says() {
    let (a, _b, clock, _storage) = two_tabs();
    let first = session(&a).unwrap().epoch;
    // The clock is set back an hour; the next sign-in still orders after the first.
    clock.set(T0 - secs(3600));
    a.sign_in(
        SignIn::new("g1")
            .expires_in(secs(300))
            .refresh_token("g-r1"),
    )
    .unwrap();
    assert_eq!(session(&a).unwrap().epoch, first + 1);
}

#[test]
fn a_sign_in_goes_past_the_stored_epoch_even_before_the_tab_heard_of_it() {
    let (a, b, clock, _storage) = two_tabs();
    // A signs in anew; B has not heard of it yet, and its clock is set back an hour. B's
    // sign-in still orders after A's: it reads the stored epoch as it signs in.
    clock.set(T0 + secs(1));
    a.sign_in(
        SignIn::new("g1")
            .expires_in(secs(300))
            .refresh_token("g-r1"),
    )
    .unwrap();
    clock.set(T0 - secs(3600));
    b.sign_in(
        SignIn::new("h1")
            .expires_in(secs(300))
            .refresh_token("h-r1"),
    )
    .unwrap();
    assert!(session(&b).unwrap().epoch > session(&a).unwrap().epoch);
    a.feed(Event::StorageChanged);
    assert_eq!(
        refresh_token(&a).as_deref(),
        Some("h-r1"),
        "the later sign-in wins"
    );
}

#[test]
fn a_tab_opened_on_a_sign_outs_marker_stands_on_it() {
    let (a, _b, clock, storage) = two_tabs();
    let stale = storage.borrow().clone();
    let line = session(&a).unwrap().line;
    a.feed(Event::SignOut);
    let c = shared_tab(&clock, &storage);
    assert!(session(&c).is_none());
    assert_eq!(ended_line(&storage), Some(line), "kept at start-up");
    // A stale write of the line that ended comes back: C writes the end again.
    *storage.borrow_mut() = stale;
    c.feed(Event::StorageChanged);
    assert_eq!(ended_line(&storage), Some(line));
    assert!(session(&c).is_none());
}

/// The refresh tokens handed to `revoke_on_sign_out`, in order.
fn revoked(tab: &Tab) -> Vec<String> {
    let hooks = tab.io().hooks.borrow();
    let tokens = hooks.iter().filter_map(|hook| match hook {
        Hook::Revoke(token) => Some(token.expose().to_owned()),
        _ => None,
    });
    tokens.collect()
}

#[test]
fn a_sign_out_revokes_the_refresh_token_and_one_a_refresh_under_way_brings() {
    // (case, what the answer to the refresh under way at sign-out is, revoked in all)
    #[rustfmt::skip]
    let cases: [(&str, Result<Refreshed<String>, RefreshError>, &[&str]); 4] = [
        ("rotated: the new token is revoked too", Ok(rotated(2)), &["r1", "r2"]),
        ("no rotation: nothing more", Ok(Refreshed::new("a2").expires_in(secs(300))), &["r1"]),
        ("the same refresh token back: nothing more", Ok(rotated(2).refresh_token("r1")), &["r1"]),
        ("refused", Err(RefreshError::Rejected("blacklisted".into())), &["r1"]),
    ];
    for (case, result, expected) in cases {
        let (tab, _, call) = refreshing(revoking());
        tab.feed(Event::SignOut);
        assert_eq!(revoked(&tab), ["r1"], "{case}: at sign-out");
        answer(&tab, call, result);
        assert_eq!(revoked(&tab), expected, "{case}");
        assert!(!tab.engine().state().is_signed_in(), "{case}");
        assert_eq!(
            *tab.io().storage.borrow(),
            None,
            "{case}: nothing comes back"
        );
    }
}

#[test]
fn a_late_answer_after_sign_out_and_unmount_is_revoked() {
    // The call timed out, the user signed out and left the page; the answer comes at last.
    let (tab, first, _) = timed_out_and_retried_with(revoking());
    tab.feed(Event::SignOut);
    tab.feed(Event::Unmounted);
    answer(&tab, first, Ok(rotated(2)));
    assert_eq!(revoked(&tab), ["r1", "r2"]);
}

/// Two tabs with a revoke hook sharing storage; `a` signs in with `a1`/`r1`.
fn two_revoking_tabs() -> (Tab, Tab) {
    let (clock, storage) = (Rc::new(Cell::new(T0)), Shelf::default());
    let setup = || Setup {
        shared: true,
        ..revoking()
    };
    let (a, b) = (
        tab_with(setup(), &clock, &storage),
        tab_with(setup(), &clock, &storage),
    );
    sign_in(&a, 300);
    b.feed(Event::StorageChanged);
    (a, b)
}

#[test]
fn an_answer_for_a_line_another_tab_signed_out_is_revoked_there() {
    let (a, b) = two_revoking_tabs();
    request(&b);
    grant(&b);
    let (call, _) = last_call(&b);
    a.feed(Event::SignOut);
    b.feed(Event::StorageChanged);
    assert!(!b.engine().state().is_signed_in());
    assert_eq!(
        revoked(&a),
        ["r1"],
        "the tab that signed out revokes the session's token"
    );
    answer(&b, call, Ok(rotated(2)));
    assert_eq!(
        revoked(&b),
        ["r2"],
        "the tab whose refresh was under way revokes the new one"
    );
}

#[test]
fn the_token_of_a_session_that_ends_by_itself_is_not_revoked_nor_without_a_hook() {
    // A rejected refresh ends the session: the server already refuses the token.
    let (tab, _, call) = refreshing(revoking());
    answer(&tab, call, Err(RefreshError::Rejected("expired".into())));
    assert!(!tab.engine().state().is_signed_in());
    assert!(revoked(&tab).is_empty(), "rejected");
    // Expiry without refresh.
    let tab = self::tab(Setup {
        refresh: false,
        ..revoking()
    });
    sign_in(&tab, 300);
    wake_at(&tab, secs(300));
    assert!(!tab.engine().state().is_signed_in());
    assert!(revoked(&tab).is_empty(), "expired");
    // No refresh token to revoke.
    let tab = self::tab(revoking());
    tab.sign_in(SignIn::new("a1").expires_in(secs(300)))
        .unwrap();
    tab.feed(Event::SignOut);
    assert!(revoked(&tab).is_empty(), "no refresh token");
    // Signed out already: a second sign-out revokes nothing more.
    let (tab, _, _) = refreshing(revoking());
    tab.feed(Event::SignOut);
    tab.feed(Event::SignOut);
    assert_eq!(revoked(&tab), ["r1"], "twice");
    // No hook configured: nothing to hand the token to.
    let (tab, _, call) = refreshing(Setup::default());
    tab.feed(Event::SignOut);
    answer(&tab, call, Ok(rotated(2)));
    assert!(revoked(&tab).is_empty(), "no hook");
}

#[test]
fn a_rotation_the_signing_out_tab_had_not_seen_is_revoked_by_the_tab_that_stored_it() {
    // B rotates r1 -> r2 and stores it; A, whose view of storage lags (each tab reads its own
    // copy here, handed over by hand), signs out of the line with r1 and writes its marker,
    // which lands over B's record; B follows the marker and revokes r2.
    let clock = Rc::new(Cell::new(T0));
    let (seen_by_a, seen_by_b) = (Shelf::default(), Shelf::default());
    let setup = || Setup {
        shared: true,
        ..revoking()
    };
    let a = tab_with(setup(), &clock, &seen_by_a);
    let b = tab_with(setup(), &clock, &seen_by_b);
    sign_in(&a, 300);
    let deliver = || *seen_by_b.borrow_mut() = seen_by_a.borrow().clone();
    deliver();
    b.feed(Event::StorageChanged);
    refresh_under_lock(&b, 2);
    assert_eq!(
        refresh_token(&a).as_deref(),
        Some("r1"),
        "A has not seen r2"
    );
    a.feed(Event::SignOut);
    assert_eq!(revoked(&a), ["r1"]);
    deliver();
    b.feed(Event::StorageChanged);
    assert!(!b.engine().state().is_signed_in());
    assert_eq!(revoked(&b), ["r2"]);
    // A tab that only adopted r2 from storage leaves it to the tab that stored it.
    let (a, b) = two_revoking_tabs();
    refresh_under_lock(&b, 2);
    a.feed(Event::StorageChanged);
    assert_eq!(refresh_token(&a).as_deref(), Some("r2"));
    b.feed(Event::SignOut);
    a.feed(Event::StorageChanged);
    assert_eq!(revoked(&b), ["r2"]);
    assert!(revoked(&a).is_empty());
}

thread_local! {
    static LOGGED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn log_here(note: &note::Note) {
    LOGGED.with(|logged| logged.borrow_mut().push(note.to_string()));
}

fn logged() -> Vec<String> {
    LOGGED.with(|logged| logged.borrow_mut().drain(..).collect())
}

#[test]
fn debug_notes_tell_each_decision_and_no_token() {
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let setup = Setup {
        shared: true,
        log: Some(log_here),
        ..Setup::default()
    };
    let tab = tab_with(setup, &clock, &storage);
    logged();
    sign_in(&tab, 300);
    wake_at(&tab, secs(270));
    grant(&tab);
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    wake_at(&tab, secs(540));
    grant(&tab);
    let (call, _) = last_call(&tab);
    answer(
        &tab,
        call,
        Err(RefreshError::Transient("server said 503".into())),
    );
    tab.feed(Event::SignOut);
    let lines = logged();
    let text = lines.join("\n");
    for expected in [
        "signed in; the access token expires in 300000 ms",
        "timer set: refresh due (interval, or access expiry minus leeway), in 270000 ms",
        "refresh wanted: waiting for the cross-tab lock",
        "cross-tab lock held",
        "refresh started: calling the refresh callback",
        "refresh finished: new access and refresh tokens stored",
        "refresh failed: server said 503",
        "timer set: retry after a failed refresh (backoff)",
        "signed out by the user",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(lines
        .iter()
        .all(|line| line.starts_with("[leptos-auth-kit] ")));
    // (None of the notes' own words contains these.)
    for token in ["a1", "r1", "a2", "r2", "ada"] {
        assert!(!text.contains(token), "{token} shown in:\n{text}");
    }

    // Without a logger no note is made.
    let quiet = tab_with(Setup::default(), &clock, &Shelf::default());
    sign_in(&quiet, 300);
    quiet.feed(Event::SignOut);
    assert!(logged().is_empty());
}

#[test]
fn an_answer_for_a_session_a_new_sign_in_replaced_is_revoked_but_the_old_token_is_not() {
    let (tab, _, call) = refreshing(revoking());
    tab.sign_in(SignIn::new("b1").expires_in(secs(300)).refresh_token("s1"))
        .unwrap();
    assert!(revoked(&tab).is_empty(), "no sign-out: r1 is left alone");
    answer(&tab, call, Ok(rotated(2)));
    assert_eq!(revoked(&tab), ["r2"], "the answer for the replaced session");
    assert_eq!(refresh_token(&tab).as_deref(), Some("s1"));
}

#[test]
fn a_cookie_the_browser_drops_a_moment_before_the_end_still_ends_the_session_by_its_timer() {
    // `Max-Age` is whole seconds: the cookie of a session ending at 300.6 s goes at 300 s.
    let tab = tab(Setup {
        refresh: false,
        ..Setup::default()
    });
    tab.sign_in(SignIn::new("a1").expires_in(millis(300_600)))
        .unwrap();
    at(&tab, millis(300_000));
    tab.io().storage.borrow_mut().take();
    tab.feed(Event::StorageChanged);
    assert!(
        tab.engine().state().is_signed_in(),
        "not taken for a sign-out elsewhere"
    );
    assert!(tab.io().hooks.borrow().is_empty());
    wake_at(&tab, millis(300_600));
    assert!(!tab.engine().state().is_signed_in());
    assert_eq!(*tab.io().hooks.borrow(), vec![Hook::SessionExpired]);
    // Cleared long before its end, it is another tab's doing: signed out at once, no hook.
    let tab = self::tab(Setup {
        refresh: false,
        ..Setup::default()
    });
    sign_in(&tab, 300);
    at(&tab, secs(100));
    tab.io().storage.borrow_mut().take();
    tab.feed(Event::StorageChanged);
    assert!(!tab.engine().state().is_signed_in());
    assert!(tab.io().hooks.borrow().is_empty());
}

#[test]
fn a_cookie_dropped_at_the_refresh_tokens_end_still_gets_the_final_call() {
    let tab = tab(Setup::default());
    tab.sign_in(
        SignIn::new("a1")
            .expires_in(secs(700))
            .refresh_token("r1")
            .refresh_expires_in(millis(600_400)),
    )
    .unwrap();
    at(&tab, millis(600_000));
    tab.io().storage.borrow_mut().take();
    tab.feed(Event::StorageChanged);
    assert!(tab.engine().state().is_signed_in());
    let calls_before = calls(&tab);
    wake_at(&tab, millis(600_400));
    assert_eq!(
        calls(&tab),
        calls_before + 1,
        "the server is asked once more"
    );
}

/// Publishing runs app code at once (an `ImmediateEffect` on a signal) that may feed events
/// itself, so the signals are published after the storage, lock, timer and refresh-call work
/// of the same decision: nothing of an older decision is carried out after a newer one's.
/// Only hooks (app code too) come later.
#[test]
fn signals_are_published_after_the_rest_of_the_same_decision() {
    fn published_last(what: &str, done: &[&str]) {
        let publish = done.iter().position(|&step| step == "publish");
        let publish = publish.unwrap_or_else(|| panic!("{what}: nothing published in {done:?}"));
        assert!(
            done[publish + 1..].iter().all(|&step| step == "hook"),
            "{what}: {done:?}"
        );
    }
    let clock = Rc::new(Cell::new(T0));
    let storage = Shelf::default();
    let shared = Setup {
        shared: true,
        ..Setup::default()
    };
    let tab = tab_with(shared, &clock, &storage);
    done(&tab);
    // Stored, published, the timer set and (shared storage) the lock asked for, to confirm the
    // write under it.
    sign_in(&tab, 300);
    published_last("sign-in", &done(&tab));
    grant(&tab);
    done(&tab);
    at(&tab, secs(270));
    tab.feed(Event::RefreshRequested(tab.new_waiter()));
    published_last("refresh asked for", &done(&tab));
    grant(&tab);
    done(&tab);
    let (call, _) = last_call(&tab);
    answer(&tab, call, Ok(rotated(2)));
    let answered = done(&tab);
    assert!(
        answered.contains(&"save") && answered.contains(&"hook"),
        "{answered:?}"
    );
    published_last("refresh answered", &answered);
    tab.feed(Event::SignOut);
    published_last("sign-out", &done(&tab));

    // Storage no other tab shares: no lock, so one decision both calls and publishes the
    // refresh under way; its answer resolves the waiter and publishes the new tokens.
    let alone = tab_with(Setup::default(), &Rc::new(Cell::new(T0)), &Shelf::default());
    sign_in(&alone, 300);
    done(&alone);
    at(&alone, secs(270));
    alone.feed(Event::RefreshRequested(alone.new_waiter()));
    let asked = done(&alone);
    assert!(asked.contains(&"call"), "{asked:?}");
    published_last("refresh asked for, no lock", &asked);
    let (call, _) = last_call(&alone);
    answer(&alone, call, Ok(rotated(2)));
    let answered = done(&alone);
    assert!(answered.contains(&"resolve"), "{answered:?}");
    published_last("refresh answered, no lock", &answered);
}
