//! The tracker's replicas gossiping over PubSub, several "nodes" in one test
//! process joined by `pubsub::local_network`, which can cut a node off and
//! let it back (a partition, a hung node) — the protocol's own behaviour, deterministic
//! and fast. (The multi-process tests, real nodes over ractor_cluster, are
//! the store's: one process's "cluster" would share one registry.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use channels::pubsub::local_network::{LocalNetwork, NodeHandle};
use channels::tracker::{DiffHandler, TopicDiff, TrackedProcess, Tracker, TrackerOptions};
use parking_lot::Mutex;
use runtime::testkit::poll_for;
use serde_json::json;

const SOON: Duration = Duration::from_secs(10);

/// Every diff a node's tracker reported, in order.
#[derive(Default)]
struct Diffs(Mutex<Vec<BTreeMap<String, TopicDiff>>>);

impl DiffHandler for Diffs {
    fn handle_diff(&self, diff: &BTreeMap<String, TopicDiff>) {
        self.0.lock().push(diff.clone());
    }
}

struct Node {
    _handle: Arc<NodeHandle>,
    tracker: Tracker,
    diffs: Arc<Diffs>,
}

fn options() -> TrackerOptions {
    TrackerOptions {
        broadcast_period: Duration::from_millis(30),
        down_period: Duration::from_secs(1),
        permdown_period: Duration::from_secs(3),
        ..TrackerOptions::new("test")
    }
}

async fn node(network: &Arc<LocalNetwork>, name: &str, options: TrackerOptions) -> Node {
    let handle = network.node(name);
    let diffs = Arc::new(Diffs::default());
    let tracker = Tracker::start(options, handle.pubsub().clone(), diffs.clone())
        .await
        .unwrap();
    Node {
        _handle: handle,
        tracker,
        diffs,
    }
}

/// A new process of `node` tracked under `key` in `topic`.
async fn tracked(node: &Node, topic: &str, key: &str) -> TrackedProcess {
    let process = node.tracker.process();
    node.tracker
        .track(&process, topic, key, json!({}))
        .await
        .expect("the tracker answers")
        .expect("a new process is not tracked yet");
    process
}

/// Tracker options whose down and permdown periods outlast any test: only a
/// goodbye or a new incarnation can clear a node's entries.
fn patient() -> TrackerOptions {
    TrackerOptions {
        down_period: Duration::from_secs(60),
        permdown_period: Duration::from_secs(600),
        ..options()
    }
}

async fn keys(tracker: &Tracker, topic: &str) -> Vec<String> {
    let mut keys: Vec<String> = tracker
        .list(topic)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    keys.sort();
    keys
}

/// Waits until `tracker` lists exactly `expected` in `topic`.
async fn lists(tracker: &Tracker, topic: &str, expected: &[&str]) {
    let what = format!("{} to list {expected:?} in {topic}", tracker.replica());
    poll_for(&what, SOON, || async {
        (keys(tracker, topic).await == expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn three_nodes_see_each_others_presences_and_their_leaving() {
    let network = LocalNetwork::new();
    let nodes = [
        node(&network, "a@host", options()).await,
        node(&network, "b@host", options()).await,
        node(&network, "c@host", options()).await,
    ];
    let mut processes = Vec::new();
    for (node, user) in nodes.iter().zip(["alice", "bob", "carol"]) {
        let process = node.tracker.process();
        node.tracker
            .track(&process, "lobby", user, json!({"online_at": 1}))
            .await
            .unwrap()
            .unwrap();
        processes.push(process);
    }
    for node in &nodes {
        lists(&node.tracker, "lobby", &["alice", "bob", "carol"]).await;
    }
    // The local join was reported at once, the others as they arrived.
    let joined: Vec<String> = nodes[0]
        .diffs
        .0
        .lock()
        .iter()
        .flat_map(|d| d["lobby"].joins.iter().map(|e| e.key.clone()))
        .collect();
    assert_eq!(joined[0], "alice");
    assert_eq!(joined.len(), 3, "{joined:?}");

    // bob's process exits: everyone sees him leave.
    drop(processes.remove(1));
    for node in &nodes {
        lists(&node.tracker, "lobby", &["alice", "carol"]).await;
    }
    let left: Vec<String> = nodes[2]
        .diffs
        .0
        .lock()
        .iter()
        .flat_map(|d| d["lobby"].leaves.iter().map(|e| e.key.clone()))
        .collect();
    assert_eq!(left, vec!["bob"]);
}

#[tokio::test]
async fn a_node_cut_off_leaves_everyones_view_and_converges_when_it_returns() {
    let network = LocalNetwork::new();
    let a = node(&network, "a@host", options()).await;
    let b = node(&network, "b@host", options()).await;
    let _alice = tracked(&a, "lobby", "alice").await;
    let bob = tracked(&b, "lobby", "bob").await;
    lists(&a.tracker, "lobby", &["alice", "bob"]).await;

    // b hangs (or the network splits): after the down period a drops bob.
    network.cut("b@host");
    lists(&a.tracker, "lobby", &["alice"]).await;
    let stats = a.tracker.stats().await.unwrap();
    assert_eq!(stats.replicas[0].1, "down", "{stats:?}");
    // Meanwhile b changes: carol joins, bob leaves.
    let _carol = tracked(&b, "lobby", "carol").await;
    drop(bob);

    // b comes back: both views converge, with what changed meanwhile.
    network.heal();
    lists(&a.tracker, "lobby", &["alice", "carol"]).await;
    lists(&b.tracker, "lobby", &["alice", "carol"]).await;
}

#[tokio::test]
async fn a_node_gone_for_the_permdown_period_is_forgotten() {
    let network = LocalNetwork::new();
    let a = node(&network, "a@host", options()).await;
    let b = node(&network, "b@host", options()).await;
    let _bob = tracked(&b, "lobby", "bob").await;
    lists(&a.tracker, "lobby", &["bob"]).await;
    network.cut("b@host");
    poll_for("a to forget b", SOON, || async {
        let stats = a.tracker.stats().await.unwrap();
        (stats.entries == 0 && stats.replicas.is_empty()).then_some(())
    })
    .await;
    // Heard from again, b is a new peer: a asks for its whole set.
    network.heal();
    lists(&a.tracker, "lobby", &["bob"]).await;
}

#[tokio::test]
async fn a_restarted_node_replaces_its_previous_incarnation_at_once() {
    let network = LocalNetwork::new();
    let a = node(&network, "a@host", patient()).await;
    let b = node(&network, "b@host", patient()).await;
    let bob = tracked(&b, "lobby", "bob").await;
    lists(&a.tracker, "lobby", &["bob"]).await;

    // b is killed: its tracker stops without a word; a new b starts.
    b.tracker.kill();
    std::mem::forget(bob);
    drop(b);
    let b2 = node(&network, "b@host", patient()).await;
    let _dave = tracked(&b2, "lobby", "dave").await;
    lists(&a.tracker, "lobby", &["dave"]).await;
}

#[tokio::test]
async fn a_node_that_stops_cleanly_takes_its_entries_with_it_at_once() {
    let network = LocalNetwork::new();
    let a = node(&network, "a@host", patient()).await;
    let b = node(&network, "b@host", patient()).await;
    let bob = tracked(&b, "lobby", "bob").await;
    lists(&a.tracker, "lobby", &["bob"]).await;
    b.tracker.stop().await;
    lists(&a.tracker, "lobby", &[]).await;
    assert!(a.tracker.stats().await.unwrap().replicas.is_empty());
    std::mem::forget(bob);
}
