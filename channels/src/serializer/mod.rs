//! Serializers: Phoenix's wire formats, chosen per connection by `vsn`.
//!
//! `vsn=2.0.0` selects V2 (JSON arrays, plus binary frames for binary
//! payloads); `vsn=1.0.0` or no `vsn` selects V1 (JSON objects); anything else
//! is refused (HTTP 403). A broadcast is encoded once per serializer and the
//! same bytes go to every subscriber (the fastlane), hence [`Frame`] holds
//! cheaply cloned [`Bytes`].

mod v1;
mod v2;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::message::{Broadcast, Message, ReplyMessage};

/// One WebSocket data frame (or one long-poll message). Text is kept as
/// tungstenite's `Utf8Bytes` so that a fastlane frame goes to every connection
/// without being copied or re-validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame (UTF-8 JSON).
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl Frame {
    /// The frame's bytes, whatever its kind.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Frame::Text(t) => t.as_bytes(),
            Frame::Binary(b) => b,
        }
    }
}

/// A text frame from JSON.
fn json_frame(value: &serde_json::Value) -> Frame {
    Frame::Text(Utf8Bytes::from(value.to_string()))
}

/// A wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// `Phoenix.Socket.V1.JSONSerializer`: JSON objects.
    V1,
    /// `Phoenix.Socket.V2.JSONSerializer`: JSON arrays and binary frames.
    V2,
}

/// Why an incoming frame is not a Phoenix message. The text becomes the
/// WebSocket close reason (code 1007), so it names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but not the shape of a message.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A binary frame that cannot be parsed.
    #[error("malformed binary frame: {0}")]
    MalformedBinary(&'static str),
    /// Binary frames on a V1 connection.
    #[error("binary frames need the V2 serializer (vsn=2.0.0)")]
    BinaryOnV1,
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// V1 has no binary frames.
    #[error("binary payloads need the V2 serializer")]
    BinaryOnV1,
    /// Binary frames carry sizes in one byte.
    #[error("{0} is longer than 255 bytes and cannot go in a binary frame")]
    TooLong(&'static str),
}

impl Serializer {
    /// The serializer for a connection's `vsn` parameter; `None` means refuse (403).
    pub fn from_vsn(vsn: Option<&str>) -> Option<Serializer> {
        match vsn {
            None | Some("1.0.0") => Some(Serializer::V1),
            Some("2.0.0") => Some(Serializer::V2),
            Some(_) => None,
        }
    }

    /// Phoenix's module name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::V1 => "Phoenix.Socket.V1.JSONSerializer",
            Serializer::V2 => "Phoenix.Socket.V2.JSONSerializer",
        }
    }

    /// Parses one incoming frame.
    pub fn decode(self, frame: &Frame) -> Result<Message, DecodeError> {
        match (self, frame) {
            (Serializer::V1, Frame::Text(text)) => v1::decode(text.as_bytes()),
            (Serializer::V1, Frame::Binary(_)) => Err(DecodeError::BinaryOnV1),
            (Serializer::V2, Frame::Text(text)) => v2::decode_text(text.as_bytes()),
            (Serializer::V2, Frame::Binary(data)) => v2::decode_binary(data),
        }
    }

    /// Encodes a reply.
    pub fn encode_reply(self, reply: &ReplyMessage) -> Result<Frame, EncodeError> {
        match self {
            Serializer::V1 => v1::encode_reply(reply),
            Serializer::V2 => v2::encode_reply(reply),
        }
    }

    /// Encodes a message pushed to one channel.
    pub fn encode_message(self, message: &Message) -> Result<Frame, EncodeError> {
        match self {
            Serializer::V1 => v1::encode_message(message),
            Serializer::V2 => v2::encode_message(message),
        }
    }

    /// Encodes a broadcast, once for all subscribers using this serializer.
    pub fn fastlane(self, broadcast: &Broadcast) -> Result<Frame, EncodeError> {
        match self {
            Serializer::V1 => v1::fastlane(broadcast),
            Serializer::V2 => v2::fastlane(broadcast),
        }
    }
}

/// Reads a JSON ref: a string, a number or null. Anything else is kept as the
/// client sent it — Phoenix echoes whatever it got.
fn json_ref(value: serde_json::Value) -> crate::message::Ref {
    match value {
        serde_json::Value::Null => None,
        other => Some(other),
    }
}
