//! A Phoenix Channels client: V2 JSON over a tokio-tungstenite WebSocket,
//! behaving as the official phoenix.js client does — connect with params, join
//! with a reply, push with a reply and a timeout, `on(event)` streams,
//! heartbeats, and automatic reconnect and rejoin with phoenix.js's back-off.
//! It talks to any Phoenix server; this crate's tests and load generator use it
//! against ours.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use channels::client::{Client, ClientOptions};
//! use serde_json::json;
//!
//! let client = Client::connect("ws://localhost:4000/socket", &[("token", "…")],
//!     ClientOptions::default()).await?;
//! let room = client.channel("room:lobby", json!({}));
//! let mut messages = room.on("new_msg");
//! room.join().await?;
//! let reply = room.push("new_msg", json!({"body": "hi"})).await?;
//! assert!(reply.is_ok());
//! while let Some(payload) = messages.recv().await {
//!     println!("{payload}");
//! }
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! One task per connection (`connection.rs`) owns the WebSocket and every
//! channel's state; [`Client`] and [`Channel`] are cheap handles that send it
//! commands (`command.rs`) over an unbounded queue and get answers through
//! oneshots. A client therefore costs one task, one socket, one queue and a
//! few small records: with [`ClientOptions::compact`] and one joined channel,
//! about 8 KiB of client memory per connection (a bare tokio-tungstenite
//! connection with the same buffers and a reading task: about 5.5 KiB).
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`Client`]: connect, make channels, watch the connection, close |
//! | `options.rs` | [`ClientOptions`], with phoenix.js's defaults |
//! | `backoff.rs` | [`Backoff`]: the reconnect and rejoin schedules |
//! | `dial.rs` | the endpoint URL and one TCP + WebSocket connection attempt |
//! | `wire.rs` | client frames out and server frames in, via [`Serializer::V2`](crate::serializer::Serializer::V2) |
//! | `shared.rs` | refs, [`ConnectionState`] and [`Stats`], shared without messages |
//! | `status.rs` | a state byte that handles read or wait on (the connection's, a channel's) |
//! | `command.rs` | what handles ask of the task |
//! | `connection.rs` | the task: heartbeat, reconnect, routing, writing |
//! | `membership.rs` | one channel's state machine inside the task (join, rejoin, buffered and in-flight pushes, subscribers) |
//! | `channel.rs` | [`Channel`]: the handle — join, push, on, leave |
//! | `push.rs` | [`PushReply`], [`PushError`] and a push's timeout |
//! | `subscription.rs` | [`Subscription`]: an event's payloads as a stream |
//!
//! # Semantics
//!
//! Refs are strings counting up per client (`"1"`, `"2"`, …); a channel's
//! `join_ref` is the ref of its latest join, and frames carrying another join
//! ref are dropped as stale (broadcasts, with a `null` join ref, reach every
//! channel of their topic). See `membership.rs` for the channel state machine
//! and where it deliberately differs from phoenix.js, and `connection.rs` for
//! heartbeats and reconnects. Binary payloads are not supported: binary frames
//! are counted and dropped.
//!
//! Deliberate differences from phoenix.js:
//!
//! - The first join of a [`Channel::join`] call reports a refusal or a timeout
//!   to its caller and leaves the channel closed (call `join` again to retry);
//!   phoenix.js retries it for ever on the rejoin schedule. Rejoins (after
//!   `phx_error` or a reconnect) do retry like phoenix.js.
//! - A push already sent when its channel crashes or the connection drops
//!   fails at once with [`PushError::Errored`] instead of timing out.
//! - The client reconnects whatever close code the server used; phoenix.js
//!   does not reconnect after a server close with 1000, which our server uses
//!   for its heartbeat timeout.
//! - [`Channel::push_no_reply`] (no phoenix.js counterpart) is sent only if
//!   the channel is joined; it is never buffered.
//! - Dropping a channel's last handle leaves the channel.

mod backoff;
mod channel;
mod command;
mod connection;
mod dial;
mod membership;
mod options;
mod push;
mod shared;
mod status;
mod subscription;
mod wire;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

pub use backoff::{Backoff, RECONNECT_AFTER_MS, REJOIN_AFTER_MS};
pub use channel::{Channel, ChannelState, JoinError};
pub use dial::ConnectError;
pub use options::ClientOptions;
pub use push::{PushError, PushReply};
pub use shared::{ConnectionState, Stats};
pub use subscription::Subscription;

use command::{Command, NewChannel};
use connection::Connection;
use dial::Target;
use shared::Shared;

/// A handle on one client connection: cheap to clone. The connection lives
/// until [`close`](Client::close) or until every client and channel handle is
/// dropped.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Box<Command>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.shared.url)
            .field("state", &self.state())
            .finish()
    }
}

impl Client {
    /// Connects to the socket at `url` (e.g. `ws://localhost:4000/socket`) with
    /// connect `params`: the WebSocket URL is
    /// `{url}/websocket?{params}&vsn=2.0.0`, as phoenix.js builds it. The first
    /// connection must succeed (no retry); later drops reconnect by themselves.
    /// Must be called within a Tokio runtime: it spawns the connection task.
    pub async fn connect(
        url: &str,
        params: &[(&str, &str)],
        options: ClientOptions,
    ) -> Result<Client, ConnectError> {
        let target = Arc::new(Target::new(url, params, &options)?);
        let ws = target.dial().await?;
        let shared = Arc::new(Shared::new(target.url.clone(), options.timeout));
        let (commands, rx) = mpsc::unbounded_channel();
        let connection = Connection::new(shared.clone(), target, options, rx, ws);
        tokio::spawn(connection.run());
        Ok(Client { shared, commands })
    }

    /// A channel on `topic`, joined with `params` (sent with every join and
    /// rejoin). Nothing is sent until [`Channel::join`].
    pub fn channel(&self, topic: &str, params: Value) -> Channel {
        let id = self.shared.make_channel_id();
        let state = Arc::new(status::StatusCell::new(ChannelState::Closed));
        let _ = self.send(Command::Add(NewChannel {
            id,
            topic: topic.to_string(),
            params,
            state: state.clone(),
        }));
        Channel::new(id, topic.to_string(), self.clone(), state)
    }

    /// The WebSocket URL, `…/websocket?…&vsn=2.0.0`.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The connection's current state.
    pub fn state(&self) -> ConnectionState {
        self.shared.state.get()
    }

    /// Waits until the connection state satisfies `accept` (wrap it in a
    /// timeout); the state that did. A reconnect can be quicker than a waiter
    /// wakes: to see that one happened, use [`Stats::connects`] or
    /// [`wait_connected`](Client::wait_connected).
    pub async fn wait_for_state(
        &self,
        accept: impl Fn(ConnectionState) -> bool,
    ) -> ConnectionState {
        self.shared.state.wait_for(accept).await
    }

    /// Counters: frames in and out, connects, disconnects.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Data frames received so far: one atomic load, for load generators that
    /// only count.
    pub fn messages_received(&self) -> u64 {
        self.shared.messages_received.load(Relaxed)
    }

    /// Waits until the client is connected and has connected at least
    /// `connects` times in all (1: the first connection), or until `timeout`;
    /// whether that happened.
    pub async fn wait_connected(&self, connects: u64, timeout: Duration) -> bool {
        let reached = self.wait_for_state(|state| {
            state == ConnectionState::Closed
                || (state == ConnectionState::Connected
                    && self.shared.connects.load(Relaxed) >= connects)
        });
        matches!(
            tokio::time::timeout(timeout, reached).await,
            Ok(ConnectionState::Connected)
        )
    }

    /// Closes the connection for good (1000) after leaving every channel, and
    /// waits for the task to finish. Pending joins and pushes fail with
    /// `Closed`; subscriptions end.
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.send(Command::Close { done }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Whether the client has been closed.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    fn send(&self, command: Command) -> Result<(), ()> {
        self.commands.send(Box::new(command)).map_err(|_| ())
    }

    fn make_ref(&self) -> u64 {
        self.shared.make_ref()
    }

    fn default_timeout(&self) -> Duration {
        self.shared.timeout
    }
}
