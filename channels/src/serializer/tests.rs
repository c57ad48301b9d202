//! Frames exactly as the wire specification shows them.

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::message::{Payload, Status};

fn text(s: &str) -> Frame {
    Frame::Text(s.into())
}

fn as_text(frame: Frame) -> String {
    match frame {
        Frame::Text(t) => t.to_string(),
        Frame::Binary(_) => panic!("expected a text frame"),
    }
}

#[test]
fn vsn_selects_the_serializer() {
    assert_eq!(Serializer::from_vsn(Some("2.0.0")), Some(Serializer::V2));
    assert_eq!(Serializer::from_vsn(Some("1.0.0")), Some(Serializer::V1));
    assert_eq!(Serializer::from_vsn(None), Some(Serializer::V1));
    assert_eq!(Serializer::from_vsn(Some("3.0.0")), None);
}

#[test]
fn v2_decodes_a_join_and_echoes_refs_in_the_reply() {
    let message = Serializer::V2
        .decode(&text(r#"["1","1","ping","phx_join",{}]"#))
        .unwrap();
    assert_eq!(message.join_ref, Some(json!("1")));
    assert_eq!(message.topic, "ping");
    assert_eq!(message.event, "phx_join");
    let reply = ReplyMessage {
        join_ref: message.join_ref,
        msg_ref: message.msg_ref,
        topic: message.topic,
        status: Status::Ok,
        response: Payload::empty(),
    };
    assert_eq!(
        as_text(Serializer::V2.encode_reply(&reply).unwrap()),
        r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#
    );
}

#[test]
fn v2_keeps_numeric_refs_numeric_and_tolerates_a_sixth_element() {
    let message = Serializer::V2
        .decode(&text(r#"[1,2,"ping","ping",{},"extra"]"#))
        .unwrap();
    assert_eq!(message.join_ref, Some(json!(1)));
    assert_eq!(message.msg_ref, Some(json!(2)));
}

#[test]
fn v2_tolerates_non_object_payloads() {
    let message = Serializer::V2
        .decode(&text(r#"["1","1","ping","phx_join","hello"]"#))
        .unwrap();
    assert_eq!(message.payload, Payload::Json(json!("hello")));
}

#[test]
fn heartbeat_reply_has_a_null_join_ref() {
    let message = Serializer::V2
        .decode(&text(r#"[null,"6","phoenix","heartbeat",{}]"#))
        .unwrap();
    assert_eq!(message.join_ref, None);
    let reply = ReplyMessage {
        join_ref: None,
        msg_ref: message.msg_ref,
        topic: "phoenix".into(),
        status: Status::Ok,
        response: Payload::empty(),
    };
    assert_eq!(
        as_text(Serializer::V2.encode_reply(&reply).unwrap()),
        r#"[null,"6","phoenix","phx_reply",{"response":{},"status":"ok"}]"#
    );
}

#[test]
fn malformed_v2_frames_say_what_is_wrong() {
    for (frame, expected) in [
        ("not json", "invalid JSON"),
        ("[1,2]", "expected 5 elements"),
        ("{}", "JSON arrays"),
        (r#"["1","1",5,"phx_join",{}]"#, "topic must be a string"),
        (r#"["1","1","t",null,{}]"#, "event must be a string"),
    ] {
        let err = Serializer::V2.decode(&text(frame)).unwrap_err().to_string();
        assert!(err.contains(expected), "{frame}: {err}");
    }
}

#[test]
fn v2_broadcast_and_push_frames() {
    let broadcast = Broadcast {
        topic: "ping".into(),
        event: "test".into(),
        payload: Payload::Json(json!({"data": "test"})),
    };
    assert_eq!(
        as_text(Serializer::V2.fastlane(&broadcast).unwrap()),
        r#"[null,null,"ping","test",{"data":"test"}]"#
    );
    let error = Message {
        join_ref: Some(json!("1")),
        msg_ref: Some(json!("1")),
        topic: "ping".into(),
        event: "phx_error".into(),
        payload: Payload::empty(),
    };
    assert_eq!(
        as_text(Serializer::V2.encode_message(&error).unwrap()),
        r#"["1","1","ping","phx_error",{}]"#
    );
}

#[test]
fn v1_decodes_objects_and_replies_without_join_ref() {
    let message = Serializer::V1
        .decode(&text(
            r#"{"topic":"ping","event":"phx_join","payload":{},"ref":"1"}"#,
        ))
        .unwrap();
    assert_eq!(message.join_ref, None);
    assert_eq!(message.msg_ref, Some(json!("1")));
    let reply = ReplyMessage {
        join_ref: None,
        msg_ref: message.msg_ref,
        topic: "ping".into(),
        status: Status::Ok,
        response: Payload::empty(),
    };
    assert_eq!(
        as_text(Serializer::V1.encode_reply(&reply).unwrap()),
        r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"ping"}"#
    );
}

#[test]
fn v1_refuses_binary_frames_and_arrays() {
    assert_eq!(
        Serializer::V1.decode(&Frame::Binary(Bytes::from_static(b"\x00"))),
        Err(DecodeError::BinaryOnV1)
    );
    assert!(Serializer::V1
        .decode(&text(r#"["1","1","ping","phx_join",{}]"#))
        .is_err());
}

#[test]
fn v2_binary_push_from_the_client() {
    let mut frame = vec![0u8, 1, 1, 4, 3];
    frame.extend_from_slice(b"12ping");
    frame.extend_from_slice(b"bin");
    frame.extend_from_slice(&[0xde, 0xad]);
    let message = Serializer::V2
        .decode(&Frame::Binary(Bytes::from(frame)))
        .unwrap();
    assert_eq!(message.join_ref, Some(json!("1")));
    assert_eq!(message.msg_ref, Some(json!("2")));
    assert_eq!(message.topic, "ping");
    assert_eq!(message.event, "bin");
    assert_eq!(
        message.payload,
        Payload::Binary(Bytes::from_static(&[0xde, 0xad]))
    );
}

#[test]
fn v2_binary_frames_that_lie_about_their_sizes_are_refused() {
    for frame in [
        vec![],
        vec![0u8, 1],
        vec![0u8, 9, 9, 9, 9, b'a'],
        vec![1u8, 0, 0, 0, 0],
    ] {
        assert!(Serializer::V2
            .decode(&Frame::Binary(Bytes::from(frame.clone())))
            .is_err());
    }
}

#[test]
fn v2_binary_reply_push_and_broadcast_layouts() {
    let data = Bytes::from_static(b"\x01\x02");
    let reply = ReplyMessage {
        join_ref: Some(json!("1")),
        msg_ref: Some(json!(22)),
        topic: "t".into(),
        status: Status::Ok,
        response: Payload::Binary(data.clone()),
    };
    assert_eq!(
        Serializer::V2.encode_reply(&reply).unwrap(),
        Frame::Binary(Bytes::from_static(b"\x01\x01\x02\x01\x02122tok\x01\x02"))
    );
    let push = Message {
        join_ref: Some(json!("1")),
        msg_ref: None,
        topic: "t".into(),
        event: "ev".into(),
        payload: Payload::Binary(data.clone()),
    };
    assert_eq!(
        Serializer::V2.encode_message(&push).unwrap(),
        Frame::Binary(Bytes::from_static(b"\x00\x01\x01\x021tev\x01\x02"))
    );
    let broadcast = Broadcast {
        topic: "t".into(),
        event: "ev".into(),
        payload: Payload::Binary(data),
    };
    assert_eq!(
        Serializer::V2.fastlane(&broadcast).unwrap(),
        Frame::Binary(Bytes::from_static(b"\x02\x01\x02tev\x01\x02"))
    );
    assert_eq!(
        Serializer::V1.fastlane(&Broadcast {
            topic: "t".into(),
            event: "e".into(),
            payload: Payload::Binary(Bytes::new()),
        }),
        Err(EncodeError::BinaryOnV1)
    );
}
