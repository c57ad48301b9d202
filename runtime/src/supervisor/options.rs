//! The options every kind of supervisor takes (OTP's supervisor flags).
//!
//! OTP configures every supervisor with the same flags — strategy, intensity,
//! period — and Elixir's dynamic supervisors add `max_children`. One type for
//! all kinds means a [`Supervisor`](super::Supervisor), a
//! [`DynamicSupervisor`](super::DynamicSupervisor), a
//! [`ProcessSupervisor`](crate::process::ProcessSupervisor) and a
//! [`TaskSupervisor`](crate::task::TaskSupervisor) are configured alike; a
//! [`ConsumerSupervisor`](crate::gen_stage::ConsumerSupervisor) embeds it. A
//! flag a kind cannot honour is refused when it starts, not ignored.

use std::time::Duration;

use super::restart::Intensity;
use crate::server::StartError;

/// Which children a supervisor restarts when one of them exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the child that exited (`:one_for_one`).
    #[default]
    OneForOne,
    /// Every child (`:one_for_all`).
    OneForAll,
    /// The child that exited and every child started after it (`:rest_for_one`).
    RestForOne,
}

/// How a supervisor behaves, whatever its kind.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Registered name of the supervisor actor; also its name in introspection.
    pub name: Option<String>,
    /// Which children are restarted together. Only a [`Supervisor`](super::Supervisor)
    /// has a choice; the dynamic kinds are one_for_one.
    pub strategy: Strategy,
    /// At most this many restarts ...
    pub max_restarts: u32,
    /// ... within this period, or the supervisor gives up.
    pub max_period: Duration,
    /// Refuse new children beyond this many (dynamic kinds only).
    pub max_children: Option<usize>,
}

impl Default for SupervisorOptions {
    /// OTP's defaults: one_for_one, 3 restarts in 5 seconds, no limit on children.
    fn default() -> Self {
        SupervisorOptions {
            name: None,
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            max_period: Duration::from_secs(5),
            max_children: None,
        }
    }
}

impl SupervisorOptions {
    /// The defaults with this strategy.
    pub fn new(strategy: Strategy) -> Self {
        SupervisorOptions {
            strategy,
            ..Self::default()
        }
    }

    /// Registers the supervisor under `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the restart intensity: at most `max_restarts` within `max_period`.
    pub fn intensity(mut self, max_restarts: u32, max_period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.max_period = max_period;
        self
    }

    /// Limits the number of children (dynamic kinds only).
    pub fn max_children(mut self, max_children: usize) -> Self {
        self.max_children = Some(max_children);
        self
    }

    /// A fresh restart-intensity window for these flags.
    pub(crate) fn restart_intensity(&self) -> Intensity {
        Intensity::with_period(self.max_restarts, self.max_period)
    }

    /// The same options under another name (a child spec's name wins over the options').
    pub(crate) fn renamed(&self, name: Option<String>) -> Self {
        SupervisorOptions {
            name,
            ..self.clone()
        }
    }

    /// Refuses what a supervisor of fixed children cannot honour.
    pub(crate) fn check_static(&self) -> Result<(), StartError> {
        match self.max_children {
            Some(_) => Err(StartError::InitFailed(
                "max_children is for dynamic supervisors".into(),
            )),
            None => Ok(()),
        }
    }

    /// Refuses what a supervisor of children started on demand cannot honour.
    pub(crate) fn check_dynamic(&self, kind: &str) -> Result<(), StartError> {
        match self.strategy {
            Strategy::OneForOne => Ok(()),
            other => Err(StartError::InitFailed(format!(
                "a {kind} is one_for_one, not {other:?}"
            ))),
        }
    }
}
