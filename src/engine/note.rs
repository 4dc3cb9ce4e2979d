//! What `AuthConfig::debug(true)` logs: each decision of the engine, as a line of text.
//!
//! Pure. A note carries durations, counts and the engine's own reasons, never a token, a
//! refresh token or a claim. The engine makes notes only when a logger is configured, and the
//! formatting below is linked only into apps that call `AuthConfig::debug`; the note sites in
//! the engine are linked into every app (about 0.4 KB of gzipped wasm, measured).

use std::fmt;
use std::time::Duration;

/// Where every line starts, so that the library's lines are easy to filter in the console.
pub(crate) const PREFIX: &str = "[leptos-auth-kit]";

/// One decision of the session engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// Signed in; the access token expires in this long.
    SignedIn { expires_in: Duration },
    /// The one timer is set: it fires in this long, for this reason.
    Timer { fires_in: Duration, why: Wake },
    /// A refresh is wanted and waits for the cross-tab lock.
    LockWanted,
    /// The cross-tab lock is held.
    LockGranted,
    /// The refresh callback is called.
    Calling,
    /// The refresh answered with new tokens; `rotated` when it brought a new refresh token.
    Refreshed { rotated: bool },
    /// The refresh failed: the callback's or the engine's own words. (A retry after the
    /// backoff shows as a timer; a refusal or a failed final call ends the session, see
    /// `Ended`.)
    RefreshFailed(String),
    /// An answer came for a session that is no longer current, and was dropped.
    AnswerDropped,
    /// Another tab stored new tokens (a refresh, a rotation, a user update, a sign-in), and
    /// this tab took them over.
    Adopted,
    /// The user signed out here.
    SignedOut,
    /// Another tab signed out (its marker is in storage).
    SignedOutElsewhere,
    /// Storage no longer holds the session: cleared elsewhere, or dropped by the browser at
    /// its expiry (a cookie's `Max-Age`).
    StorageCleared,
    /// The session ended by itself: the reason.
    Ended(String),
    /// A refresh token is handed to `revoke_on_sign_out` (the token itself is not shown).
    Revoking,
}

/// Why the engine's one timer is set. (Words only in `Display`, so that an app without
/// `debug` carries none of them.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The next refresh: the interval, or the access token's expiry minus the leeway.
    RefreshDue,
    /// A retry after a failed refresh, at the end of the backoff.
    Retry,
    /// The refresh token's end.
    RefreshTokenEnd,
    /// The session's end, with no refresh configured.
    SessionEnd,
    /// Offline: a probe of the network.
    OfflineProbe,
    /// The end of the refresh step under way (spacing, lock patience, call timeout, settling).
    StepEnd,
    /// The end of the wait for a late refresh answer.
    LateAnswer,
    /// The `on_session_ending` notice.
    EndingNotice,
}

impl fmt::Display for Wake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Wake::RefreshDue => "refresh due (interval, or access expiry minus leeway)",
            Wake::Retry => "retry after a failed refresh (backoff)",
            Wake::RefreshTokenEnd => "the refresh token's end",
            Wake::SessionEnd => "the session's end (no refresh configured)",
            Wake::OfflineProbe => "offline: a probe of the network",
            Wake::StepEnd => "end of the refresh step under way",
            Wake::LateAnswer => "end of the wait for a late refresh answer",
            Wake::EndingNotice => "the session-ending notice",
        })
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        f.write_str(" ")?;
        match self {
            Note::SignedIn { expires_in } => write!(
                f,
                "signed in; the access token expires in {} ms",
                expires_in.as_millis() as u64
            ),
            Note::Timer { fires_in, why } => {
                write!(f, "timer set: {why}, in {} ms", fires_in.as_millis() as u64)
            }
            Note::LockWanted => f.write_str("refresh wanted: waiting for the cross-tab lock"),
            Note::LockGranted => f.write_str("cross-tab lock held"),
            Note::Calling => f.write_str("refresh started: calling the refresh callback"),
            Note::Refreshed { rotated: true } => {
                f.write_str("refresh finished: new access and refresh tokens stored")
            }
            Note::Refreshed { rotated: false } => {
                f.write_str("refresh finished: new access token stored")
            }
            Note::RefreshFailed(reason) => write!(f, "refresh failed: {reason}"),
            Note::AnswerDropped => {
                f.write_str("a refresh answer for a session that is no longer current: dropped")
            }
            Note::Adopted => f.write_str("adopted the tokens another tab stored"),
            Note::SignedOut => f.write_str("signed out by the user"),
            Note::SignedOutElsewhere => f.write_str("signed out in another tab"),
            Note::StorageCleared => f.write_str(
                "signed out: storage no longer holds the session (cleared elsewhere, or dropped \
                 by the browser at its expiry)",
            ),
            Note::Ended(reason) => write!(f, "session ended: {reason}"),
            Note::Revoking => f.write_str("revoking a refresh token"),
        }
    }
}

/// The logger `AuthConfig::debug(true)` installs: the browser console (standard output off
/// the browser).
pub(crate) fn to_console(note: &Note) {
    leptos::logging::log!("{note}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_happened_with_the_prefix() {
        let rows = [
            (
                Note::Timer {
                    fires_in: Duration::from_millis(1_500),
                    why: Wake::Retry,
                },
                "[leptos-auth-kit] timer set: retry after a failed refresh (backoff), in 1500 ms",
            ),
            (
                Note::RefreshFailed("server said 503".into()),
                "[leptos-auth-kit] refresh failed: server said 503",
            ),
            (
                Note::Refreshed { rotated: true },
                "[leptos-auth-kit] refresh finished: new access and refresh tokens stored",
            ),
        ];
        for (note, line) in rows {
            assert_eq!(note.to_string(), line);
        }
    }
}
