//! The store's console commands (registered with the node's console, so they
//! work in the REPL, through `remote` and through `rpc`):
//!
//! | command | does |
//! |---|---|
//! | `inventory.products` | every product with its sizes and stock, from this node's memory |
//! | `inventory.release ID` | `mark_product_released!(ID)`: store, memory, every node, every page |
//! | `inventory.sell ITEM_ID` | `item_sold!(ITEM_ID)`: one unit |
//! | `mock.sell_random_until_gone DELAY_MS` | the book's mock shoppers, in the background |
//! | `mock.stop` | stops them |
//! | `store.seed [CATALOGUE]` | fills an empty store with `demo` (the default) or `flash`; every node reloads |
//! | `store.status` | where the store is and what it holds, next to this node's memory |
//! | `cart.show TOKEN` | the cart a serialized cart token holds, each size with its stock in this node's memory |
//! | `admin.carts` | every tracked cart on every node that is up (`register_admin`) |
//! | `checkout.stats` | purchases, sold-out refusals, failures and units sold by checkout on this node |
//! | `store.products` | every product with its sizes and stock as the store holds them, in `inventory.products`' format: the truth to compare a node's memory with |

mod admin;
mod checkout;
mod inventory;
mod mock;
mod store;

use channels::token::Signer;
use runtime::console::Console;

use crate::checkout::Checkout;
use crate::sneakers23::Sneakers23;

pub use inventory::render_products;

/// Registers the store's commands for `context`; `checkout` and the node's
/// secret (`signer`, which reads cart tokens) for the cart commands.
pub fn register(console: &Console, context: &Sneakers23, checkout: &Checkout, signer: &Signer) {
    checkout::register(console, checkout, signer);
    inventory::register(console, context);
    mock::register(console, context);
    store::register(console, context);
}

/// Registers `admin.carts` for the node's cart tracker.
pub fn register_admin(console: &Console, cart_tracker: &channels::presence::Presence) {
    admin::register(console, cart_tracker);
}
