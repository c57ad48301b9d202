//! Phoenix.Presence: who is in a topic, on every node, for phoenix.js's
//! `Presence` class — built on the [`Tracker`].
//!
//! A channel tracks itself under a key with metadata ([`Presence::track`],
//! usually right after its join, keeping the identity it returns in its
//! state), pushes
//! `"presence_state"` with [`Presence::list`], and from then on its clients
//! get `"presence_diff"` pushes: every node's tracker reports the changes it
//! learns of, and the presence broadcasts them to that node's subscribers of
//! the topic only (each node tells its own clients, as Phoenix does).
//!
//! The wire shapes are Phoenix's, which phoenix.js's `Presence` consumes
//! unchanged:
//!
//! ```text
//! presence_state  {"alice": {"metas": [{"online_at": 1, "phx_ref": "F1x…"}]}}
//! presence_diff   {"joins": {"bob": {"metas": [{…, "phx_ref": "F2y…"}]}},
//!                  "leaves": {"alice": {"metas": [{…, "phx_ref": "F1x…"}]}}}
//! ```
//!
//! Each track gets a fresh `phx_ref`; an update's new meta carries the one it
//! replaces as `phx_ref_prev`.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::channel::ChannelSocket;
use crate::pubsub::PubSub;
use crate::tracker::{
    DiffHandler, Entry, TopicDiff, TrackError, TrackedProcess, Tracker, TrackerOptions,
};

/// The event that carries a topic's presences after a join.
pub const PRESENCE_STATE: &str = "presence_state";
/// The event that carries joins and leaves.
pub const PRESENCE_DIFF: &str = "presence_diff";

/// Why a presence could not be tracked.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    /// Tracked twice, or untracked when not tracked.
    #[error(transparent)]
    Track(#[from] TrackError),
    /// The tracker process did not answer.
    #[error("the presence tracker is not available: {0}")]
    TrackerDown(#[from] runtime::CallError),
}

/// A node's presence tracker (`use Phoenix.Presence`): cheap to clone.
#[derive(Clone)]
pub struct Presence {
    tracker: Tracker,
}

/// Broadcasts the tracker's diffs to this node's subscribers.
struct Broadcaster(PubSub);

impl DiffHandler for Broadcaster {
    fn handle_diff(&self, diff: &BTreeMap<String, TopicDiff>) {
        for (topic, TopicDiff { joins, leaves }) in diff {
            self.0.local_broadcast(
                topic,
                PRESENCE_DIFF,
                json!({ "joins": group(joins), "leaves": group(leaves) }),
            );
        }
    }
}

impl Presence {
    /// Starts the node's presence tracker (`options.name` names it across the
    /// cluster: every node of an app starts one with the same name).
    pub async fn start(
        options: TrackerOptions,
        pubsub: PubSub,
    ) -> Result<Presence, runtime::server::StartError> {
        let handler = Arc::new(Broadcaster(pubsub.clone()));
        let tracker = Tracker::start(options, pubsub, handler).await?;
        Ok(Presence { tracker })
    }

    /// The tracker underneath (for `tracker.*` console commands and stats).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// A new tracked-process identity (for [`Self::track_in`]): keep it in
    /// the channel's state, and its presences leave when the channel ends.
    pub fn process(&self) -> TrackedProcess {
        self.tracker.process()
    }

    /// `Presence.track(socket, key, meta)`: tracks the channel in its topic
    /// under `key`. Returns the channel's identity with the tracker: keep it
    /// in the channel's state — when the channel process ends, whatever the
    /// reason, the state is dropped and the presence leaves (Phoenix's
    /// tracker monitors the channel's pid; this is the same, without a
    /// monitor). More entries for the same channel: [`Self::track_in`] with it.
    pub async fn track<A, I>(
        &self,
        socket: &ChannelSocket<A, I>,
        key: &str,
        meta: Value,
    ) -> Result<TrackedProcess, PresenceError> {
        let process = self.process();
        self.track_in(socket.topic(), &process, key, meta).await?;
        Ok(process)
    }

    /// Tracks `process` in any topic under `key`.
    pub async fn track_in(
        &self,
        topic: &str,
        process: &TrackedProcess,
        key: &str,
        meta: Value,
    ) -> Result<(), PresenceError> {
        let meta = with_ref(meta, None);
        self.tracker.track(process, topic, key, meta).await??;
        Ok(())
    }

    /// Replaces the metadata of a tracked presence (`Presence.update`).
    pub async fn update(
        &self,
        topic: &str,
        process: &TrackedProcess,
        key: &str,
        meta: Value,
    ) -> Result<(), PresenceError> {
        // The new meta names the ref it replaces, read in the same step.
        let make_meta = move |current: &Value| with_ref(meta, current.get("phx_ref").cloned());
        self.tracker
            .update_with(process, topic, key, make_meta)
            .await??;
        Ok(())
    }

    /// Untracks one presence (`Presence.untrack`).
    pub async fn untrack(
        &self,
        topic: &str,
        process: &TrackedProcess,
        key: &str,
    ) -> Result<(), PresenceError> {
        self.tracker.untrack(process, topic, key).await??;
        Ok(())
    }

    /// The topic's presences, grouped by key: `{key: {metas: [...]}}`.
    pub async fn list(&self, topic: &str) -> Result<Value, PresenceError> {
        Ok(group(&self.tracker.list(topic).await?))
    }
}

/// `{key: {metas: [meta, …]}}`, metas in tracking order per key.
fn group(entries: &[Entry]) -> Value {
    let mut by_key: Map<String, Value> = Map::new();
    for entry in entries {
        let slot = by_key
            .entry(entry.key.clone())
            .or_insert_with(|| json!({ "metas": [] }));
        if let Some(metas) = slot["metas"].as_array_mut() {
            metas.push(entry.meta.clone());
        }
    }
    Value::Object(by_key)
}

/// `meta` with a fresh `phx_ref` (and `phx_ref_prev` for an update).
fn with_ref(meta: Value, previous: Option<Value>) -> Value {
    let mut map = match meta {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            map
        }
    };
    let mut bytes = [0u8; 9];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    map.insert(
        "phx_ref".into(),
        Value::String(URL_SAFE_NO_PAD.encode(bytes)),
    );
    if let Some(previous) = previous {
        map.insert("phx_ref_prev".into(), previous);
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::{Pid, ReplicaId};

    fn entry(key: &str, n: u64) -> Entry {
        Entry {
            topic: "lobby".into(),
            pid: Pid {
                replica: ReplicaId {
                    node: "a".into(),
                    vsn: 1,
                },
                id: n,
            },
            key: key.into(),
            meta: json!({ "n": n }),
        }
    }

    #[test]
    fn entries_are_grouped_by_key_as_phoenix_lists_them() {
        let grouped = group(&[entry("alice", 1), entry("bob", 2), entry("alice", 3)]);
        assert_eq!(
            grouped,
            json!({
                "alice": {"metas": [{"n": 1}, {"n": 3}]},
                "bob": {"metas": [{"n": 2}]},
            })
        );
    }

    #[test]
    fn every_track_gets_a_fresh_ref_and_an_update_names_the_previous_one() {
        let first = with_ref(json!({"status": "away"}), None);
        let ref1 = first["phx_ref"].as_str().unwrap().to_string();
        assert_eq!(first["status"], "away");
        let again = with_ref(json!({}), None);
        assert_ne!(again["phx_ref"], first["phx_ref"]);
        let updated = with_ref(json!({"status": "here"}), Some(Value::String(ref1.clone())));
        assert_eq!(updated["phx_ref_prev"], ref1);
        assert_ne!(updated["phx_ref"], ref1);
    }
}
