//! `Sneakers23Web.ShoppingCartChannel`: one topic per cart, `cart:<id>`,
//! joined by every tab of the browser that owns the cart (book ch9).
//!
//! - **join** restores the cart from `params["serialized"]` (an empty cart
//!   for a missing, forged or expired token) and pushes `"cart"` right after
//!   the join reply, as the book's `send(self(), :send_cart)` does. Only the
//!   cart id the socket proved at connect (`Shopper::cart_id`) may be joined.
//! - **`add_item` / `remove_item`** `{item_id}` reply with the cart
//!   ([`cart_to_map`]) and `broadcast_from` `"cart_updated"`
//!   `{serialized, added, removed}`, which the other tabs' channels intercept
//!   to take the new cart and push it to their page. A bad or unknown item id
//!   is an error reply: the channel never crashes on a shopper's input.
//! - **sold-out alerts**: the channel subscribes to `item_out:<id>` for every
//!   item in its cart and pushes `"cart"` (the item flagged `out_of_stock`)
//!   when one arrives.
//! - **checkout**: the checkout page broadcasts `"cart_updated"` with the
//!   emptied cart, so every tab's cart clears.
//! - **the admin's view**: with a cart tracker, every cart channel tracks
//!   its cart in `admin:cart_tracker` (key: the cart id; meta: the node and
//!   the item ids), updated as the cart changes and gone when the channel
//!   ends — what the admin dashboard counts.

use channels::channel::{Channel, ChannelSocket, Continue, HandleIn, Join, Reply};
use channels::message::Payload;
use channels::presence::Presence;
use channels::pubsub::SubscriberId;
use channels::token::Signer;
use channels::tracker::TrackedProcess;
use runtime::{ExitReason, ProcessError};
use serde_json::{json, Value};

use super::cart_view::cart_to_map;
use super::inventory_ref::InventoryRef;
use super::item_out::item_out_topic;
use super::product_socket::Shopper;
use crate::checkout::{is_cart_id, restore_cart, CartError, ShoppingCart};
use crate::inventory::CompleteProduct;

/// The topic prefix the channel is routed at (`"cart:*"`).
pub const CART_TOPIC_PREFIX: &str = "cart:";
/// Pushed to the page: the whole cart, `{items, serialized}`.
pub const CART: &str = "cart";
/// Broadcast between one cart's channels: `{serialized, added, removed}`.
pub const CART_UPDATED: &str = "cart_updated";

/// The topic of one cart: `cart:<id>`.
pub fn cart_topic(cart_id: &str) -> String {
    format!("{CART_TOPIC_PREFIX}{cart_id}")
}

/// The cart channel: renders carts from `inventory`, signs them with `signer`.
pub struct ShoppingCartChannel {
    inventory: InventoryRef,
    signer: Signer,
    cart_tracker: Option<Presence>,
}

/// The topic carts are tracked in, and the admin dashboard's channel.
pub const CART_TRACKER_TOPIC: &str = "admin:cart_tracker";

impl ShoppingCartChannel {
    /// The channel over this node's inventory server and secret.
    pub fn new(inventory: InventoryRef, signer: Signer) -> Self {
        ShoppingCartChannel {
            inventory,
            signer,
            cart_tracker: None,
        }
    }

    /// Tracks every joined cart in `cart_tracker` (`None`: not tracked).
    pub fn with_cart_tracker(mut self, cart_tracker: Option<Presence>) -> Self {
        self.cart_tracker = cart_tracker;
        self
    }

    /// Tracks the cart, or updates its tracked items (no tracker: nothing).
    async fn track(&self, socket: &CartSocket, state: &mut CartState) {
        let Some(tracker) = &self.cart_tracker else {
            return;
        };
        let cart_id = socket
            .topic()
            .strip_prefix(CART_TOPIC_PREFIX)
            .unwrap_or_default()
            .to_string();
        let meta = json!({ "node": socket.node_name(), "items": state.cart.item_ids() });
        let result = match &state.tracked {
            Some(process) => {
                tracker
                    .update(CART_TRACKER_TOPIC, process, &cart_id, meta)
                    .await
            }
            None => {
                let process = tracker.process();
                let result = tracker
                    .track_in(CART_TRACKER_TOPIC, &process, &cart_id, meta)
                    .await;
                state.tracked = Some(process);
                result
            }
        };
        if let Err(err) = result {
            tracing::warn!(%err, "cart not tracked for the admin's view");
        }
    }
}

/// A joined cart channel's state: the cart, and its `item_out` subscriptions.
#[derive(Default)]
pub struct CartState {
    cart: ShoppingCart,
    /// One per item in the cart.
    subscriptions: Vec<(u64, SubscriberId)>,
    /// The channel's identity with the cart tracker: dropped with the state
    /// when the channel ends, which untracks the cart.
    tracked: Option<TrackedProcess>,
}

/// Messages to a cart channel's process.
#[derive(Debug)]
pub enum CartInfo {
    /// Push the cart (right after the join).
    SendCart,
    /// An item of the cart sold out on this node.
    ItemOut(u64),
}

type CartSocket = ChannelSocket<Shopper, CartInfo>;

impl ShoppingCartChannel {
    /// Pushes `"cart"` to the page.
    async fn push_cart(&self, socket: &CartSocket, cart: &ShoppingCart) {
        match self.render(cart).await {
            Ok(map) => socket.push(CART, map),
            Err(reason) => tracing::warn!(?reason, "cart not pushed"),
        }
    }

    /// The cart as the page shows it, rendered from this node's memory.
    async fn render(&self, cart: &ShoppingCart) -> Result<Value, Value> {
        let products = self
            .inventory
            .cart_products(cart)
            .await
            .map_err(unavailable)?;
        Ok(cart_to_map(cart, &products, &self.signer))
    }

    /// Handles `add_item` / `remove_item`: the new cart, or why not.
    async fn change(
        &self,
        event: &str,
        payload: &Payload,
        socket: &CartSocket,
        state: &mut CartState,
    ) -> Result<Value, Value> {
        let item_id = item_id_param(payload)?;
        let mut cart = state.cart.clone();
        let (added, removed) = if event == "add_item" {
            let entry = self
                .inventory
                .item(item_id)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| refusal("unknown_item", format!("no item {item_id}")))?;
            let product = self
                .inventory
                .complete_product(entry.item.product_id)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| refusal("unknown_item", format!("no product for item {item_id}")))?;
            if !product.product.released {
                return Err(refusal(
                    "not_released",
                    format!("{} is not on sale yet", product.product.name),
                ));
            }
            if entry.available_count == 0 {
                return Err(refusal(
                    "out_of_stock",
                    format!("size {} is sold out", entry.item.size),
                ));
            }
            cart.add_item(&entry.item)
                .map_err(|err| add_refusal(err, &product))?;
            (vec![item_id], vec![])
        } else {
            cart.remove_item(item_id).map_err(cart_refusal)?;
            (vec![], vec![item_id])
        };
        let map = self.render(&cart).await?;
        socket.broadcast_from(
            CART_UPDATED,
            json!({ "serialized": map["serialized"], "added": added, "removed": removed }),
        );
        state.cart = cart;
        subscribe_to_items(socket, state);
        self.track(socket, state).await;
        Ok(map)
    }
}

impl Channel<Shopper> for ShoppingCartChannel {
    type State = CartState;
    type Info = CartInfo;

    /// `join("cart:" <> id, params, socket) when byte_size(id) == 64`, for
    /// the socket's own cart only.
    async fn join(
        &self,
        topic: &str,
        payload: Payload,
        socket: &CartSocket,
    ) -> Result<Join<CartState>, ProcessError> {
        let id = topic.strip_prefix(CART_TOPIC_PREFIX).unwrap_or_default();
        if !is_cart_id(id) {
            return Ok(Join::Error(json!({
                "reason": "not a cart topic: cart:<64-character cart id>"
            })));
        }
        if socket.assigns().cart_id.as_deref() != Some(id) {
            return Ok(Join::Error(json!({ "reason": "unauthorized" })));
        }
        let Payload::Json(Value::Object(params)) = payload else {
            return Ok(Join::Error(
                json!({ "reason": "join params must be a JSON object" }),
            ));
        };
        let serialized = params.get("serialized").and_then(Value::as_str);
        let mut state = CartState {
            cart: restore_cart(&self.signer, serialized),
            subscriptions: Vec::new(),
            tracked: None,
        };
        subscribe_to_items(socket, &mut state);
        socket.myself().send(CartInfo::SendCart);
        Ok(Join::Ok(state))
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &CartSocket,
        state: &mut CartState,
    ) -> Result<HandleIn, ProcessError> {
        let reply = match event {
            "add_item" | "remove_item" => match self.change(event, &payload, socket, state).await {
                Ok(map) => Reply::ok(map),
                Err(refused) => Reply::error(refused),
            },
            other => Reply::error(refusal(
                "unknown_event",
                format!("cart channels take add_item and remove_item (got {other:?})"),
            )),
        };
        Ok(HandleIn::Reply(reply))
    }

    fn intercepts(&self) -> &'static [&'static str] {
        &[CART_UPDATED]
    }

    /// Another tab changed the cart (or a checkout emptied it): take it.
    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &CartSocket,
        state: &mut CartState,
    ) -> Result<Continue, ProcessError> {
        if event == CART_UPDATED {
            let serialized = payload
                .as_json()
                .and_then(|p| p.get("serialized"))
                .and_then(Value::as_str);
            state.cart = restore_cart(&self.signer, serialized);
            subscribe_to_items(socket, state);
            self.track(socket, state).await;
            self.push_cart(socket, &state.cart).await;
        }
        Ok(Continue::NoReply)
    }

    async fn handle_info(
        &self,
        message: CartInfo,
        socket: &CartSocket,
        state: &mut CartState,
    ) -> Result<Continue, ProcessError> {
        match message {
            CartInfo::SendCart => {
                self.push_cart(socket, &state.cart).await;
                self.track(socket, state).await;
            }
            CartInfo::ItemOut(item_id) if state.cart.item_ids().contains(&item_id) => {
                self.push_cart(socket, &state.cart).await
            }
            // Removed from the cart since the alert was sent.
            CartInfo::ItemOut(_) => {}
        }
        Ok(Continue::NoReply)
    }

    async fn terminate(&self, _reason: &ExitReason, socket: &CartSocket, state: &mut CartState) {
        let pubsub = socket.pubsub();
        for (item_id, id) in state.subscriptions.drain(..) {
            pubsub.unsubscribe(&item_out_topic(item_id), id);
        }
    }
}

/// Makes the channel's `item_out` subscriptions those of its cart's items:
/// subscribes to the new ones, unsubscribes from the ones removed.
fn subscribe_to_items(socket: &CartSocket, state: &mut CartState) {
    let pubsub = socket.pubsub();
    let in_cart = state.cart.item_ids();
    state.subscriptions.retain(|&(item_id, id)| {
        let keep = in_cart.contains(&item_id);
        if !keep {
            pubsub.unsubscribe(&item_out_topic(item_id), id);
        }
        keep
    });
    for item_id in in_cart {
        if state
            .subscriptions
            .iter()
            .any(|&(subscribed, _)| subscribed == item_id)
        {
            continue;
        }
        let me = socket.myself();
        let id = pubsub.subscribe(&item_out_topic(item_id), move |_| {
            me.send(CartInfo::ItemOut(item_id))
        });
        state.subscriptions.push((item_id, id));
    }
}

/// `params["item_id"]`: a number, or a string of digits (what a page reads
/// from a button's value). Anything else is refused, never a crash (the
/// book's `String.to_integer` raises).
fn item_id_param(payload: &Payload) -> Result<u64, Value> {
    let value = payload.as_json().and_then(|p| p.get("item_id"));
    let id = match value {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    id.ok_or_else(|| {
        refusal(
            "invalid_item_id",
            format!(
                "item_id must be a non-negative integer (got {})",
                value.unwrap_or(&Value::Null)
            ),
        )
    })
}

fn unavailable(err: super::InventoryUnavailable) -> Value {
    refusal(
        "inventory_unavailable",
        format!("the store cannot show carts right now: {err}"),
    )
}

/// An error reply: `{error, message}` (`error` as the book's atoms).
fn refusal(error: &str, message: String) -> Value {
    json!({ "error": error, "message": message })
}

/// A refused `add_item`, told in the shopper's words (the cart's own error
/// names ids; the page shows this message as it is).
fn add_refusal(err: CartError, product: &CompleteProduct) -> Value {
    let size_of = |item_id: u64| {
        product
            .items
            .iter()
            .find(|entry| entry.item.id == item_id)
            .map_or_else(
                || format!("item {item_id}"),
                |entry| entry.item.size.clone(),
            )
    };
    let name = &product.product.name;
    match err {
        CartError::DuplicateItem(item_id) => refusal(
            "duplicate_item",
            format!(
                "{name} in size {} is already in your cart",
                size_of(item_id)
            ),
        ),
        CartError::ProductInCart { in_cart, .. } => refusal(
            "product_in_cart",
            format!(
                "Your cart already holds {name} in size {}: remove it to pick another size",
                size_of(in_cart)
            ),
        ),
        CartError::NotFound(_) => cart_refusal(err),
    }
}

fn cart_refusal(err: CartError) -> Value {
    let error = match err {
        CartError::DuplicateItem(_) => "duplicate_item",
        CartError::ProductInCart { .. } => "product_in_cart",
        CartError::NotFound(_) => "not_found",
    };
    refusal(error, err.to_string())
}
