//! Wall-clock instants.
//!
//! Pure: every decision in the crate takes a [`Timestamp`] as a parameter so that it can be
//! tested with exact instants. Only [`Timestamp::now`] reads a clock (`Date.now()` in the
//! browser, the system clock on the host).

use std::fmt;
use std::time::Duration;

/// A wall-clock instant in milliseconds since the Unix epoch.
///
/// Wall-clock rather than monotonic on purpose: token expiry (`exp`) is wall-clock time, and a
/// laptop that slept through a timer must see at once that the token is past its expiry.
///
/// ## Usage
/// ```
/// use leptos_auth_kit::Timestamp;
/// use std::time::Duration;
///
/// let exp = Timestamp::from_unix_seconds(1_700_000_000);
/// let now = exp - Duration::from_secs(30);
/// assert_eq!(exp.saturating_duration_since(now), Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_millis: u64,
}

impl Timestamp {
    /// The instant `unix_millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(unix_millis: u64) -> Self {
        Self { unix_millis }
    }

    /// The instant `unix_seconds` seconds after the Unix epoch (the unit of JWT `exp`).
    pub const fn from_unix_seconds(unix_seconds: u64) -> Self {
        Self {
            unix_millis: unix_seconds.saturating_mul(1000),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> u64 {
        self.unix_millis
    }

    /// Whole seconds since the Unix epoch.
    pub const fn unix_seconds(self) -> u64 {
        self.unix_millis / 1000
    }

    /// How long after `earlier` this instant is; zero when it is not after it.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.unix_millis.saturating_sub(earlier.unix_millis))
    }

    /// This instant moved by `millis` (negative: earlier), saturating at both ends: a server
    /// instant turned into a local one by a clock offset.
    pub(crate) fn shifted(self, millis: i64) -> Timestamp {
        Timestamp::from_unix_millis(self.unix_millis.saturating_add_signed(millis))
    }

    /// The current wall-clock time: `Date.now()` in the browser, the system clock elsewhere.
    pub fn now() -> Self {
        #[cfg(target_arch = "wasm32")]
        {
            let millis = js_sys::Date::now();
            Self::from_unix_millis(if millis.is_finite() && millis > 0.0 {
                millis as u64
            } else {
                0
            })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let since_epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Self::from_unix_millis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
        }
    }
}

/// The earlier of two optional instants; `None` only when both are.
pub(crate) fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn duration_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at the far future instead of overflowing.
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp::from_unix_millis(self.unix_millis.saturating_add(duration_millis(rhs)))
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at the epoch instead of underflowing.
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp::from_unix_millis(self.unix_millis.saturating_sub(duration_millis(rhs)))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({}ms)", self.unix_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let t = Timestamp::from_unix_millis(5);
        assert_eq!((t - Duration::from_secs(1)).unix_millis(), 0);
        assert_eq!(
            (Timestamp::from_unix_millis(u64::MAX) + Duration::from_secs(1)).unix_millis(),
            u64::MAX
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_unix_millis(10)),
            Duration::ZERO
        );
    }

    #[test]
    fn seconds_and_millis_agree() {
        let t = Timestamp::from_unix_seconds(1_700_000_000);
        assert_eq!(t.unix_millis(), 1_700_000_000_000);
        assert_eq!(t.unix_seconds(), 1_700_000_000);
    }

    #[test]
    fn now_is_after_2020() {
        assert!(Timestamp::now() > Timestamp::from_unix_seconds(1_577_836_800));
    }
}
