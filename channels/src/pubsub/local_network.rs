//! An in-process network of PubSubs: several "nodes" in one process joined
//! as a cluster would join them, for tests and benchmarks of what runs over
//! the cluster PubSub (the tracker's gossip) — deterministic, fast, and able
//! to cut a node off and let it back (a partition, a hung node).
//!
//! It is not a cluster: processes, registries and the console stay shared.
//! Multi-process tests of real nodes use `ractor_cluster` (`cluster.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{Adapter, PubSub, SubscriberId};
use crate::message::Broadcast;

/// The network: every node's PubSub, and the nodes cut off.
#[derive(Default)]
pub struct LocalNetwork {
    nodes: Mutex<HashMap<String, Weak<NodeHandle>>>,
    cut: Mutex<HashSet<String>>,
}

/// One node's PubSub on the network; the node leaves it when this is dropped.
pub struct NodeHandle {
    pubsub: PubSub,
}

impl NodeHandle {
    /// The node's PubSub.
    pub fn pubsub(&self) -> &PubSub {
        &self.pubsub
    }
}

struct Link {
    network: Arc<LocalNetwork>,
    node: String,
}

impl LocalNetwork {
    /// An empty network.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A new node named `name` (`name@host`) on the network.
    pub fn node(self: &Arc<Self>, name: &str) -> Arc<NodeHandle> {
        let pubsub = PubSub::new();
        pubsub.set_adapter(Arc::new(Link {
            network: self.clone(),
            node: name.to_string(),
        }));
        let handle = Arc::new(NodeHandle { pubsub });
        self.nodes
            .lock()
            .insert(name.to_string(), Arc::downgrade(&handle));
        handle
    }

    /// Cuts `node` off: nothing it sends arrives, nothing reaches it.
    pub fn cut(&self, node: &str) {
        self.cut.lock().insert(node.to_string());
    }

    /// Lets every node back.
    pub fn heal(&self) {
        self.cut.lock().clear();
    }

    fn reachable(&self, from: &str, to: &str) -> Option<PubSub> {
        {
            let cut = self.cut.lock();
            if cut.contains(from) || cut.contains(to) {
                return None;
            }
        }
        self.nodes
            .lock()
            .get(to)
            .and_then(Weak::upgrade)
            .map(|handle| handle.pubsub.clone())
    }
}

impl Adapter for Link {
    fn broadcast_remote(&self, broadcast: &Broadcast, _from: Option<SubscriberId>) {
        let names: Vec<String> = self.network.nodes.lock().keys().cloned().collect();
        for name in names.into_iter().filter(|n| n != &self.node) {
            if let Some(pubsub) = self.network.reachable(&self.node, &name) {
                pubsub.dispatch_local(None, Arc::new(broadcast.clone()));
            }
        }
    }

    fn direct_broadcast(&self, node: &str, broadcast: &Broadcast) -> bool {
        match self.network.reachable(&self.node, node) {
            Some(pubsub) => {
                pubsub.dispatch_local(None, Arc::new(broadcast.clone()));
                true
            }
            None => false,
        }
    }

    fn node_name(&self) -> String {
        self.node.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn broadcasts_reach_the_other_nodes_unless_one_is_cut_off() {
        let network = LocalNetwork::new();
        let (a, b) = (network.node("a@host"), network.node("b@host"));
        let heard = Arc::new(AtomicUsize::new(0));
        let counter = heard.clone();
        b.pubsub().subscribe("t", move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            true
        });
        a.pubsub().broadcast("t", "e", serde_json::json!({}));
        assert_eq!(heard.load(Ordering::Relaxed), 1);
        network.cut("b@host");
        a.pubsub().broadcast("t", "e", serde_json::json!({}));
        assert!(a
            .pubsub()
            .direct_broadcast("b@host", "t", "e", serde_json::json!({}))
            .is_err());
        assert_eq!(heard.load(Ordering::Relaxed), 1);
        network.heal();
        a.pubsub()
            .direct_broadcast("b@host", "t", "e", serde_json::json!({}))
            .unwrap();
        assert_eq!(heard.load(Ordering::Relaxed), 2);
        assert_eq!(b.pubsub().node_name(), "b@host");
    }
}
