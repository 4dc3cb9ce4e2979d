//! Prints how the refresh schedule behaves over a simulated hour of 5-minute access tokens:
//! how many refresh calls it makes and for how many seconds the session held an expired
//! access token. Runs the real pure schedule (`decide`) and state transitions against a
//! simulated clock and server; no sleeps.
//!
//! `cargo xtask bench` (`cargo test --release --lib refresh::bench -- --ignored --nocapture`):
//! a unit test, ignored by `cargo test`, because it drives internals that are not public.

use std::time::Duration;

use super::schedule::{decide, Backoff, Decision, Failures, Timing};
use crate::state::{AuthState, RefreshApplied, Refreshed, SignIn};
use crate::time::Timestamp;

const HOUR: u64 = 3600;
const ACCESS_LIFETIME: Duration = Duration::from_secs(300);
const SERVER_LATENCY: Duration = Duration::from_millis(200);

struct Figures {
    refresh_calls: u32,
    expired_seconds: u64,
    timer_wakeups: u32,
}

/// Runs one simulated hour. `timer_lateness(n)` is how late the n-th timer fires (a throttled
/// or sleeping tab).
fn simulate(
    interval: Duration,
    leeway: Duration,
    timer_lateness: impl Fn(u32) -> Duration,
) -> Figures {
    let t0 = Timestamp::from_unix_seconds(1_700_000_000);
    let end = t0 + Duration::from_secs(HOUR);
    let mut state = AuthState::<()>::signed_out();
    state
        .sign_in(
            SignIn::new("access-0")
                .expires_in(ACCESS_LIFETIME)
                .refresh_token("refresh"),
            t0,
            leeway,
        )
        .expect("sign-in");
    let timing = Timing {
        interval,
        leeway,
        backoff: Backoff::default(),
    };
    // (valid from, expires at) of every access token the session held.
    let mut held = vec![(t0, t0 + ACCESS_LIFETIME)];
    let mut figures = Figures {
        refresh_calls: 0,
        expired_seconds: 0,
        timer_wakeups: 0,
    };
    let mut now = t0;
    while now < end {
        match decide(state.session(), Some(&timing), &Failures::default(), now) {
            Decision::WakeAt(at) => {
                figures.timer_wakeups += 1;
                now = at + timer_lateness(figures.timer_wakeups);
            }
            Decision::RefreshNow => {
                figures.refresh_calls += 1;
                let sent = state.session().expect("signed in").chain_token().clone();
                let sent_at = now;
                now = now + SERVER_LATENCY;
                let token = format!("access-{}", figures.refresh_calls);
                let refreshed = Refreshed::new(token).expires_in(ACCESS_LIFETIME);
                let applied = state.apply_refresh(&sent, refreshed, now, sent_at, leeway);
                assert_eq!(applied, RefreshApplied::Applied);
                held.push((now, now + ACCESS_LIFETIME));
            }
            Decision::SignOutNow | Decision::Idle => panic!("the session ended during the hour"),
        }
    }
    // A second is "expired" when no token held at that second was still valid.
    for second in 0..HOUR {
        let at = t0 + Duration::from_secs(second);
        let current = held.iter().rev().find(|(from, _)| *from <= at);
        if current.is_none_or(|(_, expires_at)| *expires_at <= at) {
            figures.expired_seconds += 1;
        }
    }
    figures
}

#[test]
#[ignore = "a benchmark that prints figures: cargo xtask bench"]
fn refresh_hour() {
    println!("refresh schedule over a simulated hour of 5-minute access tokens");
    println!("(ideal: 12 refresh calls, 0 seconds with an expired token)\n");
    // (name, interval, leeway, how late each timer fires)
    #[rustfmt::skip]
    let scenarios: [(&str, Duration, Duration, fn(u32) -> Duration); 5] = [
        ("expiry-driven, leeway 60 s", Duration::from_secs(86_400), Duration::from_secs(60), |_| Duration::ZERO),
        ("expiry-driven, leeway 5 s", Duration::from_secs(86_400), Duration::from_secs(5), |_| Duration::ZERO),
        ("interval 60 s, leeway 60 s", Duration::from_secs(60), Duration::from_secs(60), |_| Duration::ZERO),
        ("leeway 60 s, every timer 45 s late", Duration::from_secs(86_400), Duration::from_secs(60), |_| Duration::from_secs(45)),
        ("leeway 60 s, every timer 90 s late", Duration::from_secs(86_400), Duration::from_secs(60), |_| Duration::from_secs(90)),
    ];
    for (name, interval, leeway, lateness) in scenarios {
        let figures = simulate(interval, leeway, lateness);
        println!(
            "{name:<38} refresh calls: {:>3}   seconds expired while signed in: {:>3}   timer wake-ups: {:>3}",
            figures.refresh_calls, figures.expired_seconds, figures.timer_wakeups
        );
    }
    println!(
        "\nEach token is refreshed `leeway` before it expires, so it is used for (lifetime - leeway):\n\
         4 of 5 minutes with a 60 s leeway gives 14-15 calls an hour; the leeway is the price of never\n\
         sending an expired token when clocks drift or the network is slow. A timer that fires late\n\
         (sleeping laptop, throttled tab) causes one catch-up refresh, never a burst; only lateness\n\
         beyond the leeway leaves the token expired, for exactly the extra delay."
    );
}
