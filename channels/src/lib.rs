//! Phoenix Channels in Rust: the server side of the protocol that the official
//! `phoenix` JavaScript client speaks.
//!
//! - [`message`]: the protocol's messages, independent of encoding.
//! - [`client`]: a Phoenix Channels client (V2 JSON over WebSocket), with
//!   phoenix.js's heartbeat, reconnect and rejoin.
//! - [`serializer`]: the V1 and V2 wire formats.
//! - [`token`]: Phoenix.Token-style signed tokens; [`secret`]: where their key comes from.

pub mod channel;
pub mod channel_server;
pub mod client;
pub mod endpoint;
pub mod hello_sockets;
pub mod message;
pub mod metrics;
pub mod mount;
pub mod outbox;
pub mod pubsub;
pub mod secret;
pub mod serializer;
pub mod services;
pub mod session;
pub mod socket;
pub mod testing;
pub mod token;
pub mod topic;
pub mod transport;
