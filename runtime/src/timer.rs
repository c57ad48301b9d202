//! Timers: `Process.send_after/3` and `:timer.send_interval/2`.
//!
//! A timer is a small tokio task that sleeps and then sends an info message to
//! the process. The returned [`TimerRef`] cancels it. A timer never keeps its
//! process alive: when the process has exited the message is dropped, and an
//! interval stops at its first failed delivery.

use std::time::Duration;

use tokio::task::AbortHandle;

use crate::gen_server::GenServer;
use crate::pid::Pid;

/// A pending timer. Dropping it leaves the timer running, as in Erlang;
/// call [`TimerRef::cancel`] to stop it.
#[derive(Debug)]
pub struct TimerRef {
    task: AbortHandle,
}

impl TimerRef {
    /// Cancels the timer. Returns `false` when it had already fired (for a
    /// one-shot timer) or its process was gone.
    pub fn cancel(&self) -> bool {
        let pending = !self.task.is_finished();
        self.task.abort();
        pending
    }

    /// Whether the timer can still fire.
    pub fn is_active(&self) -> bool {
        !self.task.is_finished()
    }
}

impl<G: GenServer> Pid<G> {
    /// Sends `message` to this process's `handle_info` after `delay`.
    pub fn send_after(&self, message: G::Info, delay: Duration) -> TimerRef {
        let pid = self.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = pid.info(message);
        });
        TimerRef {
            task: task.abort_handle(),
        }
    }

    /// Sends `make()` to this process's `handle_info` every `period`, the first
    /// time one period from now, until cancelled or the process exits.
    pub fn send_interval<F>(&self, period: Duration, mut make: F) -> TimerRef
    where
        F: FnMut() -> G::Info + Send + 'static,
    {
        let pid = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            // A late process gets the missed ticks spread out, not in a burst.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if pid.info(make()).is_err() {
                    break;
                }
            }
        });
        TimerRef {
            task: task.abort_handle(),
        }
    }
}
