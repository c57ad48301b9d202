//! The limits that protect a node: each trips for one connection only, and
//! the node and its other clients carry on.

mod support;

use support::Server;

use std::time::Duration;

use channels::mount::SocketConfig;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server) -> Client {
    let url = format!("ws://{}/socket/websocket?vsn=2.0.0", server.addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(client: &mut Client, frame: Value) {
    client.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next text frame, or the close frame's code and reason as `["closed", code, reason]`.
async fn next(client: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("a frame within 5 s");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Close(Some(close)))) => {
                return json!(["closed", u16::from(close.code), close.reason.as_str()])
            }
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                return json!(["closed", null, null])
            }
            Some(Ok(_)) => continue,
        }
    }
}

async fn join(client: &mut Client, join_ref: &str, topic: &str) -> Value {
    send(client, json!([join_ref, join_ref, topic, "phx_join", {}])).await;
    next(client).await
}

async fn ping_works(server: &Server) {
    let mut client = connect(server).await;
    join(&mut client, "1", "ping").await;
    send(&mut client, json!(["1", "2", "ping", "ping", {}])).await;
    assert_eq!(
        next(&mut client).await,
        json!(["1", "2", "ping", "phx_reply", {"response": {"ping": "pong"}, "status": "ok"}])
    );
}

#[tokio::test]
async fn a_frame_over_the_size_limit_closes_that_connection_with_1009() {
    let server = Server::with_config(SocketConfig {
        max_frame_bytes: 1024,
        ..Default::default()
    })
    .await;
    let mut client = connect(&server).await;
    join(&mut client, "1", "bench:1").await;
    let big = "x".repeat(4096);
    send(
        &mut client,
        json!(["1", "2", "bench:1", "ping", {"big": big}]),
    )
    .await;
    let closed = next(&mut client).await;
    assert_eq!(closed[0], "closed");
    assert_eq!(closed[1], 1009, "{closed}");
    assert!(closed[2].as_str().unwrap().contains("too large"));
    ping_works(&server).await;
}

#[tokio::test]
async fn joins_beyond_max_channels_are_refused() {
    let server = Server::with_config(SocketConfig {
        max_channels: 2,
        ..Default::default()
    })
    .await;
    let mut client = connect(&server).await;
    assert_eq!(join(&mut client, "1", "bench:1").await[4]["status"], "ok");
    assert_eq!(join(&mut client, "2", "bench:2").await[4]["status"], "ok");
    assert_eq!(
        join(&mut client, "3", "bench:3").await,
        json!(["3", "3", "bench:3", "phx_reply", {"response": {"reason": "too many channels"}, "status": "error"}])
    );
    // Rejoining a joined topic replaces it and stays within the limit.
    assert_eq!(join(&mut client, "4", "bench:2").await[4]["status"], "ok");
    assert_eq!(next(&mut client).await[3], "phx_close");
    // The connection is still usable.
    send(&mut client, json!(["1", "5", "bench:1", "ping", {"a": 1}])).await;
    assert_eq!(next(&mut client).await[4]["response"], json!({"a": 1}));
}

#[tokio::test]
async fn over_the_rate_limit_messages_get_errors_then_the_connection_closes() {
    let server = Server::with_config(SocketConfig {
        max_messages_per_second: 20,
        ..Default::default()
    })
    .await;
    let mut client = connect(&server).await;
    join(&mut client, "1", "bench:1").await;
    for n in 0..30 {
        let r = (n + 2).to_string();
        send(&mut client, json!(["1", r, "bench:1", "ping", {}])).await;
    }
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..30 {
        let reply = next(&mut client).await;
        match reply[4]["status"].as_str() {
            Some("ok") => ok += 1,
            Some("error") => {
                assert_eq!(reply[4]["response"], json!({"reason": "rate limited"}));
                limited += 1;
            }
            _ => panic!("unexpected {reply}"),
        }
    }
    // The join counted as one message of the window (were the window to roll
    // over on a slow machine, more would pass: never fewer).
    assert!(ok >= 19 && limited >= 1, "ok {ok}, limited {limited}");
    // More than twice the limit, even counted from a fresh window.
    for n in 0..45 {
        let r = (n + 100).to_string();
        send(&mut client, json!(["1", r, "bench:1", "ping", {}])).await;
    }
    let mut last = next(&mut client).await;
    while last[0] != "closed" {
        last = next(&mut client).await;
    }
    assert_eq!(last, json!(["closed", 1008, "rate limit exceeded"]));
    ping_works(&server).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_others_keep_receiving() {
    let server = Server::with_config(SocketConfig {
        max_outbound_bytes: 256 * 1024,
        ..Default::default()
    })
    .await;
    // A client with a tiny receive buffer that never reads after joining.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let url = format!("ws://{}/socket/websocket?vsn=2.0.0", server.addr);
    let (mut stalled, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    join(&mut stalled, "1", "bench:flood").await;
    let mut reader = connect(&server).await;
    join(&mut reader, "1", "bench:flood").await;
    assert_eq!(server.channels.count_children().unwrap().active, 2);

    let payload = json!({"data": "y".repeat(16 * 1024)});
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while server.channels.count_children().unwrap().active == 2
        && tokio::time::Instant::now() < deadline
    {
        server
            .endpoint
            .broadcast("bench:flood", "bcast", payload.clone());
        assert_eq!(next(&mut reader).await[3], "bcast");
        received += 1;
    }
    assert_eq!(
        server.channels.count_children().unwrap().active,
        1,
        "the stalled client's channel was stopped after {received} broadcasts"
    );
    server
        .endpoint
        .broadcast("bench:flood", "bcast", json!({"after": true}));
    assert_eq!(next(&mut reader).await[4], json!({"after": true}));
    drop(stalled);
}
