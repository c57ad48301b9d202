//! PubSub across a cluster: one remote-capable server per node.
//!
//! Each node runs one `ClusterServer`, a ractor actor that joins the process
//! group `channels.pubsub`; ractor_cluster makes the group's members visible on
//! every connected node. A broadcast goes to the local subscribers directly and
//! to each peer's server once; the peer's server hands it to its own node's
//! local fan-out (`PubSub::dispatch_local`), fastlane included. Channels and
//! connections never become remote-capable: ractor_cluster builds a ~11 KB
//! proxy per remote-capable actor on every peer, so only this server (and the
//! node monitor) are.
//!
//! Messages cross nodes bincode-encoded (`runtime::node::wire`); JSON payloads
//! travel as JSON text, since bincode cannot decode `serde_json::Value`'s
//! self-describing shape. Delivery is at most once, in order per pair of nodes
//! (one connection carries them), as in Phoenix.PubSub.

use std::sync::Arc;

use bytes::Bytes;
use runtime::node::{wire, Node, NodeName};
use runtime::ractor::message::{BoxedDowncastErr, SerializedMessage};
use runtime::ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use runtime::server::StartError;
use serde::{Deserialize, Serialize};

use super::{Adapter, PubSub, SubscriberId};
use crate::message::{Broadcast, Payload};

/// The process group every node's PubSub server joins.
pub const GROUP: &str = "channels.pubsub";

/// A broadcast as it travels between nodes (over the cluster, or through
/// Redis in `redis.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RemoteBroadcast {
    topic: String,
    event: String,
    payload: RemotePayload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum RemotePayload {
    /// JSON, as text.
    Json(String),
    Binary(Vec<u8>),
}

impl RemoteBroadcast {
    pub(crate) fn from_broadcast(broadcast: &Broadcast) -> Self {
        RemoteBroadcast {
            topic: broadcast.topic.clone(),
            event: broadcast.event.clone(),
            payload: match &broadcast.payload {
                Payload::Json(value) => RemotePayload::Json(value.to_string()),
                Payload::Binary(bytes) => RemotePayload::Binary(bytes.to_vec()),
            },
        }
    }

    pub(crate) fn into_broadcast(self) -> Option<Broadcast> {
        let payload = match self.payload {
            RemotePayload::Json(text) => match serde_json::from_str(&text) {
                Ok(value) => Payload::Json(value),
                Err(err) => {
                    tracing::warn!(%err, "dropping a cluster broadcast with a bad payload");
                    return None;
                }
            },
            RemotePayload::Binary(bytes) => Payload::Binary(Bytes::from(bytes)),
        };
        Some(Broadcast {
            topic: self.topic,
            event: self.event,
            payload,
        })
    }
}

/// The server's only message: a broadcast from another node.
pub struct ClusterMsg(RemoteBroadcast);

impl runtime::ractor::Message for ClusterMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        wire::to_cast(&self.0)
    }

    fn deserialize(bytes: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        wire::from_cast(bytes).map(ClusterMsg)
    }
}

struct ClusterServer;

impl Actor for ClusterServer {
    type Msg = ClusterMsg;
    type State = PubSub;
    type Arguments = PubSub;

    async fn pre_start(
        &self,
        myself: ActorRef<ClusterMsg>,
        pubsub: PubSub,
    ) -> Result<PubSub, ActorProcessingErr> {
        runtime::ractor::pg::join(GROUP.to_string(), vec![myself.get_cell()]);
        Ok(pubsub)
    }

    async fn handle(
        &self,
        _myself: ActorRef<ClusterMsg>,
        ClusterMsg(remote): ClusterMsg,
        pubsub: &mut PubSub,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(broadcast) = remote.into_broadcast() {
            pubsub.dispatch_local(None, Arc::new(broadcast));
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ClusterMsg>,
        _pubsub: &mut PubSub,
    ) -> Result<(), ActorProcessingErr> {
        runtime::ractor::pg::leave(GROUP.to_string(), vec![myself.get_cell()]);
        Ok(())
    }
}

/// Sends this node's broadcasts to the other nodes' servers.
struct ClusterAdapter {
    node: Node,
    name: String,
}

impl ClusterAdapter {
    /// The PubSub servers of the other nodes (remote proxies in the group).
    fn peers(&self) -> Vec<ActorCell> {
        runtime::ractor::pg::get_members(&GROUP.to_string())
            .into_iter()
            .filter(|member| !member.get_id().is_local())
            .collect()
    }

    fn send(&self, server: &ActorCell, broadcast: &RemoteBroadcast) {
        if let Err(err) = server.send_message(ClusterMsg(broadcast.clone())) {
            // A peer going away mid-broadcast: at most once, as in Phoenix.
            tracing::debug!(%err, "cluster broadcast not sent to a peer");
        }
    }
}

impl Adapter for ClusterAdapter {
    fn broadcast_remote(&self, broadcast: &Broadcast, _from: Option<SubscriberId>) {
        let peers = self.peers();
        if peers.is_empty() {
            return;
        }
        let remote = RemoteBroadcast::from_broadcast(broadcast);
        for server in &peers {
            self.send(server, &remote);
        }
    }

    fn direct_broadcast(&self, node: &str, broadcast: &Broadcast) -> bool {
        let Some(node_id) = node
            .parse::<NodeName>()
            .ok()
            .and_then(|name| self.node.peer_node_id(&name))
        else {
            return false;
        };
        let servers: Vec<ActorCell> = self
            .peers()
            .into_iter()
            .filter(|server| server.get_id().node() == node_id)
            .collect();
        let remote = RemoteBroadcast::from_broadcast(broadcast);
        for server in &servers {
            self.send(server, &remote);
        }
        !servers.is_empty()
    }

    fn node_name(&self) -> String {
        self.name.clone()
    }
}

/// This node's place in cluster PubSub; stopping it (or dropping it) leaves.
pub struct ClusterLink {
    server: ActorRef<ClusterMsg>,
}

impl ClusterLink {
    /// Leaves the cluster PubSub: later broadcasts stay on their own node.
    pub async fn stop(&self) {
        let _ = self
            .server
            .stop_and_wait(Some("shutdown".into()), None)
            .await;
    }

    /// The server's actor (to supervise it or show it in introspection).
    pub fn actor(&self) -> ActorCell {
        self.server.get_cell()
    }
}

impl Drop for ClusterLink {
    fn drop(&mut self) {
        self.server.stop(Some("shutdown".into()));
    }
}

/// Connects `pubsub` to the cluster `node` belongs to: broadcasts now reach
/// every connected node, and `node_name` reports this node's name.
pub async fn join_cluster(pubsub: &PubSub, node: &Node) -> Result<ClusterLink, StartError> {
    let (server, _) = Actor::spawn(None, ClusterServer, pubsub.clone()).await?;
    pubsub.set_adapter(Arc::new(ClusterAdapter {
        node: node.clone(),
        name: node.self_name().to_string(),
    }));
    Ok(ClusterLink { server })
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::ractor::Message;
    use serde_json::json;

    #[test]
    fn broadcasts_survive_the_trip_between_nodes() {
        for payload in [
            Payload::Json(json!({"n": 1, "nested": {"list": [1, "two", null]}})),
            Payload::Binary(Bytes::from_static(b"\x00\x01raw")),
        ] {
            let broadcast = Broadcast::new("room:1", "new_msg", payload);
            let cast = ClusterMsg(RemoteBroadcast::from_broadcast(&broadcast))
                .serialize()
                .unwrap();
            let ClusterMsg(remote) = ClusterMsg::deserialize(cast).unwrap();
            assert_eq!(remote.into_broadcast(), Some(broadcast));
        }
    }

    #[test]
    fn the_server_is_remote_capable_and_nothing_else_need_be() {
        assert!(<ClusterMsg as runtime::ractor::Message>::serializable());
    }
}

/// A broadcast from another node as ractor_cluster hands it over, decoded as
/// [`ClusterMsg`] and then as the server turns it into a local broadcast.
#[cfg(fuzzing)]
pub(crate) fn fuzz_cast(args: &[u8]) {
    use runtime::ractor::Message as _;
    let message = SerializedMessage::Cast {
        variant: String::new(),
        args: args.to_vec(),
        metadata: None,
    };
    if let Ok(ClusterMsg(remote)) = ClusterMsg::deserialize(message) {
        let _ = remote.into_broadcast();
    }
}

/// Real cluster broadcasts, as bincode, for the fuzz targets' seed corpus.
#[cfg(fuzzing)]
pub(crate) fn cast_examples() -> Vec<Vec<u8>> {
    let json = Broadcast {
        topic: "product:1".into(),
        event: "stock_change".into(),
        payload: Payload::Json(serde_json::json!({"product_id": 1, "item_id": 2, "level": "low"})),
    };
    let binary = Broadcast {
        topic: "room:lobby".into(),
        event: "file".into(),
        payload: Payload::Binary(Bytes::from_static(b"\x00\x01\x02")),
    };
    [json, binary]
        .iter()
        .filter_map(|b| wire::encode(&RemoteBroadcast::from_broadcast(b)).ok())
        .collect()
}
