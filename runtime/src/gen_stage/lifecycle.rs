//! How a stage starts, stops, and tells others that it stopped.
//!
//! Every stage is a ractor actor whose handle must be able to report *why* it
//! exited, and whose peers must learn of its exit (GenStage's monitors). ractor
//! hands a normal exit's state to the supervisor instead of dropping it, skips
//! `post_stop` on failure, and reports a failure only as text, so each stage
//! finishes itself explicitly on every path it controls — recording the reason
//! in an [`ExitCell`] shared with its handles, then notifying peers — and falls
//! back to `Drop` for the paths it does not (a kill).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{ActorCell, ActorId, ActorProcessingErr};

use crate::dispatch::catching;
use crate::exit::ExitReason;

/// Where a stage's exit reason is recorded, shared by the stage and its handles.
#[derive(Debug, Default)]
pub(crate) struct ExitCell(Mutex<Option<ExitReason>>);

impl ExitCell {
    /// Records the reason; the first one recorded wins.
    pub(crate) fn set(&self, reason: &ExitReason) {
        let mut slot = self.0.lock();
        if slot.is_none() {
            *slot = Some(reason.clone());
        }
    }

    /// The reason, once the stage has exited.
    pub(crate) fn get(&self) -> Option<ExitReason> {
        self.0.lock().clone()
    }
}

/// Ends the actor once it has finished itself: a clean reason stops it
/// normally, anything else fails it so that its supervisor sees a crash.
pub(crate) fn conclude(myself: &ActorCell, reason: &ExitReason) -> Result<(), ActorProcessingErr> {
    if reason.is_normal() {
        myself.stop(Some(reason.to_ractor()));
        Ok(())
    } else {
        Err(reason.to_string().into())
    }
}

/// Whether the actor still runs.
pub(crate) fn is_alive(actor: &ActorCell) -> bool {
    matches!(
        actor.get_status(),
        ractor::ActorStatus::Starting
            | ractor::ActorStatus::Running
            | ractor::ActorStatus::Upgrading
    )
}

/// Resolves with the exit reason once the actor has stopped.
pub(crate) async fn monitor(actor: ActorCell, exit: Arc<ExitCell>) -> ExitReason {
    let _ = actor.wait(None).await;
    // Nothing recorded means the stage never ran its own exit path: a kill.
    exit.get().unwrap_or(ExitReason::Killed)
}

/// Asks the stage to stop through `stop`, waits up to `timeout`, then kills it.
pub(crate) async fn stop_and_wait(
    actor: &ActorCell,
    exit: &Arc<ExitCell>,
    stop: impl FnOnce(),
    timeout: Duration,
) -> ExitReason {
    let exited = monitor(actor.clone(), exit.clone());
    stop();
    match tokio::time::timeout(timeout, exited).await {
        Ok(reason) => reason,
        Err(_) => {
            actor.kill();
            monitor(actor.clone(), exit.clone()).await
        }
    }
}

/// Runs a stage's `terminate` callback, swallowing its own crash: the stage is
/// exiting anyway.
pub(crate) async fn terminate(stage: ActorId, callback: impl Future<Output = ()>) {
    let result = catching(async {
        callback.await;
        Ok(())
    })
    .await;
    if let Err(crash) = result {
        tracing::error!(%stage, %crash, "terminate crashed");
    }
}
