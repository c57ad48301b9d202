//! The store on PostgreSQL: the same catalogue and the same operations as the
//! sled store (`store/mod.rs`), for shops whose web nodes all write to one
//! database server — the book's own store is PostgreSQL through Ecto, with
//! its table names (`products`, `items`, `item_availabilities`).
//!
//! Every node connects with a pool (deadpool-postgres); no node owns the
//! data. The schema is migrated on connect, once, under an advisory lock, so
//! that nodes starting together do not race (`schema_migrations` records the
//! versions applied, as Ecto's table does).
//!
//! A purchase never oversells, whatever the concurrency: it is one
//! transaction whose every sale is a conditional
//! `UPDATE … SET available_count = available_count - 1 WHERE … AND
//! available_count > 0`, which takes the row's lock; a second buyer of the
//! last unit waits for the first to commit and then finds none left (and
//! `CHECK (available_count >= 0)` holds it at the schema). Items are sold in
//! id order, so two carts sharing items lock them in the same order and never
//! deadlock. The order key goes into `orders` first (`ON CONFLICT DO
//! NOTHING`): an order placed twice sells once. A commit is durable when it
//! returns (PostgreSQL's `synchronous_commit`, on by default). A connection
//! lost during a commit leaves its outcome unknown: that is answered
//! `Unconfirmed` ("may or may not have been applied"), never as a refusal;
//! a lost connection before the commit rolls the transaction back.

use std::collections::HashMap;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::{OrderKey, StoreError};
use crate::model::{Availability, Item, Product, Snapshot};

/// The schema, one migration per entry; applied in order, each once.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    r#"
    CREATE TABLE products (
        id bigint PRIMARY KEY,
        sku text NOT NULL,
        brand text NOT NULL,
        name text NOT NULL,
        color text NOT NULL,
        price_cents bigint NOT NULL CHECK (price_cents >= 0),
        image text NOT NULL,
        released boolean NOT NULL DEFAULT false,
        "order" integer NOT NULL
    );
    CREATE TABLE items (
        id bigint PRIMARY KEY,
        product_id bigint NOT NULL REFERENCES products (id),
        sku text NOT NULL,
        size text NOT NULL
    );
    CREATE INDEX items_product_id ON items (product_id);
    CREATE TABLE item_availabilities (
        item_id bigint PRIMARY KEY REFERENCES items (id),
        available_count integer NOT NULL CHECK (available_count >= 0)
    );
    CREATE TABLE orders (
        order_key bytea PRIMARY KEY,
        sold_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX orders_sold_at ON orders (sold_at);
    "#,
)];

/// The columns [`product_from_row`] reads, in its order.
const PRODUCT_COLUMNS: &str =
    r#"id, sku, brand, name, color, price_cents, image, released, "order""#;

fn product_from_row(row: &tokio_postgres::Row) -> Product {
    Product {
        id: row.get::<_, i64>(0) as u64,
        sku: row.get(1),
        brand: row.get(2),
        name: row.get(3),
        color: row.get(4),
        price_cents: row.get::<_, i64>(5) as u64,
        image: row.get(6),
        released: row.get(7),
        order: row.get::<_, i32>(8) as u32,
    }
}

/// The advisory lock migrations run under (any constant shared by the nodes).
const MIGRATION_LOCK: i64 = 0x5e_ea_4e_55_23;

/// The store on a PostgreSQL server, shared by every node.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// `postgres://…@host:port/database`, without user or password.
    described: String,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        StoreError::Postgres(postgres_reason(&err))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        StoreError::Postgres(err.to_string())
    }
}

/// `postgres://…@host:port/db` out of a URL, its credentials left out (for
/// `store.status`, logs and errors).
pub fn describe(url: &str) -> String {
    runtime::log_text::url_without_credentials(url)
}

/// An error of a write once it was sent: the server's own refusal (the
/// write was rolled back), or a lost connection, after which nobody here
/// knows whether it committed.
fn unconfirmed_unless_refused(err: tokio_postgres::Error) -> StoreError {
    if err.as_db_error().is_some() {
        StoreError::from(err)
    } else {
        StoreError::Unconfirmed(postgres_reason(&err))
    }
}

/// What the server said (its message and detail), or the client's error.
fn postgres_reason(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => err.to_string(),
    }
}

impl PgStore {
    /// Connects a pool of at most `pool_size` connections to `url`
    /// (`postgres://user[:password]@host[:port]/database`), migrates the
    /// schema, and forgets order keys older than [`super::ORDER_KEYS_KEPT`].
    pub async fn connect(url: &str, pool_size: usize) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|err| StoreError::Postgres(format!("bad PostgreSQL URL: {err}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|err| StoreError::Postgres(err.to_string()))?;
        let store = PgStore {
            pool,
            described: describe(url),
        };
        store.migrate().await?;
        let cutoff = super::unix_ms().saturating_sub(super::ORDER_KEYS_KEPT.as_millis() as u64);
        let forgotten = store.forget_orders_before(cutoff).await?;
        if forgotten > 0 {
            tracing::info!(forgotten, "order keys older than any cart token forgotten");
        }
        Ok(store)
    }

    /// Applies the migrations not applied yet, each in its own transaction,
    /// under an advisory lock; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version integer PRIMARY KEY,
                 inserted_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let applied: Vec<i32> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut ran = 0;
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await?;
            tracing::info!(version, "PostgreSQL store: migration applied");
            ran += 1;
        }
        tx.commit().await?;
        Ok(ran)
    }

    /// Where the data lives, for `store.status` (no user, no password).
    pub fn describe(&self) -> String {
        self.described.clone()
    }

    /// The database's size on disk (`pg_database_size`).
    pub async fn size_on_disk(&self) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Whether no product is stored yet.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT NOT EXISTS (SELECT 1 FROM products)", &[])
            .await?;
        Ok(row.get(0))
    }

    /// The whole catalogue, as the inventory servers load it (in id order,
    /// as the sled store gives it).
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut client = self.pool.get().await?;
        // One consistent view of the three tables.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let products = tx
            .query(
                &format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id"),
                &[],
            )
            .await?
            .iter()
            .map(product_from_row)
            .collect();
        let items = tx
            .query(
                "SELECT id, product_id, sku, size FROM items ORDER BY id",
                &[],
            )
            .await?
            .iter()
            .map(|row| Item {
                id: row.get::<_, i64>(0) as u64,
                product_id: row.get::<_, i64>(1) as u64,
                sku: row.get(2),
                size: row.get(3),
            })
            .collect();
        let availability = tx
            .query(
                "SELECT item_id, available_count FROM item_availabilities ORDER BY item_id",
                &[],
            )
            .await?
            .iter()
            .map(|row| Availability {
                item_id: row.get::<_, i64>(0) as u64,
                available_count: row.get::<_, i32>(1) as u32,
            })
            .collect();
        tx.commit().await?;
        Ok(Snapshot {
            products,
            items,
            availability,
        })
    }

    /// Writes a whole catalogue (the seed), in one transaction.
    pub async fn insert_catalogue(&self, catalogue: &Snapshot) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let product = tx
            .prepare(
                r#"INSERT INTO products (id, sku, brand, name, color, price_cents, image, released, "order")
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
            )
            .await?;
        for p in &catalogue.products {
            tx.execute(
                &product,
                &[
                    &(p.id as i64),
                    &p.sku,
                    &p.brand,
                    &p.name,
                    &p.color,
                    &(p.price_cents as i64),
                    &p.image,
                    &p.released,
                    &(p.order as i32),
                ],
            )
            .await?;
        }
        let item = tx
            .prepare("INSERT INTO items (id, product_id, sku, size) VALUES ($1, $2, $3, $4)")
            .await?;
        for i in &catalogue.items {
            tx.execute(
                &item,
                &[&(i.id as i64), &(i.product_id as i64), &i.sku, &i.size],
            )
            .await?;
        }
        let stock = tx
            .prepare("INSERT INTO item_availabilities (item_id, available_count) VALUES ($1, $2)")
            .await?;
        for a in &catalogue.availability {
            let count = i32::try_from(a.available_count)
                .map_err(|_| StoreError::Postgres(format!("item {}: too many units", a.item_id)))?;
            tx.execute(&stock, &[&(a.item_id as i64), &count]).await?;
        }
        tx.commit().await.map_err(unconfirmed_unless_refused)?;
        Ok(())
    }

    /// Marks a product released (`mark_product_released!`).
    pub async fn mark_product_released(&self, id: u64) -> Result<Product, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE products SET released = true WHERE id = $1 RETURNING {PRODUCT_COLUMNS}"
                ),
                &[&(id as i64)],
            )
            .await
            .map_err(unconfirmed_unless_refused)?
            .ok_or_else(|| StoreError::NotFound(format!("product {id}")))?;
        Ok(product_from_row(&row))
    }

    /// Sells one unit of an item (`item_sold!`); `OutOfStock` at zero.
    pub async fn item_sold(
        &self,
        item_id: u64,
    ) -> Result<(Availability, Availability), StoreError> {
        match self.purchase(&[item_id], None).await {
            Ok(mut sold) => Ok(sold.remove(0)),
            Err(StoreError::SoldOut(_)) => Err(StoreError::OutOfStock(item_id)),
            Err(err) => Err(err),
        }
    }

    /// Sells one unit of each item listed, all or nothing, in one
    /// transaction: refused with `SoldOut` naming every item with no unit
    /// left, `NotFound` for an unknown id, `AlreadyPurchased` when `order`
    /// was sold before; then nothing is sold. Returns each item's
    /// availability before and after, in the order given.
    pub async fn purchase(
        &self,
        item_ids: &[u64],
        order: Option<OrderKey>,
    ) -> Result<Vec<(Availability, Availability)>, StoreError> {
        if item_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.pool.get().await?;
        // Each connection prepares these once and keeps them (a statement
        // given as text would cost a round trip to prepare on every use):
        // a purchase is then BEGIN, the order, one UPDATE per item, COMMIT.
        let insert_order = client
            .prepare_cached("INSERT INTO orders (order_key) VALUES ($1) ON CONFLICT DO NOTHING")
            .await?;
        let sell = client
            .prepare_cached(
                "UPDATE item_availabilities SET available_count = available_count - 1
                 WHERE item_id = $1 AND available_count > 0
                 RETURNING available_count",
            )
            .await?;
        let exists = client
            .prepare_cached("SELECT 1 FROM item_availabilities WHERE item_id = $1")
            .await?;
        let tx = client.transaction().await?;
        if let Some(order) = &order {
            let inserted = tx.execute(&insert_order, &[&order.as_slice()]).await?;
            if inserted == 0 {
                return Err(StoreError::AlreadyPurchased);
            }
        }
        // Locks in id order (see the module's documentation); a repeated id
        // sells one more unit, as in the sled store.
        let mut in_lock_order: Vec<(usize, u64)> = item_ids.iter().copied().enumerate().collect();
        in_lock_order.sort_by_key(|&(_, id)| id);
        let mut after_by_position: HashMap<usize, u32> = HashMap::new();
        let mut out = Vec::new();
        for (position, item_id) in in_lock_order {
            let id = item_id as i64;
            match tx.query_opt(&sell, &[&id]).await? {
                Some(row) => {
                    after_by_position.insert(position, row.get::<_, i32>(0) as u32);
                }
                None if tx.query_opt(&exists, &[&id]).await?.is_none() => {
                    return Err(StoreError::NotFound(format!("item {item_id}")));
                }
                None => out.push((position, item_id)),
            }
        }
        if !out.is_empty() {
            // Dropping the transaction rolls it back: nothing sold.
            out.sort();
            return Err(StoreError::SoldOut(
                out.into_iter().map(|(_, id)| id).collect(),
            ));
        }
        tx.commit().await.map_err(unconfirmed_unless_refused)?;
        Ok(item_ids
            .iter()
            .enumerate()
            .map(|(position, &item_id)| {
                let after = after_by_position[&position];
                (
                    Availability {
                        item_id,
                        available_count: after + 1,
                    },
                    Availability {
                        item_id,
                        available_count: after,
                    },
                )
            })
            .collect())
    }

    /// Forgets order keys sold before `cutoff` (ms since the Unix epoch);
    /// returns how many.
    pub async fn forget_orders_before(&self, cutoff_ms: u64) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let seconds = cutoff_ms as f64 / 1000.0;
        Ok(client
            .execute(
                "DELETE FROM orders WHERE sold_at < to_timestamp($1)",
                &[&seconds],
            )
            .await?)
    }
}
