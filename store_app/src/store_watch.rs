//! Keeps a node without the database attached to the one that has it.
//!
//! - When a peer comes up and the store service becomes reachable through it,
//!   this node's inventory reloads from the store: a node started before it
//!   was connected (empty), or one that missed sales while apart, catches up.
//! - When the store's node goes down unexpectedly (killed, crashed, hung),
//!   this node tries to reconnect to it every second, so that a restarted
//!   owner is rejoined without anyone typing `node.connect` — and the reload
//!   above follows.
//! - When any other peer goes down, this node (the store's own included)
//!   reloads from the store a moment later: a node that sells writes to the
//!   store first and announces the sale after, so one killed between the two
//!   leaves a sale that no other node's memory would ever hear of (found by
//!   killing a back node while its mock shoppers sold).

use std::time::Duration;

use runtime::node::{DownReason, Node, NodeEvent, NodeName};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::sneakers23::Sneakers23;
use crate::store_server::SERVICE;

/// How long after a nodeup the store service may take to appear.
const SERVICE_WAIT: Duration = Duration::from_secs(5);
/// Time between reconnection attempts to a lost store node.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a peer went down its last requests may still be reaching
/// the store (they travel on its own connection to the store's node).
const SETTLE_AFTER_DOWN: Duration = Duration::from_millis(500);

/// The watcher's task; stopping it (or dropping it) stops reconnecting.
pub struct StoreWatch {
    task: JoinHandle<()>,
}

impl StoreWatch {
    /// Starts watching `node`'s peers for `context`'s store.
    pub fn start(node: Node, context: Sneakers23) -> StoreWatch {
        let task = tokio::spawn(watch(node, context));
        StoreWatch { task }
    }

    /// Stops watching.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for StoreWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn watch(node: Node, context: Sneakers23) {
    let mut events = node.subscribe();
    let mut owner: Option<NodeName> = None;
    let mut reconnecting: Option<JoinHandle<()>> = None;
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        if let NodeEvent::Down { node: peer, .. } = &event {
            if owner.as_ref() != Some(peer) {
                reload_after_down(&context, peer);
            }
        }
        if context.store().is_local() {
            continue;
        }
        match event {
            NodeEvent::Up { node: peer } => {
                if let Some(task) = reconnecting.take() {
                    task.abort();
                }
                if let Some(found) = wait_for_store(&node).await {
                    match context.reload().await {
                        Ok(products) => tracing::info!(
                            store = %found, via = %peer, products,
                            "store reachable: inventory reloaded"
                        ),
                        Err(err) => tracing::warn!(%err, "store reachable but the reload failed"),
                    }
                    owner = Some(found);
                }
            }
            NodeEvent::Down { node: peer, reason } if owner.as_ref() == Some(&peer) => {
                if matches!(reason, DownReason::Disconnected | DownReason::LocalStop) {
                    continue;
                }
                tracing::warn!(store = %peer, %reason, "lost the store's node; reconnecting every {RECONNECT_INTERVAL:?} (writes fail meanwhile, reads are served from memory)");
                if let Some(task) = reconnecting.take() {
                    task.abort();
                }
                reconnecting = Some(tokio::spawn(reconnect(node.clone(), peer)));
            }
            _ => {}
        }
    }
}

/// Reloads from the store once what `peer` sent before it went down has
/// settled, so that a sale it wrote but never announced reaches this node's
/// memory and pages.
fn reload_after_down(context: &Sneakers23, peer: &NodeName) {
    let (context, peer) = (context.clone(), peer.clone());
    tokio::spawn(async move {
        tokio::time::sleep(SETTLE_AFTER_DOWN).await;
        match context.reload().await {
            Ok(products) => tracing::info!(
                %peer, products,
                "peer down: inventory reloaded from the store (it may have sold without announcing)"
            ),
            Err(err) => tracing::warn!(%peer, %err, "peer down: the reload from the store failed"),
        }
    });
}

/// The node holding the store, once its service (and proxy) are known here.
async fn wait_for_store(node: &Node) -> Option<NodeName> {
    let deadline = tokio::time::Instant::now() + SERVICE_WAIT;
    loop {
        if let Some(service) = node.whereis_service(SERVICE) {
            if service.actor.is_some() {
                return Some(service.node);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn reconnect(node: Node, peer: NodeName) {
    let target = peer.to_string();
    loop {
        tokio::time::sleep(RECONNECT_INTERVAL).await;
        if node.is_connected(&peer) {
            return;
        }
        match node.connect(&target).await {
            Ok(_) => {
                tracing::info!(store = %peer, "reconnected to the store's node");
                return;
            }
            Err(err) => tracing::debug!(store = %peer, %err, "store node not back yet"),
        }
    }
}
