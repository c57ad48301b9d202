//! V2: text frames are JSON arrays `[join_ref, ref, topic, event, payload]`;
//! binary payloads travel in binary frames whose header sizes are single bytes.
//!
//! | kind | direction | header after kind | then |
//! |---|---|---|---|
//! | 0 push | client → server | join_ref, ref, topic, event sizes | those strings, raw payload |
//! | 0 push | server → client | join_ref, topic, event sizes | those strings, payload |
//! | 1 reply | server → client | join_ref, ref, topic, status sizes | those strings, payload |
//! | 2 broadcast | server → client | topic, event sizes | those strings, payload |

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use super::{json_frame, json_ref, DecodeError, EncodeError, Frame};
use crate::message::{events, Broadcast, Message, Payload, ReplyMessage};

const PUSH: u8 = 0;
const REPLY: u8 = 1;
const BROADCAST: u8 = 2;

pub(super) fn decode_text(text: &[u8]) -> Result<Message, DecodeError> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(DecodeError::Malformed(
            "V2 frames are JSON arrays [join_ref, ref, topic, event, payload]",
        ));
    };
    // Phoenix matches `[join_ref, ref, topic, event, payload | _]`: extra elements are ignored.
    if items.len() < 5 {
        return Err(DecodeError::Malformed(
            "expected 5 elements [join_ref, ref, topic, event, payload]",
        ));
    }
    let mut items = items.into_iter();
    let join_ref = items.next().unwrap_or(Value::Null);
    let msg_ref = items.next().unwrap_or(Value::Null);
    let Some(Value::String(topic)) = items.next() else {
        return Err(DecodeError::Malformed("topic must be a string"));
    };
    let Some(Value::String(event)) = items.next() else {
        return Err(DecodeError::Malformed("event must be a string"));
    };
    let payload = items.next().unwrap_or(Value::Null);
    Ok(Message {
        join_ref: json_ref(join_ref),
        msg_ref: json_ref(msg_ref),
        topic,
        event,
        payload: Payload::Json(payload),
    })
}

pub(super) fn decode_binary(data: &Bytes) -> Result<Message, DecodeError> {
    let Some((&kind, rest)) = data.split_first() else {
        return Err(DecodeError::MalformedBinary("empty frame"));
    };
    if kind != PUSH {
        return Err(DecodeError::MalformedBinary(
            "clients may only send push frames (kind 0)",
        ));
    }
    if rest.len() < 4 {
        return Err(DecodeError::MalformedBinary(
            "header is shorter than 5 bytes",
        ));
    }
    let sizes = [rest[0], rest[1], rest[2], rest[3]].map(usize::from);
    let mut offset = 5;
    let mut fields = Vec::with_capacity(4);
    for size in sizes {
        let end = offset + size;
        let field = data.get(offset..end).ok_or(DecodeError::MalformedBinary(
            "frame is shorter than its header says",
        ))?;
        let field = std::str::from_utf8(field).map_err(|_| {
            DecodeError::MalformedBinary("join_ref, ref, topic and event must be UTF-8")
        })?;
        fields.push(field.to_string());
        offset = end;
    }
    let [join_ref, msg_ref, topic, event]: [String; 4] = fields
        .try_into()
        .map_err(|_| DecodeError::MalformedBinary("header"))?;
    let as_ref = |s: String| (!s.is_empty()).then_some(Value::String(s));
    Ok(Message {
        join_ref: as_ref(join_ref),
        msg_ref: as_ref(msg_ref),
        topic,
        event,
        payload: Payload::Binary(data.slice(offset..)),
    })
}

/// A ref as it appears in a binary header: Phoenix uses `to_string(ref)`.
fn ref_text(r: &Option<Value>) -> String {
    match r {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn size(field: &'static str, s: &str) -> Result<u8, EncodeError> {
    u8::try_from(s.len()).map_err(|_| EncodeError::TooLong(field))
}

fn binary(
    kind: u8,
    fields: &[(&'static str, &str)],
    payload: &Bytes,
) -> Result<Frame, EncodeError> {
    let header: usize = fields.iter().map(|(_, s)| s.len()).sum();
    let mut out = BytesMut::with_capacity(1 + fields.len() + header + payload.len());
    out.put_u8(kind);
    for (name, s) in fields {
        out.put_u8(size(name, s)?);
    }
    for (_, s) in fields {
        out.put_slice(s.as_bytes());
    }
    out.put_slice(payload);
    Ok(Frame::Binary(out.freeze()))
}

pub(super) fn encode_reply(reply: &ReplyMessage) -> Result<Frame, EncodeError> {
    match &reply.response {
        Payload::Json(response) => Ok(json_frame(&json!([
            reply.join_ref,
            reply.msg_ref,
            reply.topic,
            events::REPLY,
            {"status": reply.status.as_str(), "response": response},
        ]))),
        Payload::Binary(data) => binary(
            REPLY,
            &[
                ("join_ref", &ref_text(&reply.join_ref)),
                ("ref", &ref_text(&reply.msg_ref)),
                ("topic", &reply.topic),
                ("status", reply.status.as_str()),
            ],
            data,
        ),
    }
}

pub(super) fn encode_message(message: &Message) -> Result<Frame, EncodeError> {
    match &message.payload {
        Payload::Json(payload) => Ok(json_frame(&json!([
            message.join_ref,
            message.msg_ref,
            message.topic,
            message.event,
            payload,
        ]))),
        Payload::Binary(data) => binary(
            PUSH,
            &[
                ("join_ref", &ref_text(&message.join_ref)),
                ("topic", &message.topic),
                ("event", &message.event),
            ],
            data,
        ),
    }
}

pub(super) fn fastlane(broadcast: &Broadcast) -> Result<Frame, EncodeError> {
    match &broadcast.payload {
        Payload::Json(payload) => Ok(json_frame(&json!([
            null,
            null,
            broadcast.topic,
            broadcast.event,
            payload,
        ]))),
        Payload::Binary(data) => binary(
            BROADCAST,
            &[("topic", &broadcast.topic), ("event", &broadcast.event)],
            data,
        ),
    }
}
