//! Two `hello_sockets` servers as separate OS processes, never meshed (no
//! names, no cookie), reaching each other's sockets through a real Redis
//! (`--pubsub redis://…`): a push on one server's channel is a broadcast on
//! the other's, through a Redis restart. A bad `--pubsub` value stops the
//! binary at start with a clear message.

use std::process::Command;
use std::time::Duration;

use channels::client::{Channel, Client, ClientOptions, Subscription};
use runtime::testkit::{run_bounded, NodeProcess, RedisServer};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_hello_sockets");
const SOON: Duration = Duration::from_secs(20);

/// An unnamed server on a free port, its PubSub through `redis`.
fn server(label: &str, redis: &RedisServer) -> NodeProcess {
    let mut cmd = Command::new(BIN);
    cmd.args(["--port", "0", "--pubsub", &redis.url()])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let mut node = NodeProcess::spawn(label, cmd);
    node.wait_for_http(|l| l.contains("http://127.0.0.1:"), SOON);
    node.wait_for(|l| l.contains("PubSub through Redis"), SOON);
    node
}

struct Joined {
    _client: Client,
    channel: Channel,
    bcast: Subscription,
}

async fn join(node: &NodeProcess, topic: &str) -> Joined {
    let url = format!("ws://127.0.0.1:{}/socket", node.http_port().unwrap());
    let client = tokio::time::timeout(SOON, Client::connect(&url, &[], ClientOptions::default()))
        .await
        .expect("connect in time")
        .expect("the client connects");
    let channel = client.channel(topic, json!({}));
    let bcast = channel.on("bcast");
    tokio::time::timeout(SOON, channel.join())
        .await
        .expect("join in time")
        .expect("the join succeeds");
    Joined {
        _client: client,
        channel,
        bcast,
    }
}

async fn next(joined: &mut Joined) -> Option<Value> {
    tokio::time::timeout(SOON, joined.bcast.recv())
        .await
        .ok()
        .flatten()
}

/// Pushes `broadcast` from `from` until `to` hears `{"i": i}` (the first
/// pushes after a Redis restart may go before the other side resubscribed:
/// Redis pub/sub keeps nothing for a subscriber that is away).
async fn push_until_heard(from: &mut Joined, to: &mut Joined, i: u64) {
    for _ in 0..40 {
        let _ = from.channel.push("broadcast", json!({"i": i})).await;
        let heard = tokio::time::timeout(Duration::from_millis(500), to.bcast.recv()).await;
        if let Ok(Some(payload)) = heard {
            if payload == json!({"i": i}) {
                return;
            }
        }
    }
    panic!("the other server never heard broadcast {i}");
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_that_never_mesh_share_broadcasts_through_redis() {
    let Some(mut redis) = RedisServer::start("servers_that_never_mesh_share_broadcasts") else {
        return;
    };
    let mut a = server("a", &redis);
    let mut b = server("b", &redis);
    let mut on_a = join(&a, "bench:redis").await;
    let mut on_b = join(&b, "bench:redis").await;

    on_a.channel
        .push("broadcast", json!({"i": 1}))
        .await
        .expect("the push is answered");
    assert_eq!(
        next(&mut on_b).await,
        Some(json!({"i": 1})),
        "through Redis"
    );
    assert_eq!(next(&mut on_a).await, Some(json!({"i": 1})), "and locally");

    // Redis crashes and comes back: both servers reconnect by themselves.
    redis.kill();
    redis.restart();
    push_until_heard(&mut on_b, &mut on_a, 2).await;
    push_until_heard(&mut on_a, &mut on_b, 3).await;
    for node in [&mut a, &mut b] {
        node.wait_for(|l| l.contains("Redis PubSub: subscribed again"), SOON);
    }
}

#[test]
fn a_bad_pubsub_value_stops_the_server_with_a_clear_message() {
    for (value, says) in [
        (
            "memcached://x",
            "--pubsub must be `cluster` or a redis:// URL",
        ),
        ("redis://[::1", "bad Redis URL"),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args(["--port", "0", "--pubsub", value]);
        let run = run_bounded(cmd, None, SOON);
        assert_ne!(run.code, Some(0), "{run:?}");
        assert!(run.output().contains(says), "{value}: {run:?}");
    }
}
