//! The peer table: which nodes are up, fed by ractor_cluster's session events.
//!
//! ractor_cluster's `NodeServer` reports each connection ("node session") as it
//! opens, authenticates, becomes ready and disconnects, through a
//! [`NodeEventSubscription`] whose callbacks run inside the `NodeServer` actor.
//! [`SessionEvents`] turns those into this node's view of the cluster:
//!
//! - a peer is **up** once a session to it is ready (authenticated *and* its
//!   process groups exchanged, so a service it registered is visible at
//!   nodeup); it is **down** when that session disconnects, when the heartbeat
//!   ([`super::monitor`]) gives up on it, or when it is disconnected here;
//! - ractor_cluster may hold two sessions to one peer for a moment (both nodes
//!   connected at once; it elects one). The table follows the elected session,
//!   so a replaced session does not flap the peer down and up. Seen from the
//!   other node, the session it had may close a moment *before* the elected one
//!   finishes its handshake; so when a peer's session closes while another
//!   handshake is in flight, the peer is held for up to [`HANDOVER_GRACE`]
//!   instead of being reported down (a spurious nodedown could trigger a
//!   failover). A killed peer with no handshake in flight is down at once;
//! - sessions that were already handshaking when a peer was declared down
//!   (disconnected, or dropped by the heartbeat) are closed if they complete:
//!   a disconnect is not undone by a connection attempt older than it;
//! - a session that ends before authenticating, after the names were exchanged,
//!   while no other session to that peer is alive, failed the cookie challenge:
//!   ractor_cluster closes it without saying why, so this is where a wrong
//!   cookie is recognised and reported (on both sides).
//!
//! The callbacks only lock a mutex, update maps and send on channels: they must
//! never block the `NodeServer`. Reads (`list`, `whereis_service`) take the same
//! lock briefly and message no actor.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::{ActorId, ActorRef};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeSessionMessage};
use tokio::sync::broadcast;

use super::events::{DownReason, NodeEvent, EVENT_BUFFER};
use super::monitor::MonitorMsg;
use super::name::NodeName;
use super::services::ServiceTable;

/// How long a peer whose session closed is held while another handshake is in
/// flight (see the module docs). Below the 2 s in which a killed peer must be
/// reported down.
pub(crate) const HANDOVER_GRACE: Duration = Duration::from_millis(1000);

/// How a handshake that never completed ended (for `connect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The cookie challenge failed.
    BadCookie,
    /// The address was this node's own.
    SelfConnection,
    /// The connection closed before the peer was known.
    Closed,
}

/// A handshake that ended without the session becoming authenticated.
#[derive(Debug, Clone)]
pub(crate) struct HandshakeFailure {
    pub(crate) addr: String,
    pub(crate) incoming: bool,
    pub(crate) kind: FailureKind,
}

struct SessionRec {
    actor: ActorRef<NodeSessionMessage>,
    /// Order of opening, to tell sessions older than a nodedown.
    seq: u64,
    addr: String,
    incoming: bool,
    peer: Option<NodeName>,
    authenticated: bool,
    /// Closed on purpose by this node: its end says nothing about the cookie.
    closing: bool,
}

/// A connected peer.
pub(crate) struct Peer {
    /// Its session; `None` while held for a session hand-over.
    session: Option<ActorId>,
    /// When a held peer is given up.
    hold_until: Option<Instant>,
    /// ractor_cluster's id for the session: remote actors proxied through it
    /// have `ActorId::Remote { node_id, .. }`.
    pub(crate) node_id: u64,
    pub(crate) since: Instant,
}

pub(crate) struct State {
    sessions: HashMap<ActorId, SessionRec>,
    next_seq: u64,
    peers: BTreeMap<NodeName, Peer>,
    /// For each node declared down: sessions opened before (`seq` below this)
    /// are not allowed to bring it back up.
    down_marks: HashMap<NodeName, u64>,
    pub(crate) services: ServiceTable,
    stopping: bool,
}

impl State {
    /// Whether some handshake is in flight (its peer is not known yet).
    fn handshake_in_flight(&self) -> bool {
        self.sessions
            .values()
            .any(|r| !r.authenticated && !r.closing)
    }

    /// Held peers that no in-flight handshake can rescue any more.
    fn give_up_held(&mut self) -> Vec<NodeName> {
        if self.handshake_in_flight() {
            return Vec::new();
        }
        let held: Vec<NodeName> = self
            .peers
            .iter()
            .filter(|(_, p)| p.session.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        for node in &held {
            self.peers.remove(node);
            self.services.forget(node);
        }
        held
    }

    /// Records a session that opened, numbered in the order of opening (its
    /// `seq`, compared with the nodedown marks), and returns that number.
    fn record_opened(&mut self, ses: &NodeServerSessionInformation, closing: bool) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sessions.insert(
            ses.actor.get_id(),
            SessionRec {
                actor: ses.actor.clone(),
                seq,
                addr: ses.peer_addr.clone(),
                incoming: ses.is_server,
                peer: None,
                authenticated: false,
                closing,
            },
        );
        seq
    }
}

/// What the `Node` handle, the session subscription and the monitor share.
pub(crate) struct Shared {
    pub(crate) me: NodeName,
    state: Mutex<State>,
    events: broadcast::Sender<NodeEvent>,
    handshakes: broadcast::Sender<HandshakeFailure>,
    monitor: OnceLock<ActorRef<MonitorMsg>>,
    myself: Weak<Shared>,
}

impl Shared {
    pub(crate) fn new(me: NodeName) -> Arc<Self> {
        Arc::new_cyclic(|myself| Shared {
            me,
            myself: myself.clone(),
            state: Mutex::new(State {
                sessions: HashMap::new(),
                next_seq: 0,
                peers: BTreeMap::new(),
                down_marks: HashMap::new(),
                services: ServiceTable::default(),
                stopping: false,
            }),
            events: broadcast::channel(EVENT_BUFFER).0,
            handshakes: broadcast::channel(64).0,
            monitor: OnceLock::new(),
        })
    }

    pub(crate) fn set_monitor(&self, monitor: ActorRef<MonitorMsg>) {
        let _ = self.monitor.set(monitor);
    }

    fn notify_monitor(&self, msg: MonitorMsg) {
        if let Some(m) = self.monitor.get() {
            let _ = m.cast(msg);
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    pub(crate) fn subscribe_handshakes(&self) -> broadcast::Receiver<HandshakeFailure> {
        self.handshakes.subscribe()
    }

    /// Publishes nodedown for peers already removed from the table.
    fn report_down(&self, nodes: Vec<NodeName>, reason: DownReason) {
        for node in nodes {
            self.emit(NodeEvent::Down {
                node: node.clone(),
                reason,
            });
            self.notify_monitor(MonitorMsg::PeerDown(node));
        }
    }

    fn emit(&self, event: NodeEvent) {
        match &event {
            NodeEvent::Up { node } => tracing::info!(me = %self.me, %node, "nodeup"),
            NodeEvent::Down { node, reason } => {
                tracing::info!(me = %self.me, %node, %reason, "nodedown")
            }
            NodeEvent::BadCookie { .. } => {}
        }
        let _ = self.events.send(event);
    }

    /// Runs `f` with the state locked. `f` must not block.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock())
    }

    pub(crate) fn list(&self) -> Vec<NodeName> {
        self.state.lock().peers.keys().cloned().collect()
    }

    pub(crate) fn is_up(&self, node: &NodeName) -> bool {
        self.state.lock().peers.contains_key(node)
    }

    /// The connected peers: name, session node id, up since.
    pub(crate) fn peer_targets(&self) -> Vec<(NodeName, u64, Instant)> {
        let st = self.state.lock();
        st.peers
            .iter()
            .map(|(n, p)| (n.clone(), p.node_id, p.since))
            .collect()
    }

    /// The connected peer called `name` (as text), if any.
    pub(crate) fn peer_named(&self, name: &str) -> Option<NodeName> {
        let node: NodeName = name.parse().ok()?;
        self.is_up(&node).then_some(node)
    }

    /// The connected peer whose session proxies actors with this node id.
    pub(crate) fn peer_node_id(&self, node: &NodeName) -> Option<u64> {
        self.state.lock().peers.get(node).map(|p| p.node_id)
    }

    /// Declares `node` down: removes it, forgets what it owned, notifies
    /// subscribers, and closes its sessions. Returns `false` if it was not up.
    pub(crate) fn declare_down(&self, node: &NodeName, reason: DownReason) -> bool {
        let to_close = {
            let mut st = self.state.lock();
            let Some(peer) = st.peers.remove(node) else {
                return false;
            };
            st.services.forget(node);
            let mark = st.next_seq;
            st.down_marks.insert(node.clone(), mark);
            let mut to_close = Vec::new();
            for (id, rec) in st.sessions.iter_mut() {
                if Some(*id) == peer.session || rec.peer.as_ref() == Some(node) {
                    rec.closing = true;
                    to_close.push(rec.actor.clone());
                }
            }
            to_close
        };
        self.report_down(vec![node.clone()], reason);
        for session in to_close {
            session.stop(Some(reason.as_str().to_string()));
        }
        true
    }

    /// This node is stopping: every peer goes down with [`DownReason::LocalStop`]
    /// and later session events are ignored.
    pub(crate) fn local_stop(&self) {
        let peers = {
            let mut st = self.state.lock();
            st.stopping = true;
            for rec in st.sessions.values_mut() {
                rec.closing = true;
            }
            let peers: Vec<NodeName> = st.peers.keys().cloned().collect();
            st.peers.clear();
            for p in &peers {
                st.services.forget(p);
            }
            peers
        };
        for node in peers {
            self.emit(NodeEvent::Down {
                node,
                reason: DownReason::LocalStop,
            });
        }
    }

    /// The peer reached through the outgoing session to `addr`, if it is up.
    pub(crate) fn peer_at(&self, addr: &str) -> Option<NodeName> {
        let st = self.state.lock();
        st.peers
            .iter()
            .find(|(_, p)| {
                p.session
                    .and_then(|id| st.sessions.get(&id))
                    .is_some_and(|r| !r.incoming && r.addr == addr)
            })
            .map(|(n, _)| n.clone())
    }

    /// Closes unauthenticated outgoing sessions to `addr` (a timed-out connect).
    pub(crate) fn abandon_handshakes(&self, addr: &str) {
        let to_close: Vec<_> = {
            let mut st = self.state.lock();
            st.sessions
                .values_mut()
                .filter(|r| !r.incoming && !r.authenticated && r.addr == addr)
                .map(|r| {
                    r.closing = true;
                    r.actor.clone()
                })
                .collect()
        };
        for session in to_close {
            session.stop(Some("connect_timeout".to_string()));
        }
    }

    /// Reports a held peer down at `until` unless a session took over.
    fn expire_hold_later(&self, node: NodeName, until: Instant) {
        let weak = self.myself.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let expired = {
                let mut st = shared.state.lock();
                let held = st
                    .peers
                    .get(&node)
                    .is_some_and(|p| p.session.is_none() && p.hold_until == Some(until));
                if held {
                    st.peers.remove(&node);
                    st.services.forget(&node);
                }
                held
            };
            if expired {
                shared.report_down(vec![node], DownReason::ConnectionClosed);
            }
        });
    }

    fn on_opened(&self, ses: &NodeServerSessionInformation) {
        let mut st = self.state.lock();
        let closing = st.stopping;
        st.record_opened(ses, closing);
    }

    fn on_authenticated(&self, ses: &NodeServerSessionInformation, ready: bool) {
        let id = ses.actor.get_id();
        let Some(raw) = ses.peer_name.as_ref().map(|n| n.name.clone()) else {
            return;
        };
        let node = match raw.parse::<NodeName>() {
            Ok(node) => node,
            Err(e) => {
                tracing::warn!(me = %self.me, peer = %raw, "disconnecting a peer: {e}");
                ses.actor.stop(Some("invalid_node_name".to_string()));
                return;
            }
        };
        let (up, given_up) = {
            let mut st = self.state.lock();
            if st.stopping {
                return;
            }
            let seq = match st.sessions.get(&id) {
                Some(rec) => rec.seq,
                // Not seen opening (cannot happen with ractor_cluster 0.16).
                None => st.record_opened(ses, false),
            };
            let stale = st.down_marks.get(&node).is_some_and(|mark| seq < *mark);
            let rec = st.sessions.get_mut(&id).expect("inserted above");
            rec.authenticated = true;
            rec.peer = Some(node.clone());
            if stale {
                // Opened before `node` was declared down: do not undo that.
                rec.closing = true;
                drop(st);
                tracing::info!(me = %self.me, %node, "closing a connection older than its nodedown");
                ses.actor.stop(Some("older_than_nodedown".to_string()));
                return;
            }
            let up = match st.peers.get_mut(&node) {
                // ractor_cluster elected this session over an earlier one, or
                // it takes over from a closed one (the peer was held).
                Some(peer) => {
                    peer.session = Some(id);
                    peer.hold_until = None;
                    peer.node_id = ses.node_id;
                    false
                }
                None if ready => {
                    st.peers.insert(
                        node.clone(),
                        Peer {
                            session: Some(id),
                            hold_until: None,
                            node_id: ses.node_id,
                            since: Instant::now(),
                        },
                    );
                    true
                }
                None => false,
            };
            // The handshake that held other peers turned out to be this one.
            (up, st.give_up_held())
        };
        self.report_down(given_up, DownReason::ConnectionClosed);
        if up {
            self.emit(NodeEvent::Up { node: node.clone() });
            self.notify_monitor(MonitorMsg::PeerUp(node));
        }
    }

    fn on_disconnected(&self, ses: &NodeServerSessionInformation) {
        let id = ses.actor.get_id();
        let learned = ses.peer_name.as_ref().map(|n| n.name.clone());
        let mut st = self.state.lock();
        let rec = st.sessions.remove(&id);
        let node = rec
            .as_ref()
            .and_then(|r| r.peer.clone())
            .or_else(|| learned.as_deref().and_then(|n| n.parse().ok()));
        if let Some(node) = node.as_ref() {
            if st.peers.get(node).is_some_and(|p| p.session == Some(id)) {
                if st.handshake_in_flight() {
                    // Perhaps the session that replaces this one: hold the peer.
                    let until = Instant::now() + HANDOVER_GRACE;
                    if let Some(peer) = st.peers.get_mut(node) {
                        peer.session = None;
                        peer.hold_until = Some(until);
                    }
                    drop(st);
                    self.expire_hold_later(node.clone(), until);
                    return;
                }
                st.peers.remove(node);
                st.services.forget(node);
                drop(st);
                self.report_down(vec![node.clone()], DownReason::ConnectionClosed);
                return;
            }
        }
        let (authenticated, closing) = rec
            .as_ref()
            .map_or((false, false), |r| (r.authenticated, r.closing));
        // A handshake ended: held peers may have nothing left to wait for.
        let given_up = st.give_up_held();
        if !given_up.is_empty() {
            drop(st);
            self.report_down(given_up, DownReason::ConnectionClosed);
            st = self.state.lock();
        }
        if authenticated || closing || st.stopping {
            // A replaced session, or one closed on purpose.
            return;
        }
        let kind = match (&learned, &node) {
            (Some(name), _) if name == self.me.as_str() => FailureKind::SelfConnection,
            (Some(_), Some(node)) => {
                let other_alive = st.peers.contains_key(node)
                    || st
                        .sessions
                        .values()
                        .any(|r| r.authenticated && r.peer.as_ref() == Some(node));
                if other_alive {
                    FailureKind::Closed
                } else {
                    FailureKind::BadCookie
                }
            }
            (Some(_), None) => FailureKind::BadCookie,
            (None, _) => FailureKind::Closed,
        };
        drop(st);
        if kind == FailureKind::BadCookie {
            let peer = learned.unwrap_or_default();
            if ses.is_server {
                tracing::warn!(
                    me = %self.me,
                    "refused a connection from {peer} ({}): wrong cookie",
                    ses.peer_addr
                );
            } else {
                tracing::warn!(
                    me = %self.me,
                    "{peer} ({}) refused the connection: wrong cookie",
                    ses.peer_addr
                );
            }
            self.emit(NodeEvent::BadCookie {
                peer,
                addr: ses.peer_addr.clone(),
                incoming: ses.is_server,
            });
        }
        let _ = self.handshakes.send(HandshakeFailure {
            addr: ses.peer_addr.clone(),
            incoming: ses.is_server,
            kind,
        });
    }
}

/// The subscription registered with ractor_cluster's `NodeServer`.
pub(crate) struct SessionEvents(pub(crate) Arc<Shared>);

impl NodeEventSubscription for SessionEvents {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        self.0.on_opened(&ses);
    }

    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        self.0.on_authenticated(&ses, false);
    }

    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        self.0.on_authenticated(&ses, true);
    }

    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        self.0.on_disconnected(&ses);
    }
}
