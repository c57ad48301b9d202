//! The book's Sneakers23 store (chapter 7) on top of `channels` and `runtime`.
//!
//! Built so far: the data model ([`model`]), the catalogue on disk
//! ([`store`], sled with bincode values, flushed before acknowledging), and the
//! demo catalogue ([`catalogue`]), and the inventory ([`inventory`]): the
//! functional core, its loader and the supervised server that serves reads
//! from memory. Replication, web pages, console commands and the demo script
//! come next (see the issue).

pub mod catalogue;
pub mod inventory;
pub mod model;
pub mod store;
