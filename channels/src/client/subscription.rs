//! [`Subscription`]: the payloads of one event on one channel, as a stream —
//! the Rust form of phoenix.js's `channel.on(event, callback)`.
//!
//! The connection task holds the sending half and never waits on it: the queue
//! is unbounded, as callbacks are in phoenix.js, so a subscriber that stops
//! reading holds its backlog in memory. Dropping the subscription unsubscribes
//! (the task notices on the next message for that event). The stream ends when
//! the channel's last handle is dropped or the client closes.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use serde_json::Value;
use tokio::sync::mpsc;

/// The payloads of one event on one channel, in arrival order.
#[derive(Debug)]
pub struct Subscription {
    event: String,
    rx: mpsc::UnboundedReceiver<Value>,
}

impl Subscription {
    pub(super) fn new(event: String, rx: mpsc::UnboundedReceiver<Value>) -> Subscription {
        Subscription { event, rx }
    }

    /// The event subscribed to.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The next payload; `None` once the channel or client is gone.
    pub async fn recv(&mut self) -> Option<Value> {
        self.rx.recv().await
    }

    /// A payload already received, without waiting.
    pub fn try_recv(&mut self) -> Option<Value> {
        self.rx.try_recv().ok()
    }
}

impl Stream for Subscription {
    type Item = Value;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Value>> {
        self.rx.poll_recv(cx)
    }
}
