//! V1: every frame is a JSON object `{"topic","event","payload","ref","join_ref"}`.
//! Replies carry no `join_ref` key, as in Phoenix.

use serde_json::{json, Map, Value};

use super::{json_frame, json_ref, DecodeError, EncodeError, Frame};
use crate::message::{events, Broadcast, Message, Payload, ReplyMessage};

pub(super) fn decode(text: &[u8]) -> Result<Message, DecodeError> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(DecodeError::Malformed(
            "V1 frames are JSON objects with topic, event, payload and ref",
        ));
    };
    let topic = match map.remove("topic") {
        Some(Value::String(s)) => s,
        _ => return Err(DecodeError::Malformed("topic must be a string")),
    };
    let event = match map.remove("event") {
        Some(Value::String(s)) => s,
        _ => return Err(DecodeError::Malformed("event must be a string")),
    };
    let payload = map
        .remove("payload")
        .ok_or(DecodeError::Malformed("payload is missing"))?;
    let msg_ref = map
        .remove("ref")
        .ok_or(DecodeError::Malformed("ref is missing"))?;
    Ok(Message {
        join_ref: json_ref(map.remove("join_ref").unwrap_or(Value::Null)),
        msg_ref: json_ref(msg_ref),
        topic,
        event,
        payload: Payload::Json(payload),
    })
}

fn json_payload(payload: &Payload) -> Result<&Value, EncodeError> {
    match payload {
        Payload::Json(v) => Ok(v),
        Payload::Binary(_) => Err(EncodeError::BinaryOnV1),
    }
}

pub(super) fn encode_reply(reply: &ReplyMessage) -> Result<Frame, EncodeError> {
    Ok(json_frame(&json!({
        "topic": reply.topic,
        "event": events::REPLY,
        "payload": {"status": reply.status.as_str(), "response": json_payload(&reply.response)?},
        "ref": reply.msg_ref,
    })))
}

pub(super) fn encode_message(message: &Message) -> Result<Frame, EncodeError> {
    let mut map = Map::new();
    map.insert("topic".into(), Value::String(message.topic.clone()));
    map.insert("event".into(), Value::String(message.event.clone()));
    map.insert("payload".into(), json_payload(&message.payload)?.clone());
    // Phoenix's V1 serializer keeps topic, event, payload and ref only.
    map.insert("ref".into(), message.msg_ref.clone().unwrap_or(Value::Null));
    Ok(json_frame(&Value::Object(map)))
}

pub(super) fn fastlane(broadcast: &Broadcast) -> Result<Frame, EncodeError> {
    Ok(json_frame(&json!({
        "topic": broadcast.topic,
        "event": broadcast.event,
        "payload": json_payload(&broadcast.payload)?,
        "ref": null,
    })))
}
