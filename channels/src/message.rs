//! The messages of the Phoenix Channels protocol, independent of their encoding.
//!
//! Phoenix has three: a [`Message`] (from the client: a push, join, leave or
//! heartbeat; from the server: a push to one channel, `phx_error`, `phx_close`),
//! the server's [`ReplyMessage`] to a client message, and a [`Broadcast`] to every
//! subscriber of a topic. Serializers (`serializer/`) turn
//! them into frames and back; everything else in the crate works with these.

use bytes::Bytes;
use serde_json::Value;

/// Event names the protocol itself uses.
pub mod events {
    /// Join a topic.
    pub const JOIN: &str = "phx_join";
    /// Leave a topic.
    pub const LEAVE: &str = "phx_leave";
    /// The server's answer to a message with a ref.
    pub const REPLY: &str = "phx_reply";
    /// A channel crashed.
    pub const ERROR: &str = "phx_error";
    /// A channel closed.
    pub const CLOSE: &str = "phx_close";
    /// Keep-alive, on the `phoenix` topic.
    pub const HEARTBEAT: &str = "heartbeat";
}

/// The topic heartbeats are sent on.
pub const HEARTBEAT_TOPIC: &str = "phoenix";

/// A message payload: JSON, or raw bytes (V2 binary frames).
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON value; by convention an object.
    Json(Value),
    /// Raw bytes, sent as a binary frame.
    Binary(Bytes),
}

impl Payload {
    /// An empty JSON object, `{}`.
    pub fn empty() -> Self {
        Payload::Json(Value::Object(Default::default()))
    }

    /// The JSON value, if this payload is JSON.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Payload::Json(v) => Some(v),
            Payload::Binary(_) => None,
        }
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::Json(value)
    }
}

/// A ref as the client sent it. Phoenix echoes refs back with their JSON type
/// unchanged (strings as strings, numbers as numbers), so they are kept as JSON.
pub type Ref = Option<Value>;

/// A message on one channel: from the client, or pushed by the server (then `msg_ref` is
/// usually `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The ref of the join this message belongs to.
    pub join_ref: Ref,
    /// This message's own ref; replies carry it back.
    pub msg_ref: Ref,
    /// The topic, e.g. `"room:lobby"`.
    pub topic: String,
    /// The event, e.g. `"phx_join"` or `"new_msg"`.
    pub event: String,
    /// The payload.
    pub payload: Payload,
}

/// A reply's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `"ok"`
    Ok,
    /// `"error"`
    Error,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// The server's reply to a client message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyMessage {
    /// The join ref of the message replied to (for a heartbeat, none).
    pub join_ref: Ref,
    /// The ref of the message replied to.
    pub msg_ref: Ref,
    /// Its topic.
    pub topic: String,
    /// ok or error.
    pub status: Status,
    /// The response body.
    pub response: Payload,
}

/// A message to every subscriber of a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: Payload,
}
