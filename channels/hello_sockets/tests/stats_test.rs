//! Chapter 6 on a real server: StatsD datagrams with the book's names and
//! tags, the Prometheus page, and async replies that keep a channel responsive.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use futures::{SinkExt, StreamExt};
use hello_sockets::HelloSockets;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(config: SocketConfig, metrics: Metrics) -> SocketAddr {
    let supervisor = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let endpoint = HelloSockets {
        pubsub: PubSub::new(),
        supervisor,
        signer: Signer::new(secret::generate()),
        config,
        metrics,
        tasks: None,
        pipeline: None,
        options: Default::default(),
        presence: None,
    }
    .endpoint();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener, std::future::pending()));
    address
}

async fn connect(address: SocketAddr) -> Client {
    let url = format!("ws://{address}/stats_socket/websocket?vsn=2.0.0");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(client: &mut Client, frame: Value) {
    client.send(Message::text(frame.to_string())).await.unwrap();
}

async fn next(client: &mut Client) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).unwrap(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn connects_joins_and_pings_are_sent_to_statsd_with_the_books_names() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let metrics = Metrics::statsd(receiver.local_addr().unwrap()).unwrap();
    let address = start(SocketConfig::default(), metrics).await;

    let mut client = connect(address).await;
    send(&mut client, json!(["1", "1", "invalid", "phx_join", {}])).await;
    assert_eq!(
        next(&mut client).await[4]["response"],
        json!({"reason": "always fails"})
    );
    send(&mut client, json!(["2", "2", "valid", "phx_join", {}])).await;
    assert_eq!(next(&mut client).await[4]["status"], "ok");
    send(&mut client, json!(["2", "3", "valid", "ping", {}])).await;
    assert_eq!(
        next(&mut client).await[4]["response"],
        json!({"ping": "pong"})
    );

    let expected = [
        "socket_connect:1|c|#status:success,socket:StatsSocket",
        "channel_join:1|c|#status:fail,channel:StatsChannel",
        "channel_join:1|c|#status:success,channel:StatsChannel",
        "sockets_connected:1|g|#socket:StatsSocket",
        "channels_joined:1|g|#channel:StatsChannel",
    ];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let mut buf = [0u8; 1024];
        if let Ok(n) = receiver.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
        let timed = seen
            .iter()
            .any(|d| d.starts_with("stats_channel.ping:") && d.ends_with("|ms"));
        if timed && expected.iter().all(|e| seen.iter().any(|d| d == e)) {
            return;
        }
    }
    panic!("expected {expected:?} and a stats_channel.ping timing; got {seen:?}");
}

#[tokio::test]
async fn the_metrics_page_shows_the_same_counters() {
    let address = start(SocketConfig::default(), Metrics::local()).await;
    let mut client = connect(address).await;
    send(&mut client, json!(["1", "1", "valid", "phx_join", {}])).await;
    next(&mut client).await;

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).await.unwrap();
    assert!(
        page.contains(r#"socket_connect_total{socket="StatsSocket",status="success"} 1"#),
        "{page}"
    );
    assert!(page.contains(r#"channel_join_total{channel="StatsChannel",status="success"} 1"#));
    assert!(page.contains(r#"channels_joined{channel="StatsChannel"} 1"#));
}

#[tokio::test]
async fn a_slow_ping_blocks_its_channel_but_a_parallel_one_does_not() {
    let address = start(SocketConfig::default(), Metrics::local()).await;
    let mut client = connect(address).await;
    send(&mut client, json!(["1", "1", "valid", "phx_join", {}])).await;
    next(&mut client).await;

    send(&mut client, json!(["1", "2", "valid", "slow_ping", {}])).await;
    send(&mut client, json!(["1", "3", "valid", "ping", {}])).await;
    assert_eq!(
        next(&mut client).await[1],
        "2",
        "the ping waits behind slow_ping"
    );
    assert_eq!(next(&mut client).await[1], "3");

    send(
        &mut client,
        json!(["1", "4", "valid", "parallel_slow_ping", {}]),
    )
    .await;
    send(&mut client, json!(["1", "5", "valid", "ping", {}])).await;
    assert_eq!(
        next(&mut client).await[1],
        "5",
        "the ping overtakes parallel_slow_ping"
    );
    let late = next(&mut client).await;
    assert_eq!(late[1], "4");
    assert_eq!(
        late[4],
        json!({"response": {"ping": "pong"}, "status": "ok"})
    );
}

#[tokio::test]
async fn async_replies_beyond_the_per_channel_cap_are_refused() {
    let config = SocketConfig {
        max_async_replies_per_channel: 2,
        ..Default::default()
    };
    let address = start(config, Metrics::local()).await;
    let mut client = connect(address).await;
    send(&mut client, json!(["1", "1", "valid", "phx_join", {}])).await;
    next(&mut client).await;
    for r in ["2", "3", "4"] {
        send(
            &mut client,
            json!(["1", r, "valid", "parallel_slow_ping", {}]),
        )
        .await;
    }
    let refused = next(&mut client).await;
    assert_eq!(
        refused,
        json!(["1", "4", "valid", "phx_reply", {"response": {"reason": "too many requests"}, "status": "error"}])
    );
    let mut answered: Vec<String> = Vec::new();
    for _ in 0..2 {
        answered.push(next(&mut client).await[1].as_str().unwrap().to_string());
    }
    answered.sort();
    assert_eq!(answered, vec!["2", "3"]);
    // Once they finished there is room again.
    send(
        &mut client,
        json!(["1", "5", "valid", "parallel_slow_ping", {}]),
    )
    .await;
    assert_eq!(next(&mut client).await[4]["status"], "ok");
}
