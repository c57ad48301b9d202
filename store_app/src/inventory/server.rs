//! The inventory server (`Inventory.Server`): a supervised GenServer that owns
//! the in-memory catalogue. It loads a complete snapshot through its
//! [`Loader`] when it starts — so after a crash its supervisor restarts it and
//! it reloads — and answers every read from memory.

use std::sync::Arc;

use runtime::{CallFlow, GenServer, Pid, ProcessError};

use super::loader::Loader;
use super::state::{CompleteProduct, Inventory, InventoryError};
use crate::model::{Availability, Product};

/// The server; cheap to clone (its loader is shared).
#[derive(Clone)]
pub struct InventoryServer {
    loader: Arc<dyn Loader>,
}

impl InventoryServer {
    /// A server that loads through `loader`.
    pub fn new(loader: Arc<dyn Loader>) -> Self {
        InventoryServer { loader }
    }
}

/// What the server is asked.
#[derive(Debug)]
pub enum InventoryCall {
    /// Every product with its sizes and stock.
    CompleteProducts,
    /// Mark a product released in memory.
    MarkReleased(u64),
    /// Sell one unit in memory.
    ItemSold(u64),
    /// Take another node's (or the store's) stock figure for an item.
    SetAvailability(Availability),
}

/// What it answers.
#[derive(Debug, PartialEq, Eq)]
pub enum InventoryReply {
    /// For `CompleteProducts`.
    Products(Vec<CompleteProduct>),
    /// For `MarkReleased`.
    Released(Result<Product, InventoryError>),
    /// For `ItemSold`: before and after.
    Sold(Result<(Availability, Availability), InventoryError>),
    /// For `SetAvailability`: the previous figure.
    Set(Option<Availability>),
}

impl GenServer for InventoryServer {
    type Args = ();
    type State = Inventory;
    type Call = InventoryCall;
    type Reply = InventoryReply;
    type Cast = ();
    type Info = ();

    async fn init(&self, _myself: &Pid<Self>, _args: ()) -> Result<Inventory, ProcessError> {
        let snapshot = self.loader.load()?;
        tracing::info!(
            products = snapshot.products.len(),
            items = snapshot.items.len(),
            "inventory loaded"
        );
        Ok(Inventory::new(
            snapshot.products,
            snapshot.items,
            snapshot.availability,
        ))
    }

    async fn handle_call(
        &self,
        _myself: &Pid<Self>,
        request: InventoryCall,
        inventory: &mut Inventory,
    ) -> Result<CallFlow<InventoryReply>, ProcessError> {
        let reply = match request {
            InventoryCall::CompleteProducts => {
                InventoryReply::Products(inventory.complete_products())
            }
            InventoryCall::MarkReleased(id) => {
                InventoryReply::Released(inventory.mark_product_released(id))
            }
            InventoryCall::ItemSold(id) => InventoryReply::Sold(inventory.item_sold(id)),
            InventoryCall::SetAvailability(stock) => {
                InventoryReply::Set(inventory.set_availability(stock))
            }
        };
        Ok(CallFlow::Reply(reply))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use parking_lot::Mutex;
    use runtime::server;
    use runtime::supervisor::{ChildSpec, Strategy, Supervisor, SupervisorOptions};

    use super::*;
    use crate::catalogue;
    use crate::inventory::loader::Snapshot;
    use crate::store::StoreError;

    /// A loader whose data the test can change between loads.
    struct Shared(Arc<Mutex<Snapshot>>);

    impl Loader for Shared {
        fn load(&self) -> Result<Snapshot, StoreError> {
            Ok(self.0.lock().clone())
        }
    }

    fn demo_snapshot() -> Snapshot {
        let (products, items, availability) = catalogue::demo();
        Snapshot {
            products,
            items,
            availability,
        }
    }

    async fn products(pid: &Pid<InventoryServer>) -> Vec<CompleteProduct> {
        match pid.call(InventoryCall::CompleteProducts).await.unwrap() {
            InventoryReply::Products(products) => products,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn reads_are_served_from_the_loaded_snapshot() {
        let snapshot = demo_snapshot();
        let pid = server::start(InventoryServer::new(Arc::new(snapshot.clone())), ())
            .await
            .unwrap();
        let expected = Inventory::new(snapshot.products, snapshot.items, snapshot.availability);
        assert_eq!(products(&pid).await, expected.complete_products());
        assert_eq!(
            pid.call(InventoryCall::MarkReleased(3)).await.unwrap(),
            InventoryReply::Released(Ok(Product {
                released: true,
                ..expected.product(3).unwrap().clone()
            }))
        );
        assert!(products(&pid).await[2].product.released);
    }

    #[tokio::test]
    async fn a_crashed_server_is_restarted_by_its_supervisor_and_reloads() {
        let data = Arc::new(Mutex::new(demo_snapshot()));
        let loader: Arc<dyn Loader> = Arc::new(Shared(data.clone()));
        let name = format!("inventory-test-{}", std::process::id());
        let spec = ChildSpec::gen_server(
            "inventory",
            move || InventoryServer::new(loader.clone()),
            || (),
        )
        .named(name.clone());
        let supervisor = Supervisor::start(SupervisorOptions::new(Strategy::OneForOne), vec![spec])
            .await
            .unwrap();
        let first = server::whereis::<InventoryServer>(&name).unwrap();
        assert!(!products(&first).await[1].product.released);

        // The store changed meanwhile (another node released product 2).
        data.lock().products[1].released = true;
        first.kill();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let second = loop {
            if let Some(pid) = server::whereis::<InventoryServer>(&name).filter(|p| *p != first) {
                break pid;
            }
            assert!(tokio::time::Instant::now() < deadline, "not restarted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(
            products(&second).await[1].product.released,
            "reloaded at restart"
        );
        supervisor.stop().await;
    }
}
