//! A push and its outcome: the server's [`PushReply`], or a [`PushError`].
//!
//! phoenix.js's `Push` gets a fresh ref, is sent (or buffered until the channel
//! joins), and resolves on the `phx_reply` carrying its ref or on its timeout.
//! Here the connection task keeps the waiting pushes (see `membership.rs`) and
//! the caller keeps the timeout: [`await_reply`] waits for the task's answer
//! and, when the time is up, withdraws the push so the task forgets it.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

/// The server's reply to a push: `{"status": …, "response": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PushReply {
    /// `"ok"` or `"error"` (any string the server chose).
    pub status: String,
    /// The response body.
    pub response: Value,
}

impl PushReply {
    /// Whether the status is `"ok"`.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Why a push got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No reply within the timeout (the handler may have returned `noreply`).
    #[error("no reply within the timeout")]
    Timeout,
    /// The channel is not joined and is not joining: never joined, left,
    /// refused, or closed by the server.
    #[error("the channel is not joined")]
    NotJoined,
    /// The push was sent but the channel crashed (`phx_error`) or the
    /// connection dropped before the reply: the reply can no longer come.
    #[error("the channel errored before the reply")]
    Errored,
    /// The client was closed, or the channel closed before the reply.
    #[error("the client or the channel was closed")]
    Closed,
}

/// Where the connection task answers a push.
pub(super) type PushWaiter = oneshot::Sender<Result<PushReply, PushError>>;

/// A push on its way to the connection task.
#[derive(Debug)]
pub(super) struct PushRequest {
    /// The channel's id.
    pub channel: u64,
    /// The push's ref.
    pub msg_ref: u64,
    pub event: String,
    pub payload: Value,
    /// `None` for a push whose reply nobody waits for.
    pub waiter: Option<PushWaiter>,
}

/// Waits up to `timeout` for the answer to push `rx`; on timeout calls
/// `withdraw` (which tells the task to forget the push) unless the answer
/// arrived in the meantime.
pub(super) async fn await_reply(
    mut rx: oneshot::Receiver<Result<PushReply, PushError>>,
    timeout: Duration,
    withdraw: impl FnOnce(),
) -> Result<PushReply, PushError> {
    match tokio::time::timeout(timeout, &mut rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(PushError::Closed),
        Err(_) => {
            // Close first, so that the task cannot answer after we looked.
            rx.close();
            match rx.try_recv() {
                Ok(answer) => answer,
                Err(_) => {
                    withdraw();
                    Err(PushError::Timeout)
                }
            }
        }
    }
}
