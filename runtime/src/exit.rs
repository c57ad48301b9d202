//! Why a process stopped, in OTP's vocabulary.
//!
//! Supervisors decide what to do with a dead child from its exit reason alone:
//! `Normal` and `Shutdown` are clean exits (a transient child is not restarted),
//! everything else is a crash. ractor reports exits as an optional string, so the
//! conversion to and from ractor's representation lives here too.

use std::fmt;

/// The error type handlers return: anything that can be boxed, like ractor's
/// `ActorProcessingErr`. Returning `Err` from a callback crashes the process.
pub type ProcessError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a process exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// The process finished its work (`:normal`).
    Normal,
    /// It was asked to stop by its supervisor or owner (`:shutdown`).
    Shutdown,
    /// It was stopped with a reason of the caller's choosing (`{:shutdown, reason}`);
    /// like `Shutdown`, this counts as a clean exit.
    ShutdownWith(String),
    /// It was killed without running `terminate` (`:kill`).
    Killed,
    /// A callback returned an error.
    Error(String),
    /// A callback panicked; the text is the panic message.
    Panic(String),
    /// The process was already gone when it was monitored or called (`:noproc`).
    NoProc,
}

impl ExitReason {
    /// Clean exits are the ones a `transient` child is not restarted for.
    pub fn is_normal(&self) -> bool {
        matches!(
            self,
            ExitReason::Normal | ExitReason::Shutdown | ExitReason::ShutdownWith(_)
        )
    }

    /// Reads back a reason that went through ractor's `Option<String>` exit reason.
    pub fn from_ractor(reason: Option<&str>) -> ExitReason {
        match reason {
            None | Some("normal") => ExitReason::Normal,
            Some("shutdown") => ExitReason::Shutdown,
            Some("killed") => ExitReason::Killed,
            Some("noproc") => ExitReason::NoProc,
            Some(other) => match other.strip_prefix("shutdown: ") {
                Some(why) => ExitReason::ShutdownWith(why.to_string()),
                None => ExitReason::Error(other.to_string()),
            },
        }
    }

    /// The string ractor carries for a clean stop with this reason.
    pub fn to_ractor(&self) -> String {
        self.to_string()
    }

    /// Text of a caught panic payload.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> ExitReason {
        let text = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_string()
        };
        ExitReason::Panic(text)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => write!(f, "normal"),
            ExitReason::Shutdown => write!(f, "shutdown"),
            ExitReason::ShutdownWith(why) => write!(f, "shutdown: {why}"),
            ExitReason::Killed => write!(f, "killed"),
            ExitReason::Error(e) => write!(f, "{e}"),
            ExitReason::Panic(p) => write!(f, "panic: {p}"),
            ExitReason::NoProc => write!(f, "noproc"),
        }
    }
}

/// An `ExitReason` can be returned as a callback's error: the process then
/// exits with exactly that reason. `Err(ExitReason::ShutdownWith(..).into())`
/// from `init` is how a process declines to start without counting as a crash.
impl std::error::Error for ExitReason {}

impl From<ProcessError> for ExitReason {
    fn from(err: ProcessError) -> Self {
        match err.downcast::<ExitReason>() {
            Ok(reason) => *reason,
            Err(err) => ExitReason::Error(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_reasons_survive_the_trip_through_ractor() {
        for reason in [
            ExitReason::Normal,
            ExitReason::Shutdown,
            ExitReason::ShutdownWith("left".into()),
            ExitReason::Killed,
            ExitReason::Error("boom".into()),
        ] {
            assert_eq!(ExitReason::from_ractor(Some(&reason.to_ractor())), reason);
        }
        assert_eq!(ExitReason::from_ractor(None), ExitReason::Normal);
    }

    #[test]
    fn only_normal_and_shutdown_are_clean() {
        assert!(ExitReason::Normal.is_normal());
        assert!(ExitReason::ShutdownWith("x".into()).is_normal());
        assert!(!ExitReason::Killed.is_normal());
        assert!(!ExitReason::Panic("x".into()).is_normal());
    }
}
