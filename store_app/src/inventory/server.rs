//! The inventory server (`Inventory.Server`): a supervised GenServer that owns
//! the in-memory catalogue. It loads a complete snapshot through its
//! [`Loader`] when it starts — so after a crash its supervisor restarts it and
//! it reloads — and answers every read from memory.

use std::sync::Arc;

use runtime::{CallFlow, GenServer, Pid, ProcessError, ReplyTo};

use super::loader::{LoadError, Loader, Snapshot};
use super::state::{CompleteItem, CompleteProduct, Inventory, InventoryError};
use crate::model::{Availability, Item, Product};

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

/// What the server is asked. Each request carries the port its answer goes
/// to, typed by the request ([`runtime::ReplyTo`]): ask with
/// `pid.request(InventoryCall::CompleteProducts)` or
/// `pid.request(|reply| InventoryCall::Item(id, reply))`.
#[derive(Debug)]
pub enum InventoryCall {
    /// Every product with its sizes and stock, shared so that a page render
    /// copies nothing.
    CompleteProducts(ReplyTo<Arc<[CompleteProduct]>>),
    /// One product with its sizes and stock.
    CompleteProduct(u64, ReplyTo<Option<CompleteProduct>>),
    /// One item with its units left.
    Item(u64, ReplyTo<Option<CompleteItem>>),
    /// Mark a product released in memory.
    MarkReleased(u64, ReplyTo<Result<Product, InventoryError>>),
    /// Take the store's stock figure after a sale, made on this node or
    /// replicated from another (never raises the stock held). Answers the
    /// item (pages are told by its product), and its figure before and after.
    ApplySale(Availability, ReplyTo<Result<StockChange, InventoryError>>),
    /// Load a fresh snapshot through the loader (the store's node
    /// connected). Answers the products loaded, or why nothing was loaded
    /// (the state is kept).
    Reload(ReplyTo<Result<usize, LoadError>>),
}

/// What a sale changed in memory: the item, and its figure before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChange {
    /// The item sold.
    pub item: Item,
    /// Its figure before the sale.
    pub before: Availability,
    /// Its figure after.
    pub after: Availability,
}

/// The server's state: the inventory, and the product list as last built.
/// Reads vastly outnumber writes (every page view is a read), so the list is
/// built once after each change and shared by every reader until the next.
#[derive(Debug, Default)]
pub struct InventoryState {
    inventory: Inventory,
    products: Option<Arc<[CompleteProduct]>>,
}

impl InventoryState {
    fn new(inventory: Inventory) -> Self {
        InventoryState {
            inventory,
            products: None,
        }
    }

    fn products(&mut self) -> Arc<[CompleteProduct]> {
        let inventory = &self.inventory;
        self.products
            .get_or_insert_with(|| inventory.complete_products().into())
            .clone()
    }

    /// The inventory, to change: the shared list is rebuilt on the next read.
    fn change(&mut self) -> &mut Inventory {
        self.products = None;
        &mut self.inventory
    }
}

impl GenServer for InventoryServer {
    type Args = ();
    type State = InventoryState;
    type Call = InventoryCall;
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(&self, _myself: &Pid<Self>, _args: ()) -> Result<InventoryState, ProcessError> {
        match self.loader.load().await {
            Ok(snapshot) => {
                tracing::info!(
                    products = snapshot.products.len(),
                    items = snapshot.items.len(),
                    "inventory loaded"
                );
                Ok(InventoryState::new(inventory_of(snapshot)))
            }
            // A node without the database starts before it is connected to
            // the one that has it; it loads when that node connects.
            Err(LoadError::Unavailable(why)) => {
                tracing::warn!("inventory starts empty: {why}");
                Ok(InventoryState::default())
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn handle_call(
        &self,
        _myself: &Pid<Self>,
        request: InventoryCall,
        state: &mut InventoryState,
    ) -> Result<CallFlow<()>, ProcessError> {
        match request {
            InventoryCall::CompleteProducts(reply) => reply.send(state.products()),
            InventoryCall::CompleteProduct(id, reply) => {
                reply.send(state.inventory.complete_product(id))
            }
            InventoryCall::Item(id, reply) => {
                let inventory = &state.inventory;
                reply.send(inventory.item(id).map(|item| CompleteItem {
                    item: item.clone(),
                    available_count: inventory.available(id),
                }))
            }
            InventoryCall::MarkReleased(id, reply) => {
                reply.send(state.change().mark_product_released(id))
            }
            InventoryCall::ApplySale(stock, reply) => {
                reply.send(match state.inventory.item(stock.item_id).cloned() {
                    None => Err(InventoryError::ItemNotFound(stock.item_id)),
                    Some(item) => {
                        let (before, after) = state.change().apply_sale(stock);
                        Ok(StockChange {
                            item,
                            before,
                            after,
                        })
                    }
                })
            }
            InventoryCall::Reload(reply) => reply.send(match self.loader.load().await {
                Ok(snapshot) => {
                    let products = snapshot.products.len();
                    state.change().replace(inventory_of(snapshot));
                    tracing::info!(products, "inventory reloaded");
                    Ok(products)
                }
                Err(err) => Err(err),
            }),
        }
        Ok(CallFlow::Reply(()))
    }
}

fn inventory_of(snapshot: Snapshot) -> Inventory {
    Inventory::new(snapshot)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use parking_lot::Mutex;
    use runtime::server;
    use runtime::supervisor::{ChildSpec, Strategy, Supervisor, SupervisorOptions};

    use super::*;
    use crate::catalogue;

    /// A loader whose data the test can change between loads.
    struct Shared(Arc<Mutex<Snapshot>>);

    impl Loader for Shared {
        fn load(&self) -> futures::future::BoxFuture<'_, Result<Snapshot, LoadError>> {
            let snapshot = self.0.lock().clone();
            Box::pin(async move { Ok(snapshot) })
        }
    }

    async fn products(pid: &Pid<InventoryServer>) -> Arc<[CompleteProduct]> {
        pid.request(InventoryCall::CompleteProducts).await.unwrap()
    }

    #[tokio::test]
    async fn reads_are_served_from_the_loaded_snapshot() {
        let snapshot = catalogue::demo();
        let pid = server::start(InventoryServer::new(Arc::new(snapshot.clone())), ())
            .await
            .unwrap();
        let expected = Inventory::new(snapshot);
        assert_eq!(*products(&pid).await, *expected.complete_products());
        assert_eq!(
            pid.request(|r| InventoryCall::MarkReleased(3, r))
                .await
                .unwrap(),
            Ok(Product {
                released: true,
                ..expected.product(3).unwrap().clone()
            })
        );
        assert!(products(&pid).await[2].product.released);
    }

    #[tokio::test]
    async fn a_crashed_server_is_restarted_by_its_supervisor_and_reloads() {
        let data = Arc::new(Mutex::new(catalogue::demo()));
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
