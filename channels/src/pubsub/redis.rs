//! PubSub across nodes through Redis, as `phoenix_pubsub_redis` does it, for
//! nodes that cannot mesh (`--pubsub redis://host:port`).
//!
//! Every node publishes its broadcasts to one Redis channel and subscribes to
//! it; what arrives from another node goes to this node's local fan-out
//! (`PubSub::dispatch_local`, fastlane included), so channels, the tracker and
//! presence work as over the cluster mesh. A node skips its own messages (it
//! has delivered them locally already) and direct broadcasts meant for another
//! node. Messages are bincode (`runtime::node::wire`, with its size limit):
//! `{vsn, origin, target, broadcast}`.
//!
//! Two connections, each in a task that reconnects by itself (backoff from
//! 100 ms to 2 s, a warning per outage): the publisher, fed through a bounded
//! queue in the order broadcasts were made, and the subscriber. While Redis is
//! away, broadcasts wait in the queue (up to [`QUEUE`]; past it they are
//! dropped and counted) and are published once it is back; what other nodes
//! published meanwhile never reaches this one (Redis pub/sub keeps nothing),
//! the same at-most-once delivery as Phoenix.PubSub.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use runtime::log_text::url_without_credentials;
use runtime::node::wire;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::cluster::RemoteBroadcast;
use super::{Adapter, PubSub, SubscriberId};
use crate::message::Broadcast;

/// The Redis channel every node publishes to and subscribes to, unless the
/// URL's path or `--pubsub-channel` names another (one per application).
pub const DEFAULT_CHANNEL: &str = "phx:channels.pubsub";

/// Broadcasts waiting for the publisher, at most.
pub const QUEUE: usize = 65_536;

/// The message format's version; a message of another is skipped.
const VSN: u8 = 1;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Envelope {
    vsn: u8,
    /// The publishing PubSub's random id: a node skips its own messages.
    origin: u64,
    /// `Some(node)` for a direct broadcast to that node only.
    target: Option<String>,
    broadcast: RemoteBroadcast,
}

/// What the adapter and its two tasks share.
struct Shared {
    channel: String,
    origin: u64,
    node_name: String,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    dropped: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    /// Counts the subscriber's successful subscriptions: each one after the
    /// first follows an outage whose broadcasts never arrived.
    subscriptions: watch::Sender<u64>,
}

/// A node's connection to Redis PubSub; dropping it (or [`RedisLink::stop`])
/// stops both tasks.
pub struct RedisLink {
    shared: Arc<Shared>,
    publisher: JoinHandle<()>,
    subscriber: JoinHandle<()>,
}

/// The link's state (the console's `pubsub.status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisStatus {
    pub channel: String,
    pub node_name: String,
    pub publisher_connected: bool,
    pub subscriber_connected: bool,
    pub published: u64,
    pub received: u64,
    /// Broadcasts dropped because the queue was full (Redis away too long).
    pub dropped: u64,
    /// Times the subscriber subscribed (1 + the outages it came back from).
    pub subscriptions: u64,
}

impl std::fmt::Display for RedisStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let up = |up: bool| if up { "up" } else { "DOWN (reconnecting)" };
        write!(
            f,
            "PubSub through Redis on channel {} as {}\n\
             publisher {}, subscriber {} (subscribed {} time(s))\n\
             published {}, received {}, dropped {}",
            self.channel,
            self.node_name,
            up(self.publisher_connected),
            up(self.subscriber_connected),
            self.subscriptions,
            self.published,
            self.received,
            self.dropped
        )
    }
}

/// Reads a [`RedisLink`]'s state from elsewhere (a console command), for as
/// long as the link lives.
#[derive(Clone)]
pub struct RedisMonitor(Arc<Shared>);

impl RedisMonitor {
    /// Both connections up, and counts.
    pub fn status(&self) -> RedisStatus {
        let s = &self.0;
        RedisStatus {
            channel: s.channel.clone(),
            node_name: s.node_name.clone(),
            publisher_connected: s.publisher_up.load(Ordering::Relaxed),
            subscriber_connected: s.subscriber_up.load(Ordering::Relaxed),
            published: s.published.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            subscriptions: *s.subscriptions.borrow(),
        }
    }
}

impl RedisLink {
    /// Both connections up, and counts.
    pub fn status(&self) -> RedisStatus {
        self.monitor().status()
    }

    /// A handle on the link's state.
    pub fn monitor(&self) -> RedisMonitor {
        RedisMonitor(self.shared.clone())
    }

    /// Resolves once the subscriber is subscribed and the publisher
    /// connected (or after `within`); whether they are.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = self.status();
            if status.publisher_connected && status.subscriber_connected {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Counts the subscriber's subscriptions, changed on each: whoever keeps
    /// state in step through broadcasts catches up after each one past the
    /// first (Redis keeps nothing for a subscriber that was away).
    pub fn subscriptions(&self) -> watch::Receiver<u64> {
        self.shared.subscriptions.subscribe()
    }

    /// Stops publishing and listening: later broadcasts stay on this node.
    pub async fn stop(self) {
        self.publisher.abort();
        self.subscriber.abort();
    }
}

impl Drop for RedisLink {
    fn drop(&mut self) {
        self.publisher.abort();
        self.subscriber.abort();
    }
}

/// Why Redis PubSub cannot start.
#[derive(Debug, thiserror::Error)]
#[error("bad Redis URL {url}: {reason}")]
pub struct BadRedisUrl {
    url: String,
    reason: String,
}

/// Connects `pubsub` to the other nodes through the Redis at `url`
/// (`redis://[user:password@]host[:port][/db]`), on `channel`, reporting
/// `node_name` as this node's. Returns at once: the connections are made, and
/// remade, in the background (a node starts while Redis is away, and catches
/// up when it comes).
pub fn join_redis(
    pubsub: &PubSub,
    url: &str,
    channel: &str,
    node_name: &str,
) -> Result<RedisLink, BadRedisUrl> {
    let client = redis::Client::open(url).map_err(|err| BadRedisUrl {
        url: url_without_credentials(url),
        reason: err.to_string(),
    })?;
    let shared = Arc::new(Shared {
        channel: channel.to_string(),
        origin: random_origin(),
        node_name: node_name.to_string(),
        publisher_up: AtomicBool::new(false),
        subscriber_up: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
        published: AtomicU64::new(0),
        received: AtomicU64::new(0),
        subscriptions: watch::Sender::new(0),
    });
    let (queue, queued) = mpsc::channel(QUEUE);
    let publisher = tokio::spawn(publish(client.clone(), shared.clone(), queued));
    let subscriber = tokio::spawn(subscribe(client, shared.clone(), pubsub.clone()));
    pubsub.set_adapter(Arc::new(RedisAdapter {
        shared: shared.clone(),
        queue,
    }));
    tracing::info!(
        "PubSub through Redis at {} on channel {channel} as {node_name}",
        url_without_credentials(url)
    );
    Ok(RedisLink {
        shared,
        publisher,
        subscriber,
    })
}

fn random_origin() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    u64::from_le_bytes(bytes)
}

/// Puts this node's broadcasts on the publisher's queue.
struct RedisAdapter {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Vec<u8>>,
}

impl RedisAdapter {
    fn enqueue(&self, target: Option<&str>, broadcast: &Broadcast) -> bool {
        let envelope = Envelope {
            vsn: VSN,
            origin: self.shared.origin,
            target: target.map(str::to_string),
            broadcast: RemoteBroadcast::from_broadcast(broadcast),
        };
        let bytes = match wire::encode(&envelope) {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(%err, "a broadcast could not be encoded for Redis");
                return false;
            }
        };
        if self.queue.try_send(bytes).is_err() {
            let dropped = self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            if dropped.is_power_of_two() {
                tracing::warn!(
                    "Redis PubSub queue full ({QUEUE}): {} broadcast(s) dropped so far",
                    dropped + 1
                );
            }
            return false;
        }
        true
    }
}

impl Adapter for RedisAdapter {
    fn broadcast_remote(&self, broadcast: &Broadcast, _from: Option<SubscriberId>) {
        self.enqueue(None, broadcast);
    }

    /// Redis cannot tell whether `node` exists: like Phoenix's Redis adapter,
    /// this publishes with the target named and succeeds if queued.
    fn direct_broadcast(&self, node: &str, broadcast: &Broadcast) -> bool {
        self.enqueue(Some(node), broadcast)
    }

    fn node_name(&self) -> String {
        self.shared.node_name.clone()
    }
}

/// Backoff between connection attempts: 100 ms doubling to 2 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(100))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
    }
}

/// Connects with `connect` until it succeeds, waiting `backoff` between
/// attempts and warning once per outage (`warned` stays set until the caller
/// says it is back).
async fn connect_until<C, E, F>(
    what: &str,
    backoff: &mut Backoff,
    warned: &mut bool,
    mut connect: impl FnMut() -> F,
) -> C
where
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<C, E>>,
{
    loop {
        match connect().await {
            Ok(connection) => return connection,
            Err(err) => {
                if !*warned {
                    tracing::warn!(%err, "Redis PubSub: cannot connect the {what}; retrying");
                    *warned = true;
                }
                backoff.wait().await;
            }
        }
    }
}

/// The publisher task: one connection, the queue in order; a message whose
/// publish fails is published again on the next connection.
async fn publish(client: redis::Client, shared: Arc<Shared>, mut queued: mpsc::Receiver<Vec<u8>>) {
    let mut backoff = Backoff::new();
    let mut pending: Option<Vec<u8>> = None;
    let mut warned = false;
    loop {
        let mut connection = connect_until("publisher", &mut backoff, &mut warned, || {
            client.get_multiplexed_async_connection()
        })
        .await;
        shared.publisher_up.store(true, Ordering::Relaxed);
        if warned {
            tracing::info!("Redis PubSub: publisher connected again");
        }
        backoff = Backoff::new();
        loop {
            let message = match pending.take() {
                Some(message) => message,
                None => match queued.recv().await {
                    Some(message) => message,
                    None => return,
                },
            };
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(&shared.channel)
                .arg(&message)
                .query_async(&mut connection)
                .await;
            match sent {
                Ok(_) => {
                    shared.published.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    tracing::warn!(%err, "Redis PubSub: publish failed; reconnecting");
                    pending = Some(message);
                    warned = true;
                    break;
                }
            }
        }
        shared.publisher_up.store(false, Ordering::Relaxed);
        backoff.wait().await;
    }
}

/// The subscriber task: subscribe, hand every other node's broadcast to the
/// local fan-out, and subscribe again whenever the connection ends.
async fn subscribe(client: redis::Client, shared: Arc<Shared>, pubsub: PubSub) {
    let mut backoff = Backoff::new();
    let mut warned = false;
    loop {
        let mut connection = connect_until("subscriber", &mut backoff, &mut warned, || {
            client.get_async_pubsub()
        })
        .await;
        if let Err(err) = connection.subscribe(&shared.channel).await {
            tracing::warn!(%err, "Redis PubSub: cannot subscribe; retrying");
            warned = true;
            backoff.wait().await;
            continue;
        }
        shared.subscriber_up.store(true, Ordering::Relaxed);
        shared.subscriptions.send_modify(|count| *count += 1);
        if warned {
            tracing::info!("Redis PubSub: subscribed again");
        }
        backoff = Backoff::new();
        let mut messages = connection.on_message();
        while let Some(message) = messages.next().await {
            deliver(&shared, &pubsub, message.get_payload_bytes());
        }
        shared.subscriber_up.store(false, Ordering::Relaxed);
        tracing::warn!("Redis PubSub: subscription lost; reconnecting");
        warned = true;
        backoff.wait().await;
    }
}

/// Delivers one message from Redis locally, unless it is this node's own or
/// meant for another node.
fn deliver(shared: &Shared, pubsub: &PubSub, bytes: &[u8]) {
    let envelope: Envelope = match wire::decode(bytes) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::debug!(%err, "Redis PubSub: skipping a message that is not ours");
            return;
        }
    };
    if envelope.vsn != VSN || envelope.origin == shared.origin {
        return;
    }
    if envelope
        .target
        .as_deref()
        .is_some_and(|target| target != shared.node_name)
    {
        return;
    }
    shared.received.fetch_add(1, Ordering::Relaxed);
    if let Some(broadcast) = envelope.broadcast.into_broadcast() {
        pubsub.dispatch_local(None, Arc::new(broadcast));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Payload;
    use serde_json::json;

    fn shared(origin: u64, node_name: &str) -> Shared {
        Shared {
            channel: DEFAULT_CHANNEL.into(),
            origin,
            node_name: node_name.into(),
            publisher_up: AtomicBool::new(false),
            subscriber_up: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            subscriptions: watch::Sender::new(0),
        }
    }

    fn message(origin: u64, target: Option<&str>) -> Vec<u8> {
        wire::encode(&Envelope {
            vsn: VSN,
            origin,
            target: target.map(str::to_string),
            broadcast: RemoteBroadcast::from_broadcast(&Broadcast::new(
                "room:1",
                "new_msg",
                Payload::Json(json!({"body": "hi"})),
            )),
        })
        .unwrap()
    }

    #[test]
    fn a_node_delivers_others_messages_and_direct_ones_for_it_only() {
        let pubsub = PubSub::new();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let s = seen.clone();
        pubsub.subscribe("room:1", move |b| {
            s.lock().push(b.json().clone());
            true
        });
        let me = shared(1, "a@host");
        deliver(&me, &pubsub, &message(2, None));
        deliver(&me, &pubsub, &message(1, None)); // its own
        deliver(&me, &pubsub, &message(2, Some("b@host"))); // another node's
        deliver(&me, &pubsub, &message(2, Some("a@host")));
        deliver(&me, &pubsub, b"\x00garbage from someone else");
        assert_eq!(seen.lock().len(), 2);
        assert_eq!(me.received.load(Ordering::Relaxed), 2);
    }
}
