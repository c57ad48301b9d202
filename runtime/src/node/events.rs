//! Node liveness events: what `net_kernel:monitor_nodes(true)` delivers in Erlang.
//!
//! Subscribers ([`super::Node::subscribe`]) get a [`NodeEvent::Up`] when a peer
//! is connected and ready (authenticated, and its process groups synchronized),
//! and a [`NodeEvent::Down`] when it is gone, with why: its connection closed
//! (a killed peer is noticed at once), the heartbeat timed out (a hung peer),
//! or this node disconnected it. Each `Up` is followed by at most one `Down`.
//! A refused handshake because of a wrong cookie is reported too, on both sides,
//! so that the reason is visible and not just "the connection closed".
//!
//! Events travel on a tokio broadcast channel: any number of subscribers, no
//! actor per subscriber, and a subscriber that falls behind by more than
//! [`EVENT_BUFFER`] events gets `RecvError::Lagged` rather than slowing the node.

use std::fmt;

use super::name::NodeName;

/// How many events a slow subscriber may fall behind before it lags.
pub const EVENT_BUFFER: usize = 1024;

/// Why a peer went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// The connection closed: the peer stopped, crashed or was killed, or the
    /// network failed in a way TCP noticed.
    ConnectionClosed,
    /// Nothing was heard from the peer within the heartbeat timeout (a hung or
    /// unreachable peer); this node closed the connection.
    HeartbeatTimeout,
    /// This node disconnected it ([`super::Node::disconnect`]).
    Disconnected,
    /// This node is stopping.
    LocalStop,
}

impl DownReason {
    /// A short machine-readable form: `connection_closed`, `heartbeat_timeout`,
    /// `disconnected`, `local_stop`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DownReason::ConnectionClosed => "connection_closed",
            DownReason::HeartbeatTimeout => "heartbeat_timeout",
            DownReason::Disconnected => "disconnected",
            DownReason::LocalStop => "local_stop",
        }
    }
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened to this node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A peer is connected (nodeup).
    Up {
        /// The peer.
        node: NodeName,
    },
    /// A peer is no longer connected (nodedown).
    Down {
        /// The peer.
        node: NodeName,
        /// Why.
        reason: DownReason,
    },
    /// A connection was refused because the two nodes' cookies differ.
    BadCookie {
        /// The other node's name as it announced itself.
        peer: String,
        /// The other end's network address.
        addr: String,
        /// `true` if the other node connected to this one; `false` if this node
        /// was connecting.
        incoming: bool,
    },
}
