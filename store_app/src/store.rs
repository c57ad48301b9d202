//! The catalogue on disk: three sled trees with bincode values.
//!
//! Exactly one node opens the database (sled locks its directory to one
//! process); the others reach it through that node. Every write is flushed to
//! disk before it is acknowledged, so what a caller was told happened survives
//! a `kill -9` — and a power cut: sled 0.34's `flush` ends with
//! `sync_file_range`, which neither flushes the device's write cache nor the
//! file's size, so `Store::durable` follows it with an `fdatasync` of sled's
//! data file (measured: about 0.3 ms per write here). A sale is a compare-and-swap on the item's availability, so two
//! concurrent sales of the last unit cannot both succeed.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::model::{Availability, Item, Product, Snapshot};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled could not read or write.
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
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
    /// The item has no units left.
    #[error("item {0} is out of stock")]
    OutOfStock(u64),
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
}

impl Store {
    /// Opens (or creates) the database in `dir`. Fails if another process has it open.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let db = sled::open(dir)?;
        let data_file = std::fs::File::open(dir.join("db")).map_err(sled::Error::Io)?;
        Ok(Store {
            data_file,
            products: db.open_tree("products")?,
            items: db.open_tree("items")?,
            availability: db.open_tree("availability")?,
            db,
        })
    }

    /// Makes every write so far durable: sled's flush, then `fdatasync`.
    fn durable(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.data_file.sync_data().map_err(sled::Error::Io)?;
        Ok(())
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
        self.durable()?;
        Ok(())
    }

    /// Marks a product released (`mark_product_released!`), durably.
    pub fn mark_product_released(&self, id: u64) -> Result<Product, StoreError> {
        let bytes = self
            .products
            .get(key(id))?
            .ok_or_else(|| StoreError::NotFound(format!("product {id}")))?;
        let mut product: Product = decode("products", &bytes)?;
        product.released = true;
        self.products.insert(key(id), encode(&product))?;
        self.durable()?;
        Ok(product)
    }

    /// Sells one unit of an item (`item_sold!`), durably; `OutOfStock` at zero.
    /// Returns the availability before and after the sale.
    pub fn item_sold(&self, item_id: u64) -> Result<(Availability, Availability), StoreError> {
        loop {
            let current = self
                .availability
                .get(key(item_id))?
                .ok_or_else(|| StoreError::NotFound(format!("item {item_id}")))?;
            let before: Availability = decode("availability", &current)?;
            if before.available_count == 0 {
                return Err(StoreError::OutOfStock(item_id));
            }
            let after = Availability {
                available_count: before.available_count - 1,
                ..before
            };
            let swapped = self.availability.compare_and_swap(
                key(item_id),
                Some(current),
                Some(encode(&after)),
            )?;
            if swapped.is_ok() {
                self.durable()?;
                return Ok((before, after));
            }
            // Another sale changed it first: read again.
        }
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

        let store = Store::open(&dir).unwrap();
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
