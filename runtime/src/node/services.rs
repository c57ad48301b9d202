//! A cluster-wide directory of named services: "who owns the database?".
//!
//! `register_service("db", actor)` on one node makes `whereis_service("db")`
//! answer `db@that-node` on every connected node, and the answer disappears
//! when the actor stops or its node goes down (including a hung node dropped by
//! the heartbeat).
//!
//! Why not ractor's process groups alone? pg is cluster-wide only for
//! *remote-capable* actors: ractor_cluster then builds a proxy actor (~11 KB)
//! for it on every peer, and the actor's messages must all be serializable. A
//! service such as a database owner is an ordinary local actor, and making it
//! remote-capable just to be findable is the cost this design avoids. Instead
//! each node's monitor ([`super::monitor`]) — already connected to every peer —
//! replicates the *names* of its local services (a few bytes): pushed on
//! change and at nodeup, versioned, and re-synchronised whenever a heartbeat
//! carries a version the peer has not seen. pg is still used locally: joining
//! the service to a pg group tells the monitor when it stops, and if the actor
//! *is* remote-capable, ractor_cluster propagates the group and
//! [`Service::actor`] is a usable proxy on the other nodes too.
//!
//! Names are unique cluster-wide as far as this node knows (registering a name
//! another connected node holds is refused). Two partitioned nodes can both
//! register a name; after they reconnect every node answers with the same
//! owner — the lowest node name — and [`super::Node::whereis_service_all`]
//! shows both.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ractor::{ActorCell, ActorId, ActorRef, ActorStatus};

use super::handle::Node;
use super::monitor::MonitorMsg;
use super::name::NodeName;

/// The pg scope of registered services (group = service name).
pub const SERVICES_SCOPE: &str = "runtime.node.services";
/// Longest accepted service name.
pub const MAX_SERVICE_NAME_LEN: usize = 255;

/// Where a service runs.
#[derive(Debug, Clone)]
pub struct Service {
    /// The service's name.
    pub name: String,
    /// The node that registered it.
    pub node: NodeName,
    /// The actor: always present for a local service; for a remote one only if
    /// the actor is remote-capable (ractor_cluster then proxies it here).
    pub actor: Option<ActorCell>,
}

impl Service {
    /// The actor as a typed reference, if known. The message type is not
    /// checked for remote actors (ractor cannot).
    pub fn actor_ref<M: ractor::Message>(&self) -> Option<ActorRef<M>> {
        self.actor.clone().map(ActorRef::from)
    }
}

/// Why a service could not be registered or unregistered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The name is empty or too long.
    #[error("invalid service name {0:?}")]
    InvalidName(String),
    /// Another live actor holds the name, on this node or a connected one.
    #[error("service {name:?} is already registered on {node}")]
    AlreadyRegistered {
        /// The name.
        name: String,
        /// Where it is registered.
        node: NodeName,
    },
    /// The actor is not running.
    #[error("the actor for service {0:?} is not running")]
    NotRunning(String),
    /// No local service has this name.
    #[error("no local service {0:?}")]
    NotRegistered(String),
}

struct RemoteServices {
    version: u64,
    names: BTreeSet<String>,
}

/// This node's services and what each peer advertised. Lives in the shared
/// state, under its lock.
#[derive(Default)]
pub(crate) struct ServiceTable {
    local: BTreeMap<String, ActorCell>,
    version: u64,
    remote: HashMap<NodeName, RemoteServices>,
}

fn alive(cell: &ActorCell) -> bool {
    cell.get_status() < ActorStatus::Stopping
}

impl ServiceTable {
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn local_names(&self) -> Vec<String> {
        self.local
            .iter()
            .filter(|(_, c)| alive(c))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The version last received from `node` (0: nothing yet, no services).
    pub(crate) fn remote_version(&self, node: &NodeName) -> u64 {
        self.remote.get(node).map_or(0, |r| r.version)
    }

    pub(crate) fn set_remote(&mut self, node: NodeName, version: u64, names: Vec<String>) {
        self.remote.insert(
            node,
            RemoteServices {
                version,
                names: names.into_iter().collect(),
            },
        );
    }

    pub(crate) fn forget(&mut self, node: &NodeName) {
        self.remote.remove(node);
    }

    /// Removes the local service `name` if it is held by `only` (any holder if
    /// `None`). Returns whether the table changed.
    pub(crate) fn remove_local(&mut self, name: &str, only: Option<ActorId>) -> bool {
        let matches = self
            .local
            .get(name)
            .is_some_and(|c| only.is_none_or(|id| c.get_id() == id));
        if matches {
            self.local.remove(name);
            self.version += 1;
        }
        matches
    }

    /// Drops local services whose actor stopped. Returns whether any did.
    pub(crate) fn prune_dead(&mut self) -> bool {
        let before = self.local.len();
        self.local.retain(|_, c| alive(c));
        let changed = self.local.len() != before;
        if changed {
            self.version += 1;
        }
        changed
    }

    /// Nodes holding `name` (this one included), lowest name first.
    fn owners(
        &self,
        me: &NodeName,
        name: &str,
        is_up: impl Fn(&NodeName) -> bool,
    ) -> Vec<NodeName> {
        let mut owners: Vec<NodeName> = self
            .remote
            .iter()
            .filter(|(n, r)| r.names.contains(name) && is_up(n))
            .map(|(n, _)| n.clone())
            .collect();
        if self.local.get(name).is_some_and(alive) {
            owners.push(me.clone());
        }
        owners.sort();
        owners
    }
}

impl Node {
    /// Registers `actor` as the service `name`, cluster-wide. Fails if the name
    /// is held by a live actor here or on a connected node. The registration
    /// ends when the actor stops or [`Node::unregister_service`] is called.
    pub fn register_service(
        &self,
        name: &str,
        actor: impl Into<ActorCell>,
    ) -> Result<(), ServiceError> {
        let actor: ActorCell = actor.into();
        if name.is_empty() || name.len() > MAX_SERVICE_NAME_LEN {
            return Err(ServiceError::InvalidName(name.to_string()));
        }
        if !alive(&actor) {
            return Err(ServiceError::NotRunning(name.to_string()));
        }
        let shared = self.shared();
        let me = shared.me.clone();
        let up: Vec<NodeName> = shared.list();
        shared.with_state(|st| {
            let owners = st
                .services
                .owners(&me, name, |n| up.binary_search(n).is_ok());
            if let Some(node) = owners.into_iter().next() {
                return Err(ServiceError::AlreadyRegistered {
                    name: name.to_string(),
                    node,
                });
            }
            st.services.local.insert(name.to_string(), actor.clone());
            st.services.version += 1;
            Ok(())
        })?;
        // Joining a pg group tells the monitor when the actor stops; for a
        // remote-capable actor ractor_cluster also propagates the group.
        ractor::pg::join_scoped(SERVICES_SCOPE.to_string(), name.to_string(), vec![actor]);
        self.notify_monitor(MonitorMsg::ServicesChanged);
        Ok(())
    }

    /// Removes the local service `name`.
    pub fn unregister_service(&self, name: &str) -> Result<(), ServiceError> {
        let removed = self.shared().with_state(|st| {
            let cell = st.services.local.get(name).cloned();
            st.services
                .remove_local(name, None)
                .then_some(cell)
                .flatten()
        });
        let Some(cell) = removed else {
            return Err(ServiceError::NotRegistered(name.to_string()));
        };
        ractor::pg::leave_scoped(SERVICES_SCOPE.to_string(), name.to_string(), vec![cell]);
        self.notify_monitor(MonitorMsg::ServicesChanged);
        Ok(())
    }

    /// Where the service `name` runs, on this node or a connected one. If
    /// several nodes hold it (registered while partitioned), every node
    /// answers with the same one: the lowest node name.
    pub fn whereis_service(&self, name: &str) -> Option<Service> {
        self.whereis_service_all(name).into_iter().next()
    }

    /// Every node holding the service `name`, lowest node name first.
    pub fn whereis_service_all(&self, name: &str) -> Vec<Service> {
        let shared = self.shared();
        let me = shared.me.clone();
        let up = shared.list();
        let (owners, local) = shared.with_state(|st| {
            (
                st.services
                    .owners(&me, name, |n| up.binary_search(n).is_ok()),
                st.services.local.get(name).cloned(),
            )
        });
        owners
            .into_iter()
            .map(|node| {
                let actor = if node == me {
                    local.clone()
                } else {
                    remote_proxy(shared.peer_node_id(&node), name)
                };
                Service {
                    name: name.to_string(),
                    node,
                    actor,
                }
            })
            .collect()
    }

    /// Every service known in the cluster: name and owning node, sorted.
    pub fn services(&self) -> Vec<(String, NodeName)> {
        let shared = self.shared();
        let me = shared.me.clone();
        let up = shared.list();
        let mut out: Vec<(String, NodeName)> = shared.with_state(|st| {
            let mut out: Vec<(String, NodeName)> = st
                .services
                .local_names()
                .into_iter()
                .map(|n| (n, me.clone()))
                .collect();
            for (node, r) in &st.services.remote {
                if up.binary_search(node).is_ok() {
                    out.extend(r.names.iter().map(|n| (n.clone(), node.clone())));
                }
            }
            out
        });
        out.sort();
        out
    }
}

/// The proxy ractor_cluster keeps for a remote-capable service, if any.
fn remote_proxy(node_id: Option<u64>, name: &str) -> Option<ActorCell> {
    let node_id = node_id?;
    ractor::pg::get_scoped_members(&SERVICES_SCOPE.to_string(), &name.to_string())
        .into_iter()
        .find(|c| !c.get_id().is_local() && c.get_id().node() == node_id)
}
