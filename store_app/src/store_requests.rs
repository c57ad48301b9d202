//! What the store service is asked, each request with its own answer type.
//!
//! A request is a small serde type implementing [`StoreCall`]: its `Answer`
//! is what the caller gets back, and its `execute` is how the owning node
//! computes it. The client ([`crate::store_client::StoreClient::request`])
//! and the server ([`execute`]) both go through that one trait, so an answer
//! of the wrong type for its request does not compile — there is no reply
//! enum to match at run time. On the wire every request travels wrapped in
//! [`StoreRequest`] (one enum, so the server knows which it got), and every
//! answer as `Result<R::Answer, StoreFailure>` encoded by `runtime::node::wire`.
//!
//! To add a request: a struct here, its `StoreCall` impl, a variant of
//! [`StoreRequest`] named after it (the `From` impl follows from the list at
//! the bottom), and its arm in [`execute`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use std::future::Future;

use crate::catalogue;
use crate::model::{Availability, Product, Snapshot};
use crate::store::postgres::PgStore;
use crate::store::{OrderKey, Store, StoreError};

/// A request to the store whose answer type follows from it.
pub trait StoreCall: Into<StoreRequest> + Send + 'static {
    /// What the store answers when the request succeeds.
    type Answer: Serialize + DeserializeOwned + Send + 'static;

    /// Runs the request against the database, on the owning node (blocking:
    /// a write flushes before it returns). `path` is where the database lives.
    fn execute(self, store: &Store, path: &str) -> Result<Self::Answer, StoreFailure>;

    /// Runs the request against the PostgreSQL store, on any node (each has
    /// its own pool; no node owns the data).
    fn execute_pg(
        self,
        store: &PgStore,
    ) -> impl Future<Output = Result<Self::Answer, StoreFailure>> + Send;
}

/// The whole catalogue (a loader's snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadSnapshot;

impl StoreCall for LoadSnapshot {
    type Answer = Snapshot;

    fn execute(self, store: &Store, _path: &str) -> Result<Snapshot, StoreFailure> {
        Ok(store.snapshot()?)
    }

    async fn execute_pg(self, store: &PgStore) -> Result<Snapshot, StoreFailure> {
        Ok(store.snapshot().await?)
    }
}

/// `Store.mark_product_released!`: answers the product as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkProductReleased(pub u64);

impl StoreCall for MarkProductReleased {
    type Answer = Product;

    fn execute(self, store: &Store, _path: &str) -> Result<Product, StoreFailure> {
        Ok(store.mark_product_released(self.0)?)
    }

    async fn execute_pg(self, store: &PgStore) -> Result<Product, StoreFailure> {
        Ok(store.mark_product_released(self.0).await?)
    }
}

/// `Store.item_sold!`: one unit, durably; answers the item's availability
/// before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSold(pub u64);

impl StoreCall for ItemSold {
    type Answer = (Availability, Availability);

    fn execute(self, store: &Store, _path: &str) -> Result<Self::Answer, StoreFailure> {
        Ok(store.item_sold(self.0)?)
    }

    async fn execute_pg(self, store: &PgStore) -> Result<Self::Answer, StoreFailure> {
        Ok(store.item_sold(self.0).await?)
    }
}

/// The book's `purchase_cart`: one unit of each item, all or nothing, in one
/// store transaction, durably; answers each item's availability before and
/// after, in the order asked. Refused with [`StoreFailure::SoldOut`] naming
/// every item with no unit left (then nothing is sold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase(pub Vec<u64>);

impl StoreCall for Purchase {
    type Answer = Vec<(Availability, Availability)>;

    fn execute(self, store: &Store, _path: &str) -> Result<Self::Answer, StoreFailure> {
        Ok(store.purchase(&self.0, None)?)
    }

    async fn execute_pg(self, store: &PgStore) -> Result<Self::Answer, StoreFailure> {
        Ok(store.purchase(&self.0, None).await?)
    }
}

/// A checkout: [`Purchase`] as one order. The store remembers `order` with
/// the sale, in the same transaction; the same order again is refused with
/// [`StoreFailure::AlreadyPurchased`] and nothing is sold — a form sent
/// twice buys once. (A request of its own, after the others, so that a store
/// node of the previous release still decodes every request it knew.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrder {
    /// One unit of each.
    pub items: Vec<u64>,
    /// What makes it one order (`checkout::order_key`).
    pub order: OrderKey,
}

impl StoreCall for PurchaseOrder {
    type Answer = Vec<(Availability, Availability)>;

    fn execute(self, store: &Store, _path: &str) -> Result<Self::Answer, StoreFailure> {
        Ok(store.purchase(&self.items, Some(self.order))?)
    }

    async fn execute_pg(self, store: &PgStore) -> Result<Self::Answer, StoreFailure> {
        Ok(store.purchase(&self.items, Some(self.order)).await?)
    }
}

/// Fill an empty store with a catalogue (`demo` or `flash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed(pub String);

/// What a seed did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeded {
    /// Products written.
    pub products: usize,
    /// Items written.
    pub items: usize,
}

impl StoreCall for Seed {
    type Answer = Seeded;

    fn execute(self, store: &Store, _path: &str) -> Result<Seeded, StoreFailure> {
        seed(store, &self.0)
    }

    async fn execute_pg(self, store: &PgStore) -> Result<Seeded, StoreFailure> {
        let catalogue = catalogue::by_name(&self.0)
            .ok_or_else(|| StoreFailure::UnknownCatalogue(self.0.clone()))?;
        if !store.is_empty().await? {
            return Err(StoreFailure::NotEmpty(
                store.snapshot().await?.products.len(),
            ));
        }
        store.insert_catalogue(&catalogue).await?;
        Ok(Seeded {
            products: catalogue.products.len(),
            items: catalogue.items.len(),
        })
    }
}

/// Counts and where the database lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status;

/// What the store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    /// The database directory on the owning node.
    pub path: String,
    /// Products.
    pub products: usize,
    /// Of which released.
    pub released: usize,
    /// Items (sizes).
    pub items: usize,
    /// Units left over all items.
    pub units: u64,
    /// Bytes on disk, as sled reports.
    pub size_on_disk: u64,
}

impl StoreStatus {
    /// The figures of `snapshot`, stored at `path` in `size_on_disk` bytes.
    fn of(path: String, snapshot: &Snapshot, size_on_disk: u64) -> StoreStatus {
        StoreStatus {
            path,
            products: snapshot.products.len(),
            released: snapshot.products.iter().filter(|p| p.released).count(),
            items: snapshot.items.len(),
            units: snapshot
                .availability
                .iter()
                .map(|a| u64::from(a.available_count))
                .sum(),
            size_on_disk,
        }
    }
}

impl StoreCall for Status {
    type Answer = StoreStatus;

    fn execute(self, store: &Store, path: &str) -> Result<StoreStatus, StoreFailure> {
        let snapshot = store.snapshot()?;
        Ok(StoreStatus::of(
            path.to_string(),
            &snapshot,
            store.size_on_disk()?,
        ))
    }

    async fn execute_pg(self, store: &PgStore) -> Result<StoreStatus, StoreFailure> {
        let snapshot = store.snapshot().await?;
        Ok(StoreStatus::of(
            store.describe(),
            &snapshot,
            store.size_on_disk().await?,
        ))
    }
}

/// Why the store refused or failed a request (sent across nodes, so plain data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StoreFailure {
    /// No such product or item.
    #[error("{0} not found")]
    NotFound(String),
    /// No units left.
    #[error("item {0} is out of stock")]
    OutOfStock(u64),
    /// `Seed` with a catalogue name nobody knows.
    #[error("no catalogue named {0:?} (known: demo, flash, stocked)")]
    UnknownCatalogue(String),
    /// `Seed` on a store that already has a catalogue.
    #[error("the store already holds {0} products; seed only fills an empty store")]
    NotEmpty(usize),
    /// The database failed.
    #[error("store error: {0}")]
    Failed(String),
    /// A purchase was refused and nothing sold: these items have no unit
    /// left. (Last, so that nodes of the previous release still decode the
    /// variants before it during a rolling deploy.)
    #[error("out of stock: {}", crate::store::item_list(.0))]
    SoldOut(Vec<u64>),
    /// A [`PurchaseOrder`] whose order was already sold: nothing sold now.
    #[error("this order was already placed")]
    AlreadyPurchased,
    /// The write's outcome is unknown: the database connection was lost
    /// while it committed (see `StoreError::Unconfirmed`).
    #[error("{0}")]
    Unconfirmed(String),
}

impl StoreFailure {
    /// Whether the write may have been applied although it was not
    /// acknowledged.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, StoreFailure::Unconfirmed(_))
    }
}

impl From<StoreError> for StoreFailure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => StoreFailure::NotFound(what),
            StoreError::OutOfStock(id) => StoreFailure::OutOfStock(id),
            StoreError::SoldOut(ids) => StoreFailure::SoldOut(ids),
            StoreError::AlreadyPurchased => StoreFailure::AlreadyPurchased,
            unconfirmed @ StoreError::Unconfirmed(_) => {
                StoreFailure::Unconfirmed(unconfirmed.to_string())
            }
            other => StoreFailure::Failed(other.to_string()),
        }
    }
}

/// Any request, as it travels to the store's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreRequest {
    /// See [`LoadSnapshot`].
    LoadSnapshot(LoadSnapshot),
    /// See [`MarkProductReleased`].
    MarkProductReleased(MarkProductReleased),
    /// See [`ItemSold`].
    ItemSold(ItemSold),
    /// See [`Seed`].
    Seed(Seed),
    /// See [`Status`].
    Status(Status),
    /// See [`Purchase`] (after the others: see [`StoreFailure::SoldOut`]).
    Purchase(Purchase),
    /// See [`PurchaseOrder`] (last, for the same reason).
    PurchaseOrder(PurchaseOrder),
}

/// Runs `request` and encodes its answer (`Result<R::Answer, StoreFailure>`)
/// for the caller, who decodes it as the answer type of the request it sent.
pub fn execute(
    store: &Store,
    path: &str,
    request: StoreRequest,
) -> Result<Vec<u8>, bincode::error::EncodeError> {
    match request {
        StoreRequest::LoadSnapshot(r) => answer(r, store, path),
        StoreRequest::MarkProductReleased(r) => answer(r, store, path),
        StoreRequest::ItemSold(r) => answer(r, store, path),
        StoreRequest::Seed(r) => answer(r, store, path),
        StoreRequest::Status(r) => answer(r, store, path),
        StoreRequest::Purchase(r) => answer(r, store, path),
        StoreRequest::PurchaseOrder(r) => answer(r, store, path),
    }
}

fn answer<R: StoreCall>(
    request: R,
    store: &Store,
    path: &str,
) -> Result<Vec<u8>, bincode::error::EncodeError> {
    runtime::node::wire::encode(&request.execute(store, path))
}

/// A failure encoded as the answer to any request: the error side of a
/// `Result` encodes the same whatever its success type, so the caller decodes
/// it as `Err` of the request it sent (used when a request panicked).
pub fn encode_failure(failure: StoreFailure) -> Result<Vec<u8>, bincode::error::EncodeError> {
    runtime::node::wire::encode(&Err::<(), StoreFailure>(failure))
}

/// Writes the catalogue named `name` (see [`catalogue::by_name`]) into an
/// empty store.
pub fn seed(store: &Store, name: &str) -> Result<Seeded, StoreFailure> {
    let catalogue =
        catalogue::by_name(name).ok_or_else(|| StoreFailure::UnknownCatalogue(name.into()))?;
    if !store.is_empty() {
        return Err(StoreFailure::NotEmpty(store.products()?.len()));
    }
    store.insert_catalogue(&catalogue)?;
    tracing::info!(
        products = catalogue.products.len(),
        items = catalogue.items.len(),
        catalogue = name,
        "seeded the store"
    );
    Ok(Seeded {
        products: catalogue.products.len(),
        items: catalogue.items.len(),
    })
}

/// `From<Request> for StoreRequest` for every request, each wrapped in the
/// variant of its own name.
macro_rules! wrapped_in_store_request {
    ($($request:ident),* $(,)?) => {
        $(impl From<$request> for StoreRequest {
            fn from(request: $request) -> Self {
                StoreRequest::$request(request)
            }
        })*
    };
}

wrapped_in_store_request!(
    LoadSnapshot,
    MarkProductReleased,
    ItemSold,
    Seed,
    Status,
    Purchase,
    PurchaseOrder
);

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::node::wire;

    #[test]
    fn a_failure_decodes_as_the_answer_to_any_request() {
        let bytes = encode_failure(StoreFailure::Failed("boom".into())).unwrap();
        let as_snapshot: Result<Snapshot, StoreFailure> = wire::decode(&bytes).unwrap();
        assert_eq!(as_snapshot, Err(StoreFailure::Failed("boom".into())));
        let as_sale: Result<(Availability, Availability), StoreFailure> =
            wire::decode(&bytes).unwrap();
        assert_eq!(as_sale, Err(StoreFailure::Failed("boom".into())));
    }

    #[test]
    fn each_request_is_answered_with_its_own_type() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().display().to_string();
        let seeded: Result<Seeded, StoreFailure> =
            wire::decode(&execute(&store, &path, Seed("demo".into()).into()).unwrap()).unwrap();
        assert_eq!(seeded.as_ref().map(|s| s.products), Ok(4), "{seeded:?}");
        let in_stock = catalogue::demo()
            .availability
            .iter()
            .find(|a| a.available_count > 0)
            .unwrap()
            .item_id;
        let sold: Result<(Availability, Availability), StoreFailure> =
            wire::decode(&execute(&store, &path, ItemSold(in_stock).into()).unwrap()).unwrap();
        let (before, after) = sold.unwrap();
        assert_eq!(after.available_count + 1, before.available_count);
        let missing: Result<Product, StoreFailure> =
            wire::decode(&execute(&store, &path, MarkProductReleased(99).into()).unwrap()).unwrap();
        assert!(
            matches!(missing, Err(StoreFailure::NotFound(_))),
            "{missing:?}"
        );
    }
}
