//! How the web layer reaches the node's inventory server: the page is
//! rendered from its memory, and a product channel's join reply is read from
//! it. Both go through [`InventoryRef`], so a supervised server that was
//! restarted is found again by name, and an unreachable one is an error the
//! caller decides about (the page answers 503, a join carries no state).

use std::sync::Arc;

use runtime::{server, CallError, Pid};

use crate::checkout::ShoppingCart;
use crate::inventory::{CompleteItem, CompleteProduct, InventoryCall, InventoryServer};

/// How the web layer reaches the inventory server.
#[derive(Clone, Debug)]
pub enum InventoryRef {
    /// This process. If it is restarted, the page answers 503 from then on:
    /// use [`InventoryRef::Named`] for a supervised server.
    Pid(Pid<InventoryServer>),
    /// Whatever process is registered under this name when it is asked, so a
    /// server restarted by its supervisor is found again.
    Named(String),
}

impl From<Pid<InventoryServer>> for InventoryRef {
    fn from(pid: Pid<InventoryServer>) -> Self {
        InventoryRef::Pid(pid)
    }
}

/// Why the inventory server could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum InventoryUnavailable {
    /// No process is registered under the name (e.g. mid-restart).
    #[error("no inventory server is registered as {0:?}")]
    NotRegistered(String),
    /// The call failed (process gone, or too slow).
    #[error("the inventory server did not answer: {0}")]
    Call(#[from] CallError),
}

impl InventoryRef {
    /// Every product with its sizes and stock (`InventoryCall::CompleteProducts`).
    pub async fn complete_products(&self) -> Result<Arc<[CompleteProduct]>, InventoryUnavailable> {
        Ok(self.pid()?.request(InventoryCall::CompleteProducts).await?)
    }

    /// One product with its sizes and stock, `None` if this node's memory
    /// does not hold it (`InventoryCall::CompleteProduct`).
    pub async fn complete_product(
        &self,
        id: u64,
    ) -> Result<Option<CompleteProduct>, InventoryUnavailable> {
        let pid = self.pid()?;
        Ok(pid
            .request(|r| InventoryCall::CompleteProduct(id, r))
            .await?)
    }

    /// One item with its units left, `None` if memory does not hold it
    /// (`InventoryCall::Item`).
    pub async fn item(&self, id: u64) -> Result<Option<CompleteItem>, InventoryUnavailable> {
        Ok(self.pid()?.request(|r| InventoryCall::Item(id, r)).await?)
    }

    /// The products of a cart's lines, with their sizes and stock: what a
    /// cart is rendered from, without copying the whole catalogue (which
    /// every sale changes) for every cart.
    pub async fn cart_products(
        &self,
        cart: &ShoppingCart,
    ) -> Result<Vec<CompleteProduct>, InventoryUnavailable> {
        let mut products = Vec::with_capacity(cart.items().len());
        for line in cart.items() {
            if let Some(product) = self.complete_product(line.product_id).await? {
                products.push(product);
            }
        }
        Ok(products)
    }

    /// The server to ask now.
    fn pid(&self) -> Result<Pid<InventoryServer>, InventoryUnavailable> {
        match self {
            InventoryRef::Pid(pid) => Ok(pid.clone()),
            InventoryRef::Named(name) => server::whereis::<InventoryServer>(name)
                .ok_or_else(|| InventoryUnavailable::NotRegistered(name.clone())),
        }
    }
}
