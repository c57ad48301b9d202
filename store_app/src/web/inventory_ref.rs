//! How the web layer reaches the node's inventory server: the page is
//! rendered from its memory, and a product channel's join reply is read from
//! it. Both go through [`InventoryRef`], so a supervised server that was
//! restarted is found again by name, and an unreachable one is an error the
//! caller decides about (the page answers 503, a join carries no state).

use std::sync::Arc;

use runtime::{server, CallError, Pid};

use crate::inventory::{CompleteProduct, InventoryCall, InventoryReply, InventoryServer};

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
    /// The server answered something else: a bug.
    #[error("the inventory server answered {0}")]
    UnexpectedReply(String),
}

impl InventoryRef {
    /// Every product with its sizes and stock (`InventoryCall::CompleteProducts`).
    pub async fn complete_products(&self) -> Result<Arc<[CompleteProduct]>, InventoryUnavailable> {
        match self.call(InventoryCall::CompleteProducts).await? {
            InventoryReply::Products(products) => Ok(products),
            other => Err(InventoryUnavailable::UnexpectedReply(format!("{other:?}"))),
        }
    }

    /// One product with its sizes and stock, `None` if this node's memory
    /// does not hold it (`InventoryCall::CompleteProduct`).
    pub async fn complete_product(
        &self,
        id: u64,
    ) -> Result<Option<CompleteProduct>, InventoryUnavailable> {
        match self.call(InventoryCall::CompleteProduct(id)).await? {
            InventoryReply::Product(product) => Ok(product),
            other => Err(InventoryUnavailable::UnexpectedReply(format!("{other:?}"))),
        }
    }

    async fn call(&self, request: InventoryCall) -> Result<InventoryReply, InventoryUnavailable> {
        let reply = match self {
            InventoryRef::Pid(pid) => pid.call(request).await?,
            InventoryRef::Named(name) => {
                server::whereis::<InventoryServer>(name)
                    .ok_or_else(|| InventoryUnavailable::NotRegistered(name.clone()))?
                    .call(request)
                    .await?
            }
        };
        Ok(reply)
    }
}
