//! The node monitor: heartbeats between nodes, and the service directory's
//! replication. The one remote-capable actor a node has (besides the cluster
//! PubSub, later).
//!
//! ractor_cluster notices a peer that *closed* its connection at once, but not
//! a peer that hangs: a SIGSTOPped node kept its TCP connection, stayed
//! "connected" and in every process group for as long as it was stopped
//! (measured: 15 s and more). ractor_cluster's own session pings only log
//! latency. So, like Erlang's `net_ticktime`, every node's monitor sends a
//! small `Tick` to every peer's monitor each [`HeartbeatConfig::interval`], and
//! a peer from which nothing has arrived for [`HeartbeatConfig::timeout`] is
//! declared down: its sessions are closed, which makes ractor_cluster drop its
//! proxies and its process-group memberships here, and nodedown is published
//! with [`DownReason::HeartbeatTimeout`]. A hung peer is thus dropped between
//! `timeout` and `timeout + interval` after it last spoke.
//!
//! Monitors find each other through a pg group ([`MONITOR_SCOPE`] /
//! [`MONITOR_GROUP`]): ractor_cluster gives each node one proxy for each
//! peer's monitor, and the proxy's `ActorId::Remote { node_id, .. }` names the
//! session, hence the peer. Every wire message also carries sender and
//! addressee names, so a misrouted message is ignored rather than believed.
//!
//! Memory: remote-capable actors cost a proxy (an actor, ~11 KB) on every peer
//! each, so per-connection or per-channel work never is one. The monitor is
//! one per node — with N nodes, N-1 proxies per node in total.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::pg::GroupChangeMessage;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde::{Deserialize, Serialize};

use super::events::DownReason;
use super::name::NodeName;
use super::peers::Shared;
use super::services::SERVICES_SCOPE;
use super::wire;

/// The pg scope the node monitors join.
pub const MONITOR_SCOPE: &str = "runtime.node";
/// The pg group the node monitors join.
pub const MONITOR_GROUP: &str = "monitor";

/// How often nodes tick and how long silence is tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// How often a tick is sent to every peer.
    pub interval: Duration,
    /// A peer silent for longer than this is declared down.
    pub timeout: Duration,
}

impl Default for HeartbeatConfig {
    /// 2 s / 12 s: a hung peer is dropped 12 to 14 s after it last spoke.
    fn default() -> Self {
        HeartbeatConfig {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(12),
        }
    }
}

impl HeartbeatConfig {
    /// Checks that the interval is positive and shorter than the timeout.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err("the heartbeat interval must be positive".into());
        }
        if self.timeout <= self.interval {
            return Err(format!(
                "the heartbeat timeout ({:?}) must be longer than the interval ({:?})",
                self.timeout, self.interval
            ));
        }
        Ok(())
    }
}

/// What monitors say to each other (bincode-encoded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Wire {
    /// "I am alive"; carries the sender's service table version.
    Tick {
        from: String,
        to: String,
        services: u64,
    },
    /// The sender's local service names, at `version`.
    Services {
        from: String,
        to: String,
        version: u64,
        names: Vec<String>,
    },
    /// "Send me your services."
    SyncServices { from: String, to: String },
}

impl Wire {
    fn route(&self) -> (&str, &str) {
        match self {
            Wire::Tick { from, to, .. }
            | Wire::Services { from, to, .. }
            | Wire::SyncServices { from, to } => (from, to),
        }
    }
}

/// The monitor's messages. Only [`MonitorMsg::Wire`] can cross nodes; the
/// others refuse to serialize.
pub(crate) enum MonitorMsg {
    /// From a peer's monitor.
    Wire(Wire),
    /// Heartbeat timer.
    Tick,
    /// A peer came up.
    PeerUp(NodeName),
    /// A peer went down.
    PeerDown(NodeName),
    /// The local service table changed.
    ServicesChanged,
}

impl ractor::Message for MonitorMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        match self {
            MonitorMsg::Wire(w) => wire::to_cast(&w),
            _ => Err(BoxedDowncastErr),
        }
    }

    fn deserialize(bytes: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        wire::from_cast(bytes).map(MonitorMsg::Wire)
    }
}

pub(crate) struct NodeMonitor;

pub(crate) struct MonitorState {
    shared: Arc<Shared>,
    heartbeat: HeartbeatConfig,
    last_seen: HashMap<NodeName, Instant>,
    ticker: Option<JoinHandle<()>>,
}

impl MonitorState {
    /// The monitor proxies of the peer `node`.
    fn proxies_of(&self, node: &NodeName) -> Vec<ActorCell> {
        let Some(node_id) = self.shared.peer_node_id(node) else {
            return Vec::new();
        };
        ractor::pg::get_scoped_members(&MONITOR_SCOPE.to_string(), &MONITOR_GROUP.to_string())
            .into_iter()
            .filter(|c| !c.get_id().is_local() && c.get_id().node() == node_id)
            .collect()
    }

    fn send(&self, node: &NodeName, msg: Wire) {
        for proxy in self.proxies_of(node) {
            if let Err(e) = proxy.send_message(MonitorMsg::Wire(msg.clone())) {
                tracing::debug!(me = %self.shared.me, %node, "heartbeat send failed: {e}");
            }
        }
    }

    fn services_for(&self, node: &NodeName) -> Wire {
        let (version, names) = self
            .shared
            .with_state(|st| (st.services.version(), st.services.local_names()));
        Wire::Services {
            from: self.shared.me.to_string(),
            to: node.to_string(),
            version,
            names,
        }
    }

    fn push_services(&self) {
        for (node, _, _) in self.shared.peer_targets() {
            self.send(&node, self.services_for(&node));
        }
    }

    fn tick(&mut self) {
        if self.shared.with_state(|st| st.services.prune_dead()) {
            self.push_services();
        }
        let now = Instant::now();
        let peers = self.shared.peer_targets();
        self.last_seen
            .retain(|n, _| peers.iter().any(|(p, _, _)| p == n));
        let version = self.shared.with_state(|st| st.services.version());
        for (node, _, since) in peers {
            let last = *self.last_seen.entry(node.clone()).or_insert(since);
            let silent = now.saturating_duration_since(last);
            if silent > self.heartbeat.timeout {
                tracing::warn!(
                    me = %self.shared.me,
                    %node,
                    "no heartbeat for {:.1}s (timeout {:?}): declaring the node down",
                    silent.as_secs_f64(),
                    self.heartbeat.timeout
                );
                self.last_seen.remove(&node);
                self.shared
                    .declare_down(&node, DownReason::HeartbeatTimeout);
                continue;
            }
            self.send(
                &node,
                Wire::Tick {
                    from: self.shared.me.to_string(),
                    to: node.to_string(),
                    services: version,
                },
            );
        }
    }

    fn on_wire(&mut self, msg: Wire) {
        let (from, to) = msg.route();
        if to != self.shared.me.as_str() {
            tracing::debug!(me = %self.shared.me, "ignoring a monitor message for {to}");
            return;
        }
        let Some(node) = self.shared.peer_named(from) else {
            // Not (or no longer) a connected peer.
            return;
        };
        self.last_seen.insert(node.clone(), Instant::now());
        match msg {
            Wire::Tick { services, .. } => {
                let known = self
                    .shared
                    .with_state(|st| st.services.remote_version(&node));
                if services != known {
                    self.send(
                        &node,
                        Wire::SyncServices {
                            from: self.shared.me.to_string(),
                            to: node.to_string(),
                        },
                    );
                }
            }
            Wire::Services { version, names, .. } => {
                let node2 = node.clone();
                self.shared
                    .with_state(|st| st.services.set_remote(node2, version, names));
            }
            Wire::SyncServices { .. } => self.send(&node, self.services_for(&node)),
        }
    }
}

impl Actor for NodeMonitor {
    type Msg = MonitorMsg;
    type State = MonitorState;
    type Arguments = (Arc<Shared>, HeartbeatConfig);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (shared, heartbeat): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join_scoped(
            MONITOR_SCOPE.to_string(),
            MONITOR_GROUP.to_string(),
            vec![myself.get_cell()],
        );
        ractor::pg::monitor_scope(SERVICES_SCOPE.to_string(), myself.get_cell());
        let ticker = myself.send_interval(heartbeat.interval, || MonitorMsg::Tick);
        Ok(MonitorState {
            shared,
            heartbeat,
            last_seen: HashMap::new(),
            ticker: Some(ticker),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        ractor::pg::demonitor_scope(SERVICES_SCOPE.to_string(), myself.get_id());
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            MonitorMsg::Tick => state.tick(),
            MonitorMsg::Wire(w) => state.on_wire(w),
            MonitorMsg::PeerUp(node) => {
                state.last_seen.insert(node.clone(), Instant::now());
                state.send(&node, state.services_for(&node));
            }
            MonitorMsg::PeerDown(node) => {
                state.last_seen.remove(&node);
            }
            MonitorMsg::ServicesChanged => state.push_services(),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A registered service stopped: it left its pg group.
        if let SupervisionEvent::ProcessGroupChanged(GroupChangeMessage::Leave(
            scope,
            group,
            actors,
        )) = event
        {
            if scope == SERVICES_SCOPE {
                let changed = state.shared.with_state(|st| {
                    let mut changed = false;
                    for a in actors.iter().filter(|a| a.get_id().is_local()) {
                        changed |= st.services.remove_local(&group, Some(a.get_id()));
                    }
                    changed
                });
                if changed {
                    state.push_services();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::Message;

    #[test]
    fn only_wire_messages_serialize() {
        let w = Wire::Tick {
            from: "a@h".into(),
            to: "b@h".into(),
            services: 3,
        };
        let bytes = MonitorMsg::Wire(w.clone()).serialize().unwrap();
        match MonitorMsg::deserialize(bytes).unwrap() {
            MonitorMsg::Wire(back) => assert_eq!(back, w),
            _ => panic!("wrong variant"),
        }
        assert!(MonitorMsg::Tick.serialize().is_err());
        assert!(MonitorMsg::ServicesChanged.serialize().is_err());
    }

    #[test]
    fn a_tick_is_a_few_bytes() {
        let w = Wire::Tick {
            from: "app@127.0.0.1".into(),
            to: "back@127.0.0.1".into(),
            services: 1,
        };
        let n = wire::encode(&w).unwrap().len();
        assert!(n < 40, "{n} bytes");
    }

    #[test]
    fn heartbeat_config_is_checked() {
        assert!(HeartbeatConfig::default().validate().is_ok());
        let bad = HeartbeatConfig {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        };
        assert!(bad.validate().is_err());
        let zero = HeartbeatConfig {
            interval: Duration::ZERO,
            timeout: Duration::from_secs(5),
        };
        assert!(zero.validate().is_err());
    }
}
