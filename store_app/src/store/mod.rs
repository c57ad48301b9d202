//! The catalogue on disk: three sled trees with bincode values.
//!
//! Exactly one node opens the database (sled locks its directory to one
//! process); the others reach it through that node. Every write is flushed to
//! disk before it is acknowledged, so what a caller was told happened survives
//! a `kill -9` — and a power cut: sled 0.34's `flush` ends with
//! `sync_file_range`, which neither flushes the device's write cache nor the
//! file's size, so `Store::durable` follows it with an `fdatasync` of sled's
//! data file (measured: about 0.3 ms per write here). Writers waiting for
//! their write to be durable share one such sync ([`GroupCommit`]), so the
//! store acknowledges thousands of writes a second, each one on disk.
//!
//! A sale — one unit, or a whole cart at checkout — is one sled transaction
//! over the items' availability: all of it or none of it is sold, and two
//! concurrent sales of the last unit cannot both succeed. A checkout also
//! records its order key in the same transaction (the `orders` tree), so the
//! same order submitted twice — a double click, a resent form, a replayed
//! request — is sold once.
//!
//! A disk that fails under the store — full, turned read-only, an I/O error
//! — stops its writes for good, until the node restarts: the write that met
//! the failure is answered [`StoreError::NotDurable`] (it reached sled's
//! memory and may or may not be on disk), every later one
//! [`StoreError::WritesStopped`] before it touches anything. sled does the
//! same with its own write errors; the store extends it to the `fdatasync`
//! it adds, because after a failed sync the kernel may drop the pages it
//! could not write and report the next sync as a success: a write
//! acknowledged after it could sit in the log behind a hole, and be lost
//! with it (the "fsyncgate" of databases). Reads go on from what sled holds.

mod group_commit;
pub mod postgres;

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::model::{Availability, Item, Product, Snapshot};

pub use group_commit::{CommitStats, GroupCommit};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled could not read or write.
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// PostgreSQL refused, or could not be reached (`store/postgres.rs`).
    #[error("database error: {0}")]
    Postgres(String),
    /// A stored value could not be decoded.
    #[error("corrupt record in {tree}: {error}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// What bincode said.
        error: String,
    },
    /// No such product or item.
    #[error("{0} not found")]
    NotFound(String),
    /// The item has no units left (a single sale).
    #[error("item {0} is out of stock")]
    OutOfStock(u64),
    /// A purchase was refused, nothing sold: these items have no units left.
    #[error("out of stock: {}", item_list(.0))]
    SoldOut(Vec<u64>),
    /// A purchase was refused, nothing sold: its order key was already sold.
    #[error("this order was already placed")]
    AlreadyPurchased,
    /// The disk failed during this write (the reason as the OS words it):
    /// it may or may not have been applied. Every later write is refused.
    #[error("the store's disk failed ({0}): this write may or may not have been applied; the store refuses writes until its node is restarted")]
    NotDurable(String),
    /// The connection to PostgreSQL was lost after the write was sent
    /// (during its commit): the server may or may not have applied it. An
    /// order sent again is refused as already placed if it was.
    #[error("the database connection was lost while the write committed ({0}): it may or may not have been applied")]
    Unconfirmed(String),
    /// Refused before anything was written: the disk failed during an
    /// earlier write (the reason as the OS words it).
    #[error("the store refuses writes since its disk failed ({0}): nothing was written; restart the store's node once the disk is fixed")]
    WritesStopped(String),
}

/// Why the disk refused, as the OS words it ("No space left on device (os
/// error 28)"); sled re-wraps some I/O errors with their debug text, whose
/// kind still tells.
fn disk_reason(err: &sled::Error) -> String {
    use std::io::ErrorKind;
    match err {
        sled::Error::Io(io) => match (io.raw_os_error(), io.kind()) {
            (Some(code), _) => std::io::Error::from_raw_os_error(code).to_string(),
            (None, ErrorKind::StorageFull) => "No space left on device".into(),
            (None, ErrorKind::ReadOnlyFilesystem) => "Read-only file system".into(),
            (None, _) => io.to_string(),
        },
        other => other.to_string(),
    }
}

/// What makes a checkout one order: the same key twice is one purchase (see
/// `checkout::order_key`).
pub type OrderKey = [u8; 32];

/// How long an order key is remembered: longer than the cart token it is
/// made from stays valid (seven days), after which the token itself is
/// refused.
pub const ORDER_KEYS_KEPT: std::time::Duration = std::time::Duration::from_secs(8 * 86_400);

/// "item 3, item 7": the items a refused purchase names.
pub fn item_list(ids: &[u64]) -> String {
    ids.iter()
        .map(|id| format!("item {id}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("catalogue records always encode")
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|e| StoreError::Corrupt {
            tree,
            error: e.to_string(),
        })
}

/// The opened catalogue database.
pub struct Store {
    db: sled::Db,
    /// sled's data file, opened again only to `fdatasync` it (on Linux any
    /// descriptor of a file syncs that file's data).
    data_file: std::fs::File,
    products: sled::Tree,
    items: sled::Tree,
    availability: sled::Tree,
    /// Order key -> when it was sold (Unix ms): checkouts already made.
    orders: sled::Tree,
    commit: GroupCommit,
    /// [`SYNC_EACH_WRITE_ENV`] was set: every write runs its own sync.
    sync_each_write: bool,
    /// Why the disk failed, once it has: no write is taken any more.
    disk_failed: std::sync::OnceLock<String>,
}

/// Set to `1`, every write runs its own sync instead of sharing one: how the
/// store worked before group commit, kept to measure the difference
/// (`scripts/bench_store.sh checkout`).
pub const SYNC_EACH_WRITE_ENV: &str = "STORE_SYNC_EACH_WRITE";

impl Store {
    /// Opens (or creates) the database in `dir`. Fails if another process has it open.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let db = sled::open(dir)?;
        let data_file = std::fs::File::open(dir.join("db")).map_err(sled::Error::Io)?;
        let store = Store {
            data_file,
            products: db.open_tree("products")?,
            items: db.open_tree("items")?,
            availability: db.open_tree("availability")?,
            orders: db.open_tree("orders")?,
            commit: GroupCommit::default(),
            sync_each_write: std::env::var(SYNC_EACH_WRITE_ENV).is_ok_and(|v| v == "1"),
            disk_failed: std::sync::OnceLock::new(),
            db,
        };
        store.forget_orders_before(unix_ms().saturating_sub(ORDER_KEYS_KEPT.as_millis() as u64))?;
        Ok(store)
    }

    /// Drops the order keys sold before `cutoff` (Unix ms).
    fn forget_orders_before(&self, cutoff: u64) -> Result<(), StoreError> {
        for entry in self.orders.iter() {
            let (key, value) = entry?;
            let sold_at: u64 = decode("orders", &value)?;
            if sold_at < cutoff {
                self.orders.remove(key)?;
            }
        }
        Ok(())
    }

    /// Order keys remembered.
    pub fn orders_remembered(&self) -> usize {
        self.orders.len()
    }

    /// Refuses a write once the disk has failed.
    fn writable(&self) -> Result<(), StoreError> {
        match self.disk_failed.get() {
            Some(why) => Err(StoreError::WritesStopped(why.clone())),
            None => Ok(()),
        }
    }

    /// A write met `err`: from now on every write is refused; this one may
    /// or may not have been applied.
    fn disk_failed(&self, err: &sled::Error) -> StoreError {
        let why = disk_reason(err);
        if self.disk_failed.set(why.clone()).is_ok() {
            tracing::error!(%why, "the store's disk failed: every write is refused until this node restarts; reads go on");
        }
        StoreError::NotDurable(why)
    }

    /// Returns once the write just applied is durable (see [`GroupCommit`]).
    /// The write is in sled already: a failure leaves it maybe applied.
    fn durable(&self) -> Result<(), StoreError> {
        let synced = if self.sync_each_write {
            self.sync()
        } else {
            let number = self.commit.written();
            self.commit.wait_durable(number, || self.sync())
        };
        synced.map_err(|err| match err {
            StoreError::WritesStopped(why) => StoreError::NotDurable(why),
            other => other,
        })
    }

    /// Makes every write so far durable: sled's flush, then `fdatasync`.
    /// Never again after one failed (see the module's documentation).
    fn sync(&self) -> Result<(), StoreError> {
        self.writable()?;
        self.db
            .flush()
            .and_then(|_| self.data_file.sync_data().map_err(sled::Error::Io))
            .map_err(|err| self.disk_failed(&err))?;
        Ok(())
    }

    /// Writes made durable so far, and the syncs that took.
    pub fn commit_stats(&self) -> CommitStats {
        self.commit.stats()
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Whether the catalogue is empty (a new database, to be seeded).
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    fn all<T: DeserializeOwned>(
        tree: &sled::Tree,
        name: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        tree.iter()
            .values()
            .map(|value| decode(name, &value?))
            .collect()
    }

    /// The whole catalogue, as the inventory servers load it.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            products: self.products()?,
            items: self.items()?,
            availability: self.availability()?,
        })
    }

    /// Every product.
    pub fn products(&self) -> Result<Vec<Product>, StoreError> {
        Self::all(&self.products, "products")
    }

    /// Every item, by id.
    pub fn items(&self) -> Result<Vec<Item>, StoreError> {
        Self::all(&self.items, "items")
    }

    /// Every item's availability, by item id.
    pub fn availability(&self) -> Result<Vec<Availability>, StoreError> {
        Self::all(&self.availability, "availability")
    }

    /// Writes a whole catalogue (the seed) and flushes it.
    pub fn insert_catalogue(&self, catalogue: &Snapshot) -> Result<(), StoreError> {
        self.writable()?;
        let write = || -> Result<(), sled::Error> {
            for product in &catalogue.products {
                self.products.insert(key(product.id), encode(product))?;
            }
            for item in &catalogue.items {
                self.items.insert(key(item.id), encode(item))?;
            }
            for stock in &catalogue.availability {
                self.availability
                    .insert(key(stock.item_id), encode(stock))?;
            }
            Ok(())
        };
        write().map_err(|err| self.disk_failed(&err))?;
        self.durable()?;
        Ok(())
    }

    /// Marks a product released (`mark_product_released!`), durably.
    pub fn mark_product_released(&self, id: u64) -> Result<Product, StoreError> {
        self.writable()?;
        let bytes = self
            .products
            .get(key(id))?
            .ok_or_else(|| StoreError::NotFound(format!("product {id}")))?;
        let mut product: Product = decode("products", &bytes)?;
        product.released = true;
        self.products
            .insert(key(id), encode(&product))
            .map_err(|err| self.disk_failed(&err))?;
        self.durable()?;
        Ok(product)
    }

    /// Sells one unit of an item (`item_sold!`), durably; `OutOfStock` at zero.
    /// Returns the availability before and after the sale.
    pub fn item_sold(&self, item_id: u64) -> Result<(Availability, Availability), StoreError> {
        match self.purchase(&[item_id], None) {
            Ok(mut sold) => Ok(sold.remove(0)),
            Err(StoreError::SoldOut(_)) => Err(StoreError::OutOfStock(item_id)),
            Err(err) => Err(err),
        }
    }

    /// Sells one unit of each item listed (a cart at checkout), all or
    /// nothing, durably. Refused with `SoldOut` naming every item that has
    /// no unit left, `NotFound` for an unknown id, or `AlreadyPurchased` when
    /// `order` was sold before; then nothing is sold. Returns each item's
    /// availability before and after, in the order given.
    pub fn purchase(
        &self,
        item_ids: &[u64],
        order: Option<OrderKey>,
    ) -> Result<Vec<(Availability, Availability)>, StoreError> {
        if item_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.writable()?;
        let sold_at = encode(&unix_ms());
        let sold = (&self.availability, &self.orders)
            .transaction(|(tx, orders)| {
                if let Some(order) = &order {
                    if orders
                        .insert(order.as_slice(), sold_at.as_slice())?
                        .is_some()
                    {
                        return Err(ConflictableTransactionError::Abort(
                            StoreError::AlreadyPurchased,
                        ));
                    }
                }
                let mut sold = Vec::with_capacity(item_ids.len());
                let mut out = Vec::new();
                for &item_id in item_ids {
                    let current = tx.get(key(item_id))?.ok_or_else(|| {
                        ConflictableTransactionError::Abort(StoreError::NotFound(format!(
                            "item {item_id}"
                        )))
                    })?;
                    let before: Availability = decode("availability", &current)
                        .map_err(ConflictableTransactionError::Abort)?;
                    if before.available_count == 0 {
                        out.push(item_id);
                        continue;
                    }
                    let after = Availability {
                        available_count: before.available_count - 1,
                        ..before
                    };
                    tx.insert(&key(item_id), encode(&after))?;
                    sold.push((before, after));
                }
                if out.is_empty() {
                    Ok(sold)
                } else {
                    Err(ConflictableTransactionError::Abort(StoreError::SoldOut(
                        out,
                    )))
                }
            })
            .map_err(|err| match err {
                TransactionError::Abort(refused) => refused,
                TransactionError::Storage(err) => self.disk_failed(&err),
            })?;
        self.durable()?;
        Ok(sold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use crate::model::Availability;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Opens a database just dropped in this process. sled releases its
    /// directory lock from a background thread a moment after the drop
    /// (spacejam/sled#1289), so an immediate reopen may find it still held.
    fn reopen(dir: &Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match Store::open(dir) {
                Ok(store) => return store,
                // sled reports the held lock as an I/O error whose kind is
                // not WouldBlock (the OS error is inside its message).
                Err(StoreError::Db(sled::Error::Io(err)))
                    if err.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(err) => panic!("cannot reopen {}: {err}", dir.display()),
            }
        }
    }

    fn seeded(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        store.insert_catalogue(&catalogue::demo()).unwrap();
        store
    }

    #[test]
    fn a_seeded_catalogue_reads_back() {
        let dir = temp_dir("seed");
        let store = seeded(&dir);
        assert_eq!(store.snapshot().unwrap(), catalogue::demo());
        assert!(!store.is_empty());
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn releases_and_sales_survive_reopening() {
        let dir = temp_dir("persist");
        let store = seeded(&dir);
        let released = store.mark_product_released(1).unwrap();
        assert!(released.released);
        let in_stock = store
            .availability()
            .unwrap()
            .into_iter()
            .find(|a| a.available_count > 0)
            .unwrap();
        let (before, after) = store.item_sold(in_stock.item_id).unwrap();
        assert_eq!(after.available_count, before.available_count - 1);
        drop(store);

        let store = reopen(&dir);
        assert!(store.products().unwrap()[0].released);
        let stock = store
            .availability()
            .unwrap()
            .into_iter()
            .find(|a| a.item_id == in_stock.item_id)
            .unwrap();
        assert_eq!(stock, after);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_item_cannot_be_sold_below_zero_even_concurrently() {
        let dir = temp_dir("oversell");
        let store = std::sync::Arc::new(seeded(&dir));
        // The best-stocked item, so that the threads really race.
        let Availability {
            item_id,
            available_count: stock,
        } = store
            .availability()
            .unwrap()
            .into_iter()
            .max_by_key(|a| a.available_count)
            .unwrap();
        assert!(stock >= 25);
        let sold = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    while store.item_sold(item_id).is_ok() {
                        sold.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(sold.into_inner(), stock);
        assert!(
            matches!(store.item_sold(item_id), Err(StoreError::OutOfStock(id)) if id == item_id)
        );
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_order_is_sold_once_however_often_it_is_sent() {
        let dir = temp_dir("orders");
        let store = seeded(&dir);
        let item = in_stock(&store)[0];
        let order = [7u8; 32];
        store.purchase(&[item.item_id], Some(order)).unwrap();
        assert!(matches!(
            store.purchase(&[item.item_id], Some(order)),
            Err(StoreError::AlreadyPurchased)
        ));
        let stock = |store: &Store| {
            store
                .availability()
                .unwrap()
                .into_iter()
                .find(|a| a.item_id == item.item_id)
                .unwrap()
                .available_count
        };
        assert_eq!(stock(&store), item.available_count - 1, "sold once");
        // Another order, and a sale with no order, sell.
        store.purchase(&[item.item_id], Some([8u8; 32])).unwrap();
        store.item_sold(item.item_id).unwrap();
        assert_eq!(stock(&store), item.available_count - 3);
        // Remembered across a restart, forgotten once too old to be sent.
        drop(store);
        let store = reopen(&dir);
        assert!(matches!(
            store.purchase(&[item.item_id], Some(order)),
            Err(StoreError::AlreadyPurchased)
        ));
        assert_eq!(store.orders_remembered(), 2);
        store.forget_orders_before(unix_ms() + 1).unwrap();
        assert_eq!(store.orders_remembered(), 0);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Items of the demo catalogue with units left, best-stocked first.
    fn in_stock(store: &Store) -> Vec<Availability> {
        let mut stock: Vec<_> = store
            .availability()
            .unwrap()
            .into_iter()
            .filter(|a| a.available_count > 0)
            .collect();
        stock.sort_by_key(|a| std::cmp::Reverse(a.available_count));
        stock
    }

    #[test]
    fn a_purchase_sells_every_item_or_none() {
        let dir = temp_dir("purchase");
        let store = seeded(&dir);
        let stock = in_stock(&store);
        let (a, b) = (stock[0], stock[1]);
        let sold = store.purchase(&[a.item_id, b.item_id], None).unwrap();
        assert_eq!(sold[0].0, a);
        assert_eq!(sold[0].1.available_count, a.available_count - 1);
        assert_eq!(sold[1].1.available_count, b.available_count - 1);

        // Sell `b` out, then a purchase of a and b sells neither.
        for _ in 1..b.available_count {
            store.item_sold(b.item_id).unwrap();
        }
        let before = store.availability().unwrap();
        let refused = store.purchase(&[a.item_id, b.item_id], None).unwrap_err();
        assert!(
            matches!(&refused, StoreError::SoldOut(out) if *out == vec![b.item_id]),
            "{refused:?}"
        );
        assert_eq!(
            refused.to_string(),
            format!("out of stock: item {}", b.item_id)
        );
        assert_eq!(store.availability().unwrap(), before, "nothing was sold");

        // An unknown id refuses the whole purchase too.
        assert!(matches!(
            store.purchase(&[a.item_id, 999], None),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.availability().unwrap(), before);
        drop(store);

        // What was acknowledged is on disk.
        let store = reopen(&dir);
        assert_eq!(store.availability().unwrap(), before);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn overlapping_purchases_never_oversell() {
        let dir = temp_dir("overlap");
        let store = std::sync::Arc::new(seeded(&dir));
        let stock = in_stock(&store);
        let (a, b) = (stock[0], stock[1]);
        let units = u64::from(a.available_count + b.available_count);
        let sold = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|scope| {
            for shopper in 0..6 {
                let (store, sold) = (&store, &sold);
                scope.spawn(move || {
                    // Three kinds of cart: a, b, and both.
                    let cart = match shopper % 3 {
                        0 => vec![a.item_id],
                        1 => vec![b.item_id],
                        _ => vec![a.item_id, b.item_id],
                    };
                    for _ in 0..units {
                        if let Ok(items) = store.purchase(&cart, None) {
                            sold.fetch_add(
                                items.len() as u64,
                                std::sync::atomic::Ordering::Relaxed,
                            );
                        }
                    }
                });
            }
        });
        assert_eq!(sold.into_inner(), units, "every unit sold exactly once");
        let left: Vec<_> = store
            .availability()
            .unwrap()
            .into_iter()
            .filter(|s| s.item_id == a.item_id || s.item_id == b.item_id)
            .map(|s| s.available_count)
            .collect();
        assert_eq!(left, vec![0, 0]);
        // Concurrent writers shared syncs.
        let stats = store.commit_stats();
        assert!(stats.syncs <= stats.writes, "{stats:?}");
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn after_a_disk_failure_every_write_is_refused_and_reads_go_on() {
        let dir = temp_dir("disk-failed");
        let store = seeded(&dir);
        let item = in_stock(&store)[0];
        let before = store.snapshot().unwrap();
        // What sled's flush returns on a full disk.
        let full = sled::Error::Io(std::io::Error::from_raw_os_error(28));
        assert_eq!(
            store.disk_failed(&full).to_string(),
            "the store's disk failed (No space left on device (os error 28)): this write may or \
             may not have been applied; the store refuses writes until its node is restarted"
        );
        let refused = [
            store.purchase(&[item.item_id], Some([1; 32])).map(drop),
            store.item_sold(item.item_id).map(drop),
            store.mark_product_released(1).map(drop),
        ];
        for refused in refused {
            assert!(
                matches!(&refused, Err(StoreError::WritesStopped(why)) if why == "No space left on device (os error 28)"),
                "{refused:?}"
            );
        }
        assert_eq!(store.snapshot().unwrap(), before, "nothing was written");
        // A write that reached sled before the failure is never acknowledged
        // by a sync after it.
        assert!(matches!(store.durable(), Err(StoreError::NotDurable(_))));
        drop(store);

        // Restarted (the disk fixed), the store writes again.
        let store = reopen(&dir);
        let (_, after) = store.item_sold(item.item_id).unwrap();
        assert_eq!(after.available_count, item.available_count - 1);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_io_error_is_worded_as_the_os_words_it() {
        let wrapped =
            |kind, text: &str| sled::Error::Io(std::io::Error::new(kind, text.to_string()));
        assert_eq!(
            disk_reason(&sled::Error::Io(std::io::Error::from_raw_os_error(30))),
            "Read-only file system (os error 30)"
        );
        // sled re-wraps the errors of its own writes with their debug text.
        assert_eq!(
            disk_reason(&wrapped(
                std::io::ErrorKind::StorageFull,
                "Os { code: 28, .. }"
            )),
            "No space left on device"
        );
        assert_eq!(
            disk_reason(&wrapped(std::io::ErrorKind::Other, "disk on fire")),
            "disk on fire"
        );
    }

    #[test]
    fn unknown_ids_are_not_found() {
        let dir = temp_dir("missing");
        let store = seeded(&dir);
        assert!(matches!(
            store.mark_product_released(999),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(store.item_sold(999), Err(StoreError::NotFound(_))));
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
