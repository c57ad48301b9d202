//! The inventory: the catalogue in memory, as the book's `Sneakers23.Inventory`.
//!
//! - [`state`]: the functional core — plain data and pure functions, no
//!   processes, no sockets (`Inventory.Inventory` in the book).
//! - [`loader`]: how the server gets its starting snapshot (the book's
//!   `loader_mod`, so tests inject data).
//! - [`server`]: the supervised GenServer that owns the state, loads it at
//!   start (and again after a restart) and serves every read from memory.

pub mod loader;
pub mod server;
pub mod state;

pub use loader::{Loader, Snapshot, StoreLoader};
pub use server::{InventoryCall, InventoryServer, StockChange};
pub use state::{CompleteItem, CompleteProduct, Inventory, InventoryError};
