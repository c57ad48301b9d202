//! The catalogue's records, as the book models them: a product (a shoe), its
//! items (one per size), and each item's availability. Integer ids; prices in
//! US cents so that no float ever touches money.

use serde::{Deserialize, Serialize};

/// A product: one shoe in one colour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its id.
    pub id: u64,
    /// Stock-keeping unit.
    pub sku: String,
    /// Maker.
    pub brand: String,
    /// Model name.
    pub name: String,
    /// Colourway.
    pub color: String,
    /// Price in US cents.
    pub price_cents: u64,
    /// Image path, served locally.
    pub image: String,
    /// Whether it is on sale yet ("coming soon" until released).
    pub released: bool,
    /// Position on the page.
    pub order: u32,
}

/// One size of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its id.
    pub id: u64,
    /// The product it is a size of.
    pub product_id: u64,
    /// Stock-keeping unit of this size.
    pub sku: String,
    /// The size, e.g. "9.5".
    pub size: String,
}

/// How many of an item are left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// The item.
    pub item_id: u64,
    /// Units left.
    pub available_count: u32,
}

/// The whole catalogue at one moment: what the store holds, what a node's
/// inventory server loads into memory, what crosses the cluster when a node
/// asks the store's owner for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every product.
    pub products: Vec<Product>,
    /// Every item.
    pub items: Vec<Item>,
    /// Every item's stock.
    pub availability: Vec<Availability>,
}
