//! The inventory context end to end inside one process (the book's
//! `Sneakers23.InventoryTest`): store first, then memory, then replication and
//! notification; reads from memory when the store is gone; replication between
//! two inventories sharing one PubSub, as two nodes would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use channels::pubsub::PubSub;
use parking_lot::Mutex;
use runtime::server::{self, StartOptions};
use runtime::testkit::poll_for;
use store_app::inventory::loader::{Loader, Snapshot, StoreLoader};
use store_app::inventory::{CompleteProduct, InventoryServer};
use store_app::model::{Availability, Item};
use store_app::replication::{Replication, ReplicationServer};
use store_app::sneakers23::{Notifier, Sneakers23, Sneakers23Error};
use store_app::store::Store;
use store_app::store_client::{StoreCallError, StoreClient};
use store_app::store_requests::{self, StoreFailure};
use store_app::store_server;

/// Bound for what replication does in milliseconds.
const SOON: Duration = Duration::from_secs(5);

/// A memory reload's (before, after), as the pages were told it.
type Reload = (Vec<CompleteProduct>, Vec<CompleteProduct>);

/// Records what the pages would have been told.
#[derive(Default)]
struct Pages {
    released: Mutex<Vec<u64>>,
    stock: Mutex<Vec<(u64, u32, u32)>>,
    reloads: Mutex<Vec<Reload>>,
    /// Items this node's carts were told are out.
    out: Mutex<Vec<u64>>,
}

impl Notifier for Pages {
    fn product_released(&self, product: &CompleteProduct) {
        self.released.lock().push(product.product.id);
    }

    fn item_stock_change(&self, item: &Item, before: Availability, after: Availability) -> bool {
        self.stock
            .lock()
            .push((item.id, before.available_count, after.available_count));
        true
    }

    fn memory_reloaded(&self, before: &[CompleteProduct], after: &[CompleteProduct]) {
        self.reloads.lock().push((before.to_vec(), after.to_vec()));
    }

    fn item_out(&self, item_id: u64) {
        self.out.lock().push(item_id);
    }
}

/// One "node": an inventory server, a replication server and the context.
struct TestNode {
    context: Sneakers23,
    pages: Arc<Pages>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

async fn start_node(pubsub: &PubSub, store: StoreClient, loader: Arc<dyn Loader>) -> TestNode {
    let name = format!(
        "test-inventory-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    server::start_with(
        StartOptions {
            name: Some(name.clone()),
            supervisor: None,
        },
        InventoryServer::new(loader),
        (),
    )
    .await
    .unwrap();
    let replication = Replication::new(pubsub.clone());
    let pages = Arc::new(Pages::default());
    server::start(
        ReplicationServer::new(replication.clone(), name.clone(), pages.clone()),
        (),
    )
    .await
    .unwrap();
    let context = Sneakers23::new(name, store, replication, pages.clone());
    TestNode { context, pages }
}

/// A seeded store in a temporary directory, served by its store server.
async fn seeded_store() -> (tempfile::TempDir, Arc<Store>, StoreClient) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    store_requests::seed(&store, "demo").unwrap();
    let actor = store_server::start(store.clone(), dir.path().display().to_string())
        .await
        .unwrap();
    (dir, store, StoreClient::new(Some(actor), None))
}

async fn products(node: &TestNode) -> Arc<[CompleteProduct]> {
    node.context.get_complete_products().await.unwrap()
}

fn stock_of(products: &[CompleteProduct], item_id: u64) -> u32 {
    products
        .iter()
        .flat_map(|p| &p.items)
        .find(|i| i.item.id == item_id)
        .unwrap()
        .available_count
}

#[tokio::test]
async fn mark_product_released_writes_the_store_then_memory_then_notifies() {
    let (_dir, store, client) = seeded_store().await;
    let node = start_node(&PubSub::new(), client, Arc::new(StoreLoader(store.clone()))).await;
    assert!(!products(&node).await[1].product.released);

    let product = node.context.mark_product_released(2).await.unwrap();
    assert!(product.product.released);
    assert!(store.products().unwrap()[1].released, "in the store");
    assert!(products(&node).await[1].product.released, "in memory");
    assert_eq!(*node.pages.released.lock(), vec![2]);

    let refused = node.context.mark_product_released(99).await.unwrap_err();
    assert_eq!(
        refused,
        Sneakers23Error::Refused(StoreFailure::NotFound("product 99".into()))
    );
    assert_eq!(node.pages.released.lock().len(), 1, "nothing announced");
}

#[tokio::test]
async fn item_sold_counts_down_in_store_and_memory_and_never_oversells() {
    let (_dir, store, client) = seeded_store().await;
    let node = start_node(&PubSub::new(), client, Arc::new(StoreLoader(store.clone()))).await;
    let item = products(&node).await[0]
        .items
        .iter()
        .find(|i| i.available_count == 3)
        .unwrap()
        .item
        .id;

    for left in (0..3).rev() {
        let (before, after) = node.context.item_sold(item).await.unwrap();
        assert_eq!(
            (before.available_count, after.available_count),
            (left + 1, left)
        );
    }
    let refused = node.context.item_sold(item).await.unwrap_err();
    assert_eq!(refused, Sneakers23Error::OutOfStock(item));
    let stored = store.availability().unwrap();
    assert_eq!(
        stored
            .iter()
            .find(|a| a.item_id == item)
            .unwrap()
            .available_count,
        0
    );
    assert_eq!(stock_of(&products(&node).await, item), 0);
    let told = node.pages.stock.lock().clone();
    assert_eq!(&told[..3], &[(item, 3, 2), (item, 2, 1), (item, 1, 0)]);
}

#[tokio::test]
async fn concurrent_buyers_of_the_last_units_cannot_oversell() {
    let (_dir, store, client) = seeded_store().await;
    let node = start_node(&PubSub::new(), client, Arc::new(StoreLoader(store.clone()))).await;
    let item = products(&node).await[0]
        .items
        .iter()
        .find(|i| i.available_count == 8)
        .unwrap()
        .item
        .id;
    let buyers: Vec<_> = (0..20)
        .map(|_| {
            let context = node.context.clone();
            tokio::spawn(async move { context.item_sold(item).await.is_ok() })
        })
        .collect();
    let mut sold = 0;
    for buyer in buyers {
        sold += usize::from(buyer.await.unwrap());
    }
    assert_eq!(sold, 8, "exactly the stock was sold");
    assert_eq!(stock_of(&products(&node).await, item), 0);
}

#[tokio::test]
async fn without_a_store_writes_fail_clearly_and_reads_keep_working() {
    let snapshot = store_app::catalogue::demo();
    let node = start_node(
        &PubSub::new(),
        StoreClient::new(None, None),
        Arc::new(snapshot.clone()),
    )
    .await;
    let err = node.context.mark_product_released(2).await.unwrap_err();
    assert!(matches!(
        err,
        Sneakers23Error::StoreDown(StoreCallError::Unavailable(_))
    ));
    assert!(err.to_string().contains("no store is reachable"), "{err}");
    assert!(node.context.item_sold(1).await.is_err());
    let now = products(&node).await;
    assert_eq!(now.len(), snapshot.products.len());
    assert!(!now[1].product.released, "memory unchanged");
    assert!(node.pages.released.lock().is_empty());
    assert!(node.pages.stock.lock().is_empty());
}

#[tokio::test]
async fn releases_and_sales_replicate_to_the_other_inventory_without_looping() {
    let pubsub = PubSub::new();
    let (_dir, store, client) = seeded_store().await;
    let owner = start_node(
        &pubsub,
        client.clone(),
        Arc::new(StoreLoader(store.clone())),
    )
    .await;
    // The other node reaches the same store server, as a remote node does
    // through the cluster.
    let other = start_node(&pubsub, client, Arc::new(StoreLoader(store.clone()))).await;

    owner.context.mark_product_released(3).await.unwrap();
    poll_for("release replicated", SOON, || async {
        products(&other).await[2].product.released.then_some(())
    })
    .await;
    // Only the node that made the change tells the pages.
    assert_eq!(*owner.pages.released.lock(), vec![3]);
    assert!(other.pages.released.lock().is_empty());

    let item = 5;
    let start = stock_of(&products(&owner).await, item);
    other.context.item_sold(item).await.unwrap();
    owner.context.item_sold(item).await.unwrap();
    poll_for("sales replicated both ways", SOON, || async {
        (stock_of(&products(&owner).await, item) == start - 2
            && stock_of(&products(&other).await, item) == start - 2)
            .then_some(())
    })
    .await;
    // No loop: each sale was announced once, by the node that made it, and
    // nothing arrives later.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(owner.pages.stock.lock().len(), 1);
    assert_eq!(other.pages.stock.lock().len(), 1);
    assert_eq!(stock_of(&products(&owner).await, item), start - 2);
}

/// An item of the first product with exactly `count` units in the demo catalogue.
async fn item_with(node: &TestNode, count: u32) -> u64 {
    products(node).await[0]
        .items
        .iter()
        .find(|i| i.available_count == count)
        .unwrap()
        .item
        .id
}

#[tokio::test]
async fn purchase_sells_a_whole_cart_or_nothing_and_names_what_is_out() {
    let (_dir, store, client) = seeded_store().await;
    let node = start_node(&PubSub::new(), client, Arc::new(StoreLoader(store.clone()))).await;
    let (scarce, plenty) = (item_with(&node, 3).await, item_with(&node, 8).await);
    let plenty_stock = stock_of(&products(&node).await, plenty);

    let changes = node
        .context
        .purchase(&[scarce, plenty], None)
        .await
        .unwrap();
    assert_eq!(
        changes
            .iter()
            .map(|(b, a)| (a.item_id, b.available_count, a.available_count))
            .collect::<Vec<_>>(),
        vec![(scarce, 3, 2), (plenty, plenty_stock, plenty_stock - 1)]
    );
    node.context.purchase(&[scarce], None).await.unwrap();
    node.context.purchase(&[scarce], None).await.unwrap();
    assert_eq!(
        *node.pages.out.lock(),
        vec![scarce],
        "the last unit: carts told"
    );

    let refused = node
        .context
        .purchase(&[plenty, scarce], None)
        .await
        .unwrap_err();
    assert_eq!(refused, Sneakers23Error::SoldOut(vec![scarce]));
    assert_eq!(refused.to_string(), format!("out of stock: item {scarce}"));
    assert_eq!(
        stock_of(&products(&node).await, plenty),
        plenty_stock - 1,
        "nothing of a refused cart was sold, in memory"
    );
    let stored = store.availability().unwrap();
    let stored_plenty = stored.iter().find(|a| a.item_id == plenty).unwrap();
    assert_eq!(
        stored_plenty.available_count,
        plenty_stock - 1,
        "nor in the store"
    );
}

#[tokio::test]
async fn every_node_tells_its_own_carts_when_a_sale_anywhere_takes_the_last_unit() {
    let pubsub = PubSub::new();
    let (_dir, store, client) = seeded_store().await;
    let seller = start_node(
        &pubsub,
        client.clone(),
        Arc::new(StoreLoader(store.clone())),
    )
    .await;
    let other = start_node(&pubsub, client, Arc::new(StoreLoader(store.clone()))).await;
    let item = item_with(&seller, 3).await;
    for _ in 0..2 {
        seller.context.item_sold(item).await.unwrap();
    }
    assert!(seller.pages.out.lock().is_empty() && other.pages.out.lock().is_empty());
    seller.context.purchase(&[item], None).await.unwrap();
    assert_eq!(*seller.pages.out.lock(), vec![item]);
    // The other node tells its carts once its own memory is out.
    poll_for("the replicated sale's item_out", SOON, || async {
        (*other.pages.out.lock() == vec![item]).then_some(())
    })
    .await;
    assert_eq!(stock_of(&products(&other).await, item), 0);
}

/// A loader that finds nothing the first time (a node that started before it
/// was connected to the store's node), then reads the store.
struct LateStore {
    loads: AtomicUsize,
    store: StoreLoader,
}

impl Loader for LateStore {
    fn load(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<Snapshot, store_app::inventory::loader::LoadError>>
    {
        if self.loads.fetch_add(1, Ordering::SeqCst) == 0 {
            Box::pin(async { Ok(Snapshot::default()) })
        } else {
            self.store.load()
        }
    }
}

#[tokio::test]
async fn a_write_made_before_memory_has_loaded_is_still_applied_and_announced() {
    let (_dir, store, client) = seeded_store().await;
    let loader = Arc::new(LateStore {
        loads: AtomicUsize::new(0),
        store: StoreLoader(store.clone()),
    });
    let node = start_node(&PubSub::new(), client, loader).await;
    assert!(products(&node).await.is_empty(), "memory not loaded yet");

    // The store takes the release; memory catches up from the store.
    let product = node.context.mark_product_released(2).await.unwrap();
    assert!(product.product.released);
    assert!(products(&node).await[1].product.released);
    assert_eq!(*node.pages.released.lock(), vec![2]);
}

#[tokio::test]
async fn a_sale_made_before_memory_has_loaded_is_still_applied_and_announced() {
    let (_dir, store, client) = seeded_store().await;
    let loader = Arc::new(LateStore {
        loads: AtomicUsize::new(0),
        store: StoreLoader(store.clone()),
    });
    let node = start_node(&PubSub::new(), client, loader).await;
    let (before, after) = node.context.item_sold(4).await.unwrap();
    assert_eq!((before.available_count, after.available_count), (1, 0));
    assert_eq!(stock_of(&products(&node).await, 4), 0);
    assert_eq!(*node.pages.stock.lock(), vec![(4, 1, 0)]);
}

#[tokio::test]
async fn a_reload_tells_the_pages_what_memory_had_missed() {
    let (_dir, store, client) = seeded_store().await;
    let node = start_node(&PubSub::new(), client, Arc::new(StoreLoader(store.clone()))).await;
    let loaded = products(&node).await;
    assert_eq!(stock_of(&loaded, 4), 1);
    assert!(!loaded[1].product.released);

    // The store changes and nobody announces it: the seller lost the answer.
    store.item_sold(4).unwrap();
    store.mark_product_released(2).unwrap();
    assert!(node.pages.reloads.lock().is_empty());

    node.context.reload().await.unwrap();
    let now = products(&node).await.to_vec();
    let reloads = node.pages.reloads.lock();
    assert_eq!(reloads.len(), 1, "one reload, one notice to the pages");
    let (before, after) = &reloads[0];
    assert_eq!((stock_of(before, 4), stock_of(after, 4)), (1, 0));
    assert!(!before[1].product.released && after[1].product.released);
    assert_eq!(after, &now);
}

#[tokio::test]
async fn a_reload_into_empty_memory_has_no_pages_to_tell() {
    let (_dir, store, client) = seeded_store().await;
    let loader = Arc::new(LateStore {
        loads: AtomicUsize::new(0),
        store: StoreLoader(store.clone()),
    });
    let node = start_node(&PubSub::new(), client, loader).await;
    assert!(products(&node).await.is_empty());
    assert_eq!(node.context.reload().await.unwrap(), 4);
    assert!(node.pages.reloads.lock().is_empty());
}

#[tokio::test]
async fn a_seed_fills_an_empty_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let actor = store_server::start(store.clone(), dir.path().display().to_string())
        .await
        .unwrap();
    let client = StoreClient::new(Some(actor), None);
    let node = start_node(&PubSub::new(), client, Arc::new(StoreLoader(store.clone()))).await;
    assert!(products(&node).await.is_empty());

    assert_eq!(
        node.context.seed("shoes").await.unwrap_err(),
        Sneakers23Error::Refused(StoreFailure::UnknownCatalogue("shoes".into()))
    );
    let seeded = node.context.seed("demo").await.unwrap();
    assert_eq!((seeded.products, seeded.items), (4, 40));
    assert_eq!(products(&node).await.len(), 4);
    assert_eq!(
        node.context.seed("flash").await.unwrap_err(),
        Sneakers23Error::Refused(StoreFailure::NotEmpty(4))
    );
}

#[tokio::test]
async fn mock_shoppers_sell_every_released_size_until_gone_and_nothing_else() {
    let (_dir, store, client) = seeded_store().await;
    let node = start_node(&PubSub::new(), client, Arc::new(StoreLoader(store.clone()))).await;
    let before = products(&node).await;
    let released_units: u64 = before
        .iter()
        .filter(|p| p.product.released)
        .flat_map(|p| &p.items)
        .map(|i| u64::from(i.available_count))
        .sum();
    assert!(released_units > 0);

    let run = store_app::mock::sell_random_until_gone(&node.context, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(run.sold, released_units, "every released unit sold once");
    assert_eq!(run.lost_races, 0, "one shopper never races itself");

    let after = products(&node).await;
    assert!(store_app::mock::sellable(&after).is_empty());
    for (was, now) in before.iter().zip(after.iter()) {
        for (item_was, item_now) in was.items.iter().zip(&now.items) {
            let expected = if was.product.released {
                0
            } else {
                item_was.available_count
            };
            assert_eq!(item_now.available_count, expected, "{:?}", item_now.item);
        }
    }
    // The store agrees with memory.
    let stored: u64 = store
        .availability()
        .unwrap()
        .iter()
        .map(|a| u64::from(a.available_count))
        .sum();
    let in_memory: u64 = after
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| u64::from(i.available_count))
        .sum();
    assert_eq!(stored, in_memory);
}
