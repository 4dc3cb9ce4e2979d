//! Runs refreshes: one at a time, applied only to the session that asked for them.
//!
//! [`RefreshRunner`] is plain Rust over a [`StateCell`] (the provider's signals and storage in
//! the browser, a `RefCell` in native tests): it calls the user's callback through a
//! [`SingleFlight`], so that every trigger arriving while a refresh runs shares its result, and
//! applies the result only if the session version has not changed meanwhile. [`schedule`]
//! sets one gloo-timers timeout for the next [`decide`] answer.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[cfg(target_arch = "wasm32")]
use super::schedule::timer_delay;
use super::schedule::{decide, Decision, Failures};
use super::single_flight::{InFlight, SingleFlight};
use super::{Refresh, RefreshError, RefreshOutcome, RefreshParams};
use crate::auth::{Auth, UserState};
use crate::error::AuthError;
use crate::state::{AuthState, RefreshApplied, Session};
use crate::time::Timestamp;
use crate::token::Token;
use futures::future::LocalBoxFuture;

/// Where the runner reads and writes the auth state.
pub(crate) trait StateCell<U> {
    /// The current state, without subscribing to it. `None` once the store is gone.
    fn snapshot(&self) -> Option<AuthState<U>>;
    /// Makes `next` the current state and persists it. The state is published even when
    /// persisting fails (tokens are never lost); the error is returned for reporting.
    fn commit(&self, next: AuthState<U>) -> Result<(), AuthError>;
    /// Makes `next` the current state without writing it (it came from storage).
    fn publish(&self, next: AuthState<U>);
    /// The session storage holds now, as another tab may have left it.
    fn stored(&self) -> Option<Session<U>>;
    /// Runs `attempt` while holding the cross-tab refresh lock (where the browser has one), so
    /// that one tab refreshes at a time and the others find its tokens in storage.
    fn exclusive(
        &self,
        attempt: LocalBoxFuture<'static, RefreshOutcome>,
    ) -> LocalBoxFuture<'static, RefreshOutcome>;
    /// Waits long enough for another tab's storage write to become visible here (shared
    /// storages only) before a rejected refresh is taken as the end of the session.
    fn settle(&self) -> LocalBoxFuture<'static, ()>;
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// Calls the refresh callback one at a time and applies its results.
pub(crate) struct RefreshRunner<U: 'static> {
    refresh: Refresh<U>,
    leeway: Duration,
    flight: SingleFlight<RefreshOutcome>,
    failures: Rc<Cell<Failures>>,
}

impl<U: Clone + 'static> RefreshRunner<U> {
    pub(crate) fn new(refresh: Refresh<U>, leeway: Duration) -> Self {
        Self {
            refresh,
            leeway,
            flight: SingleFlight::default(),
            failures: Rc::default(),
        }
    }

    pub(crate) fn config(&self) -> &Refresh<U> {
        &self.refresh
    }

    /// Transient failures since the last success.
    pub(crate) fn failures(&self) -> Failures {
        self.failures.get()
    }

    /// Forgets failures (a new session starts with a clean slate).
    pub(crate) fn reset_failures(&self) {
        self.failures.set(Failures::default());
    }

    /// Whether a refresh is running.
    pub(crate) fn in_flight(&self) -> bool {
        self.flight.in_flight()
    }

    /// Starts a refresh, or joins the one in flight.
    pub(crate) fn trigger(&self, cell: Rc<dyn StateCell<U>>) -> InFlight<RefreshOutcome> {
        let callback = self.refresh.callback.clone();
        let timeout = self.refresh.timeout;
        let failures = Rc::clone(&self.failures);
        let leeway = self.leeway;
        self.flight.run(move || {
            // The token this refresh is meant to replace: if it is gone by the time the lock
            // is ours, another tab (or a sign-in) already replaced it.
            let requested_for = cell
                .snapshot()
                .and_then(|state| state.session().map(|s| s.auth_token().clone()));
            let attempt = Box::pin(attempt(
                Rc::clone(&cell),
                requested_for,
                callback,
                failures,
                timeout,
                leeway,
            ));
            cell.exclusive(attempt)
        })
    }
}

/// Another tab's session in storage that replaces ours: live, and with other tokens than
/// `ours` (a refresh or rotation happened there).
fn newer_elsewhere<U>(cell: &dyn StateCell<U>, ours: &Token, now: Timestamp) -> Option<Session<U>> {
    cell.stored()
        .filter(|stored| stored.auth_token() != ours && !stored.must_end(now, true))
}

/// One refresh attempt, run under the cross-tab lock.
async fn attempt<U: Clone + 'static>(
    cell: Rc<dyn StateCell<U>>,
    requested_for: Option<Token>,
    callback: super::RefreshCallback<U>,
    failures: Rc<Cell<Failures>>,
    timeout: Duration,
    leeway: Duration,
) -> RefreshOutcome {
    let Some(mut state) = cell.snapshot() else {
        return RefreshOutcome::NotSignedIn;
    };
    let Some(session) = state.session() else {
        return RefreshOutcome::NotSignedIn;
    };
    if requested_for.as_ref() != Some(session.auth_token()) {
        // Replaced while we waited for the lock (another tab's tokens arrived): done.
        return RefreshOutcome::Refreshed;
    }
    // Another tab may have refreshed while we waited for the lock: use its tokens.
    if let Some(stored) = newer_elsewhere(&*cell, session.auth_token(), cell.now()) {
        state.adopt(stored);
        failures.set(Failures::default());
        cell.publish(state);
        return RefreshOutcome::Refreshed;
    }
    let started_at = state.version();
    let sent_token = session.auth_token().clone();
    let params = RefreshParams {
        auth_token: session.auth_token().clone(),
        refresh_token: session.refresh_token().cloned(),
        user: session.user().cloned(),
    };
    let result = with_timeout(callback(params), timeout).await;
    let now = cell.now();
    let Some(mut next) = cell.snapshot() else {
        return RefreshOutcome::Stale;
    };
    if next.version() != started_at {
        return RefreshOutcome::Stale;
    }
    let record_failure = || {
        let mut counted = failures.get();
        counted.record(now);
        failures.set(counted);
    };
    match result {
        Ok(refreshed) => match next.apply_refresh(started_at, refreshed, now, leeway) {
            Ok(RefreshApplied::Applied) => {
                failures.set(Failures::default());
                match cell.commit(next) {
                    Ok(()) => RefreshOutcome::Refreshed,
                    Err(err) => RefreshOutcome::RefreshedNotStored(err.to_string()),
                }
            }
            Ok(RefreshApplied::Stale) => RefreshOutcome::Stale,
            Err(err) => {
                record_failure();
                RefreshOutcome::Failed(format!("the server sent an unusable token: {err}"))
            }
        },
        Err(RefreshError::Rejected(reason)) => {
            failures.set(Failures::default());
            // With rotation, another tab may have used this refresh token first: browsers
            // without Web Locks, or Chromium, which hands localStorage writes to other tabs a
            // few milliseconds late, so that the lock holder's new tokens were not yet visible.
            // Give its tokens time to arrive; they are no reason to sign out.
            cell.settle().await;
            let Some(mut next) = cell.snapshot() else {
                return RefreshOutcome::Stale;
            };
            if next.version() != started_at {
                return RefreshOutcome::Stale; // another tab's session arrived meanwhile
            }
            if let Some(stored) = newer_elsewhere(&*cell, &sent_token, cell.now()) {
                next.adopt(stored);
                cell.publish(next);
                return RefreshOutcome::Refreshed;
            }
            next.sign_out();
            // The state is signed out whether or not clearing the storage worked.
            let _ = cell.commit(next);
            RefreshOutcome::SignedOut(reason)
        }
        Err(RefreshError::Transient(reason)) => {
            record_failure();
            RefreshOutcome::Failed(reason)
        }
    }
}

/// Runs the callback's future, giving up after `timeout` in the browser. Off the browser
/// there are no timers, so the future runs to completion.
async fn with_timeout<U: 'static>(
    attempt: super::RefreshFuture<U>,
    timeout: Duration,
) -> Result<super::Refreshed<U>, RefreshError> {
    #[cfg(target_arch = "wasm32")]
    {
        use futures::future::{select, Either};
        let timer = Box::pin(gloo_timers::future::sleep(timeout));
        match select(attempt, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(RefreshError::Transient(format!(
                "refresh timed out after {} s",
                timeout.as_secs_f32()
            ))),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = timeout;
        attempt.await
    }
}

/// Asks the schedule what to do now and does it: sets one timer for the next decision,
/// starts a refresh, or ends the session. Replaces any timer set before. Off the browser
/// (host tests, server rendering) there are no timers or tasks: only an immediate sign-out is
/// carried out.
pub(crate) fn schedule<U: UserState>(auth: Auth<U>) {
    auth.cancel_timer();
    let Some(state) = auth.snapshot_state() else {
        return;
    };
    let now = Timestamp::now();
    match decide(
        state.session(),
        auth.timing().as_ref(),
        &auth.failures(),
        now,
    ) {
        Decision::Idle => {}
        Decision::SignOutNow => auth.end_session(),
        #[cfg(target_arch = "wasm32")]
        Decision::WakeAt(at) => {
            let delay = u32::try_from(timer_delay(at, now).as_millis()).unwrap_or(u32::MAX);
            auth.set_timer(gloo_timers::callback::Timeout::new(delay, move || {
                schedule(auth)
            }));
        }
        #[cfg(target_arch = "wasm32")]
        Decision::RefreshNow => leptos::task::spawn_local(async move {
            auth.refresh().await;
        }),
        #[cfg(not(target_arch = "wasm32"))]
        Decision::WakeAt(_) | Decision::RefreshNow => {}
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    use futures::channel::oneshot;
    use futures::executor::LocalPool;
    use futures::future::join_all;

    use super::*;
    use crate::refresh::{create_refresh, RefreshConfig, Refreshed};
    use crate::state::SignIn;

    const T0: Timestamp = Timestamp::from_unix_seconds(1_000_000);

    struct TestCell {
        state: RefCell<AuthState<String>>,
        commits: Cell<u32>,
        /// What "storage" holds: another tab may have written it.
        stored: RefCell<Option<Session<String>>>,
    }

    impl StateCell<String> for TestCell {
        fn snapshot(&self) -> Option<AuthState<String>> {
            Some(self.state.borrow().clone())
        }
        fn commit(&self, next: AuthState<String>) -> Result<(), AuthError> {
            *self.state.borrow_mut() = next;
            self.commits.set(self.commits.get() + 1);
            Ok(())
        }
        fn now(&self) -> Timestamp {
            T0
        }
        fn publish(&self, next: AuthState<String>) {
            *self.state.borrow_mut() = next;
        }
        fn stored(&self) -> Option<Session<String>> {
            self.stored.borrow().clone()
        }
        fn exclusive(
            &self,
            attempt: LocalBoxFuture<'static, RefreshOutcome>,
        ) -> LocalBoxFuture<'static, RefreshOutcome> {
            attempt
        }
        fn settle(&self) -> LocalBoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }

    fn signed_in_cell() -> Rc<TestCell> {
        let mut state = AuthState::signed_out();
        let request = SignIn::new("access-1")
            .expires_in(Duration::from_secs(300))
            .refresh_token("refresh-1")
            .user("ada".to_string());
        state.sign_in(request, T0, Duration::ZERO).unwrap();
        let stored = RefCell::new(state.session().cloned());
        Rc::new(TestCell {
            state: RefCell::new(state),
            commits: Cell::new(0),
            stored,
        })
    }

    type Answer = Result<Refreshed<String>, RefreshError>;
    type Gate = Arc<Mutex<Vec<oneshot::Sender<Answer>>>>;

    /// A runner whose callback counts its calls, records the refresh token it was given, and
    /// waits until the test answers through the returned gate.
    fn gated_runner() -> (
        RefreshRunner<String>,
        Arc<AtomicU32>,
        Arc<Mutex<Vec<String>>>,
        Gate,
    ) {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate: Gate = Arc::default();
        let (c, s, g) = (calls.clone(), seen.clone(), gate.clone());
        let refresh = create_refresh(RefreshConfig::new(
            Duration::from_secs(60),
            move |params: RefreshParams<String>| {
                c.fetch_add(1, Ordering::SeqCst);
                let token = params.refresh_token.map(|t| t.expose().to_owned());
                s.lock().unwrap().push(token.unwrap_or_default());
                let (answer, answered) = oneshot::channel();
                g.lock().unwrap().push(answer);
                async move {
                    answered
                        .await
                        .unwrap_or(Err(RefreshError::Transient("dropped".into())))
                }
            },
        ));
        (
            RefreshRunner::new(refresh, Duration::ZERO),
            calls,
            seen,
            gate,
        )
    }

    /// Starts a refresh, lets `meanwhile` happen while the callback waits, then answers it.
    fn refresh_with(
        pool: &mut LocalPool,
        runner: &RefreshRunner<String>,
        cell: &Rc<TestCell>,
        gate: &Gate,
        result: Answer,
        meanwhile: impl FnOnce(),
    ) -> RefreshOutcome {
        pool.run_until(async {
            let mut flight = runner.trigger(cell.clone());
            let _ = futures::poll!(&mut flight);
            meanwhile();
            answer(gate, result);
            flight.await
        })
    }

    fn answer(gate: &Gate, result: Result<Refreshed<String>, RefreshError>) {
        let sender = gate.lock().unwrap().remove(0);
        sender.send(result).ok().unwrap();
    }

    fn fresh() -> Refreshed<String> {
        Refreshed::new("access-2")
            .expires_in(Duration::from_secs(300))
            .refresh_token("refresh-2")
    }

    #[test]
    fn fifty_concurrent_triggers_make_one_callback_call_and_share_its_result() {
        let (runner, calls, seen, gate) = gated_runner();
        let cell = signed_in_cell();
        let mut pool = LocalPool::new();
        let all = join_all((0..50).map(|_| runner.trigger(cell.clone())));
        let waiter = pool.run_until(async {
            let mut all = Box::pin(all);
            let _ = futures::poll!(&mut all); // start the flight
            answer(&gate, Ok(fresh()));
            all.await
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(waiter, vec![RefreshOutcome::Refreshed; 50]);
        assert_eq!(cell.commits.get(), 1);
        let state = cell.state.borrow();
        let session = state.session().unwrap();
        assert_eq!(session.auth_token().expose(), "access-2");
        assert_eq!(
            session.refresh_token().unwrap().expose(),
            "refresh-2",
            "rotation stores the new refresh token"
        );
        assert_eq!(*seen.lock().unwrap(), vec!["refresh-1".to_string()]);
    }

    #[test]
    fn sign_out_during_a_refresh_wins() {
        let (runner, _calls, _seen, gate) = gated_runner();
        let cell = signed_in_cell();
        let mut pool = LocalPool::new();
        let outcome = refresh_with(&mut pool, &runner, &cell, &gate, Ok(fresh()), || {
            cell.state.borrow_mut().sign_out();
        });
        assert_eq!(outcome, RefreshOutcome::Stale);
        assert!(!cell.state.borrow().is_signed_in());
        assert_eq!(cell.commits.get(), 0);
    }

    #[test]
    fn rejection_signs_out_and_transient_failure_keeps_the_session() {
        let (runner, _calls, _seen, gate) = gated_runner();
        let mut pool = LocalPool::new();

        let kept = signed_in_cell();
        let outcome = refresh_with(
            &mut pool,
            &runner,
            &kept,
            &gate,
            Err(RefreshError::Transient("503".into())),
            || {},
        );
        assert_eq!(outcome, RefreshOutcome::Failed("503".into()));
        assert!(kept.state.borrow().is_signed_in());
        assert_eq!(
            runner.failures(),
            Failures {
                count: 1,
                last_at: Some(T0)
            }
        );

        let rejected = signed_in_cell();
        let outcome = refresh_with(
            &mut pool,
            &runner,
            &rejected,
            &gate,
            Err(RefreshError::Rejected("blacklisted".into())),
            || {},
        );
        assert_eq!(outcome, RefreshOutcome::SignedOut("blacklisted".into()));
        assert!(!rejected.state.borrow().is_signed_in());
        assert_eq!(runner.failures(), Failures::default());
    }

    #[test]
    fn unusable_token_from_the_server_counts_as_transient() {
        let (runner, _calls, _seen, gate) = gated_runner();
        let cell = signed_in_cell();
        let mut pool = LocalPool::new();
        let outcome = refresh_with(
            &mut pool,
            &runner,
            &cell,
            &gate,
            Ok(Refreshed::new("no-expiry")),
            || {},
        );
        assert!(matches!(outcome, RefreshOutcome::Failed(_)), "{outcome:?}");
        assert_eq!(
            cell.state.borrow().session().unwrap().auth_token().expose(),
            "access-1"
        );
        assert_eq!(runner.failures().count, 1);
    }

    #[test]
    fn signed_out_cell_is_not_refreshed() {
        let (runner, calls, _seen, _gate) = gated_runner();
        let cell = Rc::new(TestCell {
            state: RefCell::new(AuthState::signed_out()),
            commits: Cell::new(0),
            stored: RefCell::new(None),
        });
        let outcome = LocalPool::new().run_until(runner.trigger(cell));
        assert_eq!(outcome, RefreshOutcome::NotSignedIn);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    /// The session another tab left in storage after rotating the refresh token.
    fn rotated_elsewhere() -> Session<String> {
        let mut other = AuthState::signed_out();
        let request = SignIn::new("access-other")
            .expires_in(Duration::from_secs(300))
            .refresh_token("refresh-other")
            .user("ada".to_string());
        other.sign_in(request, T0, Duration::ZERO).unwrap();
        other.session().cloned().unwrap()
    }

    #[test]
    fn rejection_after_another_tab_rotated_adopts_its_tokens_instead_of_signing_out() {
        let (runner, _calls, _seen, gate) = gated_runner();
        let cell = signed_in_cell();
        let mut pool = LocalPool::new();
        let outcome = refresh_with(
            &mut pool,
            &runner,
            &cell,
            &gate,
            Err(RefreshError::Rejected("Token is blacklisted".into())),
            || {
                // Meanwhile the other tab refreshed with the same refresh token and stored the
                // rotated one; the server now calls ours blacklisted.
                *cell.stored.borrow_mut() = Some(rotated_elsewhere());
            },
        );
        assert_eq!(outcome, RefreshOutcome::Refreshed);
        let state = cell.state.borrow();
        assert_eq!(
            state.session().unwrap().refresh_token().unwrap().expose(),
            "refresh-other"
        );
    }

    #[test]
    fn tokens_another_tab_already_refreshed_are_used_without_calling_the_server() {
        let (runner, calls, _seen, _gate) = gated_runner();
        let cell = signed_in_cell();
        *cell.stored.borrow_mut() = Some(rotated_elsewhere());
        let outcome = LocalPool::new().run_until(runner.trigger(cell.clone()));
        assert_eq!(outcome, RefreshOutcome::Refreshed);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            cell.state.borrow().session().unwrap().auth_token().expose(),
            "access-other"
        );
        assert_eq!(cell.commits.get(), 0, "adopted, not written back");
    }
}
