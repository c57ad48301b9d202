//! Replication (book ch7, `Sneakers23.Replication`): keeps every node's
//! in-memory inventory in step.
//!
//! A release or sale made on one node is written to the store once, by that
//! node; [`Replication`] then tells the other nodes with a `broadcast_from` on
//! the PubSub topic [`TOPIC`] (cluster-wide, excluding this node's own
//! server). Each node's [`ReplicationServer`] receives it and applies the
//! result to its own inventory server *as replicated*: memory only — no store
//! write, no re-broadcast, no page notification (the origin already notified
//! every node's pages), so nothing loops. The one thing a node announces for
//! a replicated sale is the item going out, to its own carts only
//! ([`Notifier::item_out`]), once its own memory is out.
//!
//! A sale travels as the store's resulting figure, not as "sell one": applying
//! it twice, or after a reload that already includes it, changes nothing.

use std::sync::Arc;

use channels::message::Broadcast;
use channels::pubsub::{PubSub, SubscriberId};
use runtime::{Flow, GenServer, Pid, ProcessError};
use serde::{Deserialize, Serialize};

use crate::inventory::{InventoryCall, InventoryServer};
use crate::model::Availability;
use crate::sneakers23::{notify_if_item_out, Notifier};

/// The PubSub topic replication travels on.
pub const TOPIC: &str = "inventory_replication";

/// One replicated operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ReplicationEvent {
    /// `mark_product_released!` happened on another node.
    MarkProductReleased {
        /// The product.
        product_id: u64,
    },
    /// `item_sold!` happened on another node; the store's figure after the sale.
    ItemSold {
        /// The item's availability after the sale.
        availability: Availability,
    },
    /// Reload everything from the store: its catalogue was (re)written
    /// (`store.seed`), or a sale's outcome is unknown (a lost commit).
    CatalogueChanged,
}

impl ReplicationEvent {
    fn event_name(&self) -> &'static str {
        match self {
            ReplicationEvent::MarkProductReleased { .. } => "mark_product_released!",
            ReplicationEvent::ItemSold { .. } => "item_sold!",
            ReplicationEvent::CatalogueChanged => "catalogue_changed",
        }
    }
}

/// The sending side: what the inventory context calls after a local write.
#[derive(Clone)]
pub struct Replication {
    pubsub: PubSub,
    server_id: SubscriberId,
}

impl Replication {
    /// A sender on `pubsub`, and the id its node's server will subscribe
    /// under (so `broadcast_from` skips it).
    pub fn new(pubsub: PubSub) -> Self {
        let server_id = pubsub.new_id();
        Replication { pubsub, server_id }
    }

    /// Tells the other nodes that `product_id` was released.
    pub fn mark_product_released(&self, product_id: u64) {
        self.send(ReplicationEvent::MarkProductReleased { product_id });
    }

    /// Tells the other nodes the store's figure after a sale.
    pub fn item_sold(&self, availability: Availability) {
        self.send(ReplicationEvent::ItemSold { availability });
    }

    /// Tells the other nodes to reload everything from the store.
    pub fn catalogue_changed(&self) {
        self.send(ReplicationEvent::CatalogueChanged);
    }

    fn send(&self, event: ReplicationEvent) {
        let payload = serde_json::to_value(event).expect("replication events always encode");
        self.pubsub
            .broadcast_from(self.server_id, TOPIC, event.event_name(), payload);
    }
}

/// The receiving side: a supervised GenServer, one per node.
#[derive(Clone)]
pub struct ReplicationServer {
    replication: Replication,
    inventory: String,
    notifier: Arc<dyn Notifier>,
}

impl ReplicationServer {
    /// A server receiving on `replication`'s topic, applying to the
    /// inventory server registered as `inventory`, and telling this node's
    /// carts through `notifier` when a replicated sale takes an item's last unit.
    pub fn new(
        replication: Replication,
        inventory: impl Into<String>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        ReplicationServer {
            replication,
            inventory: inventory.into(),
            notifier,
        }
    }

    /// Applies one replicated event to this node's inventory (`being_replicated?: true`).
    async fn apply(&self, inventory: &Pid<InventoryServer>, event: ReplicationEvent) {
        let result = match event {
            ReplicationEvent::MarkProductReleased { product_id } => inventory
                .request(|r| InventoryCall::MarkReleased(product_id, r))
                .await
                .map(|answer| answer.err().map(|err| err.to_string())),
            ReplicationEvent::ItemSold { availability } => inventory
                .request(|r| InventoryCall::ApplySale(availability, r))
                .await
                .map(|answer| match answer {
                    Ok(change) => {
                        notify_if_item_out(self.notifier.as_ref(), change.before, change.after);
                        None
                    }
                    Err(err) => Some(err.to_string()),
                }),
            ReplicationEvent::CatalogueChanged => inventory
                .request(InventoryCall::Reload)
                .await
                .map(|answer| answer.err().map(|err| err.to_string())),
        };
        match result {
            Ok(None) => tracing::debug!(?event, "replicated"),
            // E.g. a product this node has not loaded yet: the reload that
            // follows the store's node connecting brings it.
            Ok(Some(refused)) => tracing::warn!(?event, %refused, "replicated event not applied"),
            Err(err) => {
                tracing::warn!(?event, %err, "inventory unreachable: replicated event lost")
            }
        }
    }
}

fn decode(broadcast: &Broadcast) -> Option<ReplicationEvent> {
    match serde_json::from_value(broadcast.json().clone()) {
        Ok(event) => Some(event),
        Err(err) => {
            tracing::warn!(%err, event = %broadcast.event, "ignoring a malformed replication message");
            None
        }
    }
}

impl GenServer for ReplicationServer {
    type Args = ();
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ReplicationEvent;

    async fn init(&self, myself: &Pid<Self>, _args: ()) -> Result<(), ProcessError> {
        let me = myself.clone();
        let pubsub = &self.replication.pubsub;
        // A previous incarnation's subscription (same id) is replaced.
        pubsub.unsubscribe(TOPIC, self.replication.server_id);
        pubsub.subscribe_as(
            TOPIC,
            self.replication.server_id,
            move |broadcast: &Arc<Broadcast>| match decode(broadcast) {
                Some(event) => me.info(event).is_ok(),
                None => true,
            },
        );
        Ok(())
    }

    async fn handle_info(
        &self,
        _myself: &Pid<Self>,
        event: ReplicationEvent,
        _state: &mut (),
    ) -> Result<Flow, ProcessError> {
        match runtime::server::whereis::<InventoryServer>(&self.inventory) {
            Some(inventory) => self.apply(&inventory, event).await,
            None => tracing::warn!(?event, "no inventory server: replicated event lost"),
        }
        Ok(Flow::Continue)
    }

    async fn terminate(&self, _myself: &Pid<Self>, _reason: &runtime::ExitReason, _state: &mut ()) {
        self.replication
            .pubsub
            .unsubscribe(TOPIC, self.replication.server_id);
    }
}
