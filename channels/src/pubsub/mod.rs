//! PubSub: topics, subscribers, and the fastlane.
//!
//! Any process may subscribe to any topic at any time and unsubscribe again
//! (the shopping cart subscribes per item). Subscribers come in two kinds:
//!
//! - **Fastlane** subscriptions belong to joined channels. A broadcast is
//!   serialized once per serializer and the same bytes are queued on every
//!   subscribed connection's outbox, without visiting the channel processes —
//!   unless the channel intercepts the event, in which case it goes to the
//!   channel's `handle_out`.
//! - **Handler** subscriptions run a closure with the broadcast; a closure that
//!   returns `false` (its process is gone) is dropped.
//!
//! Local fan-out never leaves this node. Other nodes are reached through a
//! [`Adapter`] (`pubsub/cluster.rs` is the cluster's, `pubsub/redis.rs`
//! goes through Redis; `pubsub/link.rs` chooses one at start): one message
//! per peer node, then that node's own local fan-out.

pub mod cluster;
pub mod link;
pub mod local_network;
pub mod redis;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

use crate::message::{Broadcast, Payload};
use crate::outbox::Outbox;
use crate::serializer::{Frame, Serializer};

pub use crate::subscriber_id::SubscriberId;

/// Receives the intercepted broadcasts of a channel (its `handle_out`).
pub trait Interceptor: Send + Sync {
    /// Delivers one broadcast; `false` when the channel is gone.
    fn handle_out(&self, broadcast: &Arc<Broadcast>) -> bool;
}

/// A channel's fastlane subscription.
pub struct Fastlane {
    /// The connection's queue.
    pub outbox: Arc<Outbox>,
    /// How the connection encodes frames.
    pub serializer: Serializer,
    /// Events the channel wants to see in `handle_out` instead.
    pub intercepts: &'static [&'static str],
    /// Where intercepted events go; required when `intercepts` is not empty.
    pub interceptor: Option<Box<dyn Interceptor>>,
}

/// A closure subscriber; returns `false` to be dropped.
pub type BroadcastHandler = Box<dyn Fn(&Arc<Broadcast>) -> bool + Send + Sync>;

enum Kind {
    Fastlane(Fastlane),
    Handler(BroadcastHandler),
}

struct Subscription {
    id: SubscriberId,
    kind: Kind,
}

/// How broadcasts reach other nodes (`cluster.rs` implements it over the
/// node's cluster).
pub trait Adapter: Send + Sync {
    /// Sends a broadcast to every other connected node's PubSub.
    fn broadcast_remote(&self, broadcast: &Broadcast, from: Option<SubscriberId>);
    /// Sends a broadcast to one node; `false` if that node is not connected.
    fn direct_broadcast(&self, node: &str, broadcast: &Broadcast) -> bool;
    /// This node's name.
    fn node_name(&self) -> String;
}

/// `direct_broadcast` named a node this node is not connected to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node {0} is not connected")]
pub struct NodeNotConnected(pub String);

struct Inner {
    topics: RwLock<HashMap<String, Vec<Subscription>>>,
    next_id: AtomicU64,
    adapter: RwLock<Option<Arc<dyn Adapter>>>,
}

/// A node's PubSub. Cheap to clone; clones share subscriptions.
#[derive(Clone)]
pub struct PubSub {
    inner: Arc<Inner>,
}

impl Default for PubSub {
    fn default() -> Self {
        Self::new()
    }
}

/// The node name PubSub reports when no cluster adapter is installed.
pub const LOCAL_NODE: &str = "nonode@nohost";

impl PubSub {
    /// A PubSub with no subscribers and no cluster.
    pub fn new() -> Self {
        PubSub {
            inner: Arc::new(Inner {
                topics: RwLock::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                adapter: RwLock::new(None),
            }),
        }
    }

    /// Connects this PubSub to the cluster.
    pub fn set_adapter(&self, adapter: Arc<dyn Adapter>) {
        *self.inner.adapter.write() = Some(adapter);
    }

    /// This node's name (`nonode@nohost` outside a cluster, as in Elixir).
    pub fn node_name(&self) -> String {
        self.inner
            .adapter
            .read()
            .as_ref()
            .map_or_else(|| LOCAL_NODE.to_string(), |a| a.node_name())
    }

    /// A fresh subscription id, for subscribing later with [`Self::subscribe_fastlane`].
    pub fn new_id(&self) -> SubscriberId {
        SubscriberId(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn insert(&self, topic: &str, subscription: Subscription) {
        let mut topics = self.inner.topics.write();
        match topics.get_mut(topic) {
            Some(subscribers) => subscribers.push(subscription),
            None => {
                topics.insert(topic.to_string(), vec![subscription]);
            }
        }
    }

    /// Subscribes a channel's connection (fastlane) under an id from [`Self::new_id`].
    pub fn subscribe_fastlane(&self, topic: &str, id: SubscriberId, fastlane: Fastlane) {
        self.insert(
            topic,
            Subscription {
                id,
                kind: Kind::Fastlane(fastlane),
            },
        );
    }

    /// Subscribes a closure; it is dropped the first time it returns `false`.
    /// The closure runs inside the broadcast, under PubSub's lock: it should only
    /// hand the broadcast to a process (e.g. `pid.info(..)`), never call PubSub.
    pub fn subscribe(
        &self,
        topic: &str,
        handler: impl Fn(&Arc<Broadcast>) -> bool + Send + Sync + 'static,
    ) -> SubscriberId {
        let id = self.new_id();
        self.subscribe_as(topic, id, handler);
        id
    }

    /// Subscribes a closure under an id taken beforehand from [`Self::new_id`]:
    /// for a subscriber that is restarted (and resubscribes) but must keep the
    /// id others pass to `broadcast_from`.
    pub fn subscribe_as(
        &self,
        topic: &str,
        id: SubscriberId,
        handler: impl Fn(&Arc<Broadcast>) -> bool + Send + Sync + 'static,
    ) {
        self.insert(
            topic,
            Subscription {
                id,
                kind: Kind::Handler(Box::new(handler)),
            },
        );
    }

    /// Removes a subscription; `false` if it was not there.
    pub fn unsubscribe(&self, topic: &str, id: SubscriberId) -> bool {
        let mut topics = self.inner.topics.write();
        let Some(subscribers) = topics.get_mut(topic) else {
            return false;
        };
        let before = subscribers.len();
        subscribers.retain(|s| s.id != id);
        let removed = subscribers.len() != before;
        if subscribers.is_empty() {
            topics.remove(topic);
        }
        removed
    }

    /// Number of local subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.inner.topics.read().get(topic).map_or(0, Vec::len)
    }

    /// Topics with local subscribers, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.inner.topics.read().keys().cloned().collect();
        topics.sort();
        topics
    }

    /// Sends to every subscriber on every node, the sender's channel included.
    pub fn broadcast(&self, topic: &str, event: &str, payload: impl Into<Payload>) {
        self.publish(None, Broadcast::new(topic, event, payload), true);
    }

    /// Sends to every subscriber on every node but `from` (`broadcast_from`).
    pub fn broadcast_from(
        &self,
        from: SubscriberId,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) {
        self.publish(Some(from), Broadcast::new(topic, event, payload), true);
    }

    /// Sends to the subscribers of this node only.
    pub fn local_broadcast(&self, topic: &str, event: &str, payload: impl Into<Payload>) {
        self.publish(None, Broadcast::new(topic, event, payload), false);
    }

    /// Sends to the subscribers of one node only (this one or a connected peer).
    pub fn direct_broadcast(
        &self,
        node: &str,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<(), NodeNotConnected> {
        let broadcast = Broadcast::new(topic, event, payload);
        if node == self.node_name() {
            self.dispatch_local(None, Arc::new(broadcast));
            return Ok(());
        }
        let adapter = self.inner.adapter.read().clone();
        match adapter {
            Some(adapter) if adapter.direct_broadcast(node, &broadcast) => Ok(()),
            _ => Err(NodeNotConnected(node.to_string())),
        }
    }

    fn publish(&self, from: Option<SubscriberId>, broadcast: Broadcast, remote: bool) {
        if remote {
            let adapter = self.inner.adapter.read().clone();
            if let Some(adapter) = adapter {
                adapter.broadcast_remote(&broadcast, from);
            }
        }
        self.dispatch_local(from, Arc::new(broadcast));
    }

    /// Delivers a broadcast to this node's subscribers. The cluster adapter calls
    /// this for broadcasts arriving from other nodes.
    pub fn dispatch_local(&self, from: Option<SubscriberId>, broadcast: Arc<Broadcast>) {
        let mut encoded: [Option<Option<Frame>>; 2] = [None, None];
        let mut dead = Vec::new();
        {
            let topics = self.inner.topics.read();
            let Some(subscribers) = topics.get(&broadcast.topic) else {
                return;
            };
            for subscription in subscribers.iter().filter(|s| Some(s.id) != from) {
                let alive = match &subscription.kind {
                    Kind::Handler(handler) => handler(&broadcast),
                    Kind::Fastlane(lane) => deliver_fastlane(lane, &broadcast, &mut encoded),
                };
                if !alive {
                    dead.push(subscription.id);
                }
            }
        }
        for id in dead {
            self.unsubscribe(&broadcast.topic, id);
        }
    }
}

/// Queues a broadcast on one connection, encoding it at most once per serializer.
fn deliver_fastlane(
    lane: &Fastlane,
    broadcast: &Arc<Broadcast>,
    encoded: &mut [Option<Option<Frame>>; 2],
) -> bool {
    if lane.intercepts.contains(&broadcast.event.as_str()) {
        return match &lane.interceptor {
            Some(channel) => channel.handle_out(broadcast),
            None => true,
        };
    }
    let slot = match lane.serializer {
        Serializer::V1 => 0,
        Serializer::V2 => 1,
    };
    let frame = encoded[slot].get_or_insert_with(|| match lane.serializer.fastlane(broadcast) {
        Ok(frame) => Some(frame),
        Err(err) => {
            tracing::warn!(topic = %broadcast.topic, event = %broadcast.event, %err, "broadcast not sent to {:?} clients", lane.serializer);
            None
        }
    });
    match frame {
        // A closing connection's subscription is dropped.
        Some(frame) => lane.outbox.push_frame(frame.clone()).is_ok(),
        None => true,
    }
}

impl Broadcast {
    /// A broadcast of `event` with `payload` on `topic`.
    pub fn new(topic: &str, event: &str, payload: impl Into<Payload>) -> Self {
        Broadcast {
            topic: topic.to_string(),
            event: event.to_string(),
            payload: payload.into(),
        }
    }

    /// The payload as JSON, or null for binary payloads.
    pub fn json(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.payload.as_json().unwrap_or(&NULL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Batch, Outbound};
    use parking_lot::Mutex;
    use serde_json::json;

    fn collector(pubsub: &PubSub, topic: &str) -> (SubscriberId, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let id = pubsub.subscribe(topic, move |b| {
            sink.lock().push(format!("{}:{}", b.event, b.json()));
            true
        });
        (id, seen)
    }

    #[test]
    fn broadcast_reaches_every_subscriber_and_broadcast_from_skips_the_sender() {
        let pubsub = PubSub::new();
        let (a, seen_a) = collector(&pubsub, "room:1");
        let (_b, seen_b) = collector(&pubsub, "room:1");
        let (_c, seen_c) = collector(&pubsub, "room:2");
        pubsub.broadcast("room:1", "hello", json!({"n": 1}));
        pubsub.broadcast_from(a, "room:1", "again", json!({}));
        assert_eq!(seen_a.lock().clone(), vec![r#"hello:{"n":1}"#]);
        assert_eq!(seen_b.lock().clone(), vec![r#"hello:{"n":1}"#, "again:{}"]);
        assert!(seen_c.lock().is_empty());
    }

    #[test]
    fn unsubscribe_stops_delivery_and_dead_handlers_are_dropped() {
        let pubsub = PubSub::new();
        let (id, seen) = collector(&pubsub, "t");
        pubsub.subscribe("t", |_| false);
        assert_eq!(pubsub.subscriber_count("t"), 2);
        pubsub.broadcast("t", "e", json!({}));
        assert_eq!(pubsub.subscriber_count("t"), 1, "the dead handler is gone");
        assert!(pubsub.unsubscribe("t", id));
        pubsub.broadcast("t", "e", json!({}));
        assert_eq!(seen.lock().len(), 1);
        assert!(pubsub.topics().is_empty());
    }

    #[tokio::test]
    async fn fastlane_queues_the_same_encoded_bytes_on_every_connection() {
        let pubsub = PubSub::new();
        let outboxes: Vec<Arc<Outbox>> = (0..3).map(|_| Arc::new(Outbox::new(1 << 20))).collect();
        for outbox in &outboxes {
            pubsub.subscribe_fastlane(
                "bench:1",
                pubsub.new_id(),
                Fastlane {
                    outbox: outbox.clone(),
                    serializer: Serializer::V2,
                    intercepts: &[],
                    interceptor: None,
                },
            );
        }
        pubsub.broadcast("bench:1", "bcast", json!({"x": 1}));
        let mut frames = Vec::new();
        for outbox in &outboxes {
            let Batch::Items(mut items) = outbox.next_batch().await else {
                panic!()
            };
            let Outbound::Frame(frame) = items.remove(0) else {
                panic!()
            };
            frames.push(frame);
        }
        assert_eq!(
            frames[0].bytes(),
            br#"[null,null,"bench:1","bcast",{"x":1}]"#
        );
        // Encoded once: every connection holds the very same allocation.
        assert!(frames
            .iter()
            .all(|f| f.bytes().as_ptr() == frames[0].bytes().as_ptr()));
    }

    #[test]
    fn intercepted_events_go_to_the_channel_not_the_connection() {
        struct Recorder(Arc<Mutex<Vec<String>>>);
        impl Interceptor for Recorder {
            fn handle_out(&self, b: &Arc<Broadcast>) -> bool {
                self.0.lock().push(b.event.clone());
                true
            }
        }
        let pubsub = PubSub::new();
        let outbox = Arc::new(Outbox::new(1 << 20));
        let seen = Arc::new(Mutex::new(Vec::new()));
        pubsub.subscribe_fastlane(
            "ping",
            pubsub.new_id(),
            Fastlane {
                outbox: outbox.clone(),
                serializer: Serializer::V2,
                intercepts: &["request_ping"],
                interceptor: Some(Box::new(Recorder(seen.clone()))),
            },
        );
        pubsub.broadcast("ping", "request_ping", json!({}));
        assert_eq!(seen.lock().clone(), vec!["request_ping"]);
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[test]
    fn direct_broadcast_to_this_node_is_local_and_to_an_unknown_node_fails() {
        let pubsub = PubSub::new();
        let (_, seen) = collector(&pubsub, "t");
        pubsub
            .direct_broadcast(LOCAL_NODE, "t", "e", json!({}))
            .unwrap();
        assert_eq!(seen.lock().len(), 1);
        assert_eq!(
            pubsub.direct_broadcast("other@127.0.0.1", "t", "e", json!({})),
            Err(NodeNotConnected("other@127.0.0.1".into()))
        );
    }
}
