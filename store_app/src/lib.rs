//! The book's Sneakers23 store (chapter 7) on top of `channels` and `runtime`.
//!
//! | module | one job |
//! |---|---|
//! | [`model`] | Product, Item, Availability |
//! | [`store`] | the catalogue on disk (sled, bincode, flushed before acknowledging) |
//! | [`catalogue`] | the demo catalogue `seed` writes |
//! | [`store_requests`] | what that service is asked, each request with its answer type |
//! | [`store_server`] | the database as a cluster-wide service, on the node that owns it |
//! | [`store_client`] | how any node reaches that service |
//! | [`inventory`] | the functional core, its loader, the supervised inventory server |
//! | [`checkout`] | shopping carts (signed, portable), cart ids |
//! | [`replication`] | keeps every node's inventory in step (`inventory_replication`) |
//! | [`sneakers23`] | the context: store first, then memory, then replication and pages |

pub mod app;
pub mod catalogue;
pub mod checkout;
pub mod console_commands;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod inventory;
pub mod inventory_resync;
pub mod mock;
pub mod model;
pub mod replication;
pub mod sneakers23;
pub mod store;
pub mod store_client;
pub mod store_requests;
pub mod store_server;
pub mod store_watch;
pub mod web;
