//! PubSub through a real Redis (`pubsub/redis.rs`): nodes that never mesh
//! reach each other's subscribers and channels, direct broadcasts reach their
//! node only, and a Redis restart is lived through.
//!
//! Each "node" here is its own `PubSub` in this process: Redis is the only
//! thing they share, so — unlike a cluster — one process proves the point.

use std::sync::Arc;
use std::time::Duration;

use channels::endpoint::Endpoint;
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::redis::{join_redis, RedisLink, DEFAULT_CHANNEL};
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use futures::{SinkExt, StreamExt};
use hello_sockets::HelloSockets;
use parking_lot::Mutex;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use runtime::testkit::{eventually, RedisServer};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SOON: Duration = Duration::from_secs(15);

/// Waits (bounded) until `check` holds; fails naming `what`.
async fn until(what: &str, limit: Duration, check: impl FnMut() -> bool) {
    assert!(
        eventually(limit, check).await,
        "{what}: not within {limit:?}"
    );
}

/// A node's PubSub joined to Redis, and what its `room:1` subscriber saw.
struct RedisNode {
    pubsub: PubSub,
    link: RedisLink,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn node(redis: &RedisServer, name: &str) -> RedisNode {
    let pubsub = PubSub::new();
    let link = join_redis(&pubsub, &redis.url(), DEFAULT_CHANNEL, name).unwrap();
    assert!(link.wait_connected(SOON).await, "{name} connects to Redis");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    pubsub.subscribe("room:1", move |b| {
        s.lock().push(b.json().clone());
        true
    });
    RedisNode { pubsub, link, seen }
}

fn bodies(node: &RedisNode) -> Vec<Value> {
    node.seen.lock().iter().map(|p| p["body"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn broadcasts_reach_every_node_through_redis_and_direct_ones_one_node() {
    let Some(redis) = RedisServer::start("broadcasts_reach_every_node_through_redis") else {
        return;
    };
    let a = node(&redis, "a@test").await;
    let b = node(&redis, "b@test").await;
    let c = node(&redis, "c@test").await;
    assert_eq!(a.pubsub.node_name(), "a@test");

    a.pubsub
        .broadcast("room:1", "new_msg", json!({"body": "to all"}));
    until("b and c get a's broadcast", SOON, || {
        bodies(&b) == [json!("to all")] && bodies(&c) == [json!("to all")]
    })
    .await;
    assert_eq!(bodies(&a), [json!("to all")], "a's own subscriber, once");

    a.pubsub
        .direct_broadcast("b@test", "room:1", "new_msg", json!({"body": "to b"}))
        .unwrap();
    a.pubsub
        .broadcast("room:1", "new_msg", json!({"body": "after"}));
    until(
        "c gets the broadcast made after the direct one",
        SOON,
        || bodies(&c).len() == 2,
    )
    .await;
    until("b gets both", SOON, || bodies(&b).len() == 3).await;
    assert_eq!(bodies(&b), [json!("to all"), json!("to b"), json!("after")]);
    assert_eq!(bodies(&c), [json!("to all"), json!("after")], "not c");
    assert_eq!(bodies(&a), [json!("to all"), json!("after")]);

    let local_only = b.pubsub.subscriber_count("room:1");
    b.pubsub
        .local_broadcast("room:1", "new_msg", json!({"body": "b only"}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(local_only, 1);
    assert_eq!(bodies(&a).len(), 2, "a local broadcast stays on its node");
    assert_eq!(a.link.status().dropped, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_restart_is_lived_through() {
    let Some(mut redis) = RedisServer::start("a_redis_restart_is_lived_through") else {
        return;
    };
    let a = node(&redis, "a@test").await;
    let b = node(&redis, "b@test").await;
    let subscriptions = b.link.subscriptions();
    a.pubsub
        .broadcast("room:1", "new_msg", json!({"body": "before"}));
    until("b gets the first broadcast", SOON, || bodies(&b).len() == 1).await;

    redis.kill();
    until("both notice Redis is gone", SOON, || {
        !b.link.status().subscriber_connected && !a.link.status().subscriber_connected
    })
    .await;
    redis.restart();
    assert!(a.link.wait_connected(SOON).await, "a reconnects");
    assert!(b.link.wait_connected(SOON).await, "b reconnects");
    // What b missed meanwhile is gone; it is told it subscribed again, so
    // that whoever keeps state through broadcasts can catch up.
    assert_eq!(*subscriptions.borrow(), 2, "subscribed once, then again");

    a.pubsub
        .broadcast("room:1", "new_msg", json!({"body": "after"}));
    until("b gets a broadcast made after the restart", SOON, || {
        bodies(&b).last() == Some(&json!("after"))
    })
    .await;
    b.pubsub
        .broadcast("room:1", "new_msg", json!({"body": "back"}));
    until("and a gets b's", SOON, || {
        bodies(&a).last() == Some(&json!("back"))
    })
    .await;
}

/// The hello_sockets endpoint on a loopback port, its PubSub through Redis.
async fn endpoint_node(redis: &RedisServer, name: &str) -> (std::net::SocketAddr, RedisLink) {
    let pubsub = PubSub::new();
    let link = join_redis(&pubsub, &redis.url(), DEFAULT_CHANNEL, name).unwrap();
    assert!(link.wait_connected(SOON).await);
    let supervisor = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let endpoint: Arc<Endpoint> = HelloSockets {
        pubsub,
        supervisor,
        signer: Signer::new(secret::generate()),
        config: SocketConfig::default(),
        metrics: Metrics::local(),
        tasks: None,
        pipeline: None,
        options: Default::default(),
        presence: None,
    }
    .endpoint();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener, std::future::pending()));
    (address, link)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn joined(address: std::net::SocketAddr, topic: &str) -> Ws {
    let url = format!("ws://{address}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let join = json!(["1", "1", topic, "phx_join", {}]).to_string();
    ws.send(Message::text(join)).await.unwrap();
    next_event(&mut ws, "phx_reply").await;
    ws
}

async fn next_event(ws: &mut Ws, event: &str) -> Value {
    loop {
        let message = tokio::time::timeout(SOON, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {event} within {SOON:?}"))
            .expect("the socket stays open")
            .unwrap();
        let frame: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if frame[3] == event {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_broadcast_on_one_node_reaches_sockets_on_another() {
    let Some(redis) = RedisServer::start("a_channel_broadcast_on_one_node_reaches_sockets") else {
        return;
    };
    let (a, _a_link) = endpoint_node(&redis, "a@test").await;
    let (b, _b_link) = endpoint_node(&redis, "b@test").await;
    let mut on_a = joined(a, "bench:redis").await;
    let mut on_b = joined(b, "bench:redis").await;

    let push = json!(["1", "2", "bench:redis", "broadcast", {"i": 7}]).to_string();
    on_a.send(Message::text(push)).await.unwrap();
    // The socket on the other node gets it through Redis, the sender's own
    // socket locally; each exactly as the wire has it.
    let there = next_event(&mut on_b, "bcast").await;
    assert_eq!(there, json!([null, null, "bench:redis", "bcast", {"i": 7}]));
    let here = next_event(&mut on_a, "bcast").await;
    assert_eq!(here, json!([null, null, "bench:redis", "bcast", {"i": 7}]));
}
