//! The refresh schedule, run by the session engine for ten simulated minutes: no refresh loop, calls
//! at least a second apart, and a bounded number per token lifetime while the clocks roughly
//! agree.
#![no_main]

use std::time::Duration;

use leptos_auth_kit::fuzzing::{refresh_calls, ScheduleCase};
use libfuzzer_sys::fuzz_target;

const HORIZON: Duration = Duration::from_secs(600);

fuzz_target!(|data: &[u8]| {
    let raw = ScheduleCase::from_bytes(data);
    let case = ScheduleCase {
        lifetime_ms: 1_000 + raw.lifetime_ms % 86_400_000,
        skew_ms: raw.skew_ms % 172_800_000,
        leeway_ms: raw.leeway_ms % 3_600_000,
        interval_ms: raw.interval_ms,
        answer_ms: raw.answer_ms,
    };
    let calls = refresh_calls(case, HORIZON).unwrap_or_else(|fault| panic!("{case:?}: {fault:?}"));
    for pair in calls.windows(2) {
        let spacing = pair[1].saturating_duration_since(pair[0]);
        assert!(
            spacing >= Duration::from_secs(1),
            "{case:?}: calls {spacing:?} apart"
        );
    }
    let lifetime = Duration::from_millis(case.lifetime_ms.into());
    let answered_in_time = case.answer_ms < 30_000; // the refresh timeout the harness sets
    if answered_in_time
        && case.lifetime_ms >= 4_000
        && case.skew_ms.unsigned_abs() <= case.lifetime_ms / 4
    {
        // The token looks at least half its lifetime long here, so it is refreshed at most
        // every min(interval, lifetime / 4), and never more than once a second. (A server
        // slower than the timeout makes each call a failure retried with backoff.)
        let interval = Duration::from_millis(case.interval_ms.into()).max(Duration::from_secs(1));
        let spacing = interval.min(lifetime / 4).max(Duration::from_secs(1));
        let bound = (HORIZON.as_millis() / spacing.as_millis()) as usize + 2;
        assert!(
            calls.len() <= bound,
            "{case:?}: {} calls, bound {bound}",
            calls.len()
        );
    }
});
