//! [`ClientOptions`]: everything about a client's behaviour that a caller may
//! tune, with phoenix.js's defaults.
//!
//! | option | phoenix.js | default |
//! |---|---|---|
//! | [`heartbeat_interval`](ClientOptions::heartbeat_interval) | `heartbeatIntervalMs` | 30 s |
//! | [`timeout`](ClientOptions::timeout) | `timeout` (push and join) | 10 s |
//! | [`reconnect_after`](ClientOptions::reconnect_after) | `reconnectAfterMs` | 10, 50, 100, 150, 200, 250, 500, 1000, 2000, then 5000 ms |
//! | [`rejoin_after`](ClientOptions::rejoin_after) | `rejoinAfterMs` | 1, 2, 5, then 10 s |
//!
//! The rest has no phoenix.js counterpart: whether to reconnect at all, a
//! connect timeout, the local address to bind (a load generator spreads its
//! connections over several loopback source addresses, each with its own
//! ephemeral ports) and tungstenite's buffer settings.

use std::net::IpAddr;
use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::backoff::Backoff;

/// How a [`Client`](super::Client) behaves. Build one with struct update
/// syntax: `ClientOptions { timeout: Duration::from_secs(1), ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Send `[null, ref, "phoenix", "heartbeat", {}]` this long after the
    /// connection opens and after each heartbeat reply; a heartbeat that gets no
    /// reply within the same interval closes the connection (and reconnects).
    /// `None` sends no heartbeats: the server will then close an idle connection.
    pub heartbeat_interval: Option<Duration>,
    /// Default timeout of a join, a push and a leave.
    pub timeout: Duration,
    /// Wait before reconnect try `n` after the connection drops.
    pub reconnect_after: Backoff,
    /// Wait before rejoin try `n` after a channel errors (`phx_error`, a
    /// refused or timed-out rejoin).
    pub rejoin_after: Backoff,
    /// Reconnect automatically when the connection drops (unless
    /// [`Client::close`](super::Client::close) closed it). phoenix.js always does.
    pub reconnect: bool,
    /// Give up on one connection attempt (TCP connect plus WebSocket handshake)
    /// after this long.
    pub connect_timeout: Duration,
    /// Bind the TCP socket to this local address (port chosen by the kernel)
    /// before connecting; `None` lets the kernel choose the address too.
    pub local_addr: Option<IpAddr>,
    /// tungstenite's settings; `None` is tungstenite's default, whose read
    /// buffer alone is 128 KiB per connection. See [`ClientOptions::compact`].
    pub websocket_config: Option<WebSocketConfig>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            heartbeat_interval: Some(Duration::from_secs(30)),
            timeout: Duration::from_secs(10),
            reconnect_after: Backoff::reconnect(),
            rejoin_after: Backoff::rejoin(),
            reconnect: true,
            connect_timeout: Duration::from_secs(10),
            local_addr: None,
            websocket_config: None,
        }
    }
}

impl ClientOptions {
    /// The defaults, with WebSocket buffers sized for holding many mostly idle
    /// connections: a 4 KiB read buffer and frames written as they are queued.
    pub fn compact() -> ClientOptions {
        ClientOptions {
            websocket_config: Some(
                WebSocketConfig::default()
                    .read_buffer_size(4096)
                    .write_buffer_size(0),
            ),
            ..ClientOptions::default()
        }
    }
}
