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
//! | `store.products` | every product with its sizes and stock as the store holds them, in `inventory.products`' format: the truth to compare a node's memory with |

mod inventory;
mod mock;
mod store;

use runtime::console::Console;

use crate::sneakers23::Sneakers23;

pub use inventory::render_products;

/// Registers the store's commands for `context`.
pub fn register(console: &Console, context: &Sneakers23) {
    inventory::register(console, context);
    mock::register(console, context);
    store::register(console, context);
}
