//! One store node, assembled: what `sneakers23 start` runs, and what tests
//! start in-process.
//!
//! Start order matters. The database is opened (if this node owns it) and
//! seeded when empty; its server is registered as the cluster-wide store
//! service; then the supervision tree starts the channel processes, the
//! inventory server (which loads its snapshot — from the local database, or
//! from the store's node over the cluster) and the replication server; then
//! the web endpoint, if this node serves pages.

use std::path::PathBuf;
use std::sync::Arc;

use channels::presence::Presence;
use channels::pubsub::link::{PubSubAdapter, PubSubLink};
use channels::pubsub::PubSub;
use channels::tracker::TrackerOptions;
use runtime::node::Node;
use runtime::process::ProcessSupervisor;
use runtime::ractor::ActorRef;
use runtime::supervisor::{ChildSpec, Strategy, Supervisor, SupervisorOptions};

use crate::checkout::Checkout;
use crate::inventory::loader::{ClusterLoader, Loader, StoreLoader};
use crate::inventory::{CompleteProduct, InventoryServer};
use crate::inventory_resync::{InventoryResync, ResyncOptions};
use crate::model::{Availability, Item};
use crate::replication::{Replication, ReplicationServer};
use crate::sneakers23::{Notifier, Sneakers23, INVENTORY};
use crate::store::postgres::PgStore;
use crate::store::Store;
use crate::store_client::{StoreCallError, StoreClient};
use crate::store_requests::{self, Seed, StoreFailure};
use crate::store_server::{self, StoreMsg, SERVICE};
use crate::store_watch::StoreWatch;
use crate::web;

/// The registered name of the channel processes' supervisor.
pub const CHANNELS: &str = "Sneakers23.Channels";
/// The cart tracker's name, the same on every node.
pub const CART_TRACKER: &str = "Sneakers23.CartTracker";

/// Page notifications through the ProductChannel functions.
pub struct PageNotifier(pub PubSub);

impl Notifier for PageNotifier {
    fn product_released(&self, product: &CompleteProduct) {
        web::notify_product_released(&self.0, product);
    }

    fn item_stock_change(&self, item: &Item, before: Availability, after: Availability) -> bool {
        matches!(
            web::notify_item_stock_change(&self.0, item.product_id, before, after),
            web::StockNotice::Broadcast(_)
        )
    }

    fn item_out(&self, item_id: u64) {
        web::notify_local_item_out(&self.0, item_id);
    }

    fn memory_reloaded(&self, before: &[CompleteProduct], after: &[CompleteProduct]) {
        let notices = web::notify_memory_reloaded(&self.0, before, after);
        if notices > 0 {
            tracing::info!(
                notices,
                "memory reloaded: this node's pages told what changed"
            );
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database could not be opened (e.g. another node has it: sled locks
    /// its directory).
    #[error("cannot open the store at {path}: {error} (is another node already using it?)")]
    Store {
        /// The directory.
        path: String,
        /// What sled said.
        error: crate::store::StoreError,
    },
    /// Anything else that failed to start.
    #[error("{0}")]
    Start(String),
}

fn start_error(err: impl std::fmt::Display) -> AppError {
    AppError::Start(err.to_string())
}

/// Connections each node keeps to PostgreSQL.
pub const POSTGRES_POOL_SIZE: usize = 16;

/// What a node is started with.
pub struct AppOptions {
    /// The database directory, for the one node that owns it.
    pub data_dir: Option<PathBuf>,
    /// The store on PostgreSQL (`postgres://…`), which every node uses
    /// directly (then no node has a `data_dir`).
    pub postgres: Option<String>,
    /// The node, for a member of a cluster.
    pub node: Option<Node>,
    /// The node's PubSub.
    pub pubsub: PubSub,
    /// How the PubSub reaches the other nodes: the cluster mesh, or Redis
    /// (with the store on PostgreSQL, nodes then need no mesh at all).
    pub pubsub_adapter: PubSubAdapter,
    /// The catalogue an empty database is seeded with at start (`demo`, `flash`).
    pub catalogue: String,
    /// With PubSub through Redis: how often the inventory reloads from the
    /// store.
    pub resync: ResyncOptions,
}

/// A running store node.
pub struct App {
    /// The context (console, web, mock shoppers).
    pub context: Sneakers23,
    /// Checkout (the web's `POST /checkout`, the console's `checkout.stats`).
    pub checkout: Checkout,
    /// The channel processes' supervisor (for the web endpoint).
    pub channels: ProcessSupervisor,
    /// The PubSub.
    pub pubsub: PubSub,
    /// Every node's carts, for the admin dashboard (a Phoenix.Tracker
    /// through Presence: `presence_state` / `presence_diff` on
    /// `admin:cart_tracker`).
    pub cart_tracker: Presence,
    store: Option<ActorRef<StoreMsg>>,
    root: Supervisor,
    link: Option<PubSubLink>,
    watch: Option<StoreWatch>,
    resync: Option<InventoryResync>,
}

impl App {
    /// Starts a store node.
    pub async fn start(options: AppOptions) -> Result<App, AppError> {
        let AppOptions {
            data_dir,
            postgres,
            node,
            pubsub,
            pubsub_adapter,
            catalogue,
            resync,
        } = options;
        let link = PubSubLink::connect(&pubsub, &pubsub_adapter, node.as_ref(), "sneakers23")
            .await
            .map_err(start_error)?;
        // The database: on PostgreSQL for every node, or on the node that owns it.
        let postgres = match &postgres {
            Some(url) => {
                let store = PgStore::connect(url, POSTGRES_POOL_SIZE)
                    .await
                    .map_err(|error| AppError::Store {
                        path: crate::store::postgres::describe(url),
                        error,
                    })?;
                let client = StoreClient::postgres(store);
                // Nodes starting together may both find it empty: one seeds,
                // the other is refused NotEmpty, which is fine.
                match client.request(Seed(catalogue.clone())).await {
                    Ok(_) | Err(StoreCallError::Refused(StoreFailure::NotEmpty(_))) => {}
                    Err(err) => return Err(start_error(err)),
                }
                tracing::info!(store = %client.owner().unwrap_or_default(), "the store is on PostgreSQL");
                Some(client)
            }
            None => None,
        };
        let (store_actor, loader): (Option<ActorRef<StoreMsg>>, Arc<dyn Loader>) = match &data_dir {
            _ if postgres.is_some() => (
                None,
                Arc::new(ClusterLoader(postgres.clone().expect("checked just above"))),
            ),
            Some(dir) => {
                let path = dir.display().to_string();
                let store = Store::open(dir).map_err(|error| AppError::Store {
                    path: path.clone(),
                    error,
                })?;
                let store = Arc::new(store);
                if store.is_empty() {
                    store_requests::seed(&store, &catalogue).map_err(start_error)?;
                }
                let actor = store_server::start(store.clone(), path.clone())
                    .await
                    .map_err(start_error)?;
                if let Some(node) = &node {
                    node.register_service(SERVICE, actor.get_cell())
                        .map_err(start_error)?;
                }
                tracing::info!(%path, "this node owns the store");
                (Some(actor), Arc::new(StoreLoader(store)))
            }
            None => {
                let client = StoreClient::new(None, node.clone());
                (None, Arc::new(ClusterLoader(client)))
            }
        };
        let store = match postgres {
            Some(client) => client,
            None => StoreClient::new(store_actor.clone(), node.clone()),
        };
        let replication = Replication::new(pubsub.clone());
        let notifier: Arc<dyn Notifier> = Arc::new(PageNotifier(pubsub.clone()));
        let (inventory_loader, replication_handler, replication_notifier) =
            (loader.clone(), replication.clone(), notifier.clone());
        let root = Supervisor::start(
            SupervisorOptions::new(Strategy::OneForOne).named("Sneakers23.Supervisor"),
            vec![
                ProcessSupervisor::child_spec(
                    "channels",
                    SupervisorOptions::default().named(CHANNELS),
                ),
                ChildSpec::gen_server(
                    "inventory",
                    move || InventoryServer::new(inventory_loader.clone()),
                    || (),
                )
                .named(INVENTORY),
                ChildSpec::gen_server(
                    "replication",
                    move || {
                        ReplicationServer::new(
                            replication_handler.clone(),
                            INVENTORY,
                            replication_notifier.clone(),
                        )
                    },
                    || (),
                ),
            ],
        )
        .await
        .map_err(start_error)?;
        let channels = ProcessSupervisor::lookup(CHANNELS)
            .ok_or_else(|| start_error("the channel supervisor did not start"))?;
        let context = Sneakers23::new(INVENTORY, store, replication, notifier);
        let watch = node
            .as_ref()
            .map(|node| StoreWatch::start(node.clone(), context.clone()));
        let resync = link
            .as_ref()
            .and_then(PubSubLink::redis_subscriptions)
            .map(|subscriptions| InventoryResync::start(context.clone(), subscriptions, resync));
        let cart_tracker = Presence::start(TrackerOptions::from_env(CART_TRACKER), pubsub.clone())
            .await
            .map_err(start_error)?;
        Ok(App {
            checkout: Checkout::new(context.clone()),
            context,
            channels,
            pubsub,
            cart_tracker,
            store: store_actor,
            root,
            link,
            watch,
            resync,
        })
    }

    /// How this node's PubSub reaches the others (`None`: an unnamed node
    /// on the cluster adapter, alone).
    pub fn pubsub_link(&self) -> Option<&PubSubLink> {
        self.link.as_ref()
    }

    /// Stops the node's parts in reverse order.
    pub async fn stop(self) {
        // While the cluster is still there: the other nodes drop this node's
        // carts from the admin's view at once.
        self.cart_tracker.tracker().stop().await;
        if let Some(watch) = &self.watch {
            watch.stop();
        }
        if let Some(resync) = &self.resync {
            resync.stop();
        }
        if let Some(link) = self.link {
            link.stop().await;
        }
        self.root.stop().await;
        if let Some(store) = &self.store {
            store.stop(None);
        }
    }
}
