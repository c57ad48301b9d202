//! [`Channel`]: a handle on one topic of a client — join, push, subscribe,
//! leave.
//!
//! The handle only sends [`Command`]s; the channel's state machine lives in the
//! connection task (`membership.rs`). Clones share one channel; when the last
//! clone is dropped the channel is left and forgotten (phoenix.js keeps a
//! channel until `leave()`, but a Rust handle that nobody holds can never be
//! left otherwise).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::command::Command;
use super::push::{await_reply, PushError, PushReply, PushRequest};
use super::status::{AsByte, StatusCell};
use super::subscription::Subscription;
use super::Client;

/// Where a channel is in its life (phoenix.js's `CHANNEL_STATES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChannelState {
    /// Not joined: new, left, refused, timed out or closed by the server.
    Closed,
    /// A join is on its way (or waiting for the connection).
    Joining,
    /// Joined: pushes go out at once.
    Joined,
    /// The channel crashed or the connection dropped: a rejoin is scheduled.
    Errored,
    /// A leave is on its way.
    Leaving,
}

impl AsByte for ChannelState {
    fn to_byte(self) -> u8 {
        self as u8
    }

    fn from_byte(byte: u8) -> Self {
        match byte {
            1 => ChannelState::Joining,
            2 => ChannelState::Joined,
            3 => ChannelState::Errored,
            4 => ChannelState::Leaving,
            _ => ChannelState::Closed,
        }
    }
}

/// Why a join did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JoinError {
    /// The server answered `error`, with this response (e.g. `{}` from a
    /// channel's `{:error, %{}}`, or `{"reason": "unmatched topic"}`).
    #[error("join refused: {0}")]
    Refused(Value),
    /// No reply within the timeout.
    #[error("no join reply within the timeout")]
    Timeout,
    /// The client closed, or the channel was closed or left, before the reply.
    #[error("the client or the channel was closed")]
    Closed,
    /// The channel is already joined, joining, rejoining or leaving.
    #[error("the channel is already joined or joining")]
    AlreadyJoined,
}

/// A channel handle: cheap to clone; the last clone's drop leaves the channel.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Handle>,
}

struct Handle {
    id: u64,
    topic: String,
    client: Client,
    state: Arc<StatusCell>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.client.send(Command::Remove { channel: self.id });
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("topic", &self.inner.topic)
            .field("state", &self.state())
            .finish()
    }
}

impl Channel {
    pub(super) fn new(id: u64, topic: String, client: Client, state: Arc<StatusCell>) -> Channel {
        Channel {
            inner: Arc::new(Handle {
                id,
                topic,
                client,
                state,
            }),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The client this channel belongs to.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The current state.
    pub fn state(&self) -> ChannelState {
        self.inner.state.get()
    }

    /// Waits until the state satisfies `accept` (wrap it in a timeout), e.g.
    /// for a rejoin: `channel.wait_for_state(|s| s == ChannelState::Joined)`.
    /// Returns the state that did.
    pub async fn wait_for_state(&self, accept: impl Fn(ChannelState) -> bool) -> ChannelState {
        self.inner.state.wait_for(accept).await
    }

    /// Joins with the client's default timeout; the server's response on
    /// success. Once joined, the channel rejoins by itself after a crash or a
    /// reconnect. A refusal or a timeout leaves it closed: call `join` again to
    /// retry.
    pub async fn join(&self) -> Result<Value, JoinError> {
        self.join_with_timeout(self.inner.client.default_timeout())
            .await
    }

    /// Joins, waiting at most `timeout` for the reply (a join made while the
    /// client is disconnected goes out when it reconnects, within the timeout).
    pub async fn join_with_timeout(&self, timeout: Duration) -> Result<Value, JoinError> {
        let (waiter, rx) = oneshot::channel();
        self.inner
            .client
            .send(Command::Join {
                channel: self.inner.id,
                timeout,
                waiter,
            })
            .map_err(|()| JoinError::Closed)?;
        rx.await.unwrap_or(Err(JoinError::Closed))
    }

    /// Pushes `event` and waits for the reply, up to the default timeout.
    /// While the channel is joining or rejoining, the push waits (and its
    /// timeout runs) until it joins.
    pub async fn push(&self, event: &str, payload: Value) -> Result<PushReply, PushError> {
        self.push_with_timeout(event, payload, self.inner.client.default_timeout())
            .await
    }

    /// Pushes `event` and waits for the reply, up to `timeout`.
    pub async fn push_with_timeout(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<PushReply, PushError> {
        let client = &self.inner.client;
        let msg_ref = client.make_ref();
        let (waiter, rx) = oneshot::channel();
        client
            .send(Command::Push(PushRequest {
                channel: self.inner.id,
                msg_ref,
                event: event.to_string(),
                payload,
                waiter: Some(waiter),
            }))
            .map_err(|()| PushError::Closed)?;
        await_reply(rx, timeout, || {
            let _ = client.send(Command::Forget {
                channel: self.inner.id,
                msg_ref,
            });
        })
        .await
    }

    /// Pushes `event` without waiting for (or keeping) a reply: the load
    /// generator's fast path. It goes out only if the channel is joined when the
    /// connection task takes it; otherwise it is dropped. Fails only when the
    /// client is closed.
    pub fn push_no_reply(&self, event: &str, payload: Value) -> Result<(), PushError> {
        let client = &self.inner.client;
        client
            .send(Command::Push(PushRequest {
                channel: self.inner.id,
                msg_ref: client.make_ref(),
                event: event.to_string(),
                payload,
                waiter: None,
            }))
            .map_err(|()| PushError::Closed)
    }

    /// The payloads of `event` on this topic: pushes from the channel
    /// (`push/3`), broadcasts, and also the protocol's own events (`phx_error`,
    /// `phx_close`, `phx_reply`) if asked for. Subscribe before joining to miss
    /// nothing sent right after the join.
    pub fn on(&self, event: &str) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.inner.client.send(Command::Subscribe {
            channel: self.inner.id,
            event: event.to_string(),
            tx,
        });
        Subscription::new(event.to_string(), rx)
    }

    /// Leaves the channel and waits until it is closed: the server's reply to
    /// `phx_leave`, or the default timeout (phoenix.js closes on either).
    pub async fn leave(&self) {
        let (waiter, rx) = oneshot::channel();
        let sent = self.inner.client.send(Command::Leave {
            channel: self.inner.id,
            timeout: self.inner.client.default_timeout(),
            waiter,
        });
        if sent.is_ok() {
            let _ = rx.await;
        }
    }
}
