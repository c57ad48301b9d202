//! The client's side of the V2 wire format, built on the crate's
//! [`Serializer::V2`]: encoding the frames a client sends, and reading the
//! frames a server sends.
//!
//! A server frame has the same `[join_ref, ref, topic, event, payload]` shape as
//! a client frame, so [`Serializer::decode`] reads it; a reply is the event
//! `phx_reply` with the payload `{"status": …, "response": …}`. Refs are the
//! client's own, so they are numbers sent as strings (`"1"`, `"2"`, …); a ref
//! that is not one of ours reads as `None`. Binary frames (binary payloads)
//! are not supported by this client.

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::message::{Message, Payload};
use crate::serializer::{Frame, Serializer};

/// The text frame `[join_ref, ref, topic, event, payload]`.
pub(super) fn encode(
    join_ref: Option<u64>,
    msg_ref: u64,
    topic: &str,
    event: &str,
    payload: Value,
) -> WsMessage {
    let message = Message {
        join_ref: join_ref.map(|r| Value::String(r.to_string())),
        msg_ref: Some(Value::String(msg_ref.to_string())),
        topic: topic.to_string(),
        event: event.to_string(),
        payload: Payload::Json(payload),
    };
    match Serializer::V2.encode_message(&message) {
        Ok(Frame::Text(text)) => WsMessage::Text(text),
        Ok(Frame::Binary(data)) => WsMessage::Binary(data),
        Err(err) => unreachable!("a JSON payload always encodes: {err}"),
    }
}

/// A decoded server frame, its payload still JSON.
#[derive(Debug)]
pub(super) struct Incoming {
    /// The join ref, if it is one of ours.
    pub join_ref: RefField,
    /// The message ref, if it is one of ours.
    pub msg_ref: Option<u64>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

/// A `join_ref` as received: absent (`null`: a broadcast or a reply to a
/// heartbeat) or a value, which is one of our refs or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RefField {
    /// `null`.
    Null,
    /// One of our refs.
    Ours(u64),
    /// Something we never sent.
    Foreign,
}

/// Reads a server text frame.
pub(super) fn decode(text: Utf8Bytes) -> Result<Incoming, crate::serializer::DecodeError> {
    let message = Serializer::V2.decode(&Frame::Text(text))?;
    let join_ref = match &message.join_ref {
        None => RefField::Null,
        Some(value) => parse_ref(value).map_or(RefField::Foreign, RefField::Ours),
    };
    let msg_ref = message.msg_ref.as_ref().and_then(parse_ref);
    let payload = match message.payload {
        Payload::Json(value) => value,
        // V2 text frames always carry JSON.
        Payload::Binary(_) => Value::Null,
    };
    Ok(Incoming {
        join_ref,
        msg_ref,
        topic: message.topic,
        event: message.event,
        payload,
    })
}

fn parse_ref(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Splits a `phx_reply` payload into its status and response (`null` when
/// missing; a missing status reads as `"error"`).
pub(super) fn reply_parts(payload: Value) -> (String, Value) {
    match payload {
        Value::Object(mut map) => {
            let status = match map.remove("status") {
                Some(Value::String(status)) => status,
                _ => "error".to_string(),
            };
            (status, map.remove("response").unwrap_or(Value::Null))
        }
        _ => ("error".to_string(), Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_client_frames() {
        let frame = encode(Some(3), 7, "room:1", "new_msg", json!({"a": 1}));
        let WsMessage::Text(text) = frame else {
            panic!("a text frame")
        };
        let value: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(value, json!(["3", "7", "room:1", "new_msg", {"a": 1}]));
        let WsMessage::Text(text) = encode(None, 8, "phoenix", "heartbeat", json!({})) else {
            panic!("a text frame")
        };
        let value: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(value, json!([null, "8", "phoenix", "heartbeat", {}]));
    }

    #[test]
    fn decodes_server_frames() {
        let reply = decode(Utf8Bytes::from(
            r#"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
        ))
        .unwrap();
        assert_eq!(reply.join_ref, RefField::Ours(1));
        assert_eq!(reply.msg_ref, Some(2));
        assert_eq!(reply.event, "phx_reply");
        assert_eq!(
            reply_parts(reply.payload),
            ("ok".to_string(), json!({"ping": "pong"}))
        );
        let broadcast = decode(Utf8Bytes::from(r#"[null,null,"t","bcast",{"x":1}]"#)).unwrap();
        assert_eq!(broadcast.join_ref, RefField::Null);
        assert_eq!(broadcast.msg_ref, None);
        assert_eq!(broadcast.payload, json!({"x": 1}));
        let foreign = decode(Utf8Bytes::from(r#"["abc",null,"t","e",{}]"#)).unwrap();
        assert_eq!(foreign.join_ref, RefField::Foreign);
        assert!(decode(Utf8Bytes::from("not json")).is_err());
    }

    #[test]
    fn reply_parts_tolerates_odd_payloads() {
        assert_eq!(
            reply_parts(json!({"status": "error"})),
            ("error".to_string(), Value::Null)
        );
        assert_eq!(reply_parts(json!(3)), ("error".to_string(), Value::Null));
    }
}
