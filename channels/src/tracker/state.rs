//! The tracker's replicated set, split from the process that owns it (as
//! phoenix_pubsub splits `Tracker.State` from the replica and shard
//! processes): an add-wins observed-remove set (ORSWOT) of presences.
//!
//! Every replica only adds and removes its **own** entries. Each change gets
//! a dot — `(replica, clock)`, the replica's next event number — and the set
//! keeps, besides its entries, a causal context of the dots it has seen
//! ([`Context`], plus "clouds" of dots seen out of order). Merging a remote
//! set (a full [`Transfer`] or a [`Delta`]) then needs no tombstones: an
//! entry the remote *has seen* (its dot is in the remote's context) but no
//! longer holds was removed there; an entry the remote holds that this set
//! *has not seen* is new. Everything else stays. So merges commute, are
//! associative and idempotent, and a concurrent re-track beats a remove
//! (add wins): a new track is a new dot nobody has seen removed.
//!
//! Between broadcasts a replica accumulates its own changes in a [`Delta`]
//! (added entries, and the dots of every event, removals included); the
//! replica process sends it, and falls back to a [`Transfer`] of the whole
//! set when a peer missed a delta ([`State::can_merge`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clock::{self, Context, ReplicaId};

/// One event of one replica.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    /// The replica that made it.
    pub replica: ReplicaId,
    /// Its number among that replica's events (from 1).
    pub clock: u64,
}

/// A tracked process: unique across the cluster (its replica, and a number
/// local to it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pid {
    /// The replica of the node the process runs on.
    pub replica: ReplicaId,
    /// Its number on that node.
    pub id: u64,
}

/// One presence: a process tracked under a key in a topic, with metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The topic (`"lobby"`, `"admin:cart_tracker"`).
    pub topic: String,
    /// The tracked process.
    pub pid: Pid,
    /// The key (a user id, a cart id).
    pub key: String,
    /// What is known about it.
    pub meta: Value,
}

/// Dots seen beyond a context's contiguous clocks, per replica.
pub type Clouds = BTreeMap<ReplicaId, BTreeSet<u64>>;

/// Whether a replica is counted in listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaStatus {
    /// Heard from within the down period.
    Up,
    /// Silent for the down period: its entries are hidden (not yet removed).
    Down,
}

/// A replica's changes since its last broadcast. (Maps travel as lists of
/// pairs: their keys are not strings, which JSON objects need.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Whose changes.
    pub replica: ReplicaId,
    /// Entries added, by dot.
    #[serde(with = "pairs")]
    pub values: BTreeMap<Dot, Entry>,
    /// The dots of every event in the range: additions and removals.
    #[serde(with = "pairs")]
    pub clouds: Clouds,
    /// The replica's context when the delta started…
    #[serde(with = "pairs")]
    pub start: Context,
    /// …and where it ends.
    #[serde(with = "pairs")]
    pub end: Context,
}

/// A whole set, as sent to a replica that missed a delta or just appeared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// Whose set.
    pub replica: ReplicaId,
    /// Its context…
    #[serde(with = "pairs")]
    pub context: Context,
    /// …and clouds.
    #[serde(with = "pairs")]
    pub clouds: Clouds,
    /// Its entries, by dot.
    #[serde(with = "pairs")]
    pub values: BTreeMap<Dot, Entry>,
}

/// A map with non-string keys as a list of `[key, value]` pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Vec::<(K, V)>::deserialize(deserializer).map(|pairs| pairs.into_iter().collect())
    }
}

/// What a merge or a status change did to the visible set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Entries that appeared.
    pub joins: Vec<Entry>,
    /// Entries that went away.
    pub leaves: Vec<Entry>,
}

/// Why a track was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    /// The process is already tracked under this key in this topic.
    #[error("already tracked: {topic} {key}")]
    AlreadyTracked {
        /// The topic.
        topic: String,
        /// The key.
        key: String,
    },
    /// The process was not tracked under this key in this topic.
    #[error("not tracked: {topic} {key}")]
    NotTracked {
        /// The topic.
        topic: String,
        /// The key.
        key: String,
    },
}

/// Entries are found by `(topic, pid, key)`; topics sort first, so a topic's
/// entries are one range.
type EntryKey = (String, Pid, String);

/// One replica's set.
#[derive(Debug, Clone)]
pub struct State {
    replica: ReplicaId,
    context: Context,
    clouds: Clouds,
    /// Every entry, with the dot that added it.
    entries: BTreeMap<EntryKey, (Value, Dot)>,
    /// Dot → entry key, for merges (which speak in dots).
    dots: HashMap<Dot, EntryKey>,
    /// Pid → its `(topic, key)`s, for a process that exits.
    pids: HashMap<Pid, BTreeSet<(String, String)>>,
    replicas: BTreeMap<ReplicaId, ReplicaStatus>,
    delta: Delta,
}

impl State {
    /// An empty set for `replica`.
    pub fn new(replica: ReplicaId) -> Self {
        let context: Context = [(replica.clone(), 0)].into();
        let mut state = State {
            delta: empty_delta(&replica, 0),
            replica: replica.clone(),
            context,
            clouds: Clouds::new(),
            entries: BTreeMap::new(),
            dots: HashMap::new(),
            pids: HashMap::new(),
            replicas: [(replica, ReplicaStatus::Up)].into(),
        };
        state.reset_delta();
        state
    }

    /// This set's replica.
    pub fn replica(&self) -> &ReplicaId {
        &self.replica
    }

    /// This set's causal context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The replicas this set knows, and whether each is up.
    pub fn replicas(&self) -> &BTreeMap<ReplicaId, ReplicaStatus> {
        &self.replicas
    }

    /// Entries held, of replicas up or down.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry of this replica's own process (`track`).
    pub fn join(
        &mut self,
        pid: Pid,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<Entry, TrackError> {
        let entry_key = (topic.to_string(), pid.clone(), key.to_string());
        if self.entries.contains_key(&entry_key) {
            return Err(TrackError::AlreadyTracked {
                topic: topic.into(),
                key: key.into(),
            });
        }
        let dot = self.bump_clock();
        let entry = Entry {
            topic: topic.into(),
            pid,
            key: key.into(),
            meta,
        };
        self.insert(dot.clone(), entry.clone());
        self.delta.values.insert(dot, entry.clone());
        Ok(entry)
    }

    /// Removes an entry of this replica's own process (`untrack`).
    pub fn leave(&mut self, pid: &Pid, topic: &str, key: &str) -> Result<Entry, TrackError> {
        let entry_key = (topic.to_string(), pid.clone(), key.to_string());
        let Some((_, dot)) = self.entries.get(&entry_key) else {
            return Err(TrackError::NotTracked {
                topic: topic.into(),
                key: key.into(),
            });
        };
        let dot = dot.clone();
        let entry = self.remove(&dot).expect("an indexed entry has a dot");
        self.delta.values.remove(&dot);
        put_dot(&mut self.delta.clouds, &dot);
        self.bump_clock();
        Ok(entry)
    }

    /// Removes every entry of a process (it exited).
    pub fn leave_all(&mut self, pid: &Pid) -> Vec<Entry> {
        let keys: Vec<(String, String)> = self
            .pids
            .get(pid)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default();
        keys.iter()
            .filter_map(|(topic, key)| self.leave(pid, topic, key).ok())
            .collect()
    }

    /// Replaces an entry's metadata (`update`): a removal and a new
    /// addition, so peers see the new entry win. Returns (old, new).
    pub fn update(
        &mut self,
        pid: &Pid,
        topic: &str,
        key: &str,
        meta: Value,
    ) -> Result<(Entry, Entry), TrackError> {
        let old = self.leave(pid, topic, key)?;
        let new = self.join(pid.clone(), topic, key, meta)?;
        Ok((old, new))
    }

    /// The entry of `pid` under `key` in `topic`, with its dot.
    pub fn get(&self, topic: &str, pid: &Pid, key: &str) -> Option<(Entry, &Dot)> {
        let entry_key = (topic.to_string(), pid.clone(), key.to_string());
        self.entries.get(&entry_key).map(|(meta, dot)| {
            (
                Entry {
                    topic: topic.into(),
                    pid: pid.clone(),
                    key: key.into(),
                    meta: meta.clone(),
                },
                dot,
            )
        })
    }

    /// The entries of `topic` whose replica is up, with their dots.
    pub fn get_by_topic(&self, topic: &str) -> Vec<(Entry, Dot)> {
        let from = (topic.to_string(), min_pid(), String::new());
        self.listed(
            self.entries
                .range(from..)
                .take_while(|((t, _, _), _)| t == topic),
        )
    }

    /// Every entry whose replica is up, with its dot, by topic.
    pub fn online_list(&self) -> Vec<(Entry, Dot)> {
        self.listed(self.entries.iter())
    }

    /// The entries among `stored` whose replica is up, as listings give them.
    fn listed<'a>(
        &self,
        stored: impl Iterator<Item = (&'a EntryKey, &'a (Value, Dot))>,
    ) -> Vec<(Entry, Dot)> {
        stored
            .filter(|(_, (_, dot))| self.is_up(&dot.replica))
            .map(|((topic, pid, key), (meta, dot))| {
                let entry = Entry {
                    topic: topic.clone(),
                    pid: pid.clone(),
                    key: key.clone(),
                    meta: meta.clone(),
                };
                (entry, dot.clone())
            })
            .collect()
    }

    fn is_up(&self, replica: &ReplicaId) -> bool {
        self.replicas.get(replica) != Some(&ReplicaStatus::Down)
    }

    // ---- deltas and transfers ----

    /// The changes since the last [`Self::reset_delta`].
    pub fn delta(&self) -> &Delta {
        &self.delta
    }

    /// Whether anything happened since the last reset.
    pub fn has_delta(&self) -> bool {
        self.delta.clouds.values().any(|cloud| !cloud.is_empty())
    }

    /// Starts a new delta (after broadcasting the current one).
    pub fn reset_delta(&mut self) {
        let clock = self.context.get(&self.replica).copied().unwrap_or(0);
        self.delta = empty_delta(&self.replica, clock);
    }

    /// The whole set for `remote` (whose context is `remote_context`): what
    /// it can take — not its own entries (it knows them better), nor those of
    /// replicas it does not know (it would drop them).
    pub fn extract(&self, remote: &ReplicaId, remote_context: &Context) -> Transfer {
        let values = self
            .dots
            .iter()
            .filter(|(dot, _)| &dot.replica != remote && remote_context.contains_key(&dot.replica))
            .map(|(dot, key)| (dot.clone(), self.entry(key)))
            .collect();
        Transfer {
            replica: self.replica.clone(),
            context: self.context.clone(),
            clouds: self
                .clouds
                .iter()
                .filter(|(replica, _)| remote_context.contains_key(*replica))
                .map(|(r, c)| (r.clone(), c.clone()))
                .collect(),
            values,
        }
    }

    /// Whether `delta` follows on from what this set knows of its sender (no
    /// delta of it was missed); if not, ask the sender for a transfer.
    pub fn can_merge(&self, delta: &Delta) -> bool {
        let known = self.context.get(&delta.replica).copied();
        let start = delta.start.get(&delta.replica).copied().unwrap_or(0);
        known.is_some_and(|known| known >= start)
    }

    /// Merges a whole remote set.
    pub fn merge_transfer(&mut self, transfer: &Transfer) -> Diff {
        self.merge(&transfer.context, &transfer.clouds, &transfer.values)
    }

    /// Merges a remote delta (check [`Self::can_merge`] first: a delta of a
    /// replica this set does not know, or after a gap, must not be merged).
    pub fn merge_delta(&mut self, delta: &Delta) -> Diff {
        self.merge(&Context::new(), &delta.clouds, &delta.values)
    }

    /// What a remote view (its context, clouds and entries) tells this set.
    /// Only replicas this set knows are taken, and never anything about this
    /// replica's own entries: it is their one authority.
    fn merge(
        &mut self,
        remote_context: &Context,
        remote_clouds: &Clouds,
        remote_values: &BTreeMap<Dot, Entry>,
    ) -> Diff {
        // New: held remotely, from a replica this set knows, not seen here.
        let joins: Vec<(Dot, Entry)> = remote_values
            .iter()
            .filter(|(dot, _)| self.context.contains_key(&dot.replica) && !self.has_seen(dot))
            .map(|(dot, entry)| (dot.clone(), entry.clone()))
            .collect();
        // Removed: another replica's entry, seen remotely, no longer held there.
        let removed: Vec<Dot> = self
            .dots
            .keys()
            .filter(|dot| {
                dot.replica != self.replica
                    && seen(remote_context, remote_clouds, dot)
                    && !remote_values.contains_key(*dot)
            })
            .cloned()
            .collect();
        let mut diff = Diff::default();
        for dot in removed {
            if let Some(entry) = self.remove(&dot) {
                self.delta.values.remove(&dot);
                put_dot(&mut self.delta.clouds, &dot);
                diff.leaves.push(entry);
            }
        }
        for (replica, cloud) in remote_clouds {
            if self.context.contains_key(replica) && replica != &self.replica {
                self.clouds
                    .entry(replica.clone())
                    .or_default()
                    .extend(cloud);
            }
        }
        for (dot, entry) in joins {
            // A newer dot for the same (topic, pid, key) replaces the older one.
            let entry_key = (entry.topic.clone(), entry.pid.clone(), entry.key.clone());
            if let Some((_, old)) = self.entries.get(&entry_key) {
                let old = old.clone();
                if old.clock > dot.clock && old.replica == dot.replica {
                    continue;
                }
                if let Some(left) = self.remove(&old) {
                    diff.leaves.push(left);
                }
            }
            self.insert(dot, entry.clone());
            diff.joins.push(entry);
        }
        let known: Context = remote_context
            .iter()
            .filter(|(replica, _)| self.context.contains_key(*replica) && *replica != &self.replica)
            .map(|(r, c)| (r.clone(), *c))
            .collect();
        self.context = clock::upperbound(&self.context, &known);
        self.compact();
        diff
    }

    // ---- replicas ----

    /// A replica was heard from (again): its entries count from now on;
    /// returns those that reappear.
    pub fn replica_up(&mut self, replica: &ReplicaId) -> Diff {
        self.context.entry(replica.clone()).or_insert(0);
        let was = self.replicas.insert(replica.clone(), ReplicaStatus::Up);
        Diff {
            joins: if was == Some(ReplicaStatus::Down) {
                self.entries_of(replica)
            } else {
                Vec::new()
            },
            leaves: Vec::new(),
        }
    }

    /// A replica went silent for the down period: its entries are hidden;
    /// returns them.
    pub fn replica_down(&mut self, replica: &ReplicaId) -> Diff {
        let was = self.replicas.insert(replica.clone(), ReplicaStatus::Down);
        Diff {
            joins: Vec::new(),
            leaves: if was == Some(ReplicaStatus::Down) {
                Vec::new()
            } else {
                self.entries_of(replica)
            },
        }
    }

    /// A replica is gone for good (the permdown period passed): forget it
    /// and its entries.
    pub fn remove_down_replica(&mut self, replica: &ReplicaId) {
        let dots: Vec<Dot> = self
            .dots
            .keys()
            .filter(|d| &d.replica == replica)
            .cloned()
            .collect();
        for dot in dots {
            self.remove(&dot);
        }
        self.context.remove(replica);
        self.clouds.remove(replica);
        self.replicas.remove(replica);
        self.delta.values.retain(|dot, _| &dot.replica != replica);
        self.delta.clouds.remove(replica);
        self.delta.start.remove(replica);
        self.delta.end.remove(replica);
    }

    fn entries_of(&self, replica: &ReplicaId) -> Vec<Entry> {
        self.dots
            .iter()
            .filter(|(dot, _)| &dot.replica == replica)
            .map(|(_, key)| self.entry(key))
            .collect()
    }

    // ---- internals ----

    fn entry(&self, key: &EntryKey) -> Entry {
        let (meta, _) = &self.entries[key];
        Entry {
            topic: key.0.clone(),
            pid: key.1.clone(),
            key: key.2.clone(),
            meta: meta.clone(),
        }
    }

    fn insert(&mut self, dot: Dot, entry: Entry) {
        let Entry {
            topic,
            pid,
            key,
            meta,
        } = entry;
        self.pids
            .entry(pid.clone())
            .or_default()
            .insert((topic.clone(), key.clone()));
        let entry_key = (topic, pid, key);
        self.dots.insert(dot.clone(), entry_key.clone());
        self.entries.insert(entry_key, (meta, dot));
    }

    fn remove(&mut self, dot: &Dot) -> Option<Entry> {
        let entry_key = self.dots.remove(dot)?;
        let entry = self.entry(&entry_key);
        self.entries.remove(&entry_key);
        if let Some(keys) = self.pids.get_mut(&entry_key.1) {
            keys.remove(&(entry_key.0.clone(), entry_key.2.clone()));
            if keys.is_empty() {
                self.pids.remove(&entry_key.1);
            }
        }
        if let Some(cloud) = self.clouds.get_mut(&dot.replica) {
            cloud.remove(&dot.clock);
        }
        Some(entry)
    }

    fn has_seen(&self, dot: &Dot) -> bool {
        seen(&self.context, &self.clouds, dot)
    }

    /// This replica's next event: its dot, counted in the context and the delta.
    fn bump_clock(&mut self) -> Dot {
        let clock = self.context.entry(self.replica.clone()).or_insert(0);
        *clock += 1;
        let dot = Dot {
            replica: self.replica.clone(),
            clock: *clock,
        };
        put_dot(&mut self.delta.clouds, &dot);
        self.delta.end.insert(self.replica.clone(), dot.clock);
        dot
    }

    /// Moves cloud dots that extend a replica's contiguous clock into the
    /// context, and drops those the context already covers.
    fn compact(&mut self) {
        for (replica, cloud) in self.clouds.iter_mut() {
            let mut clock = self.context.get(replica).copied();
            let mut kept = BTreeSet::new();
            for &c in cloud.iter() {
                match clock {
                    Some(known) if c <= known => {}
                    Some(known) if c == known + 1 => clock = Some(c),
                    None if c == 1 => clock = Some(1),
                    _ => {
                        kept.insert(c);
                    }
                }
            }
            *cloud = kept;
            if let Some(clock) = clock {
                self.context.insert(replica.clone(), clock);
            }
        }
        self.clouds.retain(|_, cloud| !cloud.is_empty());
        let own = self.context.get(&self.replica).copied().unwrap_or(0);
        self.delta.end.insert(self.replica.clone(), own);
    }
}

/// Whether a context and its clouds have seen `dot`.
fn seen(context: &Context, clouds: &Clouds, dot: &Dot) -> bool {
    context
        .get(&dot.replica)
        .is_some_and(|&clock| clock >= dot.clock)
        || clouds
            .get(&dot.replica)
            .is_some_and(|cloud| cloud.contains(&dot.clock))
}

fn put_dot(clouds: &mut Clouds, dot: &Dot) {
    clouds
        .entry(dot.replica.clone())
        .or_default()
        .insert(dot.clock);
}

fn empty_delta(replica: &ReplicaId, clock: u64) -> Delta {
    let at: Context = [(replica.clone(), clock)].into();
    Delta {
        replica: replica.clone(),
        values: BTreeMap::new(),
        clouds: Clouds::new(),
        start: at.clone(),
        end: at,
    }
}

fn min_pid() -> Pid {
    Pid {
        replica: ReplicaId {
            node: String::new(),
            vsn: 0,
        },
        id: 0,
    }
}
