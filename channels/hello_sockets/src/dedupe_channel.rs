//! `HelloSocketsWeb.DedupeChannel`: buffers intercepted `number` broadcasts and
//! pushes each distinct number once, a second after the first arrived.

use runtime::log_text::bounded;
use std::time::Duration;

use serde_json::json;

use channels::channel::{Channel, ChannelSocket, Continue};
use channels::message::Payload;
use channels::pubsub::PubSub;
use runtime::ProcessError;

/// The channel's assigns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DedupeState {
    /// Numbers received, newest first (the book prepends to a list).
    pub buffer: Vec<i64>,
    /// Whether a flush is scheduled.
    pub awaiting_buffer: bool,
}

/// The channel's own messages.
#[derive(Debug)]
pub enum DedupeInfo {
    /// Push the buffer (`:send_buffer`).
    SendBuffer,
}

/// The deduplicating channel.
pub struct DedupeChannel;

/// How long numbers are collected before they are pushed.
pub const FLUSH_AFTER: Duration = Duration::from_secs(1);

impl DedupeChannel {
    /// Broadcasts every number of `numbers`, `times` times over (`DedupeChannel.broadcast/2`).
    pub fn broadcast(pubsub: &PubSub, numbers: &[i64], times: usize) {
        for _ in 0..times {
            for number in numbers {
                pubsub.broadcast("dupe", "number", json!({"number": number}));
            }
        }
    }
}

impl<A: Send + Sync + 'static> Channel<A> for DedupeChannel {
    type State = DedupeState;
    type Info = DedupeInfo;

    fn intercepts(&self) -> &'static [&'static str] {
        &["number"]
    }

    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &ChannelSocket<A, DedupeInfo>,
        state: &mut DedupeState,
    ) -> Result<Continue, ProcessError> {
        if event != "number" {
            return Err(format!("no handle_out clause for \"{}\"", bounded(event)).into());
        }
        let number = payload
            .as_json()
            .and_then(|p| p.get("number"))
            .and_then(|n| n.as_i64())
            .ok_or("number broadcast without an integer number")?;
        state.buffer.insert(0, number);
        if !state.awaiting_buffer {
            socket.send_after(DedupeInfo::SendBuffer, FLUSH_AFTER);
            state.awaiting_buffer = true;
        }
        Ok(Continue::NoReply)
    }

    async fn handle_info(
        &self,
        message: DedupeInfo,
        socket: &ChannelSocket<A, DedupeInfo>,
        state: &mut DedupeState,
    ) -> Result<Continue, ProcessError> {
        match message {
            DedupeInfo::SendBuffer => {
                let mut seen = std::collections::HashSet::new();
                for number in state.buffer.iter().rev() {
                    if seen.insert(*number) {
                        socket.push("number", json!({"value": number}));
                    }
                }
                *state = DedupeState::default();
            }
        }
        Ok(Continue::NoReply)
    }
}
