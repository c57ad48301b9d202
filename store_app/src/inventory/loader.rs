//! Where the inventory server's starting state comes from: the book's
//! `loader_mod`. The real one reads the store; tests pass their own data.

use crate::model::{Availability, Item, Product};
use crate::store::{Store, StoreError};

/// A complete snapshot of the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every product.
    pub products: Vec<Product>,
    /// Every item.
    pub items: Vec<Item>,
    /// Every item's stock.
    pub availability: Vec<Availability>,
}

/// Loads a snapshot; called at every (re)start of the inventory server.
pub trait Loader: Send + Sync + 'static {
    /// The catalogue as it is now.
    fn load(&self) -> Result<Snapshot, StoreError>;
}

/// Loads from the store on this node.
pub struct StoreLoader(pub std::sync::Arc<Store>);

impl Loader for StoreLoader {
    fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            products: self.0.products()?,
            items: self.0.items()?,
            availability: self.0.availability()?,
        })
    }
}

/// A fixed snapshot, for tests and demos.
impl Loader for Snapshot {
    fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(self.clone())
    }
}
