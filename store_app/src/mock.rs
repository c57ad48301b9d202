//! Mock shoppers (the book's `Sneakers23Mock.InventoryReducer`):
//! `sell_random_until_gone!(delay_ms)` sells one random in-stock size of a
//! released product every `delay_ms`, through the same context a real sale
//! uses (store, memory, replication, pages), until nothing released is left —
//! so a person can watch sizes go out live on every page.

use std::time::Duration;

use crate::inventory::CompleteProduct;
use crate::sneakers23::{Sneakers23, Sneakers23Error};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRun {
    /// Units sold by this run.
    pub sold: u64,
    /// Sales refused because another shopper took the last unit first.
    pub lost_races: u64,
}

/// The ids of in-stock items of released products, as this node's memory has them.
pub fn sellable(products: &[CompleteProduct]) -> Vec<u64> {
    products
        .iter()
        .filter(|p| p.product.released)
        .flat_map(|p| &p.items)
        .filter(|i| i.available_count > 0)
        .map(|i| i.item.id)
        .collect()
}

/// Sells a random sellable item every `delay` until none is left. Stops early
/// on an error other than losing a race for the last unit (e.g. the store is
/// unreachable), returning it.
pub async fn sell_random_until_gone(
    context: &Sneakers23,
    delay: Duration,
) -> Result<MockRun, Sneakers23Error> {
    let mut run = MockRun {
        sold: 0,
        lost_races: 0,
    };
    loop {
        let candidates = sellable(&context.get_complete_products().await?);
        if candidates.is_empty() {
            tracing::info!(
                sold = run.sold,
                "mock shoppers: everything released is gone"
            );
            return Ok(run);
        }
        let item_id = candidates[fastrand::usize(..candidates.len())];
        match context.item_sold(item_id).await {
            Ok(_) => run.sold += 1,
            Err(Sneakers23Error::OutOfStock(_)) => {
                run.lost_races += 1;
            }
            Err(err) => {
                tracing::warn!(%err, sold = run.sold, "mock shoppers stopped");
                return Err(err);
            }
        }
        tokio::time::sleep(delay).await;
    }
}
