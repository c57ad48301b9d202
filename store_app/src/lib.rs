//! The book's Sneakers23 store (chapter 7) on top of `channels` and `runtime`.
//!
//! Built so far: the data model ([`model`]), the catalogue on disk
//! ([`store`], sled with bincode values, flushed before acknowledging), and the
//! demo catalogue ([`catalogue`]). The inventory server, replication, web
//! pages, console commands and the demo script come next (see the issue).

pub mod catalogue;
pub mod model;
pub mod store;
