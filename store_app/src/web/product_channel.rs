//! `Sneakers23Web.ProductChannel`: one topic per product, `product:<id>`, that
//! shoppers' pages join to hear about that product. The channel takes nothing
//! from the browser; the inventory context calls the `notify_*` functions here
//! when a product is released or an item's stock level changes, and PubSub
//! carries the broadcast to every joined page on every node.
//!
//! There is no global `Endpoint` as in Phoenix, so the functions take the
//! node's [`PubSub`] explicitly.

use channels::channel::{Channel, ChannelSocket, HandleIn, Join, Reply};
use channels::message::Payload;
use channels::pubsub::PubSub;
use runtime::ProcessError;
use serde_json::{json, Value};

use super::level::StockLevel;
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

/// The product channel.
pub struct ProductChannel;

impl<A: Send + Sync + 'static> Channel<A> for ProductChannel {
    type State = ();
    type Info = ();

    /// `join("product:" <> _sku, %{}, socket)`: any product, with a params
    /// object (phoenix.js sends `{}` by default). A topic whose id is not a
    /// number, or params that are not an object, are refused with a reason.
    async fn join(
        &self,
        topic: &str,
        payload: Payload,
        _socket: &ChannelSocket<A>,
    ) -> Result<Join<()>, ProcessError> {
        let id = topic.strip_prefix(TOPIC_PREFIX).unwrap_or_default();
        if id.parse::<u64>().is_err() {
            return Ok(Join::Error(json!({
                "reason": format!("{topic:?} is not product:<id> with a numeric id")
            })));
        }
        match payload {
            Payload::Json(Value::Object(_)) => Ok(Join::Ok(())),
            _ => Ok(Join::Error(json!({
                "reason": "join params must be a JSON object"
            }))),
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
