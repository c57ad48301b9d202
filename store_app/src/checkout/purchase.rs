//! Buying a cart (the book's `Sneakers23.Checkout.purchase_cart`): every item
//! of it, all or nothing, in one store transaction, through the inventory
//! context like any sale — so a purchase is durable before it is
//! acknowledged, then applied to memory, replicated, and announced to pages
//! (`stock_change`) and carts (`item_out`).
//!
//! A checkout is one order ([`order_key`]): the same cart sent twice by the
//! same browser — a double click, a form resent from the history, a replayed
//! request — is sold once; the second is refused as already placed.
//!
//! [`Checkout`] also counts what happened, for operators (`checkout.stats`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::model::Availability;
use crate::sneakers23::{Sneakers23, Sneakers23Error};
use crate::store::OrderKey;
use crate::store_requests::StoreFailure;

use super::ShoppingCart;

/// Why a cart was not bought.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// Nothing to buy.
    #[error("the cart is empty")]
    EmptyCart,
    /// These items have no unit left; nothing was sold.
    #[error("sold out before you checked out: {}", crate::store::item_list(.0))]
    SoldOut(Vec<u64>),
    /// This order was placed already; nothing more was sold.
    #[error("this order was already placed")]
    AlreadyPurchased,
    /// The store refused or could not be reached; nothing is known to be sold.
    #[error(transparent)]
    Failed(Sneakers23Error),
}

/// A purchase that went through: each item's stock before and after, as this
/// node's memory saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchased {
    /// One entry per item of the cart.
    pub items: Vec<(Availability, Availability)>,
}

/// Purchases, refusals and units sold since the node started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckoutStats {
    /// Carts bought.
    pub purchases: u64,
    /// Carts refused: sold out.
    pub sold_out: u64,
    /// Orders refused: placed already (sent twice).
    pub repeated: u64,
    /// Carts that failed otherwise (store unreachable, unknown item, …).
    pub failures: u64,
    /// Units sold by purchases.
    pub units_sold: u64,
}

#[derive(Default)]
struct Counters {
    purchases: AtomicU64,
    sold_out: AtomicU64,
    repeated: AtomicU64,
    failures: AtomicU64,
    units_sold: AtomicU64,
}

/// The checkout context: cheap to clone.
#[derive(Clone)]
pub struct Checkout {
    context: Sneakers23,
    counters: Arc<Counters>,
}

impl Checkout {
    /// Checkout over the inventory context `context`.
    pub fn new(context: Sneakers23) -> Self {
        Checkout {
            context,
            counters: Arc::default(),
        }
    }

    /// The inventory context purchases go through.
    pub fn context(&self) -> &Sneakers23 {
        &self.context
    }

    /// Buys every item of `cart`, all or nothing, as the order `order` (see
    /// [`order_key`]): an order already placed is refused and sells nothing.
    pub async fn purchase_cart(
        &self,
        cart: &ShoppingCart,
        order: OrderKey,
    ) -> Result<Purchased, CheckoutError> {
        if cart.is_empty() {
            return Err(CheckoutError::EmptyCart);
        }
        let result = match self.context.purchase(&cart.item_ids(), Some(order)).await {
            Ok(items) => Ok(Purchased { items }),
            Err(Sneakers23Error::SoldOut(items)) => Err(CheckoutError::SoldOut(items)),
            Err(Sneakers23Error::Refused(StoreFailure::AlreadyPurchased)) => {
                Err(CheckoutError::AlreadyPurchased)
            }
            Err(err) => Err(CheckoutError::Failed(err)),
        };
        let counters = &self.counters;
        match &result {
            Ok(purchased) => {
                counters.purchases.fetch_add(1, Ordering::Relaxed);
                let units = purchased.items.len() as u64;
                counters.units_sold.fetch_add(units, Ordering::Relaxed);
            }
            Err(CheckoutError::SoldOut(_)) => {
                counters.sold_out.fetch_add(1, Ordering::Relaxed);
            }
            Err(CheckoutError::AlreadyPurchased) => {
                counters.repeated.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    /// What happened so far on this node.
    pub fn stats(&self) -> CheckoutStats {
        let counters = &self.counters;
        CheckoutStats {
            purchases: counters.purchases.load(Ordering::Relaxed),
            sold_out: counters.sold_out.load(Ordering::Relaxed),
            repeated: counters.repeated.load(Ordering::Relaxed),
            failures: counters.failures.load(Ordering::Relaxed),
            units_sold: counters.units_sold.load(Ordering::Relaxed),
        }
    }
}

/// The order a checkout makes: this browser's cart id and the exact cart
/// token it sends. A cart token changes with every change of the cart (it
/// holds the items and when it was signed), and the cart id is the
/// browser's, so the same key means the same browser sending the same cart
/// again; another browser with an identical cart is another order.
pub fn order_key(cart_id: &str, serialized_cart: &str) -> OrderKey {
    let mut digest = Sha256::new();
    digest.update(cart_id.as_bytes());
    digest.update(b"\n");
    digest.update(serialized_cart.as_bytes());
    digest.finalize().into()
}
