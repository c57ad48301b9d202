//! A client that breaks the WebSocket protocol itself (RFC 6455 §5) gets a
//! close frame 1002 with a reason, like every other malformed input, instead
//! of a TCP connection dropped without a word — and only its own connection
//! ends.

mod support;

use serde_json::json;
use support::{ok, Received, Server};
use tokio::io::AsyncWriteExt;

/// A masked client frame header with a zero mask (the payload is unchanged).
fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first_byte];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Sends raw bytes on a fresh, joined connection; the close it gets.
async fn close_after(server: &Server, raw: &[u8]) -> (u16, String) {
    let url = server.ws_url("/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Straight onto the socket: the client library would refuse to send these.
    match ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.write_all(raw).await.unwrap(),
        _ => unreachable!("a plain ws:// connection"),
    }
    let mut client = support::Client::from(ws);
    match client.next().await {
        Received::Close(Some(close)) => close,
        other => panic!("expected a close frame after {raw:02x?}, got {other:?}"),
    }
}

#[tokio::test]
async fn each_protocol_violation_is_closed_with_1002_and_a_reason() {
    let server = Server::start().await;
    let mut bystander = server.connect_v2().await;
    bystander.join("ping").await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a reserved data opcode (3)", masked(0x83, b"")),
        ("a reserved control opcode (0xB)", masked(0x8B, b"")),
        ("RSV1 set without an extension", masked(0xC1, b"hi")),
        ("an unmasked client frame", vec![0x81, 0x02, b'h', b'i']),
        (
            "a continuation with nothing to continue",
            masked(0x80, b"x"),
        ),
        ("a fragmented control frame", masked(0x09, b"")),
        ("a control frame over 125 bytes", masked(0x89, &[b'p'; 126])),
        (
            "a new data frame inside a fragmented message",
            [masked(0x01, b"par"), masked(0x81, b"t")].concat(),
        ),
    ];
    for (what, raw) in cases {
        let (code, reason) = close_after(&server, &raw).await;
        assert_eq!(code, 1002, "{what}: close {code} {reason:?}");
        assert!(
            reason.starts_with("protocol error: ") && reason.len() > "protocol error: ".len(),
            "{what}: the reason names the problem, got {reason:?}"
        );
        assert!(reason.len() <= 123, "{what}: fits a close frame");
    }
    // The other client never noticed.
    bystander
        .exchange(
            json!(["1", "2", "ping", "ping", {}]),
            ok(json!("1"), json!("2"), "ping", json!({"ping": "pong"})),
        )
        .await;
}

#[tokio::test]
async fn frames_sent_right_behind_the_upgrade_request_are_not_lost() {
    use tokio::io::AsyncReadExt;
    let server = Server::start().await;
    let mut tcp = server.tcp().await;
    // The handshake and a join in one write: hyper reads both, and the
    // WebSocket must start with what hyper read past the request.
    let join = json!(["1", "1", "ping", "phx_join", {}]).to_string();
    let mut bytes =
        b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
    bytes.extend(masked(0x81, join.as_bytes()));
    tcp.write_all(&bytes).await.unwrap();
    let mut received = Vec::new();
    let expected = r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#;
    let read = async {
        let mut chunk = [0u8; 1024];
        while !String::from_utf8_lossy(&received).contains(expected) {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(support::WAIT, read)
        .await
        .expect("the join is answered");
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 101"));
}

#[tokio::test]
async fn a_handshake_of_an_unknown_version_is_told_which_to_use() {
    use tokio::io::AsyncReadExt;
    let server = Server::start().await;
    let mut tcp = server.tcp().await;
    tcp.write_all(
        b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 12\r\n\r\n",
    )
    .await
    .unwrap();
    let mut received = Vec::new();
    let read = async {
        let mut chunk = [0u8; 1024];
        while !String::from_utf8_lossy(&received).contains("speaks version 13") {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(support::WAIT, read)
        .await
        .expect("the handshake is answered");
    let answer = String::from_utf8_lossy(&received).to_lowercase();
    assert!(answer.starts_with("http/1.1 426"), "{answer}");
    assert!(answer.contains("sec-websocket-version: 13\r\n"), "{answer}");
}
