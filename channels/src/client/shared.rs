//! What the handles and the connection task share without messages: the ref
//! counter, the connection state and the counters.
//!
//! Refs are allocated by whoever sends: a handle for its pushes, the task for
//! joins, leaves and heartbeats. As in phoenix.js (`makeRef`), they count up per
//! client from `"1"`, and a channel's `join_ref` is the ref of its latest join.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::status::{AsByte, StatusCell};

/// The state of a client's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectionState {
    /// A connection attempt is under way (a reconnect).
    Connecting,
    /// The WebSocket is open.
    Connected,
    /// The connection dropped; a reconnect is scheduled (unless reconnecting
    /// is turned off).
    Disconnected,
    /// [`Client::close`](super::Client::close) was called, or every handle was
    /// dropped: the client is finished.
    Closed,
}

impl AsByte for ConnectionState {
    fn to_byte(self) -> u8 {
        self as u8
    }

    fn from_byte(byte: u8) -> Self {
        match byte {
            0 => ConnectionState::Connecting,
            1 => ConnectionState::Connected,
            2 => ConnectionState::Disconnected,
            _ => ConnectionState::Closed,
        }
    }
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Data frames received, every kind, counted before decoding.
    pub messages_received: u64,
    /// Data frames sent, heartbeats included.
    pub messages_sent: u64,
    /// Successful connections, the first one included: `connects - 1`
    /// reconnects happened.
    pub connects: u64,
    /// Connections that dropped or were closed.
    pub disconnects: u64,
}

/// State shared by a client's handles and its connection task.
#[derive(Debug)]
pub(super) struct Shared {
    next_ref: AtomicU64,
    next_channel: AtomicU64,
    /// The endpoint URL.
    pub url: String,
    /// The default timeout of joins, pushes and leaves.
    pub timeout: Duration,
    pub state: StatusCell,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
}

impl Shared {
    pub fn new(url: String, timeout: Duration) -> Shared {
        Shared {
            next_ref: AtomicU64::new(0),
            next_channel: AtomicU64::new(0),
            url,
            timeout,
            state: StatusCell::new(ConnectionState::Connecting),
            messages_received: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
        }
    }

    /// The next message ref: 1, 2, 3, …
    pub fn make_ref(&self) -> u64 {
        self.next_ref.fetch_add(1, Relaxed) + 1
    }

    /// A fresh channel id (internal; not on the wire).
    pub fn make_channel_id(&self) -> u64 {
        self.next_channel.fetch_add(1, Relaxed) + 1
    }

    /// Publishes a new connection state, waking waiters on a change.
    pub fn set_state(&self, state: ConnectionState) {
        self.state.set(state);
    }

    pub fn stats(&self) -> Stats {
        Stats {
            messages_received: self.messages_received.load(Relaxed),
            messages_sent: self.messages_sent.load(Relaxed),
            connects: self.connects.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
        }
    }
}
