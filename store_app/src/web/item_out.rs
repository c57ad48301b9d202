//! Sold-out alerts for carts (the book's `notify_local_item_stock_change`):
//! `item_out:<item id>`, one PubSub topic per item, to which every cart
//! channel holding that item subscribes.
//!
//! The alert is broadcast on **this node only**: every node sends it from
//! its own sale handling — the sale it made, or the replicated sale it
//! applied — once its own memory has the item out, so a cart told "sold out"
//! and rendered from this node's memory never finds units left there.

use channels::pubsub::PubSub;
use serde_json::json;

/// The topic prefix of sold-out alerts.
pub const ITEM_OUT_PREFIX: &str = "item_out:";
/// The event of a sold-out alert: `{item_id}`.
pub const ITEM_OUT: &str = "item_out";

/// The topic of one item's sold-out alert: `item_out:<id>`.
pub fn item_out_topic(item_id: u64) -> String {
    format!("{ITEM_OUT_PREFIX}{item_id}")
}

/// Tells the carts joined on this node that `item_id` has no unit left.
pub fn notify_local_item_out(pubsub: &PubSub, item_id: u64) {
    pubsub.local_broadcast(
        &item_out_topic(item_id),
        ITEM_OUT,
        json!({ "item_id": item_id }),
    );
}
