//! The book's Sneakers23 store: catalogue, inventory, replication and web
//! pages on top of `channels` and `runtime`. Its issue has not been taken up
//! yet; the crate exists so that the workspace's layering is fixed from the start.
