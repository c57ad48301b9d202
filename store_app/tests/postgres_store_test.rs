//! The store on PostgreSQL (`store/postgres.rs`), against a real server the
//! test starts on a free port (`runtime::testkit::PostgresServer`): the same
//! answers as the sled store, migrations that run once however many nodes
//! start, a checkout race between two "nodes" (two pools) that never
//! oversells, and acknowledged purchases that survive the server's `kill -9`.

use std::collections::HashMap;
use std::sync::Arc;

use runtime::testkit::PostgresServer;
use store_app::catalogue;
use store_app::model::Availability;
use store_app::store::postgres::PgStore;
use store_app::store::StoreError;

async fn seeded(server: &PostgresServer) -> PgStore {
    let store = PgStore::connect(&server.url(), 4).await.unwrap();
    assert!(store.is_empty().await.unwrap());
    store.insert_catalogue(&catalogue::demo()).await.unwrap();
    store
}

fn stock(store_snapshot: &store_app::model::Snapshot) -> HashMap<u64, u32> {
    store_snapshot
        .availability
        .iter()
        .map(|a| (a.item_id, a.available_count))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalogue_reads_back_and_sales_answer_as_the_sled_store_does() {
    let Some(server) = PostgresServer::start("the_catalogue_reads_back") else {
        return;
    };
    let store = seeded(&server).await;
    assert_eq!(store.snapshot().await.unwrap(), catalogue::demo());
    assert!(!store.is_empty().await.unwrap());

    let released = store.mark_product_released(1).await.unwrap();
    assert!(released.released);
    assert!(matches!(
        store.mark_product_released(999).await,
        Err(StoreError::NotFound(what)) if what == "product 999"
    ));

    // One unit at a time until none is left.
    let item = catalogue::demo().availability[0];
    for left in (0..item.available_count).rev() {
        let (before, after) = store.item_sold(item.item_id).await.unwrap();
        assert_eq!(
            (before.available_count, after.available_count),
            (left + 1, left)
        );
    }
    assert!(matches!(
        store.item_sold(item.item_id).await,
        Err(StoreError::OutOfStock(id)) if id == item.item_id
    ));

    // A cart with a sold-out size sells nothing, and names it.
    let other = catalogue::demo().availability[1];
    let refused = store.purchase(&[other.item_id, item.item_id], None).await;
    assert!(matches!(refused, Err(StoreError::SoldOut(ref ids)) if ids == &[item.item_id]));
    let now = stock(&store.snapshot().await.unwrap());
    assert_eq!(now[&other.item_id], other.available_count, "nothing sold");
    assert!(matches!(
        store.purchase(&[other.item_id, 987_654], None).await,
        Err(StoreError::NotFound(what)) if what == "item 987654"
    ));

    // An order placed twice sells once.
    let order = [7u8; 32];
    let sold = store.purchase(&[other.item_id], Some(order)).await.unwrap();
    assert_eq!(
        sold,
        vec![(
            Availability {
                item_id: other.item_id,
                available_count: other.available_count
            },
            Availability {
                item_id: other.item_id,
                available_count: other.available_count - 1
            },
        )]
    );
    assert!(matches!(
        store.purchase(&[other.item_id], Some(order)).await,
        Err(StoreError::AlreadyPurchased)
    ));
    let now = stock(&store.snapshot().await.unwrap());
    assert_eq!(now[&other.item_id], other.available_count - 1);

    // Order keys are forgotten once older than any cart token can be (each
    // node does it at start, as the sled store does at open).
    let kept = store.forget_orders_before(0).await.unwrap();
    assert_eq!(kept, 0, "nothing is older than the epoch");
    let far_future = u64::MAX / 2_000;
    assert_eq!(store.forget_orders_before(far_future).await.unwrap(), 1);
    assert!(
        store.purchase(&[other.item_id], Some(order)).await.is_ok(),
        "a forgotten key is a new order"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_run_once_however_many_nodes_connect_together() {
    let Some(server) = PostgresServer::start("migrations_run_once") else {
        return;
    };
    let url = server.url();
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url, 2).await })
        })
        .collect();
    for connect in connects {
        connect
            .await
            .unwrap()
            .expect("every node connects and finds the schema");
    }
    let store = PgStore::connect(&url, 1).await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), 0, "nothing left to apply");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_racing_over_the_last_units_never_oversell() {
    let Some(server) = PostgresServer::start("two_nodes_racing") else {
        return;
    };
    let seeding = seeded(&server).await;
    let initial = stock(&seeding.snapshot().await.unwrap());
    let items: Vec<u64> = {
        let mut ids: Vec<u64> = initial.keys().copied().collect();
        ids.sort();
        ids
    };
    let total: u32 = initial.values().sum();
    // Two nodes, each with its own pool; 200 shoppers, each cart three
    // overlapping sizes, many more units asked for than exist.
    let nodes = [
        Arc::new(PgStore::connect(&server.url(), 8).await.unwrap()),
        Arc::new(PgStore::connect(&server.url(), 8).await.unwrap()),
    ];
    let shoppers: Vec<_> = (0..200usize)
        .map(|n| {
            let node = nodes[n % 2].clone();
            let cart: Vec<u64> = (0..3)
                .map(|k| items[(n * 7 + k * 5) % items.len()])
                .collect();
            tokio::spawn(async move {
                let mut bought = Vec::new();
                // Each shopper tries a few times, as people click again.
                for _ in 0..5 {
                    match node.purchase(&cart, None).await {
                        Ok(sold) => bought.extend(sold.iter().map(|(_, after)| after.item_id)),
                        Err(StoreError::SoldOut(_)) => break,
                        Err(other) => panic!("unexpected refusal: {other}"),
                    }
                }
                bought
            })
        })
        .collect();
    let mut acknowledged: HashMap<u64, u32> = HashMap::new();
    for shopper in shoppers {
        for item in shopper.await.unwrap() {
            *acknowledged.entry(item).or_default() += 1;
        }
    }
    let left = stock(&seeding.snapshot().await.unwrap());
    for item in &items {
        let sold = acknowledged.get(item).copied().unwrap_or(0);
        assert_eq!(
            initial[item] - left[item],
            sold,
            "item {item}: the units that left the store are the units acknowledged"
        );
    }
    let sold_total: u32 = acknowledged.values().sum();
    assert!(sold_total <= total);
    assert!(
        items.iter().any(|i| initial[i] > 0 && left[i] == 0),
        "the race sold at least one size out: there was a last unit to fight over"
    );
    assert!(
        left.values().all(|&n| n <= total),
        "never below zero (u32 from a CHECKed column)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_purchases_survive_a_kill_of_the_database_server() {
    let Some(mut server) = PostgresServer::start("acknowledged_purchases_survive") else {
        return;
    };
    let store = seeded(&server).await;
    let item = catalogue::demo().availability[2];
    let (_, after) = store.item_sold(item.item_id).await.unwrap();
    server.kill();
    // While it is away: a clear error, not a hang or a panic.
    let refused = store.item_sold(item.item_id).await;
    assert!(
        matches!(refused, Err(StoreError::Postgres(_))),
        "{refused:?}"
    );
    server.restart();
    let reconnected = PgStore::connect(&server.url(), 2).await.unwrap();
    let now = stock(&reconnected.snapshot().await.unwrap());
    assert_eq!(
        now[&item.item_id], after.available_count,
        "the acknowledged sale is there"
    );
    // The first pool's broken connections are replaced as they are used.
    let mut sold_again = None;
    for _ in 0..5 {
        if let Ok(sold) = store.item_sold(item.item_id).await {
            sold_again = Some(sold);
            break;
        }
    }
    let (before, _) = sold_again.expect("the first pool sells again once the server is back");
    assert_eq!(before.available_count, after.available_count);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_store_request_is_answered_on_postgres_as_on_sled() {
    use store_app::store_requests::{
        ItemSold, LoadSnapshot, MarkProductReleased, PurchaseOrder, Seed, Status, StoreCall,
        StoreFailure,
    };
    let Some(server) = PostgresServer::start("every_store_request_is_answered") else {
        return;
    };
    let store = PgStore::connect(&server.url(), 2).await.unwrap();
    let seeded = Seed("demo".into()).execute_pg(&store).await.unwrap();
    assert_eq!(seeded.products, catalogue::demo().products.len());
    assert!(matches!(
        Seed("demo".into()).execute_pg(&store).await,
        Err(StoreFailure::NotEmpty(_))
    ));
    assert!(matches!(
        Seed("nope".into()).execute_pg(&store).await,
        Err(StoreFailure::UnknownCatalogue(_))
    ));
    assert_eq!(
        LoadSnapshot.execute_pg(&store).await.unwrap(),
        catalogue::demo()
    );
    assert!(
        MarkProductReleased(1)
            .execute_pg(&store)
            .await
            .unwrap()
            .released
    );
    let item = catalogue::demo()
        .availability
        .iter()
        .find(|a| a.available_count > 1)
        .copied()
        .unwrap();
    let (before, after) = ItemSold(item.item_id).execute_pg(&store).await.unwrap();
    assert_eq!(before.available_count, after.available_count + 1);
    let order = PurchaseOrder {
        items: vec![item.item_id],
        order: [9u8; 32],
    };
    assert!(order.clone().execute_pg(&store).await.is_ok());
    assert_eq!(
        order.execute_pg(&store).await,
        Err(StoreFailure::AlreadyPurchased)
    );
    let status = Status.execute_pg(&store).await.unwrap();
    assert_eq!(status.products, catalogue::demo().products.len());
    let now = LoadSnapshot.execute_pg(&store).await.unwrap();
    assert_eq!(
        status.released,
        now.products.iter().filter(|p| p.released).count()
    );
    assert!(
        status.path.starts_with("postgres://…@127.0.0.1:"),
        "{}",
        status.path
    );
    assert!(
        !status.path.contains("postgres@"),
        "no user in {}",
        status.path
    );
    assert!(status.size_on_disk > 0);
}
