//! Phoenix Channels in Rust: the server side of the protocol that the official
//! `phoenix` JavaScript client speaks, and a client for it.
//!
//! - Behaviours: [`socket::Socket`] (connect, id, routes) and
//!   [`channel::Channel`] (join, handle_in, handle_out, handle_info, terminate).
//! - Server: [`endpoint`] (hyper), [`http_connection`] (timeouts and bounds of
//!   one HTTP connection), [`drain`] (closing the sockets when the node stops,
//!   over the [`connections`] table), [`transport`] (WebSocket, long poll),
//!   [`session`] (one connection's protocol state), [`channel_server`] (one
//!   joined channel as a lightweight process), [`outbox`], [`pubsub`] with the
//!   fastlane, [`services`], [`metrics`], [`mount`] (per-socket settings),
//!   [`tls`] (HTTPS and WSS beside plain HTTP).
//! - Wire: [`message`] and [`serializer`] (V1 and V2, JSON and binary).
//! - Security: [`token`] (Phoenix.Token-style) and [`secret`].
//! - [`testing`]: a `ChannelCase`-like test kit; [`client`]: a Rust client.
//! - The book's `hello_sockets` app is a crate of its own (`channels/hello_sockets`),
//!   and so is the benchmarks' load generator (`channels/loadgen`).
//! - [`console_commands`]: `pubsub.*` commands for a node's console;
//!   [`endpoint_args`]: the endpoint's limits as command-line options.

pub mod channel;
pub mod channel_server;
pub mod check_origin;
pub mod client;
pub mod connections;
pub mod console_commands;
pub mod drain;
pub mod endpoint;
pub mod endpoint_args;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod http_connection;
pub mod message;
pub mod metrics;
pub mod mount;
pub mod outbox;
pub mod presence;
pub mod pubsub;
pub mod secret;
pub mod serializer;
pub mod services;
pub mod session;
pub mod socket;
pub mod subscriber_id;
pub mod testing;
pub mod tls;
pub mod token;
pub mod topic;
pub mod tracker;
pub mod transport;
