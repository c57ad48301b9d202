//! Restart policy and restart intensity, shared by every kind of supervisor.
//!
//! OTP's rules: a `permanent` child is always restarted, a `transient` one only
//! after an abnormal exit, a `temporary` one never. A supervisor that has to
//! restart more than `max_restarts` times within `max_seconds` gives up: it
//! stops its children and exits abnormally, so that its own supervisor sees it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::exit::ExitReason;
use crate::log_text::bounded_reason;

/// The error a supervisor fails with when it gives up, whatever its kind: its
/// parent sees this text in the supervision event.
pub(crate) const GAVE_UP: &str = "reached max restart intensity";

/// Logs that supervisor `name` gives up.
pub(crate) fn log_gave_up(supervisor: &str) {
    tracing::error!(supervisor = %supervisor, "reached max restart intensity, shutting down");
}

/// Logs a child's abnormal exit (a clean one is not news).
pub(crate) fn log_exit(supervisor: &str, child: &dyn std::fmt::Display, reason: &ExitReason) {
    if !reason.is_normal() {
        tracing::error!(supervisor = %supervisor, child = %child, reason = %bounded_reason(reason), "child crashed");
    }
}

/// When a child is restarted after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always (`:permanent`, the default for supervised workers).
    #[default]
    Permanent,
    /// Only after an abnormal exit (`:transient`).
    Transient,
    /// Never (`:temporary`).
    Temporary,
}

impl Restart {
    /// Whether a child that exited with `reason` is restarted.
    pub fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_normal(),
            Restart::Temporary => false,
        }
    }
}

/// How long a supervisor waits for a child to stop before killing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Kill at once; `terminate` does not run (`:brutal_kill`).
    BrutalKill,
    /// Ask the child to stop, kill it if it has not stopped after this long.
    Timeout(Duration),
    /// Wait as long as it takes (`:infinity`, the default for supervisors).
    Infinity,
}

impl Default for Shutdown {
    /// OTP's default for workers: 5 seconds.
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// Restart intensity: at most `max_restarts` restarts within any `period` window.
#[derive(Debug, Clone)]
pub struct Intensity {
    max_restarts: u32,
    period: Duration,
    history: VecDeque<Instant>,
}

impl Intensity {
    /// OTP's defaults are 3 restarts in 5 seconds.
    pub fn new(max_restarts: u32, max_seconds: u64) -> Self {
        Self::with_period(max_restarts, Duration::from_secs(max_seconds))
    }

    /// The same with a period finer than a second (tests use this).
    pub fn with_period(max_restarts: u32, period: Duration) -> Self {
        Intensity {
            max_restarts,
            period,
            history: VecDeque::new(),
        }
    }

    /// Records a restart about to happen; `false` when it would exceed the intensity,
    /// in which case the supervisor must give up instead.
    pub fn allow_restart(&mut self, now: Instant) -> bool {
        while let Some(oldest) = self.history.front() {
            if now.duration_since(*oldest) > self.period {
                self.history.pop_front();
            } else {
                break;
            }
        }
        if self.history.len() as u32 >= self.max_restarts {
            return false;
        }
        self.history.push_back(now);
        true
    }
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity::new(3, 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policy_follows_otp() {
        let crash = ExitReason::Error("boom".into());
        assert!(Restart::Permanent.restarts_after(&ExitReason::Normal));
        assert!(Restart::Permanent.restarts_after(&crash));
        assert!(!Restart::Transient.restarts_after(&ExitReason::Normal));
        assert!(!Restart::Transient.restarts_after(&ExitReason::Shutdown));
        assert!(Restart::Transient.restarts_after(&crash));
        assert!(!Restart::Temporary.restarts_after(&crash));
    }

    #[test]
    fn intensity_allows_max_restarts_per_window_then_refuses() {
        let mut intensity = Intensity::new(3, 5);
        let t0 = Instant::now();
        assert!(intensity.allow_restart(t0));
        assert!(intensity.allow_restart(t0 + Duration::from_secs(1)));
        assert!(intensity.allow_restart(t0 + Duration::from_secs(2)));
        assert!(!intensity.allow_restart(t0 + Duration::from_secs(3)));
        // Once the first restarts leave the window there is room again.
        assert!(intensity.allow_restart(t0 + Duration::from_secs(7)));
    }

    #[test]
    fn zero_intensity_never_restarts() {
        assert!(!Intensity::new(0, 5).allow_restart(Instant::now()));
    }
}
