//! The Phoenix Channels client (`channels::client`) against the real
//! hello_sockets server, in process on a loopback port, and against small
//! scripted WebSocket servers where the real one cannot misbehave on purpose
//! (a server that never answers heartbeats, one that sends stale join refs).
//!
//! Every wait is bounded by [`WAIT`]; nothing asserts on how long anything took.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use channels::client::{
    Backoff, ChannelState, Client, ClientOptions, ConnectError, ConnectionState, JoinError,
    PushError,
};
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use futures::{SinkExt, StreamExt};
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The longest any single expectation may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// Awaits `future` for at most [`WAIT`], failing the test with `what`.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {WAIT:?}"))
}

/// Starts the hello_sockets endpoint on a free loopback port; its socket URL.
async fn start_server(config: SocketConfig) -> String {
    let supervisor = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .expect("the channel supervisor starts");
    let endpoint = hello_sockets::endpoint(
        PubSub::new(),
        supervisor,
        Signer::new(secret::generate()),
        config,
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let addr = listener.local_addr().expect("the listener has an address");
    tokio::spawn(endpoint.serve(listener, std::future::pending()));
    format!("ws://{addr}/socket")
}

async fn connect(url: &str, options: ClientOptions) -> Client {
    within("connect", Client::connect(url, &[], options))
        .await
        .expect("the client connects")
}

/// Waits until `channel` is in `state`.
async fn wait_state(channel: &channels::client::Channel, state: ChannelState) {
    within(
        &format!("channel {} becoming {state:?}", channel.topic()),
        channel.wait_for_state(|s| s == state),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_joins_and_gets_push_replies() {
    let url = start_server(SocketConfig::default()).await;
    let client = within(
        "connect",
        Client::connect(&url, &[("user", "a b")], ClientOptions::default()),
    )
    .await
    .expect("the client connects");
    assert_eq!(
        client.url(),
        format!("{url}/websocket?user=a+b&vsn=2.0.0"),
        "phoenix.js's endpoint URL"
    );
    assert_eq!(client.state(), ConnectionState::Connected);

    let ping = client.channel("ping", json!({}));
    assert_eq!(ping.state(), ChannelState::Closed);
    let joined = within("join ping", ping.join()).await;
    assert_eq!(joined, Ok(json!({})));
    assert_eq!(ping.state(), ChannelState::Joined);

    let reply = within("ping", ping.push("ping", json!({})))
        .await
        .expect("a reply");
    assert!(reply.is_ok());
    assert_eq!(reply.response, json!({"ping": "pong"}));
    let reply = within(
        "ping with ack",
        ping.push("ping", json!({"ack_phrase": "hi"})),
    )
    .await
    .expect("a reply");
    assert_eq!(reply.response, json!({"ping": "hi"}));

    // bench:* echoes the payload.
    let bench = client.channel("bench:1", json!({}));
    within("join bench", bench.join()).await.expect("joined");
    let payload = json!({"list": [1, 2.5, null, "x"], "nested": {"a": true}});
    let reply = within("echo", bench.push("ping", payload.clone()))
        .await
        .expect("a reply");
    assert_eq!(reply.response, payload);

    // A push made while the join is on its way waits for it (phoenix.js's
    // push buffer).
    let early = client.channel("ping:early", json!({}));
    let (joined, reply) = within(
        "join and push together",
        futures::future::join(early.join(), early.push("ping", json!({}))),
    )
    .await;
    assert_eq!(joined, Ok(json!({})));
    assert_eq!(reply.expect("a reply").response, json!({"ping": "pong"}));

    // A second join of the same channel is refused locally.
    assert_eq!(
        within("join again", ping.join()).await,
        Err(JoinError::AlreadyJoined)
    );
    client.close().await;
    assert_eq!(client.state(), ConnectionState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_joins_report_the_response() {
    let url = start_server(SocketConfig::default()).await;
    let client = connect(&url, ClientOptions::default()).await;

    let refused = client.channel("wild:1:3", json!({}));
    assert_eq!(
        within("join wild:1:3", refused.join()).await,
        Err(JoinError::Refused(json!({})))
    );
    assert_eq!(refused.state(), ChannelState::Closed);
    assert_eq!(
        within("push on refused", refused.push("ping", json!({}))).await,
        Err(PushError::NotJoined)
    );

    let unrouted = client.channel("nosuch", json!({}));
    assert_eq!(
        within("join nosuch", unrouted.join()).await,
        Err(JoinError::Refused(json!({"reason": "unmatched topic"})))
    );

    let accepted = client.channel("wild:2:4", json!({}));
    assert_eq!(
        within("join wild:2:4", accepted.join()).await,
        Ok(json!({}))
    );
    let reply = within("wild ping", accepted.push("ping", json!({})))
        .await
        .expect("a reply");
    assert_eq!(reply.response, json!({"ping": "pong"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_time_out_without_a_reply() {
    let url = start_server(SocketConfig::default()).await;
    let client = connect(&url, ClientOptions::default()).await;
    let ping = client.channel("ping", json!({}));

    // Not joined yet: refused locally.
    assert_eq!(
        within("push before join", ping.push("ping", json!({}))).await,
        Err(PushError::NotJoined)
    );

    within("join", ping.join()).await.expect("joined");
    // "pong" returns noreply.
    let outcome = within(
        "pong",
        ping.push_with_timeout("pong", json!({}), Duration::from_millis(200)),
    )
    .await;
    assert_eq!(outcome, Err(PushError::Timeout));

    // The channel is fine, and the next reply goes to the next push.
    let reply = within("ping after timeout", ping.push("ping", json!({})))
        .await
        .expect("a reply");
    assert_eq!(reply.response, json!({"ping": "pong"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_receive_broadcasts_from_other_clients() {
    let url = start_server(SocketConfig::default()).await;
    let sender = connect(&url, ClientOptions::default()).await;
    let receiver = connect(&url, ClientOptions::default()).await;

    let listening = receiver.channel("bench:room", json!({}));
    let mut bcasts = listening.on("bcast");
    assert_eq!(bcasts.event(), "bcast");
    within("receiver joins", listening.join())
        .await
        .expect("joined");

    let speaking = sender.channel("bench:room", json!({}));
    let mut own_copies = speaking.on("bcast");
    within("sender joins", speaking.join())
        .await
        .expect("joined");

    for n in 0..3 {
        let reply = within(
            "broadcast",
            speaking.push("broadcast", json!({"n": n, "body": "hello"})),
        )
        .await
        .expect("a reply");
        assert!(reply.is_ok());
    }
    for n in 0..3 {
        let payload = within("the receiver's broadcast", bcasts.next())
            .await
            .expect("the subscription is open");
        assert_eq!(payload, json!({"n": n, "body": "hello"}));
        let payload = within("the sender's own copy", own_copies.recv())
            .await
            .expect("the subscription is open");
        assert_eq!(payload, json!({"n": n, "body": "hello"}));
    }

    // A channel on another topic hears nothing of it; a push to it goes
    // through, which shows that its frames are routed separately.
    let other = receiver.channel("bench:other", json!({}));
    let mut other_bcasts = other.on("bcast");
    within("join other", other.join()).await.expect("joined");
    within("broadcast", speaking.push("broadcast", json!({"n": 3})))
        .await
        .expect("a reply");
    let payload = within("broadcast 3", bcasts.recv()).await;
    assert_eq!(payload, Some(json!({"n": 3})));
    assert_eq!(other_bcasts.try_recv(), None);

    // Dropping the last handle ends the subscription.
    drop(listening);
    assert_eq!(within("subscription end", bcasts.recv()).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_channel_rejoins_by_itself() {
    let url = start_server(SocketConfig::default()).await;
    let options = ClientOptions {
        rejoin_after: Backoff::fixed(Duration::from_millis(50)),
        ..ClientOptions::default()
    };
    let client = connect(&url, options).await;
    let ping = client.channel("ping", json!({}));
    let mut errors = ping.on("phx_error");
    within("join", ping.join()).await.expect("joined");

    // No handler for ping2: the channel crashes; its push can get no reply.
    assert_eq!(
        within("ping2", ping.push("ping2", json!({}))).await,
        Err(PushError::Errored)
    );
    within("phx_error", errors.recv())
        .await
        .expect("phx_error delivered");

    // The push waits for the rejoin, then gets its reply.
    let reply = within("ping after rejoin", ping.push("ping", json!({})))
        .await
        .expect("a reply after the rejoin");
    assert_eq!(reply.response, json!({"ping": "pong"}));
    assert_eq!(ping.state(), ChannelState::Joined);
    assert_eq!(client.stats().connects, 1, "the socket itself lived on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_channel_rejoins_on_the_default_schedule() {
    let url = start_server(SocketConfig::default()).await;
    let client = connect(&url, ClientOptions::default()).await;
    let ping = client.channel("ping", json!({}));
    within("join", ping.join()).await.expect("joined");
    assert_eq!(
        within("ping2", ping.push("ping2", json!({}))).await,
        Err(PushError::Errored)
    );
    // The state changed before the push failed; the rejoin comes 1 s later.
    assert_ne!(ping.state(), ChannelState::Joined);
    wait_state(&ping, ChannelState::Joined).await;
    let reply = within("ping", ping.push("ping", json!({})))
        .await
        .expect("a reply");
    assert_eq!(reply.response, json!({"ping": "pong"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_left_channels_refuse_pushes() {
    let url = start_server(SocketConfig::default()).await;
    let client = connect(&url, ClientOptions::default()).await;

    // "ding" replies, then the server closes the channel (phx_close): no rejoin.
    let ding = client.channel("ping", json!({}));
    let mut closes = ding.on("phx_close");
    within("join", ding.join()).await.expect("joined");
    let reply = within("ding", ding.push("ding", json!({})))
        .await
        .expect("a reply");
    assert_eq!(reply.response, json!({"msg": "shutting down"}));
    within("phx_close", closes.recv())
        .await
        .expect("phx_close delivered");
    wait_state(&ding, ChannelState::Closed).await;
    assert_eq!(
        within("push after close", ding.push("ping", json!({}))).await,
        Err(PushError::NotJoined)
    );

    // leave() waits for the server's answer and closes the channel.
    let left = client.channel("ping:left", json!({}));
    within("join", left.join()).await.expect("joined");
    within("leave", left.leave()).await;
    assert_eq!(left.state(), ChannelState::Closed);
    assert_eq!(
        within("push after leave", left.push("ping", json!({}))).await,
        Err(PushError::NotJoined)
    );
    // It can be joined again.
    assert_eq!(within("rejoin", left.join()).await, Ok(json!({})));

    // After close(), everything reports Closed.
    client.close().await;
    assert!(client.is_closed());
    assert_eq!(
        within("push after client close", left.push("ping", json!({}))).await,
        Err(PushError::Closed)
    );
    assert_eq!(
        within(
            "join after client close",
            client.channel("ping:x", json!({})).join()
        )
        .await,
        Err(JoinError::Closed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_rejoins_after_the_server_closes_the_connection() {
    // The server closes connections idle for 300 ms; this client sends no
    // heartbeats, so it is closed again and again and must come back each time.
    let url = start_server(SocketConfig {
        heartbeat_timeout: Duration::from_millis(300),
        ..SocketConfig::default()
    })
    .await;
    let options = ClientOptions {
        heartbeat_interval: None,
        ..ClientOptions::default()
    };
    let client = connect(&url, options).await;
    let ping = client.channel("ping", json!({}));
    let bench = client.channel("bench:reconnect", json!({}));
    let mut bcasts = bench.on("bcast");
    within("join ping", ping.join()).await.expect("joined");
    within("join bench", bench.join()).await.expect("joined");

    assert!(
        client.wait_connected(2, WAIT).await,
        "the client reconnects after the server closed it"
    );
    assert!(client.stats().disconnects >= 1);

    // Both channels are rejoined: pushes work and broadcasts arrive. The server
    // may close the connection again at any moment, so a push that loses its
    // connection is retried.
    let mut attempts = 0;
    let reply = loop {
        attempts += 1;
        match within("ping after reconnect", ping.push("ping", json!({}))).await {
            Ok(reply) => break reply,
            Err(PushError::Errored) if attempts < 20 => continue,
            Err(err) => panic!("ping after reconnect failed: {err}"),
        }
    };
    assert_eq!(reply.response, json!({"ping": "pong"}));
    let mut attempts = 0;
    loop {
        attempts += 1;
        match within(
            "broadcast after reconnect",
            bench.push("broadcast", json!({"k": 1})),
        )
        .await
        {
            Ok(_) => break,
            Err(PushError::Errored) if attempts < 20 => continue,
            Err(err) => panic!("broadcast after reconnect failed: {err}"),
        }
    }
    assert_eq!(
        within("broadcast", bcasts.recv()).await,
        Some(json!({"k": 1}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_the_connection_alive() {
    let url = start_server(SocketConfig {
        heartbeat_timeout: Duration::from_millis(1000),
        ..SocketConfig::default()
    })
    .await;
    let options = ClientOptions {
        heartbeat_interval: Some(Duration::from_millis(100)),
        ..ClientOptions::default()
    };
    let client = connect(&url, options).await;
    // Without heartbeats the server would close this connection after 1 s, and
    // without heartbeat replies the client would close it itself.
    let before = client.stats().messages_received;
    let dropped = tokio::time::timeout(
        Duration::from_millis(2500),
        client.wait_for_state(|s| s != ConnectionState::Connected),
    )
    .await;
    assert!(dropped.is_err(), "the connection stayed up");
    let stats = client.stats();
    assert_eq!((stats.connects, stats.disconnects), (1, 0));
    assert!(
        stats.messages_received > before,
        "heartbeat replies were received"
    );
    assert!(stats.messages_sent > 0, "heartbeats were sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_report_why() {
    let url = start_server(SocketConfig::default()).await;
    // The AuthSocket refuses a connect without a token: HTTP 403.
    let auth_url = url.replace("/socket", "/auth_socket");
    match within(
        "connect",
        Client::connect(&auth_url, &[], ClientOptions::default()),
    )
    .await
    {
        Err(ConnectError::Rejected { status }) => assert_eq!(status, 403),
        other => panic!("expected a 403, got {other:?}"),
    }
    // Nothing listening.
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    match within(
        "connect",
        Client::connect(
            &format!("ws://{closed_port}/socket"),
            &[],
            ClientOptions::default(),
        ),
    )
    .await
    {
        Err(ConnectError::Io(_)) => {}
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(matches!(
        Client::connect("wss://localhost/socket", &[], ClientOptions::default()).await,
        Err(ConnectError::InvalidUrl(_))
    ));
}

/// What a scripted server saw on one connection.
#[derive(Debug)]
enum Seen {
    Connected(SocketAddr),
    Frame(Value),
    Closed(Option<String>),
}

/// A WebSocket server that reports everything it receives and, for each
/// connection, runs `script` on the frames: `script(frame)` returns the frames
/// to send back.
async fn scripted_server(
    script: fn(&Value) -> Vec<Value>,
) -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let _ = tx.send(Seen::Connected(peer));
                while let Some(Ok(message)) = ws.next().await {
                    match message {
                        WsMessage::Text(text) => {
                            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                            for answer in script(&frame) {
                                let _ = ws.send(WsMessage::text(answer.to_string())).await;
                            }
                            let _ = tx.send(Seen::Frame(frame));
                        }
                        WsMessage::Close(close) => {
                            let _ =
                                tx.send(Seen::Closed(close.map(|c| c.reason.as_str().to_string())));
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (format!("ws://{addr}/socket"), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_heartbeat_closes_the_connection_and_reconnects() {
    // This server never replies.
    let (url, mut seen) = scripted_server(|_| Vec::new()).await;
    let options = ClientOptions {
        heartbeat_interval: Some(Duration::from_millis(100)),
        reconnect_after: Backoff::fixed(Duration::from_millis(10)),
        ..ClientOptions::default()
    };
    let client = connect(&url, options).await;
    let mut heartbeat = None;
    let mut close_reason = None;
    let mut connections = 0;
    while connections < 2 {
        match within("the scripted server", seen.recv()).await.unwrap() {
            Seen::Connected(_) => connections += 1,
            Seen::Frame(frame) => heartbeat = heartbeat.or(Some(frame)),
            Seen::Closed(reason) => close_reason = reason,
        }
    }
    let heartbeat = heartbeat.expect("a heartbeat before the reconnect");
    assert_eq!(heartbeat[0], Value::Null);
    assert_eq!(
        [&heartbeat[2], &heartbeat[3], &heartbeat[4]],
        [&json!("phoenix"), &json!("heartbeat"), &json!({})]
    );
    assert_eq!(close_reason.as_deref(), Some("heartbeat timeout"));
    assert!(client.wait_connected(2, WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_with_a_stale_join_ref_are_dropped() {
    // Answers joins with ok, then sends an event three ways: with a stale join
    // ref, as a broadcast (null join ref), and with the current join ref.
    let (url, mut seen) = scripted_server(|frame| {
        if frame[3] != "phx_join" {
            return Vec::new();
        }
        let (join_ref, topic) = (&frame[0], &frame[2]);
        vec![
            json!([join_ref, frame[1], topic, "phx_reply", {"status": "ok", "response": {"hi": 1}}]),
            json!(["999", null, topic, "evt", {"n": "stale"}]),
            json!([null, null, topic, "evt", {"n": "broadcast"}]),
            json!([join_ref, null, topic, "evt", {"n": "current"}]),
        ]
    })
    .await;
    let options = ClientOptions {
        heartbeat_interval: None,
        ..ClientOptions::default()
    };
    let client = connect(&url, options).await;
    let room = client.channel("room:1", json!({"p": 1}));
    let mut events = room.on("evt");
    assert_eq!(within("join", room.join()).await, Ok(json!({"hi": 1})));
    assert_eq!(
        within("first event", events.recv()).await,
        Some(json!({"n": "broadcast"}))
    );
    assert_eq!(
        within("second event", events.recv()).await,
        Some(json!({"n": "current"}))
    );
    // The join went out as phoenix.js sends it: refs are strings counting from 1.
    loop {
        if let Seen::Frame(frame) = within("the join frame", seen.recv()).await.unwrap() {
            assert_eq!(frame, json!(["1", "1", "room:1", "phx_join", {"p": 1}]));
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_the_requested_local_address() {
    let (url, mut seen) = scripted_server(|_| Vec::new()).await;
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let options = ClientOptions {
        local_addr: Some(source),
        heartbeat_interval: None,
        ..ClientOptions::compact()
    };
    let _client = connect(&url, options).await;
    match within("a connection", seen.recv()).await.unwrap() {
        Seen::Connected(peer) => assert_eq!(peer.ip(), source),
        other => panic!("expected a connection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_no_reply_and_message_counting() {
    let url = start_server(SocketConfig::default()).await;
    let client = connect(&url, ClientOptions::compact()).await;
    let bench = client.channel("bench:fast", json!({}));
    let mut bcasts = bench.on("bcast");
    within("join", bench.join()).await.expect("joined");
    let before = client.messages_received();
    for n in 0..10 {
        bench
            .push_no_reply("broadcast", json!({"n": n}))
            .expect("the client is open");
    }
    for n in 0..10 {
        assert_eq!(
            within("broadcast", bcasts.recv()).await,
            Some(json!({"n": n}))
        );
    }
    // Ten broadcasts and ten (ignored) replies at least.
    let counted = client.messages_received() - before;
    assert!(counted >= 10, "counted {counted} messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_join_times_out_and_is_left() {
    // This server never replies.
    let (url, mut seen) = scripted_server(|_| Vec::new()).await;
    let options = ClientOptions {
        heartbeat_interval: None,
        ..ClientOptions::default()
    };
    let client = connect(&url, options).await;
    let room = client.channel("room:slow", json!({}));
    assert_eq!(
        within("join", room.join_with_timeout(Duration::from_millis(200))).await,
        Err(JoinError::Timeout)
    );
    assert_eq!(room.state(), ChannelState::Closed);
    // phoenix.js leaves a timed-out join.
    let mut frames = Vec::new();
    while frames.len() < 2 {
        if let Seen::Frame(frame) = within("frames", seen.recv()).await.unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames[0], json!(["1", "1", "room:slow", "phx_join", {}]));
    assert_eq!(frames[1], json!(["1", "2", "room:slow", "phx_leave", {}]));
}
