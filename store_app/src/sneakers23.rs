//! The store's context (the book's `Sneakers23` / `Sneakers23.Inventory`
//! functions): what the console, the web and the mock shoppers call.
//!
//! Every write goes **store first** (durable before anything else sees it),
//! **then the in-memory inventory**, **then replication and notification**:
//! a page or another node never shows a release or sale the store has not
//! acknowledged. Reads never touch the store: they are served from this node's
//! inventory server, so they keep working when the store is unreachable.
//!
//! Nothing here knows about sockets. Page updates go through the [`Notifier`]
//! the node plugs in (the web layer's ProductChannel functions), as the book
//! delegates `Sneakers23Web.notify_*` to `ProductChannel`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use runtime::{Pid, ReplyTo};

use crate::inventory::{CompleteProduct, InventoryCall, InventoryError, InventoryServer};
use crate::model::{Availability, Item};
use crate::replication::Replication;
use crate::store::OrderKey;
use crate::store_client::{StoreCallError, StoreClient};
use crate::store_requests::{Purchase, PurchaseOrder, Seeded, StoreFailure};

/// The registered name of a node's inventory server.
pub const INVENTORY: &str = "Sneakers23.Inventory";

/// After a sale of unknown outcome: the wait before the first reload, then
/// doubled after each failure up to [`RECONCILE_MAX_WAIT`].
const RECONCILE_FIRST_WAIT: Duration = Duration::from_millis(250);
/// The longest wait between two reloads while the store stays away.
const RECONCILE_MAX_WAIT: Duration = Duration::from_secs(5);

/// Tells open pages about changes (implemented by the web layer).
pub trait Notifier: Send + Sync + 'static {
    /// A product was released: pages replace "coming soon" with its sizes.
    fn product_released(&self, product: &CompleteProduct);
    /// An item's stock changed from `before` to `after`; returns whether the
    /// pages were told (only when the level shown changes, or it is out).
    fn item_stock_change(&self, item: &Item, before: Availability, after: Availability) -> bool;
    /// This node's memory was loaded again from the store: tell this node's
    /// pages (only these: every node reloads on its own) what differs between
    /// `before` and `after`. Nothing by default.
    fn memory_reloaded(&self, _before: &[CompleteProduct], _after: &[CompleteProduct]) {}
    /// An item has no unit left in this node's memory: tell the carts
    /// joined on **this node** (the book's `notify_local_item_stock_change`).
    /// Every node calls it from its own sale handling, replicated sales
    /// included, so each tells its own carts once its own memory is out —
    /// never before, which a cluster-wide broadcast from the seller could do.
    fn item_out(&self, item_id: u64);
}

/// Tells the notifier when a change in this node's memory took an item's
/// last unit (it had some before, none after).
pub fn notify_if_item_out(notifier: &dyn Notifier, before: Availability, after: Availability) {
    if after.available_count == 0 && before.available_count > 0 {
        notifier.item_out(after.item_id);
    }
}

/// Why a context operation failed. Flat, so that a caller tells the cases
/// apart with one pattern (`Err(Sneakers23Error::OutOfStock(_))`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Sneakers23Error {
    /// The store refused the sale: no units of this item are left.
    #[error("item {0} is out of stock")]
    OutOfStock(u64),
    /// The store refused a purchase and sold nothing: these items have no
    /// unit left.
    #[error("out of stock: {}", crate::store::item_list(.0))]
    SoldOut(Vec<u64>),
    /// The store refused for another reason: an unknown id, a seed that does
    /// not fit, a database failure (never `OutOfStock`: see above).
    #[error(transparent)]
    Refused(StoreFailure),
    /// The store could not be asked or did not answer (never `Refused`: see
    /// above). Reads keep working from memory.
    #[error(transparent)]
    StoreDown(StoreCallError),
    /// The in-memory inventory refused (e.g. it does not know the id).
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The inventory server is not running (it is being restarted).
    #[error("the inventory server is not available: {0}")]
    InventoryDown(String),
}

impl From<StoreCallError> for Sneakers23Error {
    fn from(err: StoreCallError) -> Self {
        match err {
            StoreCallError::Refused(StoreFailure::OutOfStock(item)) => {
                Sneakers23Error::OutOfStock(item)
            }
            StoreCallError::Refused(StoreFailure::SoldOut(items)) => {
                Sneakers23Error::SoldOut(items)
            }
            StoreCallError::Refused(failure) => Sneakers23Error::Refused(failure),
            down => Sneakers23Error::StoreDown(down),
        }
    }
}

/// The context: cheap to clone.
#[derive(Clone)]
pub struct Sneakers23 {
    inventory: String,
    store: StoreClient,
    replication: Replication,
    notifier: Arc<dyn Notifier>,
    /// The reload after a write of unknown outcome.
    reconciling: Arc<Mutex<Reconciling>>,
}

/// Whether a reconciliation runs, and whether another sale of unknown
/// outcome came while it did.
#[derive(Default)]
struct Reconciling {
    running: bool,
    again: bool,
}

impl Sneakers23 {
    /// A context over the inventory server registered as `inventory`.
    pub fn new(
        inventory: impl Into<String>,
        store: StoreClient,
        replication: Replication,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        Sneakers23 {
            inventory: inventory.into(),
            store,
            replication,
            notifier,
            reconciling: Arc::default(),
        }
    }

    /// The store this context writes to.
    pub fn store(&self) -> &StoreClient {
        &self.store
    }

    /// The inventory server, as registered now (it changes after a restart).
    pub fn inventory(&self) -> Result<Pid<InventoryServer>, Sneakers23Error> {
        runtime::server::whereis::<InventoryServer>(&self.inventory).ok_or_else(|| {
            Sneakers23Error::InventoryDown(format!("{} is not running", self.inventory))
        })
    }

    /// Asks the inventory server: `make` wraps the answer port in the request.
    async fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(ReplyTo<T>) -> InventoryCall,
    ) -> Result<T, Sneakers23Error> {
        self.inventory()?
            .request(make)
            .await
            .map_err(|err| Sneakers23Error::InventoryDown(err.to_string()))
    }

    /// Every product with its sizes and stock, from memory.
    pub async fn get_complete_products(&self) -> Result<Arc<[CompleteProduct]>, Sneakers23Error> {
        self.ask(InventoryCall::CompleteProducts).await
    }

    /// One product with its sizes and stock, from memory.
    pub async fn get_complete_product(&self, id: u64) -> Result<CompleteProduct, Sneakers23Error> {
        self.ask(|r| InventoryCall::CompleteProduct(id, r))
            .await?
            .ok_or(InventoryError::ProductNotFound(id).into())
    }

    /// `mark_product_released!`: store, memory, the other nodes, the pages.
    pub async fn mark_product_released(&self, id: u64) -> Result<CompleteProduct, Sneakers23Error> {
        self.store.mark_product_released(id).await?;
        // The release is durable now: from here on it is announced whatever
        // this node's memory knows.
        if self
            .ask(|r| InventoryCall::MarkReleased(id, r))
            .await?
            .is_err()
        {
            // This node's memory has not loaded the product (e.g. it was
            // started before it connected to the store's node, and the
            // reload is still on its way): load it from the store now.
            self.reload().await?;
        }
        self.replication.mark_product_released(id);
        let product = self.get_complete_product(id).await?;
        self.notifier.product_released(&product);
        Ok(product)
    }

    /// `item_sold!`: one unit sold in the store (refused when none is left),
    /// then memory, the other nodes, the pages. Returns the item's
    /// availability as this node's pages showed it before, and after.
    pub async fn item_sold(
        &self,
        item_id: u64,
    ) -> Result<(Availability, Availability), Sneakers23Error> {
        let (stored_before, stored) = match self.store.item_sold(item_id).await {
            Ok(figures) => figures,
            Err(StoreCallError::Refused(StoreFailure::OutOfStock(item))) => {
                // The store is the truth: a last unit sold elsewhere whose
                // replication this node missed is out here too from now on.
                let out = Availability {
                    item_id,
                    available_count: 0,
                };
                self.record_sale(out, out).await?;
                return Err(Sneakers23Error::OutOfStock(item));
            }
            Err(err) => return Err(self.after_failed_write(err)),
        };
        self.record_sale(stored_before, stored).await
    }

    /// The book's `purchase_cart`: one unit of each item, all or nothing, in
    /// one store transaction (refused with `SoldOut` naming every item with
    /// no unit left, and then nothing is sold); then, like any sale, memory,
    /// the other nodes and the pages, item by item. Returns each item's
    /// availability as this node's pages showed it before, and after. With
    /// an `order` key the purchase is one order: the same key again is
    /// refused (`Refused(AlreadyPurchased)`) and sells nothing.
    pub async fn purchase(
        &self,
        item_ids: &[u64],
        order: Option<OrderKey>,
    ) -> Result<Vec<(Availability, Availability)>, Sneakers23Error> {
        let items = item_ids.to_vec();
        let asked = match order {
            Some(order) => self.store.request(PurchaseOrder { items, order }).await,
            None => self.store.request(Purchase(items)).await,
        };
        let sold = match asked {
            Ok(sold) => sold,
            Err(StoreCallError::Refused(StoreFailure::SoldOut(out))) => {
                // As for a single sale: the store is the truth.
                for &item_id in &out {
                    let none = Availability {
                        item_id,
                        available_count: 0,
                    };
                    self.record_sale(none, none).await?;
                }
                return Err(Sneakers23Error::SoldOut(out));
            }
            Err(err) => return Err(self.after_failed_write(err)),
        };
        // The purchase is durable: it is acknowledged whatever happens to
        // this node's memory now (an inventory server being restarted reloads
        // the store's figures anyway).
        let mut changes = Vec::with_capacity(sold.len());
        for (stored_before, stored) in sold {
            match self.record_sale(stored_before, stored).await {
                Ok(change) => changes.push(change),
                Err(err) => {
                    tracing::warn!(item = stored.item_id, %err, "a purchased item did not reach this node's memory");
                    changes.push((stored_before, stored));
                }
            }
        }
        Ok(changes)
    }

    /// Memory, the other nodes and the pages, after the store sold a unit
    /// (`stored_before` → `stored`). The sale is durable: it is announced
    /// whatever this node's memory knows.
    async fn record_sale(
        &self,
        stored_before: Availability,
        stored: Availability,
    ) -> Result<(Availability, Availability), Sneakers23Error> {
        let (item, before, after) = match self.ask(|r| InventoryCall::ApplySale(stored, r)).await? {
            Ok(change) => (Some(change.item), change.before, change.after),
            // Memory has not loaded the item yet (see `mark_product_released`).
            Err(_) => {
                self.reload().await?;
                (self.item(stored.item_id).await?, stored_before, stored)
            }
        };
        self.replication.item_sold(after);
        if let Some(item) = item {
            self.notifier.item_stock_change(&item, before, after);
        }
        notify_if_item_out(self.notifier.as_ref(), before, after);
        Ok((before, after))
    }

    /// A sale the store did not acknowledge may still have been applied (a
    /// timeout, a commit whose connection was lost): then nobody announced
    /// it, and every node's memory may be wrong. Once the store answers
    /// again, this node reloads from it and tells the other nodes to do the
    /// same. One reconciliation runs at a time, however many sales failed;
    /// a sale that fails while it runs makes it reload once more after.
    fn after_failed_write(&self, err: StoreCallError) -> Sneakers23Error {
        if err.outcome_unknown() {
            let mut reconciling = self.reconciling.lock();
            if reconciling.running {
                reconciling.again = true;
            } else {
                reconciling.running = true;
                tokio::spawn(self.clone().reconcile());
            }
        }
        err.into()
    }

    /// See [`Self::after_failed_write`].
    async fn reconcile(self) {
        loop {
            self.reconciling.lock().again = false;
            let mut wait = RECONCILE_FIRST_WAIT;
            loop {
                tokio::time::sleep(wait).await;
                match self.reload().await {
                    Ok(products) => {
                        self.replication.catalogue_changed();
                        tracing::info!(
                            products,
                            "a sale of unknown outcome: every node reloaded from the store"
                        );
                        break;
                    }
                    Err(err) => {
                        tracing::debug!(%err, "a sale of unknown outcome: the store is not back yet");
                        wait = (wait * 2).min(RECONCILE_MAX_WAIT);
                    }
                }
            }
            let mut reconciling = self.reconciling.lock();
            if !reconciling.again {
                reconciling.running = false;
                return;
            }
        }
    }

    async fn item(&self, item_id: u64) -> Result<Option<Item>, Sneakers23Error> {
        let item = self.ask(|r| InventoryCall::Item(item_id, r)).await?;
        Ok(item.map(|i| i.item))
    }

    /// Fills an empty store with the catalogue `name` (`demo`, `flash`), then
    /// reloads every node.
    pub async fn seed(&self, name: &str) -> Result<Seeded, Sneakers23Error> {
        let seeded = self.store.seed(name).await?;
        self.reload().await?;
        self.replication.catalogue_changed();
        Ok(seeded)
    }

    /// Reloads this node's inventory from the store (after the store's node
    /// connected). Returns the number of products loaded.
    ///
    /// Then this node's pages are told what the reload changed
    /// ([`Notifier::memory_reloaded`]): a change that reached the store but
    /// was never announced — a sale whose seller lost the store's answer when
    /// the store's node went away — would otherwise stay wrong on pages that
    /// are joined here and have no reason to rejoin. An empty memory before
    /// (a node that has just started) had no joined pages to tell.
    pub async fn reload(&self) -> Result<usize, Sneakers23Error> {
        let before = self
            .get_complete_products()
            .await
            .ok()
            .filter(|products| !products.is_empty());
        let loaded = self
            .ask(InventoryCall::Reload)
            .await?
            .map_err(|err| StoreCallError::Unavailable(err.to_string()))?;
        if let Some(before) = before {
            if let Ok(after) = self.get_complete_products().await {
                self.notifier.memory_reloaded(&before, &after);
            }
        }
        Ok(loaded)
    }
}
