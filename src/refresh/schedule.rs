//! When to refresh, retry or sign out.
//!
//! Pure: no timers, no web-sys, time is passed in. The session engine asks [`decide`] what to
//! do at `now` and sets one timer for the answer; a timer that fires late (laptop asleep,
//! throttled tab) simply asks again, sees that the moment has passed, and acts once.

use std::time::Duration;

use crate::state::Session;
use crate::time::Timestamp;

/// The longest delay a browser timer accepts (2³¹−1 ms, about 24.8 days); longer delays
/// fire at once, so the engine never asks for more and re-decides when it wakes.
pub const MAX_TIMER_DELAY: Duration = Duration::from_millis(i32::MAX as u64);

/// The shortest refresh interval honoured, so that a zero interval cannot spin.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest time between a refresh call that did not fail and the next one of the same
/// store, whatever the tokens say: tokens living a second or less, or a clock far ahead of the
/// server's, cannot make it refresh in a loop. (After a failure, the [`Backoff`] spaces calls.)
pub const MIN_SPACING: Duration = Duration::from_secs(1);

/// The shortest backoff delay honoured, so that a zero delay cannot retry a down server in a
/// loop.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// The shortest refresh timeout honoured.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);

/// A refresh timeout within what a browser timer can wait for ([`MIN_TIMEOUT`] to
/// [`MAX_TIMER_DELAY`]).
pub fn clamp_timeout(timeout: Duration) -> Duration {
    timeout.clamp(MIN_TIMEOUT, MAX_TIMER_DELAY)
}

/// Delays between retries after transient failures: `initial`, doubling, capped at `max`
/// (default 1 s doubling up to 60 s). `initial` is at least 100 ms and `max` at least
/// `initial`, whatever is asked, so that a down server is never retried in a loop.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::refresh::Backoff;
/// use std::time::Duration;
///
/// let backoff = Backoff::default();
/// let delays: Vec<u64> = (1..=8).map(|n| backoff.delay(n).as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
///
/// let quick = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
/// let delays: Vec<u128> = (1..=5).map(|n| quick.delay(n).as_millis()).collect();
/// assert_eq!(delays, [500, 1000, 2000, 4000, 4000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub(crate) initial: Duration,
    /// Longest delay.
    pub(crate) max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// `initial` after the first failure, doubling after each further one, up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The delay after `failures` consecutive failures (`failures >= 1`).
    pub fn delay(&self, failures: u32) -> Duration {
        let initial = self.initial.max(MIN_BACKOFF);
        let max = self.max.max(initial);
        let doublings = failures.saturating_sub(1).min(31);
        initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(max)
            .min(max)
    }
}

/// Consecutive transient refresh failures since the last success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    /// How many in a row.
    pub count: u32,
    /// When the last one happened.
    pub last_at: Option<Timestamp>,
}

impl Failures {
    /// Records one more failure at `now`.
    pub fn record(&mut self, now: Timestamp) {
        self.count = self.count.saturating_add(1);
        self.last_at = Some(now);
    }
}

/// Whether `now` is still inside the backoff after the last transient failure. On-demand
/// refreshes (the HTTP client's) do not call the server then: they fail at once with the last
/// error, so a burst of 401s cannot hammer a server that is down.
pub fn in_backoff(failures: &Failures, backoff: &Backoff, now: Timestamp) -> bool {
    match (failures.count, failures.last_at) {
        // `min`: a clock set back must not stretch the backoff.
        (1.., Some(last_at)) => now < last_at.min(now) + backoff.delay(failures.count),
        _ => false,
    }
}

/// The refresh settings the schedule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Refresh this long after the last refresh or sign-in.
    pub interval: Duration,
    /// Refresh this long before the access token expires.
    pub leeway: Duration,
    /// Retry delays after transient failures.
    pub backoff: Backoff,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Signed out: no timer.
    Idle,
    /// Call the refresh callback now.
    RefreshNow,
    /// End the session now (access token expired with no refresh, or refresh token expired).
    SignOutNow,
    /// Nothing now; decide again at this instant.
    WakeAt(Timestamp),
}

/// Decides what to do at `now` for `session`, given the refresh timing (`None` when no refresh
/// is configured) and the failures since the last success.
///
/// - No refresh configured: sign out when the access token or the refresh token expires,
///   whichever comes first.
/// - Refresh token expired: sign out, also in the middle of retries. (The session engine
///   sends a refresh token that looks expired once more before it signs out, in case the
///   browser's clock jumped since the server last told its time.)
/// - Otherwise refresh at the earlier of `refreshed_at + interval` and
///   `expires_at - leeway` (but never earlier than half-way through the token's lifetime, so
///   tokens shorter than twice the leeway do not refresh in a loop), or, after transient failures, at the last failure plus the
///   backoff delay.
pub fn decide<U>(
    session: Option<&Session<U>>,
    timing: Option<&Timing>,
    failures: &Failures,
    now: Timestamp,
) -> Decision {
    let Some(session) = session else {
        return Decision::Idle;
    };
    if session.refresh_expired(now) {
        return Decision::SignOutNow;
    }
    let Some(timing) = timing else {
        let ends_at = session.ends_without_refresh();
        return if ends_at <= now {
            Decision::SignOutNow
        } else {
            Decision::WakeAt(ends_at)
        };
    };
    let due = match (failures.count, failures.last_at) {
        (1.., Some(last_at)) => last_at.min(now) + timing.backoff.delay(failures.count),
        _ => {
            // Never more than half the token's lifetime early: with short-lived tokens (shorter
            // than twice the leeway) refreshing `leeway` early would refresh in a loop.
            let lifetime = session
                .expires_at()
                .saturating_duration_since(session.refreshed_at());
            let early = timing.leeway.min(lifetime / 2);
            let interval = timing.interval.max(MIN_INTERVAL);
            (session.refreshed_at() + interval).min(session.expires_at() - early)
        }
    };
    if due <= now {
        return Decision::RefreshNow;
    }
    match session.refresh_expires_at() {
        Some(refresh_expires_at) if refresh_expires_at < due => {
            Decision::WakeAt(refresh_expires_at)
        }
        _ => Decision::WakeAt(due),
    }
}

/// When a session's access token is due for refresh because of its expiry: `leeway` before
/// it expires, but never more than half its lifetime early, so that tokens shorter than twice
/// the leeway do not refresh in a loop.
pub fn expiry_refresh_at<U>(session: &Session<U>, leeway: Duration) -> Timestamp {
    let lifetime = session
        .expires_at()
        .saturating_duration_since(session.refreshed_at());
    session.expires_at() - leeway.min(lifetime / 2)
}

/// The delay to give a browser timer to wake at `wake_at`, capped at [`MAX_TIMER_DELAY`].
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn timer_delay(wake_at: Timestamp, now: Timestamp) -> Duration {
    wake_at.saturating_duration_since(now).min(MAX_TIMER_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AuthState, SignIn};
    use crate::token::tests::jwt;

    const T0: Timestamp = Timestamp::from_unix_seconds(1_000_000);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn timing(interval: u64, leeway: u64) -> Timing {
        Timing {
            interval: secs(interval),
            leeway: secs(leeway),
            backoff: Backoff::default(),
        }
    }

    /// A session signed in at T0 whose access token lives `access` seconds and whose refresh
    /// token (if any) lives `refresh` seconds.
    fn session(access: u64, refresh: Option<u64>) -> Session<()> {
        let mut request = SignIn::new(jwt(&format!(r#"{{"exp":{}}}"#, 1_000_000 + access)));
        if let Some(refresh) = refresh {
            request = request.refresh_token(jwt(&format!(r#"{{"exp":{}}}"#, 1_000_000 + refresh)));
        }
        let mut state = AuthState::signed_out();
        state.sign_in(request, T0, Duration::ZERO).unwrap();
        state.session().cloned().unwrap()
    }

    fn failures(count: u32, last_offset: u64) -> Failures {
        Failures {
            count,
            last_at: Some(T0 + secs(last_offset)),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn decision_table() {
        let none = Failures::default();
        let wake = |s| Decision::WakeAt(T0 + secs(s));
        // (case, session, timing, failures, now offset, expected)
        let rows: Vec<(&str, Option<Session<()>>, Option<Timing>, Failures, u64, Decision)> = vec![
            ("signed out is idle", None, Some(timing(60, 30)), none, 0, Decision::Idle),
            ("no refresh: wake at expiry", Some(session(300, None)), None, none, 0, wake(300)),
            ("no refresh: sign out at expiry", Some(session(300, None)), None, none, 300, Decision::SignOutNow),
            ("interval comes first", Some(session(300, Some(3600))), Some(timing(60, 30)), none, 0, wake(60)),
            ("expiry leeway comes first", Some(session(300, Some(3600))), Some(timing(600, 30)), none, 0, wake(270)),
            ("short token refreshes at half-life, not in a loop", Some(session(20, Some(3600))), Some(timing(600, 30)), none, 0, wake(10)),
            ("zero interval is clamped", Some(session(300, Some(3600))), Some(timing(0, 30)), none, 0, wake(1)),
            ("due exactly now refreshes", Some(session(300, Some(3600))), Some(timing(600, 30)), none, 270, Decision::RefreshNow),
            ("late timer catches up with one refresh", Some(session(300, Some(3600))), Some(timing(600, 30)), none, 5000 - 1500, Decision::RefreshNow),
            ("expired access at start-up with valid refresh refreshes", Some(session(300, Some(3600))), Some(timing(600, 30)), none, 400, Decision::RefreshNow),
            ("refresh token expiry signs out", Some(session(300, Some(3600))), Some(timing(600, 30)), none, 3600, Decision::SignOutNow),
            ("wake for refresh token expiry before due", Some(session(300, Some(100))), Some(timing(600, 30)), none, 0, wake(100)),
            ("backoff after first failure", Some(session(300, Some(3600))), Some(timing(600, 30)), failures(1, 270), 270, wake(271)),
            ("backoff after third failure", Some(session(300, Some(3600))), Some(timing(600, 30)), failures(3, 280), 280, wake(284)),
            ("backoff is capped", Some(session(300, Some(3600))), Some(timing(600, 30)), failures(20, 1000), 1000, wake(1060)),
            ("retry when backoff elapsed", Some(session(300, Some(3600))), Some(timing(600, 30)), failures(2, 300), 302, Decision::RefreshNow),
            ("no retry past refresh token expiry", Some(session(300, Some(1030))), Some(timing(600, 30)), failures(20, 1000), 1000, wake(1030)),
            ("retries stop once refresh token expired", Some(session(300, Some(1030))), Some(timing(600, 30)), failures(20, 1000), 1030, Decision::SignOutNow),
            ("opaque refresh token without expiry keeps retrying", Some(session(300, None)), Some(timing(600, 30)), failures(20, 5000), 5000, wake(5060)),
        ];
        for (case, session, timing, failures, now, expected) in rows {
            let got = decide(session.as_ref(), timing.as_ref(), &failures, T0 + secs(now));
            assert_eq!(got, expected, "case: {case}");
        }
    }

    #[test]
    fn backoff_sequence_doubles_and_caps() {
        let backoff = Backoff {
            initial: Duration::from_millis(500),
            max: secs(10),
        };
        let delays: Vec<u128> = (1..=7).map(|n| backoff.delay(n).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(backoff.delay(u32::MAX), secs(10));
    }

    #[test]
    fn on_demand_refreshes_wait_out_the_backoff() {
        let backoff = Backoff::default();
        assert!(!in_backoff(&Failures::default(), &backoff, T0));
        assert!(in_backoff(
            &failures(1, 0),
            &backoff,
            T0 + Duration::from_millis(999)
        ));
        assert!(!in_backoff(&failures(1, 0), &backoff, T0 + secs(1)));
        assert!(in_backoff(&failures(3, 0), &backoff, T0 + secs(3)));
        assert!(!in_backoff(&failures(3, 0), &backoff, T0 + secs(4)));
    }

    #[test]
    fn timer_delay_is_capped_for_browsers() {
        assert_eq!(timer_delay(T0 + secs(5), T0), secs(5));
        assert_eq!(timer_delay(T0, T0 + secs(5)), Duration::ZERO);
        assert_eq!(timer_delay(T0 + secs(90 * 24 * 3600), T0), MAX_TIMER_DELAY);
    }
}
