//! The tracker's process on one node (Phoenix.Tracker's shard): owns the
//! node's replica of the set ([`State`]), takes the node's own tracks, and
//! keeps the replica in step with the other nodes' over the cluster PubSub.
//!
//! Every broadcast period (default 1.5 s) it broadcasts a heartbeat on
//! `phx_tracker:<name>:<shard>`: its context, and its delta when it changed anything.
//! A peer merges a delta that follows on from what it knows of the sender;
//! after a gap (a lost heartbeat, a partition, a new replica) it asks the
//! sender for a transfer of its whole set instead (`direct_broadcast` to the
//! sender's node). A replica not heard from for the down period (default
//! 30 s) is marked down — its entries leave every listing — and after the
//! permdown period (default 20 min) its entries are dropped for good; a
//! replica heard from again is up again, with its entries. A node restarted
//! is a new replica (a new `vsn`): its previous incarnation is dropped at
//! once.
//!
//! Every change a node learns of — its own tracks, merges, replicas going
//! down or up — is reported to the [`DiffHandler`] as joins and leaves per
//! topic (Presence turns them into `presence_diff` pushes).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runtime::{CallFlow, Flow, GenServer, Pid as ProcessPid, ProcessError, ReplyTo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clock::{Context, ReplicaId};
use super::state::{Delta, Diff, Dot, Entry, Pid, ReplicaStatus, State, TrackError, Transfer};
use crate::message::Broadcast;
use crate::pubsub::PubSub;

/// A tracker's settings (Phoenix.Tracker's options).
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// The tracker's name: its PubSub topic is `phx_tracker:<name>`.
    pub name: String,
    /// How often heartbeats (and deltas) go out.
    pub broadcast_period: Duration,
    /// Silence after which a replica is down.
    pub down_period: Duration,
    /// Silence after which a replica's entries are dropped.
    pub permdown_period: Duration,
    /// Shard processes per node (the same on every node).
    pub pool_size: usize,
}

impl TrackerOptions {
    /// Phoenix's defaults: 1.5 s, 30 s, 20 min, one shard.
    pub fn new(name: impl Into<String>) -> Self {
        TrackerOptions {
            name: name.into(),
            broadcast_period: Duration::from_millis(1500),
            down_period: Duration::from_secs(30),
            permdown_period: Duration::from_secs(20 * 60),
            pool_size: 1,
        }
    }

    /// Phoenix's defaults, overridden by `TRACKER_BROADCAST_PERIOD_MS`,
    /// `TRACKER_DOWN_PERIOD_MS`, `TRACKER_PERMDOWN_PERIOD_MS` and
    /// `TRACKER_POOL_SIZE` when set (tests shorten the periods; every node of
    /// a cluster must use the same pool size). A value that is not a number
    /// is ignored with a warning.
    pub fn from_env(name: impl Into<String>) -> Self {
        let mut options = TrackerOptions::new(name);
        let read = |var: &str| -> Option<u64> {
            let value = std::env::var(var).ok()?;
            match value.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    tracing::warn!(%var, %value, "not a number: ignored");
                    None
                }
            }
        };
        if let Some(ms) = read("TRACKER_BROADCAST_PERIOD_MS") {
            options.broadcast_period = Duration::from_millis(ms.max(1));
        }
        if let Some(ms) = read("TRACKER_DOWN_PERIOD_MS") {
            options.down_period = Duration::from_millis(ms);
        }
        if let Some(ms) = read("TRACKER_PERMDOWN_PERIOD_MS") {
            options.permdown_period = Duration::from_millis(ms);
        }
        if let Some(n) = read("TRACKER_POOL_SIZE") {
            options.pool_size = n.max(1) as usize;
        }
        options
    }
}

/// Joins and leaves of one topic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicDiff {
    /// Entries that appeared.
    pub joins: Vec<Entry>,
    /// Entries that went away.
    pub leaves: Vec<Entry>,
}

/// What a tracker tells about changes (`handle_diff/2`).
pub trait DiffHandler: Send + Sync + 'static {
    /// Changes by topic, in the order they happened on this node.
    fn handle_diff(&self, diff: &BTreeMap<String, TopicDiff>);
}

/// A handler that ignores every diff.
pub struct NoDiffs;

impl DiffHandler for NoDiffs {
    fn handle_diff(&self, _diff: &BTreeMap<String, TopicDiff>) {}
}

/// What a tracker knows, for operators (`tracker.stats`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackerStats {
    /// This replica.
    pub replica: String,
    /// Entries held (of replicas up and down).
    pub entries: usize,
    /// Every other replica: its status and seconds since last heard.
    pub replicas: Vec<(String, &'static str, f64)>,
    /// Size (entries + dots) of the last delta this node broadcast.
    pub last_delta_size: usize,
    /// Deltas merged and transfers asked for since the start.
    pub deltas_merged: u64,
    /// Transfers asked for (after a gap or a new replica).
    pub transfers_requested: u64,
}

/// The heartbeat and transfer messages between replicas.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Gossip {
    Heartbeat {
        replica: ReplicaId,
        #[serde(with = "context_pairs")]
        context: Context,
        delta: Option<Delta>,
    },
    TransferReq {
        replica: ReplicaId,
        #[serde(with = "context_pairs")]
        context: Context,
    },
    TransferAck {
        transfer: Transfer,
    },
    /// The replica is shutting down cleanly: its entries go now, not after
    /// the down period (Phoenix's graceful permdown).
    Leaving {
        replica: ReplicaId,
    },
}

mod context_pairs {
    use super::Context;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(context: &Context, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(context.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Context, D::Error> {
        Vec::<(super::ReplicaId, u64)>::deserialize(deserializer).map(|p| p.into_iter().collect())
    }
}

/// Requests to the tracker process.
pub enum TrackerCall {
    /// Track an entry of this node's process.
    Track(
        Pid,
        String,
        String,
        Value,
        ReplyTo<Result<Entry, TrackError>>,
    ),
    /// Untrack one entry.
    Untrack(Pid, String, String, ReplyTo<Result<Entry, TrackError>>),
    /// Replace an entry's metadata with what the function makes of the old.
    Update(
        Pid,
        String,
        String,
        MetaUpdate,
        ReplyTo<Result<(Entry, Entry), TrackError>>,
    ),
    /// Every entry of a topic whose replica is up, with its dot.
    List(String, ReplyTo<Vec<(Entry, Dot)>>),
    /// Every entry whose replica is up.
    ListAll(ReplyTo<Vec<(Entry, Dot)>>),
    /// Operators' figures.
    Stats(ReplyTo<TrackerStats>),
}

/// How an update makes an entry's new metadata from its current one.
pub type MetaUpdate = Box<dyn FnOnce(&Value) -> Value + Send>;

/// Messages the tracker process handles on its own.
pub enum TrackerInfo {
    /// A process exited: untrack all its entries.
    Exited(Pid),
    /// Time to broadcast and to check on the peers.
    Tick,
    /// A message from another replica.
    Gossip(Value),
}

/// What another replica looks like from here.
struct Peer {
    node: String,
    last_heard: Instant,
}

/// The process's state.
pub struct TrackerState {
    set: State,
    peers: HashMap<ReplicaId, Peer>,
    last_delta_size: usize,
    deltas_merged: u64,
    transfers_requested: u64,
}

/// The tracker process's behaviour.
pub struct TrackerServer {
    options: TrackerOptions,
    /// Which shard of the pool this is.
    shard: usize,
    pubsub: PubSub,
    replica: ReplicaId,
    handler: Arc<dyn DiffHandler>,
}

impl TrackerServer {
    fn topic(&self) -> String {
        format!("phx_tracker:{}:{}", self.options.name, self.shard)
    }

    fn report(&self, diff: Diff) {
        if diff.joins.is_empty() && diff.leaves.is_empty() {
            return;
        }
        let mut by_topic: BTreeMap<String, TopicDiff> = BTreeMap::new();
        for entry in diff.joins {
            by_topic
                .entry(entry.topic.clone())
                .or_default()
                .joins
                .push(entry);
        }
        for entry in diff.leaves {
            by_topic
                .entry(entry.topic.clone())
                .or_default()
                .leaves
                .push(entry);
        }
        self.handler.handle_diff(&by_topic);
    }

    fn send(&self, node: Option<&str>, gossip: &Gossip) {
        let payload = match serde_json::to_value(gossip) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(%err, "tracker message not encoded");
                return;
            }
        };
        let topic = self.topic();
        match node {
            None => self.pubsub.broadcast(&topic, "gossip", payload),
            Some(node) => {
                if let Err(err) = self
                    .pubsub
                    .direct_broadcast(node, &topic, "gossip", payload)
                {
                    tracing::debug!(%err, "tracker message not delivered");
                }
            }
        }
    }

    fn request_transfer(&self, state: &mut TrackerState, node: &str) {
        state.transfers_requested += 1;
        self.send(
            Some(node),
            &Gossip::TransferReq {
                replica: self.replica.clone(),
                context: state.set.context().clone(),
            },
        );
    }

    /// A replica was heard from: up (again), and a newer incarnation of a
    /// node replaces its older ones. Returns whether it was unknown.
    fn heard(&self, state: &mut TrackerState, replica: &ReplicaId) -> bool {
        let older: Vec<ReplicaId> = state
            .peers
            .keys()
            .filter(|r| r.node == replica.node && r.vsn < replica.vsn)
            .cloned()
            .collect();
        for old in older {
            let diff = state.set.replica_down(&old);
            self.report(diff);
            state.set.remove_down_replica(&old);
            state.peers.remove(&old);
        }
        let unknown = !state.peers.contains_key(replica);
        state.peers.insert(
            replica.clone(),
            Peer {
                node: replica.node.clone(),
                last_heard: Instant::now(),
            },
        );
        if unknown || state.set.replicas().get(replica) != Some(&ReplicaStatus::Up) {
            let diff = state.set.replica_up(replica);
            self.report(diff);
        }
        unknown
    }

    fn handle_gossip(&self, state: &mut TrackerState, gossip: Gossip) {
        match gossip {
            Gossip::Heartbeat {
                replica,
                context,
                delta,
            } => {
                if replica == self.replica || replica.vsn < self.newest_vsn_of(state, &replica) {
                    return;
                }
                let unknown = self.heard(state, &replica);
                let mine_of_theirs = state.set.context().get(&replica).copied().unwrap_or(0);
                let theirs = context.get(&replica).copied().unwrap_or(0);
                match delta {
                    Some(delta) if !unknown && state.set.can_merge(&delta) => {
                        let diff = state.set.merge_delta(&delta);
                        state.deltas_merged += 1;
                        self.report(diff);
                    }
                    _ if unknown || theirs > mine_of_theirs => {
                        self.request_transfer(state, &replica.node);
                    }
                    _ => {}
                }
            }
            Gossip::TransferReq { replica, context } => {
                if replica == self.replica {
                    return;
                }
                self.heard(state, &replica);
                let transfer = state.set.extract(&replica, &context);
                self.send(Some(&replica.node), &Gossip::TransferAck { transfer });
            }
            Gossip::Leaving { replica } => {
                if replica == self.replica || !state.peers.contains_key(&replica) {
                    return;
                }
                tracing::info!(replica = %replica, "tracker replica left: its entries are dropped");
                let diff = state.set.replica_down(&replica);
                self.report(diff);
                state.set.remove_down_replica(&replica);
                state.peers.remove(&replica);
            }
            Gossip::TransferAck { transfer } => {
                if transfer.replica == self.replica {
                    return;
                }
                self.heard(state, &transfer.replica);
                let diff = state.set.merge_transfer(&transfer);
                self.report(diff);
            }
        }
    }

    fn newest_vsn_of(&self, state: &TrackerState, replica: &ReplicaId) -> u64 {
        state
            .peers
            .keys()
            .filter(|r| r.node == replica.node)
            .map(|r| r.vsn)
            .max()
            .unwrap_or(0)
    }

    fn tick(&self, state: &mut TrackerState) {
        let delta = state.set.has_delta().then(|| state.set.delta().clone());
        if let Some(delta) = &delta {
            state.last_delta_size =
                delta.values.len() + delta.clouds.values().map(|c| c.len()).sum::<usize>();
        }
        self.send(
            None,
            &Gossip::Heartbeat {
                replica: self.replica.clone(),
                context: state.set.context().clone(),
                delta,
            },
        );
        state.set.reset_delta();
        let now = Instant::now();
        let mut gone = Vec::new();
        for (replica, peer) in &state.peers {
            let silent = now.duration_since(peer.last_heard);
            if silent >= self.options.permdown_period {
                gone.push(replica.clone());
            } else if silent >= self.options.down_period
                && state.set.replicas().get(replica) == Some(&ReplicaStatus::Up)
            {
                tracing::info!(replica = %replica, node = %peer.node, "tracker replica down");
                let diff = state.set.replica_down(replica);
                self.report(diff);
            }
        }
        for replica in gone {
            tracing::info!(replica = %replica, "tracker replica permanently down: its entries are dropped");
            if state.set.replicas().get(&replica) == Some(&ReplicaStatus::Up) {
                let diff = state.set.replica_down(&replica);
                self.report(diff);
            }
            state.set.remove_down_replica(&replica);
            state.peers.remove(&replica);
        }
    }
}

impl GenServer for TrackerServer {
    type Args = ();
    type State = TrackerState;
    type Call = TrackerCall;
    type Reply = ();
    type Cast = ();
    type Info = TrackerInfo;

    async fn init(
        &self,
        myself: &ProcessPid<Self>,
        _args: (),
    ) -> Result<TrackerState, ProcessError> {
        let me = myself.clone();
        self.pubsub
            .subscribe(&self.topic(), move |broadcast: &Arc<Broadcast>| {
                me.info(TrackerInfo::Gossip(broadcast.json().clone()))
                    .is_ok()
            });
        myself.send_interval(self.options.broadcast_period, || TrackerInfo::Tick);
        Ok(TrackerState {
            set: State::new(self.replica.clone()),
            peers: HashMap::new(),
            last_delta_size: 0,
            deltas_merged: 0,
            transfers_requested: 0,
        })
    }

    async fn handle_call(
        &self,
        _myself: &ProcessPid<Self>,
        request: TrackerCall,
        state: &mut TrackerState,
    ) -> Result<CallFlow<()>, ProcessError> {
        match request {
            TrackerCall::Track(pid, topic, key, meta, reply) => {
                let result = state.set.join(pid, &topic, &key, meta);
                if let Ok(entry) = &result {
                    self.report(Diff {
                        joins: vec![entry.clone()],
                        leaves: Vec::new(),
                    });
                }
                reply.send(result)
            }
            TrackerCall::Untrack(pid, topic, key, reply) => {
                let result = state.set.leave(&pid, &topic, &key);
                if let Ok(entry) = &result {
                    self.report(Diff {
                        joins: Vec::new(),
                        leaves: vec![entry.clone()],
                    });
                }
                reply.send(result)
            }
            TrackerCall::Update(pid, topic, key, make_meta, reply) => {
                let result = match state.set.get(&topic, &pid, &key) {
                    Some((current, _)) => {
                        let meta = make_meta(&current.meta);
                        state.set.update(&pid, &topic, &key, meta)
                    }
                    None => Err(TrackError::NotTracked { topic, key }),
                };
                if let Ok((old, new)) = &result {
                    self.report(Diff {
                        joins: vec![new.clone()],
                        leaves: vec![old.clone()],
                    });
                }
                reply.send(result)
            }
            TrackerCall::List(topic, reply) => reply.send(state.set.get_by_topic(&topic)),
            TrackerCall::ListAll(reply) => reply.send(state.set.online_list()),
            TrackerCall::Stats(reply) => {
                let now = Instant::now();
                let mut replicas: Vec<_> = state
                    .peers
                    .iter()
                    .map(|(replica, peer)| {
                        let status = match state.set.replicas().get(replica) {
                            Some(ReplicaStatus::Down) => "down",
                            _ => "up",
                        };
                        (
                            replica.to_string(),
                            status,
                            now.duration_since(peer.last_heard).as_secs_f64(),
                        )
                    })
                    .collect();
                replicas.sort_by(|a, b| a.0.cmp(&b.0));
                reply.send(TrackerStats {
                    replica: self.replica.to_string(),
                    entries: state.set.len(),
                    replicas,
                    last_delta_size: state.last_delta_size,
                    deltas_merged: state.deltas_merged,
                    transfers_requested: state.transfers_requested,
                })
            }
        }
        Ok(CallFlow::Reply(()))
    }

    /// A clean stop tells the other replicas, so that this node's entries
    /// leave their lists now (a crash or a kill leaves them to the down
    /// period).
    async fn terminate(
        &self,
        _myself: &ProcessPid<Self>,
        reason: &runtime::ExitReason,
        _state: &mut TrackerState,
    ) {
        if matches!(
            reason,
            runtime::ExitReason::Normal | runtime::ExitReason::Shutdown
        ) {
            self.send(
                None,
                &Gossip::Leaving {
                    replica: self.replica.clone(),
                },
            );
        }
    }

    async fn handle_info(
        &self,
        _myself: &ProcessPid<Self>,
        message: TrackerInfo,
        state: &mut TrackerState,
    ) -> Result<Flow, ProcessError> {
        match message {
            TrackerInfo::Exited(pid) => {
                let left = state.set.leave_all(&pid);
                self.report(Diff {
                    joins: Vec::new(),
                    leaves: left,
                });
            }
            TrackerInfo::Tick => self.tick(state),
            TrackerInfo::Gossip(payload) => match serde_json::from_value::<Gossip>(payload) {
                Ok(gossip) => self.handle_gossip(state, gossip),
                Err(err) => tracing::warn!(%err, "ignoring a malformed tracker message"),
            },
        }
        Ok(Flow::Continue)
    }
}

/// A node's tracker: cheap to clone.
///
/// It runs `pool_size` shard processes; a topic's entries live in the shard
/// its name hashes to, on every node alike (every node of a tracker must use
/// the same pool size), so tracks in different topics are handled in
/// parallel and each shard's deltas stay small.
#[derive(Clone)]
pub struct Tracker {
    shards: Arc<[ProcessPid<TrackerServer>]>,
    replica: ReplicaId,
    next_pid: Arc<AtomicU64>,
}

/// Why the tracker could not be asked.
pub type TrackerDown = runtime::CallError;

impl Tracker {
    /// Starts a tracker on `pubsub` (whose node name names the replica),
    /// reporting changes to `handler`.
    pub async fn start(
        options: TrackerOptions,
        pubsub: PubSub,
        handler: Arc<dyn DiffHandler>,
    ) -> Result<Tracker, runtime::server::StartError> {
        let vsn = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let replica = ReplicaId {
            node: pubsub.node_name(),
            vsn,
        };
        let pool_size = options.pool_size.max(1);
        let mut shards = Vec::with_capacity(pool_size);
        for shard in 0..pool_size {
            let server = TrackerServer {
                options: options.clone(),
                shard,
                pubsub: pubsub.clone(),
                replica: replica.clone(),
                handler: handler.clone(),
            };
            shards.push(runtime::server::start(server, ()).await?);
        }
        Ok(Tracker {
            shards: shards.into(),
            replica,
            next_pid: Arc::new(AtomicU64::new(1)),
        })
    }

    /// This node's replica.
    pub fn replica(&self) -> &ReplicaId {
        &self.replica
    }

    /// The shard holding `topic`.
    fn shard(&self, topic: &str) -> &ProcessPid<TrackerServer> {
        &self.shards[shard_of(topic, self.shards.len())]
    }

    /// A new tracked-process identity on this node, whose entries are all
    /// untracked when the returned guard is dropped (the process exited).
    pub fn process(&self) -> TrackedProcess {
        TrackedProcess {
            pid: Pid {
                replica: self.replica.clone(),
                id: self.next_pid.fetch_add(1, Ordering::Relaxed),
            },
            tracker: self.clone(),
        }
    }

    /// Tracks `process` under `key` in `topic`.
    pub async fn track(
        &self,
        process: &TrackedProcess,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<Result<Entry, TrackError>, TrackerDown> {
        let (pid, topic_owned, key) = (process.pid.clone(), topic.to_string(), key.to_string());
        self.shard(topic)
            .request(|r| TrackerCall::Track(pid, topic_owned, key, meta, r))
            .await
    }

    /// Untracks one entry.
    pub async fn untrack(
        &self,
        process: &TrackedProcess,
        topic: &str,
        key: &str,
    ) -> Result<Result<Entry, TrackError>, TrackerDown> {
        let (pid, topic_owned, key) = (process.pid.clone(), topic.to_string(), key.to_string());
        self.shard(topic)
            .request(|r| TrackerCall::Untrack(pid, topic_owned, key, r))
            .await
    }

    /// Replaces an entry's metadata.
    pub async fn update(
        &self,
        process: &TrackedProcess,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<Result<(Entry, Entry), TrackError>, TrackerDown> {
        self.update_with(process, topic, key, move |_| meta).await
    }

    /// Replaces an entry's metadata with what `make_meta` makes of the
    /// current one, in one step of the tracker (no listing, no race).
    pub async fn update_with(
        &self,
        process: &TrackedProcess,
        topic: &str,
        key: &str,
        make_meta: impl FnOnce(&Value) -> Value + Send + 'static,
    ) -> Result<Result<(Entry, Entry), TrackError>, TrackerDown> {
        let (pid, topic_owned, key) = (process.pid.clone(), topic.to_string(), key.to_string());
        let make_meta: MetaUpdate = Box::new(make_meta);
        self.shard(topic)
            .request(|r| TrackerCall::Update(pid, topic_owned, key, make_meta, r))
            .await
    }

    /// The entries of `topic`, on every node whose replica is up.
    pub async fn list(&self, topic: &str) -> Result<Vec<Entry>, TrackerDown> {
        let topic_owned = topic.to_string();
        let listed = self
            .shard(topic)
            .request(|r| TrackerCall::List(topic_owned, r))
            .await?;
        Ok(listed.into_iter().map(|(entry, _)| entry).collect())
    }

    /// The entries of `topic` under `key`.
    pub async fn get_by_key(&self, topic: &str, key: &str) -> Result<Vec<Entry>, TrackerDown> {
        Ok(self
            .list(topic)
            .await?
            .into_iter()
            .filter(|e| e.key == key)
            .collect())
    }

    /// Every entry whose replica is up, over every shard.
    pub async fn list_all(&self) -> Result<Vec<Entry>, TrackerDown> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let listed = shard.request(TrackerCall::ListAll).await?;
            all.extend(listed.into_iter().map(|(entry, _)| entry));
        }
        Ok(all)
    }

    /// Operators' figures, summed over the shards (replicas as the first
    /// shard sees them: every shard hears the same nodes).
    pub async fn stats(&self) -> Result<TrackerStats, TrackerDown> {
        let mut total: Option<TrackerStats> = None;
        for shard in self.shards.iter() {
            let stats = shard.request(TrackerCall::Stats).await?;
            total = Some(match total {
                None => stats,
                Some(mut sum) => {
                    sum.entries += stats.entries;
                    sum.last_delta_size += stats.last_delta_size;
                    sum.deltas_merged += stats.deltas_merged;
                    sum.transfers_requested += stats.transfers_requested;
                    sum
                }
            });
        }
        Ok(total.expect("a tracker has at least one shard"))
    }

    /// Stops the tracker cleanly: the other replicas drop this node's
    /// entries at once. Returns once every shard has stopped (5 s at most each).
    pub async fn stop(&self) {
        for shard in self.shards.iter() {
            shard
                .stop_and_wait(runtime::ExitReason::Shutdown, Duration::from_secs(5))
                .await;
        }
    }

    /// Stops the tracker as a crash would: the other replicas keep this
    /// node's entries until the down period passes (for tests of that path).
    pub fn kill(&self) {
        for shard in self.shards.iter() {
            shard.stop(runtime::ExitReason::Killed);
        }
    }
}

/// The shard of `topic` among `shards` (FNV-1a: the same on every node and
/// every build, unlike the standard library's seeded hasher).
fn shard_of(topic: &str, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % shards as u64) as usize
}

/// A process's identity with the tracker; dropping it untracks every entry
/// of the process (a channel keeps it in its state, so the channel's exit,
/// whatever its reason, removes its presences).
pub struct TrackedProcess {
    pid: Pid,
    tracker: Tracker,
}

impl TrackedProcess {
    /// The identity entries are tracked under.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }
}

impl Drop for TrackedProcess {
    fn drop(&mut self) {
        for shard in self.tracker.shards.iter() {
            let _ = shard.info(TrackerInfo::Exited(self.pid.clone()));
        }
    }
}

/// A tracker message from another node (the JSON of its broadcast), decoded
/// and applied to a replica's state the way [`TrackerServer::handle_gossip`]
/// applies each kind.
#[cfg(fuzzing)]
pub(crate) fn fuzz_gossip(json: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let Ok(gossip) = serde_json::from_value::<Gossip>(value) else {
        return;
    };
    let me = ReplicaId {
        node: "fuzz@127.0.0.1".into(),
        vsn: 1,
    };
    let mut set = State::new(me.clone());
    let local = Pid { replica: me, id: 1 };
    let _ = set.join(
        local,
        "room:lobby",
        "user:1",
        serde_json::json!({"online_at": 1}),
    );
    match gossip {
        Gossip::Heartbeat { replica, delta, .. } => {
            set.replica_up(&replica);
            if let Some(delta) = delta {
                if set.can_merge(&delta) {
                    set.merge_delta(&delta);
                }
            }
        }
        Gossip::TransferReq { replica, context } => {
            let _ = set.extract(&replica, &context);
        }
        Gossip::TransferAck { transfer } => {
            set.replica_up(&transfer.replica);
            set.merge_transfer(&transfer);
        }
        Gossip::Leaving { replica } => {
            set.replica_down(&replica);
            set.remove_down_replica(&replica);
        }
    }
    let _ = set.online_list();
}

/// Real tracker messages, as JSON, for the fuzz targets' seed corpus.
#[cfg(fuzzing)]
pub(crate) fn gossip_examples() -> Vec<Vec<u8>> {
    let theirs = ReplicaId {
        node: "b@127.0.0.1".into(),
        vsn: 7,
    };
    let mut set = State::new(theirs.clone());
    for id in 1..=3 {
        let pid = Pid {
            replica: theirs.clone(),
            id,
        };
        let _ = set.join(
            pid,
            "room:lobby",
            &format!("user:{id}"),
            serde_json::json!({"phx_ref": "F1"}),
        );
    }
    let context = set.context().clone();
    let messages = [
        Gossip::Heartbeat {
            replica: theirs.clone(),
            context: context.clone(),
            delta: Some(set.delta().clone()),
        },
        Gossip::TransferReq {
            replica: theirs.clone(),
            context: context.clone(),
        },
        Gossip::TransferAck {
            transfer: set.extract(&theirs, &Context::new()),
        },
        Gossip::Leaving { replica: theirs },
    ];
    messages
        .iter()
        .filter_map(|m| serde_json::to_vec(m).ok())
        .collect()
}
