//! `Sneakers23Web.ProductChannel`: one topic per product, `product:<id>`, that
//! shoppers' pages join to hear about that product. The channel takes nothing
//! from the browser; the inventory context calls the `notify_*` functions here
//! when a product is released or an item's stock level changes, and PubSub
//! carries the broadcast to every joined page on every node.
//!
//! Broadcasts are delivered at most once, so a page that was disconnected
//! (its web node restarting) has missed some. Every join — the first, and
//! each rejoin phoenix.js makes after a reconnect — is therefore answered
//! with the product's current state from this node's inventory server
//! (`product_state.rs`); the page applies it, and is current again.
//!
//! When a node's memory is loaded again from the store,
//! [`notify_memory_reloaded`] tells the pages joined on that node what the
//! reload changed (changes the store made that were never announced).
//!
//! There is no global `Endpoint` as in Phoenix, so the functions take the
//! node's [`PubSub`] explicitly.

use std::collections::HashMap;

use channels::channel::{Channel, ChannelSocket, HandleIn, Join, Reply};
use channels::message::Payload;
use channels::pubsub::PubSub;
use runtime::ProcessError;
use serde_json::{json, Value};

use super::inventory_ref::InventoryRef;
use super::level::StockLevel;
use super::product_state::product_state;
use super::view::render_sizes;
use crate::inventory::CompleteProduct;
use crate::model::Availability;

/// The topic prefix the channel is routed at (`"product:*"`).
pub const TOPIC_PREFIX: &str = "product:";
/// Broadcast when a product goes on sale: `{"size_html": ...}`.
pub const RELEASED: &str = "released";
/// Broadcast when an item's stock level changes: `{product_id, item_id, level}`.
pub const STOCK_CHANGE: &str = "stock_change";

/// The topic of one product: `product:<id>`.
pub fn product_topic(product_id: u64) -> String {
    format!("{TOPIC_PREFIX}{product_id}")
}

/// The product channel: joins are answered from `inventory`.
pub struct ProductChannel {
    inventory: InventoryRef,
}

impl ProductChannel {
    /// The channel, reading join replies from `inventory` (the same server
    /// the page is rendered from).
    pub fn new(inventory: InventoryRef) -> Self {
        ProductChannel { inventory }
    }
}

impl<A: Send + Sync + 'static> Channel<A> for ProductChannel {
    type State = ();
    type Info = ();

    /// `join("product:" <> id, %{}, socket)` with a params object (phoenix.js
    /// sends `{}` by default), replied with the product's current state.
    ///
    /// Refused with a reason: a topic whose id is not a number, params that
    /// are not an object, and a product this node's memory does not hold —
    /// e.g. a web node just restarted, not yet reloaded from the store. A
    /// refused page rejoins by itself (phoenix.js retries after 1, 2, 5, then
    /// every 10 s) and gets the state once the memory has it; joined without
    /// it, it would keep showing what it missed. An inventory server that does
    /// not answer at all is logged and the join succeeds without state: the
    /// page still hears every later change.
    async fn join(
        &self,
        topic: &str,
        payload: Payload,
        _socket: &ChannelSocket<A>,
    ) -> Result<Join<()>, ProcessError> {
        let Ok(id) = topic
            .strip_prefix(TOPIC_PREFIX)
            .unwrap_or_default()
            .parse::<u64>()
        else {
            return Ok(Join::Error(json!({
                "reason": format!("{topic:?} is not product:<id> with a numeric id")
            })));
        };
        if !matches!(payload, Payload::Json(Value::Object(_))) {
            return Ok(Join::Error(json!({
                "reason": "join params must be a JSON object"
            })));
        }
        match self.inventory.complete_product(id).await {
            Ok(Some(product)) => Ok(Join::OkReply((), product_state(&product))),
            Ok(None) => Ok(Join::Error(json!({
                "reason": format!("product {id} is not in this node's memory (yet)")
            }))),
            Err(err) => {
                tracing::warn!(%topic, %err, "joined without the product's state");
                Ok(Join::Ok(()))
            }
        }
    }

    /// Pages only listen; an event from one is answered with an error instead
    /// of crashing the channel (which would make phoenix.js rejoin in a loop).
    async fn handle_in(
        &self,
        event: &str,
        _payload: Payload,
        _socket: &ChannelSocket<A>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        Ok(HandleIn::Reply(Reply::error(json!({
            "reason": format!("product channels take no client events (got {event:?})")
        }))))
    }
}

/// Broadcasts `released` with the product's rendered sizes on its topic, so
/// every page showing it "coming soon" swaps in the size selector.
pub fn notify_product_released(pubsub: &PubSub, product: &CompleteProduct) {
    let size_html = render_sizes(product);
    pubsub.broadcast(
        &product_topic(product.product.id),
        RELEASED,
        json!({ "size_html": size_html }),
    );
}

/// What [`notify_item_stock_change`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockNotice {
    /// Pages were told the item's new level.
    Broadcast(StockLevel),
    /// The level is the same and not `out`: nothing to tell.
    NoChange,
}

/// Tells pages about an item's new stock level, when they need to hear it.
///
/// `previous` and `current` are the item's availability before and after a
/// change (e.g. the pair a sale returns); `product_id` is the item's product,
/// which names the topic. The book's rule: a level that stays the same is not
/// news (`{same, same} when same != "out" -> no_change`), except `out`, which
/// is always sent so a page that missed the first one still disables the size.
/// `current.item_id` is the item reported; both figures must be for it.
pub fn notify_item_stock_change(
    pubsub: &PubSub,
    product_id: u64,
    previous: Availability,
    current: Availability,
) -> StockNotice {
    debug_assert_eq!(
        previous.item_id, current.item_id,
        "a stock change compares one item's figures"
    );
    let before = StockLevel::from_count(previous.available_count);
    let after = StockLevel::from_count(current.available_count);
    if before == after && after != StockLevel::Out {
        return StockNotice::NoChange;
    }
    pubsub.broadcast(
        &product_topic(product_id),
        STOCK_CHANGE,
        json!({
            "product_id": product_id,
            "item_id": current.item_id,
            "level": after.as_str(),
        }),
    );
    StockNotice::Broadcast(after)
}

/// Tells this node's pages (a local broadcast: every node reloads on its own)
/// what differs between two loads of its memory: products released since,
/// sizes whose level changed; and this node's carts, which sizes went out
/// (`item_out`, not counted in the notices). Products and sizes `before` did not hold are
/// skipped: no page could have joined them here (joins of a product memory
/// does not hold are refused). Returns the number of notices sent.
pub fn notify_memory_reloaded(
    pubsub: &PubSub,
    before: &[CompleteProduct],
    after: &[CompleteProduct],
) -> usize {
    let previous: HashMap<u64, &CompleteProduct> =
        before.iter().map(|p| (p.product.id, p)).collect();
    let mut notices = 0;
    for product in after {
        let Some(old) = previous.get(&product.product.id) else {
            continue;
        };
        let topic = product_topic(product.product.id);
        if product.product.released && !old.product.released {
            let size_html = render_sizes(product);
            pubsub.local_broadcast(&topic, RELEASED, json!({ "size_html": size_html }));
            notices += 1;
        }
        let old_counts: HashMap<u64, u32> = old
            .items
            .iter()
            .map(|i| (i.item.id, i.available_count))
            .collect();
        for entry in &product.items {
            let Some(&old_count) = old_counts.get(&entry.item.id) else {
                continue;
            };
            if entry.available_count == 0 && old_count > 0 {
                super::notify_local_item_out(pubsub, entry.item.id);
            }
            let level = StockLevel::from_count(entry.available_count);
            if level == StockLevel::from_count(old_count) {
                continue;
            }
            pubsub.local_broadcast(
                &topic,
                STOCK_CHANGE,
                json!({
                    "product_id": product.product.id,
                    "item_id": entry.item.id,
                    "level": level.as_str(),
                }),
            );
            notices += 1;
        }
    }
    notices
}
