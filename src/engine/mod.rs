//! The session engine: every decision about the session, in one pure state machine.
//!
//! Pure: no web-sys, no timers, no futures, no signals. Whoever runs it (the browser shell in
//! `auth.rs`, the simulation in `simulation.rs`) hands it [`Event`]s, each with the time and
//! what storage holds at that moment, and carries out the [`Command`]s it returns:
//! call the refresh callback, persist, take or release the cross-tab lock, set the one timer,
//! publish the state, run hooks and answer the callers waiting for a refresh. [`Driver`] is
//! that loop, written once over an [`Io`] so the browser and the simulation run the same code.
//!
//! Rules enforced here, and checked after every step of the simulation:
//! - A refresh answer applies when the token it sent is still the session's chain token
//!   ([`Session::chain_token`]), never by a version count: a user update or another tab's
//!   write of the same chain merges with it, and a rotated refresh token is kept even when the
//!   access token beside it is unusable, when the answer comes after the timeout, or after the
//!   provider unmounted.
//! - A sign-out or a new sign-in wins over every answer still out.
//! - One flight at a time. It lives here, not in whoever awaits it: dropping a waiter, even the
//!   first, changes nothing.
//! - A refresh call comes at least [`MIN_SPACING`] after the previous one unless that one
//!   failed (then the backoff, at least 100 ms and doubling, spaces them); timeouts are
//!   clamped.
//! - A rejected refresh signs out only when no earlier call with the same token is still out
//!   and, for storage shared with other tabs, after [`SETTLE`] without another tab's tokens
//!   arriving.

use std::cell::{Cell, Ref, RefCell};
use std::time::Duration;

use crate::error::AuthError;
use crate::refresh::schedule::{
    clamp_timeout, decide, in_backoff, Decision, Failures, Timing, MIN_BACKOFF, MIN_SPACING,
};
use crate::refresh::{Refresh, RefreshError, RefreshOutcome, RefreshParams, Refreshed};
use crate::state::{
    AuthState, AuthStatus, RefreshApplied, RefreshInfo, Session, SignIn, UserState,
};
use crate::storage::record::{self, Ended};
use crate::time::Timestamp;
use crate::token::{Token, TokenInfo};
use note::{Note, Wake};

pub(crate) mod note;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod simulation;
#[cfg(test)]
mod tests;

/// How long a tab waits for another tab's tokens before it believes a rejected refresh
/// (shared storage only): with rotation, another tab may have used the same refresh token a
/// moment earlier, and Chromium hands storage writes to other tabs' processes a little late.
pub(crate) const SETTLE: Duration = Duration::from_millis(500);

/// How long a tab holds the cross-tab lock before it reads storage (before [`Io`] feeds
/// [`Event::LockGranted`]): Chromium hands storage writes to other tabs' processes a few
/// milliseconds late, and the last holder may have written new tokens just before it gave
/// the lock back, or closed. Waiting on the acquiring side covers a holder that closed, which
/// a linger on the releasing side cannot.
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
pub(crate) const LOCK_SETTLE: Duration = Duration::from_millis(150);

/// How long a tab keeps the cross-tab lock for a call that timed out but may still be
/// answered: until then no other tab sends the same refresh token (which the server may have
/// rotated already) and is refused for it.
pub(crate) const LATE_CALL_HOLD: Duration = Duration::from_secs(300);

/// While the browser says it is offline, a refresh that is due is still tried this often:
/// `navigator.onLine` can be wrong (a VPN, a captive portal, a lost `online` event), and a
/// store that believed it would not refresh again until the next `online` event.
pub(crate) const OFFLINE_PROBE: Duration = Duration::from_secs(60);

/// Identifies a flight, a refresh call, a lock request or a waiter.
pub(crate) type Id = u64;

/// What the engine needs to know about the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Clock-skew allowance and refresh leeway.
    pub(crate) leeway: Duration,
    /// Refresh timing, `None` when no refresh callback is configured.
    pub(crate) timing: Option<Timing>,
    /// How long a refresh call may take before it counts as a transient failure.
    pub(crate) timeout: Duration,
    /// Whether other tabs share the storage (refresh under a cross-tab lock, settle before
    /// believing a rejection).
    pub(crate) shared: bool,
    /// How long before the session's end (see [`Session::ends_at`]) `on_session_ending` runs,
    /// `None` when it is not configured.
    pub(crate) warn_before: Option<Duration>,
    /// Where `AuthConfig::debug(true)` sends each decision; `None`: no notes are made.
    pub(crate) log: Option<fn(&Note)>,
    /// Whether a `revoke_on_sign_out` hook is configured.
    pub(crate) revoke: bool,
}

impl Settings {
    /// Whether a refresh callback is configured.
    pub(crate) fn can_refresh(&self) -> bool {
        self.timing.is_some()
    }

    pub(crate) fn new<U>(leeway: Duration, refresh: Option<&Refresh<U>>, shared: bool) -> Self {
        Self {
            leeway,
            timing: refresh.map(|refresh| Timing {
                interval: refresh.interval,
                leeway,
                backoff: refresh.backoff,
            }),
            timeout: clamp_timeout(refresh.map_or(Duration::ZERO, |refresh| refresh.timeout)),
            shared,
            warn_before: None,
            log: None,
            revoke: false,
        }
    }
}

/// How early a browser may drop a cookie before the expiry it was written for (`Max-Age` is
/// whole seconds, rounded down).
const COOKIE_ROUNDING: Duration = Duration::from_secs(1);

/// Something that happened. (No `Debug`: records hold tokens.)
pub(crate) enum Event<U> {
    /// The timer fired (or something else asks to re-decide now).
    Wake,
    // Fed by the browser shell and the tests (the host build has no page).
    #[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
    /// The page may have been asleep, frozen, hidden or in the back/forward cache and is back
    /// (`visibilitychange` to visible, `pageshow`, `focus`, `resume`): re-read storage,
    /// re-decide, and set the timer anew (one set before a sleep may fire late).
    Resumed,
    #[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
    /// The browser went online (`true`) or offline. Offline, the schedule's refreshes wait for
    /// the network and failed calls do not count toward the backoff.
    Online(bool),
    /// Another tab (or another provider) may have changed storage.
    StorageChanged,
    /// The user signed in; the session is already in storage as `text`.
    SignedIn { session: Session<U>, text: String },
    /// The user state changed; the session is already in storage as `stored` when that is
    /// `Some`, else the engine stores it (shared storage: under the cross-tab lock).
    UserUpdated {
        session: Session<U>,
        stored: Option<String>,
    },
    /// The user signed out.
    SignOut,
    /// A caller asks for a refresh and waits for its outcome under this id.
    RefreshRequested(Id),
    /// The cross-tab lock asked for under this id has been held for [`LOCK_SETTLE`]: what
    /// storage holds now includes what its last holder wrote.
    #[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
    LockGranted(Id),
    /// The refresh callback of this call answered.
    // Fed by the browser shell and the tests; the host build has no task executor to run it.
    #[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
    Answered {
        call: Id,
        result: Result<Refreshed<U>, RefreshError>,
    },
    /// The last `Persist` failed; storage still holds what the input says.
    PersistFailed(String),
    /// The provider is gone: no more timers, hooks or new refreshes; answers still out are
    /// still stored when their chain is current.
    Unmounted,
}

/// A hook of the configuration to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hook {
    /// `on_refreshed`.
    Refreshed,
    /// `on_session_expired`.
    SessionExpired,
    /// `on_session_ending`, for the session that ends at this instant.
    SessionEnding(Timestamp),
    /// `revoke_on_sign_out`, with a refresh token nothing will use again: the session's, when
    /// the user signs out, and a new one a refresh sent before its line ended brings after.
    Revoke(Token),
}

/// Something for the shell to do, in order. (No `Debug`: records hold tokens.)
pub(crate) enum Command<U> {
    /// Call the refresh callback and feed its answer back as [`Event::Answered`].
    CallRefresh { call: Id, params: RefreshParams<U> },
    /// Write this record (`None`: clear), which may be dropped by the browser at `expires_at`.
    Persist {
        text: Option<String>,
        expires_at: Option<Timestamp>,
    },
    /// Ask for the cross-tab refresh lock; feed [`Event::LockGranted`] once held.
    AcquireLock(Id),
    /// Give the lock back.
    ReleaseLock(Id),
    /// Feed [`Event::Wake`] at this instant (replacing any timer), or at no time.
    SetTimer(Option<Timestamp>),
    /// The state, status or refresh info changed.
    Publish,
    /// Run a configured hook.
    Hook(Hook),
    /// Tell these waiters how the refresh went.
    Resolve {
        waiters: Vec<Id>,
        outcome: RefreshOutcome,
    },
    /// Log a decision with the configured logger (`AuthConfig::debug(true)`).
    Log(fn(&Note), Note),
}

#[derive(Debug, Clone)]
struct Call {
    id: Id,
    /// The session's line (see `Session::line`) when the call went out.
    line: u64,
    sent: Token,
    since: Timestamp,
    /// Its answer came: it is not waited for any more.
    answered: bool,
}

/// The cross-tab refresh lock, held by the engine rather than by one flight: a timed-out call
/// keeps it after its flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    Free,
    Wanted(Id),
    Held(Id),
}

#[derive(Debug)]
enum Phase {
    /// Waiting for [`MIN_SPACING`] since the last call to pass.
    Spacing { until: Timestamp },
    /// Waiting for the cross-tab lock; the waiters get an answer at `patience` at the latest.
    Locking { patience: Option<Timestamp> },
    /// The callback is running.
    Calling { call: Call, deadline: Timestamp },
    /// The server rejected `sent`; waiting for another tab's tokens before signing out.
    Settling {
        sent: Token,
        until: Timestamp,
        reason: String,
    },
}

#[derive(Debug)]
struct Flight {
    waiters: Vec<Id>,
    /// The access token the flight is to replace: if another tab replaces it before we hold
    /// the lock (with or without rotating the refresh token), its refresh is ours too.
    requested_for: Token,
    phase: Phase,
}

/// Remembers `item` among the last few.
fn remember<T: PartialEq>(list: &mut Vec<T>, item: T) {
    const KEPT: usize = 8;
    if !list.contains(&item) {
        if list.len() == KEPT {
            list.remove(0);
        }
        list.push(item);
    }
}

/// The session engine of one provider.
pub(crate) struct Engine<U> {
    settings: Settings,
    state: AuthState<U>,
    loading: bool,
    info: RefreshInfo,
    failures: Failures,
    last_call_at: Option<Timestamp>,
    /// The record storage held when we last read or wrote it: a different one means another
    /// tab wrote.
    seen: Option<String>,
    flight: Option<Flight>,
    /// Calls whose flight ended (timeout, sign-out) but whose answer may still come.
    late: Vec<Call>,
    /// Chain tokens this engine itself replaced (its rotations, sign-ins and sign-outs).
    retired: Vec<Token>,
    /// Lines (see `Session::line`) this engine ended (signed out of, or signed in over) or
    /// saw ended.
    ended: Vec<u64>,
    /// The refresh token this engine's own refresh stored last: when another tab ends the line
    /// before it saw that token, this tab revokes it.
    rotated_here: Option<Token>,
    /// The last line that ended here, or that storage said ended: what a sign-out writes to
    /// storage shared with other tabs, and, while signed out, what a stored value is
    /// compared with.
    last_end: Option<Ended>,
    /// The highest sign-in epoch (see `Session::epoch`) this engine has seen: a sign-in here
    /// gets a higher one.
    epoch: u64,
    /// This engine wrote storage outside the cross-tab lock (sign-in, sign-out, a user update,
    /// a heal): another tab's refresh, deciding on a view of storage from before that write,
    /// may write over it. Once the lock is held, storage is read again and the write repaired.
    confirm: bool,
    /// The user state `update_user` set, for its line, until confirmed under the lock.
    pending_user: Option<(u64, U)>,
    next_id: Id,
    lock: Lock,
    timer: Option<Timestamp>,
    unmounted: bool,
    /// The browser says it is offline (`navigator.onLine`).
    offline: bool,
    /// While offline, a refresh that is due is tried at this instant (see [`OFFLINE_PROBE`]).
    probe_at: Timestamp,
    /// The chain token last sent in a call made to ask the server whether a refresh token
    /// that looks expired by the browser's clock really is: if that call fails to reach the
    /// server, the clock decides. Cleared when an answer keeps the session, at sign-out and
    /// at sign-in.
    final_call: Option<Token>,
    /// The session end `on_session_ending` last ran for.
    warned_for: Option<Timestamp>,
    out: Vec<Command<U>>,
    /// The state, status or refresh info changed: [`Command::Publish`] goes out after `out`.
    publish_due: bool,
    hooks: Vec<Command<U>>,
}

impl<U: UserState> Engine<U> {
    /// Starts from what storage holds. Returns whether the stored value must be cleared (it
    /// was unusable or its session is over).
    pub(crate) fn start(
        settings: Settings,
        stored: Option<String>,
        now: Timestamp,
    ) -> (Self, bool) {
        let mut restored = record::restore::<U>(stored.as_deref(), now, settings.can_refresh());
        if restored.clear && settings.can_refresh() {
            // A refresh token that looks expired here may have been rotated by another tab a
            // moment ago, or the clock may have jumped: keep the session (Loading), look under
            // the lock and ask the server (see `proceed`).
            let session = stored.as_deref().and_then(|text| record::read(text, now));
            if let Some(session) = session.filter(|session| session.refresh_expired(now)) {
                restored.state.adopt(session);
                restored.clear = false;
            }
        }
        let last_end = stored.as_deref().and_then(Ended::decode);
        let epoch = match (last_end, restored.state.session()) {
            (Some(end), _) => end.epoch,
            (None, Some(session)) => session.epoch,
            (None, None) => 0,
        };
        let loading = restored
            .state
            .session()
            .is_some_and(|session| session.expires_at() <= now || session.refresh_expired(now));
        let engine = Self {
            settings,
            state: restored.state,
            loading,
            info: RefreshInfo::default(),
            failures: Failures::default(),
            last_call_at: None,
            seen: if restored.clear { None } else { stored },
            flight: None,
            late: Vec::new(),
            retired: Vec::new(),
            ended: last_end.iter().map(|end| end.ended).collect(),
            rotated_here: None,
            last_end,
            epoch,
            confirm: false,
            pending_user: None,
            next_id: 0,
            lock: Lock::Free,
            timer: None,
            unmounted: false,
            offline: false,
            probe_at: now,
            final_call: None,
            warned_for: None,
            out: Vec::new(),
            publish_due: false,
            hooks: Vec::new(),
        };
        (engine, restored.clear)
    }

    pub(crate) fn state(&self) -> &AuthState<U> {
        &self.state
    }

    pub(crate) fn status(&self) -> AuthStatus {
        if self.loading {
            AuthStatus::Loading
        } else if self.state.is_signed_in() {
            AuthStatus::Authenticated
        } else {
            AuthStatus::Unauthenticated
        }
    }

    pub(crate) fn info(&self) -> &RefreshInfo {
        &self.info
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether a refresh is under way.
    pub(crate) fn in_flight(&self) -> bool {
        self.flight.is_some()
    }

    /// Checks a sign-in and returns the session with its record, for the shell to store before
    /// it feeds [`Event::SignedIn`]. `stored` is what storage holds now: the new sign-in's
    /// epoch goes past its epoch and every one this engine has seen.
    pub(crate) fn prepare_sign_in(
        &self,
        request: SignIn<U>,
        now: Timestamp,
        stored: Option<&str>,
    ) -> Result<(Session<U>, String), AuthError> {
        let mut session = Session::from_sign_in(request, now, self.settings.leeway)?;
        let seen = self.epoch.max(stored.map_or(0, record::epoch_of));
        session.epoch = session.epoch.max(seen.saturating_add(1));
        let text = record::encode(&session)?;
        Ok((session, text))
    }

    /// The current session with `user`, and its record, for the shell to store before it feeds
    /// [`Event::UserUpdated`].
    pub(crate) fn prepare_user_update(&self, user: U) -> Result<(Session<U>, String), AuthError> {
        let mut session = self
            .state
            .session()
            .cloned()
            .ok_or(AuthError::NotSignedIn)?;
        session.user = Some(user);
        let text = record::encode(&session)?;
        Ok((session, text))
    }

    /// Handles one event at `now`, with storage holding the record `stored` (decoded only
    /// when it differs from what the engine last saw: most events find storage unchanged).
    pub(crate) fn handle(
        &mut self,
        now: Timestamp,
        stored: Option<String>,
        event: Event<U>,
    ) -> Vec<Command<U>> {
        match event {
            Event::SignedIn { session, text } => self.signed_in(session, text),
            Event::UserUpdated {
                session,
                stored: Some(text),
            } => {
                self.seen = Some(text);
                self.state.adopt(session);
                self.publish();
            }
            Event::UserUpdated {
                session,
                stored: None,
            } => {
                // Written from a view of storage that may lag behind another tab's refresh,
                // it could put rotated-away tokens back: it waits for the lock, under which
                // storage is read afresh and the user merged into it.
                self.pending_user = session.user.clone().map(|user| (session.line, user));
                self.state.adopt(session);
                self.confirm = true;
                self.publish();
            }
            Event::PersistFailed(reason) => {
                // Our memory stays authoritative: nobody else wrote what storage holds.
                self.seen = stored;
                self.info.last_error = Some(format!("could not store the session: {reason}"));
                self.publish();
            }
            event => {
                self.sync(now, stored);
                match event {
                    Event::Wake | Event::Resumed => {
                        self.timer = None;
                        self.deadlines(now);
                    }
                    Event::Online(online) => {
                        if !online && !self.offline {
                            self.probe_at = now + OFFLINE_PROBE;
                        }
                        self.offline = !online;
                    }
                    Event::SignOut => self.user_sign_out(),
                    Event::RefreshRequested(waiter) => self.request(now, Some(waiter)),
                    Event::LockGranted(flight) => self.lock_granted(now, flight),
                    Event::Answered { call, result } => self.answered(now, call, result),
                    Event::Unmounted => self.unmount(),
                    _ => {}
                }
            }
        }
        if !self.unmounted {
            self.decide(now);
        }
        if self.confirm && matches!(self.lock, Lock::Held(_)) {
            self.confirmed();
        }
        self.tend_lock(now);
        self.arm_timer(now);
        let mut out = std::mem::take(&mut self.out);
        // Publishing (an `ImmediateEffect` on a signal) and hooks run app code that may feed
        // events itself: they go last, after this decision's storage, lock and timer work, so
        // that nothing of it is carried out after a newer decision's.
        if std::mem::take(&mut self.publish_due) {
            out.push(Command::Publish);
        }
        out.append(&mut self.hooks);
        out
    }

    fn next_id(&mut self) -> Id {
        self.next_id += 1;
        self.next_id
    }

    fn publish(&mut self) {
        if !self.unmounted {
            self.publish_due = true;
        }
    }

    /// Logs a decision, when `AuthConfig::debug(true)` asked for it: the note is made, from
    /// the engine as it is, only then.
    fn note(&mut self, make: impl FnOnce(&Self) -> Note) {
        if let Some(log) = self.settings.log {
            let note = make(self);
            self.out.push(Command::Log(log, note));
        }
    }

    fn hook(&mut self, hook: Hook) {
        if !self.unmounted {
            self.hooks.push(Command::Hook(hook));
        }
    }

    /// Notes a write of ours made outside the lock, to be confirmed under it.
    fn note_write(&mut self) {
        if self.settings.shared && !matches!(self.lock, Lock::Held(_)) {
            self.confirm = true;
        }
    }

    /// Holding the lock with storage just read (`sync` repaired a stale write over ours, and
    /// merged a pending user update into what it read): stores the user update.
    fn confirmed(&mut self) {
        self.confirm = false;
        let pending = self.pending_user.take();
        let ours = self.state.session().map(|session| session.line);
        if pending.is_some_and(|(line, _)| Some(line) == ours) {
            self.persist();
        }
    }

    /// Writes the current session; signed out, the end of the last line (storage shared by
    /// several providers) or nothing.
    fn persist(&mut self) {
        self.note_write();
        match self.state.session() {
            None => {
                // Shared storage keeps the end of the line, for a tab that signed in a moment
                // ago from a view this one had not caught up with.
                let text = self
                    .last_end
                    .filter(|_| self.settings.shared)
                    .map(|end| end.encode());
                self.seen = text.clone();
                self.out.push(Command::Persist {
                    text,
                    expires_at: None,
                });
            }
            Some(session) => match record::encode(session) {
                Ok(text) => {
                    let expires_at = record::storage_expiry(session);
                    self.seen = Some(text.clone());
                    self.out.push(Command::Persist {
                        text: Some(text),
                        expires_at,
                    });
                }
                Err(err) => self.info.last_error = Some(err.to_string()),
            },
        }
    }

    /// Follows what storage holds when another tab (or provider) changed it: adopts a live
    /// session, signs out (without writing) when it is gone, ended or over.
    fn sync(&mut self, now: Timestamp, stored: Option<String>) {
        if stored == self.seen {
            return;
        }
        self.seen = stored.clone();
        let Some(text) = stored else {
            if self.dropped_at_expiry(now) {
                // The browser dropped our cookie at its `Max-Age` (whole seconds, rounded
                // down): the session ends by its own timer, which runs the final call or
                // `on_session_expired`, not as if another tab had signed out.
                return;
            }
            return self.follow_out(None);
        };
        if let Some(end) = Ended::decode(&text) {
            self.epoch = self.epoch.max(end.epoch);
            if self.is_older(end.ended, end.epoch) {
                // Written from a view that had not seen our later sign-in: write it back.
                return self.persist();
            }
            return self.follow_out(Some(end));
        }
        let session = record::read::<U>(&text, now);
        if let Some(session) = &session {
            self.epoch = self.epoch.max(session.epoch);
            if self.is_stale(session) {
                // A tab with a stale view of storage (Chromium hands writes to other tabs'
                // processes a little late) wrote over newer ones: write ours back, with its
                // user state (user updates are stored under the lock, so the stale write's is
                // the older); when signed out, our end again so that nothing ended comes back.
                return self.persist();
            }
        }
        let can_refresh = self.settings.can_refresh();
        match session {
            // An expired-looking refresh token is judged under the lock, by the server (see
            // `proceed`).
            Some(session)
                if !session.must_end(now, can_refresh)
                    || (can_refresh && session.refresh_expired(now)) =>
            {
                let mut session = session;
                // A user update of ours not confirmed yet stays, whatever the other tab wrote.
                if let Some((_, user)) = self
                    .pending_user
                    .as_ref()
                    .filter(|(line, _)| *line == session.line)
                {
                    session.user = Some(user.clone());
                }
                if self.state.session() == Some(&session) {
                    return;
                }
                let same_chain = self
                    .state
                    .session()
                    .is_some_and(|ours| ours.chain_token() == session.chain_token());
                self.state.adopt(session);
                self.note(|_| Note::Adopted);
                if !same_chain {
                    self.warned_for = None;
                    self.failures = Failures::default();
                    self.loading = false;
                }
                self.publish();
            }
            _ => self.follow_out(None),
        }
    }

    /// Whether storage lost our record because it reached the expiry it was stored with: a
    /// cookie's `Max-Age` counts whole seconds, rounded down, so it goes up to 1 s early.
    fn dropped_at_expiry(&self, now: Timestamp) -> bool {
        self.state
            .session()
            .and_then(record::storage_expiry)
            .is_some_and(|at| at <= now + COOKIE_ROUNDING)
    }

    /// Storage holds no session (`end`: a sign-out's marker): signs out without writing.
    fn follow_out(&mut self, end: Option<Ended>) {
        let mut orphan = None;
        match end {
            Some(end) => {
                if let Some(ours) = self.state.session().filter(|s| s.line == end.ended) {
                    // The tab that ended the line may not have seen the refresh token a
                    // refresh here stored a moment before: revoke it here.
                    orphan = ours
                        .refresh_token()
                        .filter(|token| self.rotated_here.as_ref() == Some(*token))
                        .cloned();
                    self.end_line();
                }
                remember(&mut self.ended, end.ended);
                self.last_end = Some(end);
            }
            // Cleared (or unreadable): no end to stand on, so that a sign-in made after it
            // with a clock set back is not taken as older.
            None => self.last_end = None,
        }
        if self.state.is_signed_in() {
            self.note(|engine| match engine.last_end {
                Some(_) => Note::SignedOutElsewhere,
                None => Note::StorageCleared,
            });
            self.state.sign_out();
            self.failures = Failures::default();
            self.loading = false;
            self.finish(RefreshOutcome::Stale);
            self.publish();
        }
        if let Some(token) = orphan {
            self.revoke(token);
        }
    }

    /// The line and epoch this engine stands on: its session's, or when signed out the last
    /// end it knows of.
    fn mark(&self) -> Option<(u64, u64)> {
        match self.state.session() {
            Some(session) => Some((session.line, session.epoch)),
            None => self.last_end.map(|end| (end.ended, end.epoch)),
        }
    }

    /// Whether a stored value naming `line` at `epoch` comes from an earlier sign-in than the
    /// one this engine stands on: written from a view that had not caught up with ours. Equal
    /// epochs are ordered by line, so that two tabs agree; epoch 0 (written before epochs were
    /// kept) is never taken as older.
    fn is_older(&self, line: u64, epoch: u64) -> bool {
        self.mark().is_some_and(|(ours, our_epoch)| {
            ours != line && epoch != 0 && (epoch, line) < (our_epoch, ours)
        })
    }

    /// Whether a stored session is older than what this engine knows: tokens it replaced
    /// itself, a line it ended, an earlier sign-in, or an earlier generation of its line.
    fn is_stale(&self, stored: &Session<U>) -> bool {
        self.ended.contains(&stored.line)
            || self.is_older(stored.line, stored.epoch)
            || self.state.session().is_some_and(|ours| {
                ours.line == stored.line
                    && (ours.generation > stored.generation
                        || self.retired.contains(stored.chain_token()))
            })
    }

    /// Remembers that this engine ended the current line (signed out of it, or signed in
    /// over it), and its chain token.
    fn end_line(&mut self) {
        if let Some(session) = self.state.session() {
            let (end, token) = (Ended::of(session), session.chain_token().clone());
            remember(&mut self.ended, end.ended);
            remember(&mut self.retired, token);
            self.last_end = Some(end);
        }
        self.pending_user = None;
    }

    fn signed_in(&mut self, session: Session<U>, text: String) {
        self.note(|_| Note::SignedIn {
            expires_in: session
                .expires_at()
                .saturating_duration_since(session.refreshed_at()),
        });
        self.warned_for = None;
        self.final_call = None;
        if self.state.session().map(|ours| ours.line) != Some(session.line) {
            self.end_line();
        }
        // Nothing of the new session counts as stale, whatever came before.
        self.ended.retain(|line| *line != session.line);
        self.retired.retain(|token| token != session.chain_token());
        self.epoch = self.epoch.max(session.epoch);
        self.seen = Some(text);
        self.state.adopt(session);
        self.note_write();
        self.failures = Failures::default();
        self.loading = false;
        self.finish(RefreshOutcome::Stale);
        self.publish();
    }

    /// The user signs out: the session ends, and its refresh token is revoked (when a
    /// `revoke_on_sign_out` hook is configured; a refresh still out is revoked when its answer
    /// comes, see `answered`).
    fn user_sign_out(&mut self) {
        let refresh_token = self
            .state
            .session()
            .and_then(|session| session.refresh_token().cloned());
        if self.state.is_signed_in() {
            self.note(|_| Note::SignedOut);
        }
        self.sign_out();
        if let Some(token) = refresh_token {
            self.revoke(token);
        }
    }

    /// Asks the shell to revoke `token`; also after unmount, since a refresh answer that comes
    /// then is still handled.
    fn revoke(&mut self, token: Token) {
        if !self.settings.revoke {
            return;
        }
        self.note(|_| Note::Revoking);
        self.hooks.push(Command::Hook(Hook::Revoke(token)));
    }

    fn sign_out(&mut self) {
        self.final_call = None;
        if !self.state.is_signed_in() {
            // Nothing here to end: a write from a view of storage that may lag could only
            // wipe a sign-in another tab made a moment ago.
            return;
        }
        self.warned_for = None;
        self.end_line();
        self.state.sign_out();
        self.persist();
        self.failures = Failures::default();
        self.loading = false;
        self.finish(RefreshOutcome::Stale);
        self.publish();
    }

    /// Ends the session without a user sign-out (expiry, rejected refresh).
    fn end_session(&mut self, reason: String) {
        if !self.state.is_signed_in() {
            return;
        }
        self.note(|_| Note::Ended(reason.clone()));
        self.finish(RefreshOutcome::SignedOut(reason.clone()));
        self.sign_out();
        self.info.last_error = Some(reason);
        self.hook(Hook::SessionExpired);
    }

    fn record_failure(&mut self, now: Timestamp, reason: &str) {
        // Offline every call fails: that says nothing about the server, and must not stretch
        // the backoff past the moment the network is back.
        if !self.offline {
            self.failures.record(now);
        }
        self.note(|_| Note::RefreshFailed(reason.to_owned()));
        self.info.last_error = Some(reason.to_owned());
    }

    /// Ends the flight: answers its waiters and keeps a call still out, so that its answer is
    /// recognised when it comes.
    fn finish(&mut self, outcome: RefreshOutcome) {
        let Some(flight) = self.flight.take() else {
            return;
        };
        if let Phase::Calling { call, .. } = flight.phase {
            if !call.answered {
                self.late.push(call);
            }
        }
        if !flight.waiters.is_empty() {
            self.out.push(Command::Resolve {
                waiters: flight.waiters,
                outcome,
            });
        }
        self.info.in_flight = false;
        self.loading = false;
        self.publish();
    }

    /// Until when a call that timed out with the current chain token may still be answered
    /// with its rotation, during which no other tab may send that token.
    fn late_call_guards(&self, now: Timestamp) -> Option<Timestamp> {
        let chain = self.state.session()?.chain_token();
        self.late
            .iter()
            .filter(|call| call.sent == *chain && now < call.since + LATE_CALL_HOLD)
            .map(|call| call.since + LATE_CALL_HOLD)
            .max()
    }

    /// Gives the lock back once neither a flight nor a late call needs it.
    fn tend_lock(&mut self, now: Timestamp) {
        // Calls unanswered past the hold are given up on (a promise that never settles).
        self.late.retain(|call| now < call.since + LATE_CALL_HOLD);
        if self.confirm && self.lock == Lock::Free && !self.unmounted {
            let id = self.next_id();
            self.lock = Lock::Wanted(id);
            self.out.push(Command::AcquireLock(id));
        }
        let Lock::Held(id) = self.lock else {
            return;
        };
        let flight_needs_it = self
            .flight
            .as_ref()
            .is_some_and(|flight| !matches!(flight.phase, Phase::Spacing { .. }));
        if flight_needs_it || self.late_call_guards(now).is_some() {
            return;
        }
        self.lock = Lock::Free;
        self.out.push(Command::ReleaseLock(id));
    }

    /// Starts a refresh, or joins the one under way. `waiter` is `None` for the schedule's
    /// own refreshes.
    fn request(&mut self, now: Timestamp, waiter: Option<Id>) {
        let resolve = |engine: &mut Self, outcome| {
            if let Some(waiter) = waiter {
                engine.out.push(Command::Resolve {
                    waiters: vec![waiter],
                    outcome,
                });
            }
        };
        let Some(timing) = self.settings.timing else {
            return resolve(self, RefreshOutcome::NotConfigured);
        };
        if self.unmounted {
            return resolve(self, RefreshOutcome::Stale);
        }
        let Some(session) = self.state.session() else {
            return resolve(self, RefreshOutcome::NotSignedIn);
        };
        if let Some(flight) = &mut self.flight {
            flight.waiters.extend(waiter);
            return;
        }
        if waiter.is_some() && in_backoff(&self.failures, &timing.backoff, now) {
            // On-demand refreshes (a burst of 401s) must not hammer a server that is down.
            let last = self.info.last_error.clone();
            return resolve(
                self,
                RefreshOutcome::Failed(last.unwrap_or_else(|| "the last refresh failed".into())),
            );
        }
        let requested_for = session.auth_token().clone();
        // The next call waits out the minimum spacing, whatever the tokens say; while failing,
        // the backoff (at least 100 ms, doubling, from the last failure) spaces the calls, and
        // never less than its minimum from the last call.
        let spacing = if self.failures.count == 0 {
            MIN_SPACING
        } else {
            MIN_BACKOFF
        };
        // (`min`: a clock set back must not stall the flight.)
        let until = self
            .last_call_at
            .map_or(now, |at| (at + spacing).min(now + spacing));
        self.flight = Some(Flight {
            waiters: waiter.into_iter().collect(),
            requested_for,
            phase: Phase::Spacing { until },
        });
        self.info.in_flight = true;
        self.publish();
        self.deadlines(now);
    }

    /// Moves the flight on when the moment its phase waits for has come.
    fn deadlines(&mut self, now: Timestamp) {
        let Some(flight) = &mut self.flight else {
            return;
        };
        match &flight.phase {
            Phase::Spacing { until } if *until <= now => self.advance(now),
            Phase::Locking {
                patience: Some(patience),
            } if *patience <= now => {
                // Another tab's refresh holds the lock: answer the waiters, keep waiting (and
                // answer later waiters after the same patience).
                let waiters = std::mem::take(&mut flight.waiters);
                flight.phase = Phase::Locking {
                    patience: Some(now + self.settings.timeout),
                };
                if !waiters.is_empty() {
                    self.out.push(Command::Resolve {
                        waiters,
                        outcome: RefreshOutcome::Failed(
                            "another tab's refresh is taking long".into(),
                        ),
                    });
                }
            }
            Phase::Calling { deadline, call } if *deadline <= now => {
                let final_call = self.final_call.as_ref() == Some(&call.sent);
                let loading = self.loading;
                // Whole milliseconds: formatting a float would add about 10 KB of wasm.
                let reason = format!(
                    "refresh timed out after {} ms",
                    self.settings.timeout.as_millis() as u64
                );
                // A timeout does not say the server could not be asked: it may have rotated
                // the token, and the late answer is the only copy of the new one. The session
                // is held for it (`late_call_guards`), a final call's too: the clock decides
                // once the hold is over (see `proceed`). A page opened on that session stays
                // `Loading` meanwhile: it is not known to be signed in.
                self.record_failure(now, &reason);
                self.finish(RefreshOutcome::Failed(reason));
                self.loading = loading && final_call;
            }
            Phase::Settling { sent, until, .. } if *until <= now => {
                let sent = sent.clone();
                self.settled(sent);
            }
            _ => {}
        }
    }

    /// The spacing is over: take the lock (shared storage), then check and call.
    fn advance(&mut self, now: Timestamp) {
        if !self.settings.shared {
            return self.proceed(now);
        }
        match self.lock {
            Lock::Held(_) => return self.proceed(now),
            // A write of ours is waiting for the lock already: the refresh waits with it.
            Lock::Wanted(_) => self.note(|_| Note::LockWanted),
            Lock::Free => {
                let id = self.next_id();
                self.lock = Lock::Wanted(id);
                self.note(|_| Note::LockWanted);
                self.out.push(Command::AcquireLock(id));
            }
        }
        if let Some(flight) = &mut self.flight {
            flight.phase = Phase::Locking {
                patience: Some(now + self.settings.timeout),
            };
        }
    }

    /// Holding the lock (or needing none), with storage just read: call, unless another tab
    /// already replaced the tokens this flight was for.
    fn proceed(&mut self, now: Timestamp) {
        let Some(flight) = &self.flight else {
            return;
        };
        match self.state.session() {
            None => self.finish(RefreshOutcome::NotSignedIn),
            Some(session) if *session.auth_token() != flight.requested_for => {
                self.finish(RefreshOutcome::Refreshed)
            }
            // Checked under the lock with storage just read: no other tab holds newer tokens.
            // An earlier call of ours may still bring them, though.
            Some(session) if session.refresh_expired(now) => {
                let chain = session.chain_token().clone();
                if self.late_call_guards(now).is_some() {
                    let reason = "waiting for the answer to an earlier refresh".to_owned();
                    self.finish(RefreshOutcome::Failed(reason));
                } else if (self.offline && now < self.probe_at)
                    || self.final_call.as_ref() == Some(&chain)
                {
                    // The server was asked and could not be reached (or cannot be now): the
                    // clock decides.
                    self.end_session("the refresh token expired".into());
                } else {
                    if self.offline {
                        self.probe_at = now + OFFLINE_PROBE;
                    }
                    // Expired by the browser's clock, which may have jumped since the server
                    // last told us its time: the server decides. Its refusal ends the session;
                    // its answer judges the clock anew and keeps the session, unless the token
                    // is still at its end on the clock so judged (see `apply`).
                    self.final_call = Some(chain);
                    self.call(now);
                }
            }
            Some(_) => self.call(now),
        }
    }

    fn call(&mut self, now: Timestamp) {
        let Some(session) = self.state.session() else {
            return self.finish(RefreshOutcome::NotSignedIn);
        };
        let (sent, line) = (session.chain_token().clone(), session.line);
        let params = RefreshParams {
            auth_token: session.auth_token().clone(),
            refresh_token: session.refresh_token().cloned(),
            user: session.user().cloned(),
        };
        let id = self.next_id();
        if let Some(flight) = &mut self.flight {
            flight.phase = Phase::Calling {
                call: Call {
                    id,
                    line,
                    sent,
                    since: now,
                    answered: false,
                },
                deadline: now + self.settings.timeout,
            };
        }
        self.last_call_at = Some(now);
        self.note(|_| Note::Calling);
        self.out.push(Command::CallRefresh { call: id, params });
    }

    fn lock_granted(&mut self, now: Timestamp, id: Id) {
        if self.lock != Lock::Wanted(id) {
            // Nobody here wants it any more.
            self.out.push(Command::ReleaseLock(id));
            return;
        }
        self.lock = Lock::Held(id);
        if matches!(
            self.flight.as_ref().map(|flight| &flight.phase),
            Some(Phase::Locking { .. })
        ) {
            self.note(|_| Note::LockGranted);
            self.proceed(now);
        }
    }

    fn answered(&mut self, now: Timestamp, id: Id, result: Result<Refreshed<U>, RefreshError>) {
        let current = match &mut self.flight {
            Some(Flight {
                phase: Phase::Calling { call, .. },
                ..
            }) if call.id == id => {
                call.answered = true;
                Some((call.sent.clone(), call.since, call.line))
            }
            _ => None,
        };
        let (sent, sent_at, line) = match current.clone() {
            Some(call) => call,
            None => match self.late.iter().position(|call| call.id == id) {
                Some(index) => {
                    let call = self.late.swap_remove(index);
                    (call.sent, call.since, call.line)
                }
                None => return,
            },
        };
        let is_current = current.is_some();
        let chain_current = self
            .state
            .session()
            .is_some_and(|session| *session.chain_token() == sent);
        if !chain_current {
            // Signed out, signed in anew, or another tab moved the chain on: not ours to apply.
            // A new refresh token for a line that ended (here, or as another tab told) would
            // stay valid on the server with nobody to use it: revoke it.
            self.note(|_| Note::AnswerDropped);
            let orphan = match &result {
                Ok(refreshed) if self.ended.contains(&line) => refreshed
                    .refresh_token
                    .clone()
                    .filter(|token| *token != sent),
                _ => None,
            };
            if let Some(token) = orphan {
                self.revoke(token);
            }
            if is_current {
                self.finish(RefreshOutcome::Stale);
            }
            return;
        }
        match result {
            Ok(refreshed) => self.apply(now, &sent, sent_at, refreshed, is_current),
            Err(RefreshError::Rejected(reason)) if is_current => {
                if self.late_call_guards(now).is_some() {
                    // An earlier call with this token is still out and may have rotated it.
                    let reason = format!(
                        "{reason} (an earlier refresh with the same token is still unanswered)"
                    );
                    self.record_failure(now, &reason);
                    self.finish(RefreshOutcome::Failed(reason));
                } else if self.settings.shared {
                    if let Some(flight) = &mut self.flight {
                        flight.phase = Phase::Settling {
                            sent,
                            until: now + SETTLE,
                            reason,
                        };
                    }
                } else {
                    self.end_session(reason);
                }
            }
            Err(RefreshError::Transient(reason)) if is_current => {
                self.record_failure(now, &reason);
                self.finish(RefreshOutcome::Failed(reason.clone()));
                self.final_call_failed(now, &sent, &reason);
            }
            // A late failure: the attempt it belonged to already counted as failed. Taken off
            // the late calls, it no longer holds the session: the next decision may end it.
            Err(_) => {}
        }
    }

    /// A call sent to ask whether a refresh token that looks expired really is was answered
    /// with a failure ([`RefreshError::Transient`]: offline, a 5xx, an unreadable answer):
    /// nothing more comes for it, and the clock decides now (not after a backoff, during which
    /// the status would show signed in). A timeout is not this: its answer may still come,
    /// and the late-call hold waits for it.
    fn final_call_failed(&mut self, now: Timestamp, sent: &Token, reason: &str) {
        let expired = self
            .state
            .session()
            .is_some_and(|session| session.chain_token() == sent && session.refresh_expired(now));
        if expired && self.final_call.as_ref() == Some(sent) {
            self.end_session(format!(
                "the refresh token expired (the server did not renew it: {reason})"
            ));
        }
    }

    fn apply(
        &mut self,
        now: Timestamp,
        sent: &Token,
        sent_at: Timestamp,
        refreshed: Refreshed<U>,
        is_current: bool,
    ) {
        if !is_current && self.is_older_than_current(&refreshed, now) {
            return;
        }
        let applied = self
            .state
            .apply_refresh(sent, refreshed, now, sent_at, self.settings.leeway);
        let rotated = self
            .state
            .session()
            .is_some_and(|session| session.chain_token() != sent);
        if rotated {
            remember(&mut self.retired, sent.clone());
        }
        match applied {
            // Answered in the refresh token's last moments (the final call at its end, or a
            // refresh sent just before it), and the answer judged the clock to agree with the
            // server's within its noise: the refresh token (kept, or a new one with an
            // absolute end) is at its end, as announced. (Any other past end was forgotten:
            // see `forget_past_end`.) It ends now, before the new tokens are stored or anybody
            // is told of a refresh.
            RefreshApplied::Applied
                if self
                    .state
                    .session()
                    .is_some_and(|session| session.refresh_expired(now)) =>
            {
                self.offline = false;
                self.end_session("the refresh token expired".into());
            }
            RefreshApplied::Applied => {
                self.note(|_| Note::Refreshed { rotated });
                if rotated {
                    self.rotated_here = self
                        .state
                        .session()
                        .and_then(|session| session.refresh_token().cloned());
                }
                // An answer came: the network works, whatever `navigator.onLine` said.
                self.offline = false;
                self.final_call = None;
                self.persist();
                self.failures = Failures::default();
                self.loading = false;
                self.info.count += 1;
                self.info.last_refreshed_at = Some(now);
                self.info.last_error = None;
                self.publish();
                self.hook(Hook::Refreshed);
                // A retry with the same token is now pointless: its answer will be stale.
                let retry_with_same_token = matches!(
                    &self.flight,
                    Some(Flight { phase: Phase::Calling { call, .. }, .. }) if call.sent == *sent
                );
                if is_current || retry_with_same_token {
                    self.finish(RefreshOutcome::Refreshed);
                }
            }
            RefreshApplied::Unusable(err) => {
                if rotated {
                    self.persist();
                    self.publish();
                }
                let reason = format!("the server sent an unusable token: {err}");
                if is_current {
                    self.record_failure(now, &reason);
                    self.finish(RefreshOutcome::Failed(reason));
                }
            }
            RefreshApplied::Stale => {
                if is_current {
                    self.finish(RefreshOutcome::Stale);
                }
            }
        }
    }

    /// Whether a late answer carries nothing newer than the session: it does not rotate the
    /// refresh token, and its access token expires no later than the current one. (Without
    /// rotation the chain token never changes, so late answers arriving out of order would
    /// otherwise put an older access token back.)
    fn is_older_than_current(&self, refreshed: &Refreshed<U>, now: Timestamp) -> bool {
        let Some(session) = self.state.session() else {
            return false;
        };
        let rotates = refreshed
            .refresh_token
            .as_ref()
            .is_some_and(|token| token != session.chain_token());
        // On the session's clock offset, so that both expiries are judged alike.
        let expires_at = TokenInfo::inspect_skewed(
            refreshed.auth_token.expose(),
            refreshed.expires_in,
            now,
            self.settings.leeway,
            session.clock_offset,
        )
        .map(|info| info.expires_at);
        !rotates && expires_at.is_ok_and(|at| at <= session.expires_at())
    }

    /// The settle time after a rejection is over: sign out unless another tab's tokens came.
    fn settled(&mut self, sent: Token) {
        let reason = match self.flight.as_ref().map(|flight| &flight.phase) {
            Some(Phase::Settling { reason, .. }) => reason.clone(),
            _ => return,
        };
        let still_ours = self
            .state
            .session()
            .is_some_and(|session| *session.chain_token() == sent);
        if still_ours {
            self.end_session(reason);
        } else {
            let outcome = if self.state.is_signed_in() {
                RefreshOutcome::Refreshed
            } else {
                RefreshOutcome::Stale
            };
            self.finish(outcome);
        }
    }

    fn unmount(&mut self) {
        self.unmounted = true;
        if let Some(flight) = &mut self.flight {
            let waiters = std::mem::take(&mut flight.waiters);
            if !waiters.is_empty() {
                self.out.push(Command::Resolve {
                    waiters,
                    outcome: RefreshOutcome::Stale,
                });
            }
        }
        // What the server is part of finishes, holding the lock: a call still out (its answer
        // is stored) and the settle after a rejection (another provider must not resend the
        // refused token meanwhile). Anything else ends now.
        if !matches!(
            self.flight.as_ref().map(|flight| &flight.phase),
            Some(Phase::Calling { .. } | Phase::Settling { .. })
        ) {
            self.finish(RefreshOutcome::Stale);
        }
    }

    /// Asks the schedule what to do now, does it, and sets the one timer.
    fn decide(&mut self, now: Timestamp) {
        let decision = decide(
            self.state.session(),
            self.settings.timing.as_ref(),
            &self.failures,
            now,
        );
        // A call with the current chain token still out may bring its rotation, with a new
        // expiry: the session does not end under it (the late-call hold bounds the wait).
        let call_out = matches!(
            self.flight.as_ref().map(|flight| &flight.phase),
            Some(Phase::Calling { call, .. })
                if self.state.session().is_some_and(|s| *s.chain_token() == call.sent)
        ) || self.late_call_guards(now).is_some();
        let refresh_expired = self
            .state
            .session()
            .is_some_and(|session| session.refresh_expired(now));
        match decision {
            Decision::SignOutNow if call_out => {}
            // The refresh token looks expired: ask the server (and, in shared storage, look
            // under the lock whether another tab rotated it a moment ago) before ending the
            // session (see `proceed`).
            Decision::SignOutNow
                if refresh_expired && self.settings.can_refresh() && self.flight.is_none() =>
            {
                self.request(now, None);
            }
            Decision::SignOutNow if refresh_expired && self.settings.can_refresh() => {}
            Decision::SignOutNow => {
                let reason = if refresh_expired {
                    "the refresh token expired"
                } else {
                    "the access token expired"
                };
                self.end_session(reason.into());
            }
            // Offline, the call would fail: refresh when the network is back, or when the
            // probe is due in case `navigator.onLine` is wrong.
            Decision::RefreshNow if self.flight.is_none() && !self.offline => {
                self.request(now, None)
            }
            Decision::RefreshNow if self.flight.is_none() && self.probe_at <= now => {
                self.probe_at = now + OFFLINE_PROBE;
                self.request(now, None)
            }
            // A page opened offline with an expired access token: the session is kept, with
            // nothing to wait for until the network is back.
            Decision::RefreshNow if self.offline && self.loading => {
                self.loading = false;
                self.publish();
            }
            _ => {}
        }
        if let Some((warn_at, ends_at)) = self.session_warning() {
            if warn_at <= now && now < ends_at {
                self.warned_for = Some(ends_at);
                self.hook(Hook::SessionEnding(ends_at));
            }
        }
    }

    /// When `on_session_ending` is to run and the end it is for, while it has not run for
    /// that end: `None` when it is not configured, nobody is signed in, or the end is unknown.
    /// A rotation that moves the end later warns again before the new end.
    fn session_warning(&self) -> Option<(Timestamp, Timestamp)> {
        let before = self.settings.warn_before?;
        let ends_at = self.state.session()?.ends_at(self.settings.can_refresh())?;
        // A new end only when it moved later by more than the warning's lead (a rotation),
        // not for a few hundred ms of re-estimated clock offset; a new chain starts afresh.
        let new_end = self
            .warned_for
            .is_none_or(|warned| ends_at > warned + before);
        new_end.then(|| (ends_at - before, ends_at))
    }

    /// Sets the one timer: the schedule's next decision, the end of the flight's phase, or
    /// the end of the lock hold for a late call, whichever comes first.
    fn arm_timer(&mut self, now: Timestamp) {
        let scheduled = if self.unmounted {
            None
        } else {
            match decide(
                self.state.session(),
                self.settings.timing.as_ref(),
                &self.failures,
                now,
            ) {
                Decision::WakeAt(at) => Some(at),
                // Offline the refresh waits for `Online` or the probe; the refresh token may
                // end meanwhile.
                // (The probe waits for a flight under way to end: it cannot start before.)
                Decision::RefreshNow if self.offline => {
                    let probe = self.flight.is_none().then_some(self.probe_at);
                    let end = self
                        .state
                        .session()
                        .and_then(|session| session.refresh_expires_at());
                    [probe, end].into_iter().flatten().min()
                }
                _ => None,
            }
        };
        let warning = self
            .session_warning()
            .map(|(warn_at, _)| warn_at)
            .filter(|at| *at > now && !self.unmounted);
        let phase_ends = self.flight.as_ref().and_then(|flight| match &flight.phase {
            Phase::Spacing { until } | Phase::Settling { until, .. } => Some(*until),
            Phase::Calling { deadline, .. } => Some(*deadline),
            Phase::Locking { patience } => *patience,
        });
        // The end of a late call's guard: give the lock back, or end a session it held open.
        let hold_ends = self.late_call_guards(now);
        let wake = [scheduled, phase_ends, hold_ends, warning]
            .into_iter()
            .flatten()
            .min();
        if wake != self.timer {
            if let Some(at) = wake {
                self.note(|engine| Note::Timer {
                    fires_in: at.saturating_duration_since(now),
                    why: if wake == scheduled {
                        engine.why_scheduled(at)
                    } else if wake == phase_ends {
                        Wake::StepEnd
                    } else if wake == hold_ends {
                        Wake::LateAnswer
                    } else {
                        Wake::EndingNotice
                    },
                });
            }
            self.timer = wake;
            self.out.push(Command::SetTimer(wake));
        }
    }

    /// Why the schedule's next decision is at `at` (for the debug log).
    fn why_scheduled(&self, at: Timestamp) -> Wake {
        let refresh_end = self
            .state
            .session()
            .and_then(|session| session.refresh_expires_at());
        if !self.settings.can_refresh() {
            Wake::SessionEnd
        } else if refresh_end == Some(at) {
            Wake::RefreshTokenEnd
        } else if self.offline && at == self.probe_at {
            Wake::OfflineProbe
        } else if self.failures.count > 0 {
            Wake::Retry
        } else {
            Wake::RefreshDue
        }
    }
}

/// What the [`Driver`] needs from its surroundings: the browser, or the simulation.
pub(crate) trait Io<U> {
    /// The current time.
    fn now(&self) -> Timestamp;
    /// The stored record, if any.
    fn load(&self) -> Option<String>;
    /// Writes (`Some`) or clears (`None`) the record.
    fn save(
        &self,
        text: Option<&str>,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), AuthError>;
    /// Starts the refresh callback; its answer comes back as [`Event::Answered`].
    fn call_refresh(&self, call: Id, params: RefreshParams<U>);
    /// Asks for the cross-tab lock; [`Event::LockGranted`] once it has been held for
    /// [`LOCK_SETTLE`].
    fn acquire_lock(&self, flight: Id);
    /// Gives the lock back.
    fn release_lock(&self, flight: Id);
    /// Replaces the timer: [`Event::Wake`] at `at`, or none.
    fn set_timer(&self, at: Option<Timestamp>, now: Timestamp);
    /// Shows the new state.
    fn publish(&self, state: &AuthState<U>, status: AuthStatus, info: &RefreshInfo);
    /// Runs a configured hook.
    fn hook(&self, hook: Hook);
    /// Answers one waiter.
    fn resolve(&self, waiter: Id, outcome: RefreshOutcome);
}

/// Runs an [`Engine`]: reads storage for each event, handles it, carries out the commands.
pub(crate) struct Driver<U, I> {
    engine: RefCell<Engine<U>>,
    io: I,
    next_waiter: Cell<Id>,
}

impl<U: UserState, I: Io<U>> Driver<U, I> {
    /// Builds the engine from what storage holds, clearing an unusable value. Nothing is
    /// decided until [`Driver::feed`] is first called (usually with [`Event::Wake`]).
    // A server render (`ssr`) runs no driver, only `Engine::start`.
    #[cfg_attr(all(feature = "ssr", not(target_arch = "wasm32")), allow(dead_code))]
    pub(crate) fn new(settings: Settings, io: I) -> Self {
        let now = io.now();
        let (engine, clear) = Engine::start(settings, io.load(), now);
        if clear {
            // Corrupt, foreign, expired or partial: remove it so it is not read again.
            let _ = io.save(None, None, now);
        }
        Self {
            engine: RefCell::new(engine),
            io,
            next_waiter: Cell::new(0),
        }
    }

    pub(crate) fn io(&self) -> &I {
        &self.io
    }

    /// The engine, to read its state. Never hold this across a call that feeds an event.
    pub(crate) fn engine(&self) -> Ref<'_, Engine<U>> {
        self.engine.borrow()
    }

    /// Handles one event and carries out what it asks for.
    pub(crate) fn feed(&self, event: Event<U>) {
        let now = self.io.now();
        let stored = self.io.load();
        let commands = self.engine.borrow_mut().handle(now, stored, event);
        self.execute(commands, now);
    }

    /// A new waiter id for [`Event::RefreshRequested`].
    pub(crate) fn new_waiter(&self) -> Id {
        let id = self.next_waiter.get() + 1;
        self.next_waiter.set(id);
        id
    }

    /// Signs in: checks the request, stores it, then tells the engine. On error nothing
    /// changed.
    pub(crate) fn sign_in(&self, request: SignIn<U>) -> Result<(), AuthError> {
        let now = self.io.now();
        let stored = self.io.load();
        let (session, text) =
            self.engine
                .borrow()
                .prepare_sign_in(request, now, stored.as_deref())?;
        self.io
            .save(Some(&text), record::storage_expiry(&session), now)?;
        self.feed(Event::SignedIn { session, text });
        Ok(())
    }

    /// Replaces the user state of the current session (as storage holds it now, so that
    /// another tab's refresh is not undone) and tells the engine. Storage no other tab shares
    /// is written here; shared storage under the cross-tab lock, by the engine.
    pub(crate) fn update_user(&self, user: U) -> Result<(), AuthError> {
        self.feed(Event::StorageChanged);
        let now = self.io.now();
        let (session, text) = self.engine.borrow().prepare_user_update(user)?;
        let stored = if self.engine.borrow().settings().shared {
            None
        } else {
            self.io
                .save(Some(&text), record::storage_expiry(&session), now)?;
            Some(text)
        };
        self.feed(Event::UserUpdated { session, stored });
        Ok(())
    }

    /// Shows the engine's state, status and refresh info. Setting signals may run app code
    /// at once (an `ImmediateEffect` that signs out): no borrow of the engine is held then.
    pub(crate) fn publish(&self) {
        let (state, status, info) = {
            let engine = self.engine.borrow();
            (
                engine.state().clone(),
                engine.status(),
                engine.info().clone(),
            )
        };
        self.io.publish(&state, status, &info);
    }

    fn execute(&self, commands: Vec<Command<U>>, now: Timestamp) {
        let mut unsaved: Option<String> = None;
        for command in commands {
            match command {
                Command::Persist { text, expires_at } => {
                    if let Err(err) = self.io.save(text.as_deref(), expires_at, now) {
                        unsaved = Some(err.to_string());
                        self.feed(Event::PersistFailed(err.to_string()));
                    }
                }
                Command::CallRefresh { call, params } => self.io.call_refresh(call, params),
                Command::AcquireLock(flight) => self.io.acquire_lock(flight),
                Command::ReleaseLock(flight) => self.io.release_lock(flight),
                Command::SetTimer(at) => self.io.set_timer(at, now),
                Command::Publish => self.publish(),
                Command::Hook(hook) => self.io.hook(hook),
                Command::Log(log, note) => log(&note),
                Command::Resolve { waiters, outcome } => {
                    let outcome = match (outcome, &unsaved) {
                        (RefreshOutcome::Refreshed, Some(reason)) => {
                            RefreshOutcome::RefreshedNotStored(reason.clone())
                        }
                        (outcome, _) => outcome,
                    };
                    for waiter in waiters {
                        self.io.resolve(waiter, outcome.clone());
                    }
                }
            }
        }
    }
}
