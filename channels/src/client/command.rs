//! [`Command`]: what a handle asks of the connection task.
//!
//! Handles never touch the socket or the channel records: they send one of
//! these over the client's unbounded queue, and the task answers through the
//! oneshot inside when there is an answer to give. Commands travel boxed: the
//! queue preallocates a block of 32 slots, which stays small (256 bytes) with
//! pointer-sized slots — a load generator holds thousands of clients.

use std::time::Duration;

use serde_json::Value;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::channel::JoinError;
use super::push::PushRequest;
use super::status::StatusCell;

/// Where the task answers a join.
pub(super) type JoinWaiter = oneshot::Sender<Result<Value, JoinError>>;

/// A request from a handle to the connection task.
#[derive(Debug)]
pub(super) enum Command {
    /// Record a new channel (not joined yet).
    Add(NewChannel),
    /// Join a channel, answering within `timeout`.
    Join {
        channel: u64,
        timeout: Duration,
        waiter: JoinWaiter,
    },
    /// Push an event (and maybe wait for its reply).
    Push(PushRequest),
    /// Forget a push whose caller stopped waiting.
    Forget { channel: u64, msg_ref: u64 },
    /// Deliver an event's payloads to a subscriber.
    Subscribe {
        channel: u64,
        event: String,
        tx: mpsc::UnboundedSender<Value>,
    },
    /// Leave a channel; answer once it is closed.
    Leave {
        channel: u64,
        timeout: Duration,
        waiter: oneshot::Sender<()>,
    },
    /// The channel's last handle is gone: leave it and forget it.
    Remove { channel: u64 },
    /// Close the connection for good; answer once closed.
    Close { done: oneshot::Sender<()> },
}

/// A channel as created by [`Client::channel`](super::Client::channel).
#[derive(Debug)]
pub(super) struct NewChannel {
    pub id: u64,
    pub topic: String,
    /// The join payload, sent with every join and rejoin.
    pub params: Value,
    /// The channel's [`ChannelState`](super::ChannelState), shared with its handles.
    pub state: Arc<StatusCell>,
}
