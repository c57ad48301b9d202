//! The store as a cluster service: the one node started with `--data-dir`
//! opens the database (sled allows one process per directory) and serves it to
//! every node of the cluster.
//!
//! The server is a plain ractor actor whose only message is a request with a
//! reply port of bytes, so ractor_cluster can carry it between nodes as a
//! `Call` (see `runtime::node::wire`). It is registered as the cluster-wide
//! service [`SERVICE`]; being remote-capable, every peer gets a proxy for it
//! (one actor, so one ~11 KB proxy per peer). Each request runs on a blocking
//! thread, because every write ends with an fsync (`flush`), and a sale is a
//! compare-and-swap, so concurrent requests are safe and a slow flush does not
//! hold up the next request.

use std::sync::Arc;

use runtime::node::wire;
use runtime::ractor::message::{BoxedDowncastErr, SerializedMessage};
use runtime::ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};

use crate::catalogue;
use crate::model::Snapshot;
use crate::model::{Availability, Product};
use crate::store::{Store, StoreError};

/// The cluster-wide name of the store service.
pub const SERVICE: &str = "store";

/// What the store is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreRequest {
    /// The whole catalogue (a loader's snapshot).
    Snapshot,
    /// `Store.mark_product_released!`.
    MarkProductReleased(u64),
    /// `Store.item_sold!`: one unit, durably.
    ItemSold(u64),
    /// Fill an empty store with a catalogue (`demo` or `flash`).
    Seed(String),
    /// Counts and where the database lives.
    Status,
}

/// What a seed did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeded {
    /// Products written.
    pub products: usize,
    /// Items written.
    pub items: usize,
}

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

/// The store's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreReply {
    /// For `Snapshot`.
    Snapshot(Snapshot),
    /// For `MarkProductReleased`: the product as stored.
    Released(Product),
    /// For `ItemSold`: the item's availability before and after.
    Sold(Availability, Availability),
    /// For `Seed`.
    Seeded(Seeded),
    /// For `Status`.
    Status(StoreStatus),
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
    #[error("no catalogue named {0:?} (known: demo, flash)")]
    UnknownCatalogue(String),
    /// `Seed` on a store that already has a catalogue.
    #[error("the store already holds {0} products; seed only fills an empty store")]
    NotEmpty(usize),
    /// The database failed.
    #[error("store error: {0}")]
    Failed(String),
}

impl From<StoreError> for StoreFailure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => StoreFailure::NotFound(what),
            StoreError::OutOfStock(id) => StoreFailure::OutOfStock(id),
            other => StoreFailure::Failed(other.to_string()),
        }
    }
}

/// The answer as it travels: encoded with `runtime::node::wire`.
pub type StoreAnswer = Result<StoreReply, StoreFailure>;

/// The server's message: a request and where to send the encoded answer.
pub struct StoreMsg {
    /// The request.
    pub request: StoreRequest,
    /// Where the encoded [`StoreAnswer`] goes.
    pub reply: RpcReplyPort<Vec<u8>>,
}

impl runtime::ractor::Message for StoreMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        wire::to_call(&self.request, self.reply)
    }

    fn deserialize(bytes: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        wire::from_call(bytes).map(|(request, reply)| StoreMsg { request, reply })
    }
}

/// Runs one request against the database (blocking: it may flush).
pub fn execute(store: &Store, path: &str, request: StoreRequest) -> StoreAnswer {
    Ok(match request {
        StoreRequest::Snapshot => StoreReply::Snapshot(store.snapshot()?),
        StoreRequest::MarkProductReleased(id) => {
            StoreReply::Released(store.mark_product_released(id)?)
        }
        StoreRequest::ItemSold(id) => {
            let (before, after) = store.item_sold(id)?;
            StoreReply::Sold(before, after)
        }
        StoreRequest::Seed(catalogue) => StoreReply::Seeded(seed(store, &catalogue)?),
        StoreRequest::Status => {
            let snapshot = store.snapshot()?;
            StoreReply::Status(StoreStatus {
                path: path.to_string(),
                products: snapshot.products.len(),
                released: snapshot.products.iter().filter(|p| p.released).count(),
                items: snapshot.items.len(),
                units: snapshot
                    .availability
                    .iter()
                    .map(|a| u64::from(a.available_count))
                    .sum(),
                size_on_disk: store.size_on_disk()?,
            })
        }
    })
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

/// The actor that serves the database.
pub struct StoreServer;

/// Its state: the database and where it lives.
pub struct StoreState {
    store: Arc<Store>,
    path: Arc<str>,
}

impl Actor for StoreServer {
    type Msg = StoreMsg;
    type State = StoreState;
    type Arguments = (Arc<Store>, String);

    async fn pre_start(
        &self,
        _myself: ActorRef<StoreMsg>,
        (store, path): (Arc<Store>, String),
    ) -> Result<StoreState, ActorProcessingErr> {
        Ok(StoreState {
            store,
            path: path.into(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<StoreMsg>,
        StoreMsg { request, reply }: StoreMsg,
        state: &mut StoreState,
    ) -> Result<(), ActorProcessingErr> {
        let store = state.store.clone();
        let path = state.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic (a bug, or sled on a damaged disk) is answered as a
            // failure, not left for the caller to read as "node went away".
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                execute(&store, &path, request)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                tracing::error!(%what, "a store request panicked");
                Err(StoreFailure::Failed(format!("the store failed: {what}")))
            });
            match wire::encode(&answer) {
                // The caller may have given up (timeout, node down): nothing to do.
                Ok(bytes) => drop(reply.send(bytes)),
                Err(err) => tracing::error!(%err, "cannot encode a store answer"),
            }
        });
        Ok(())
    }
}

/// Starts the server for `store` (opened from `path`).
pub async fn start(
    store: Arc<Store>,
    path: String,
) -> Result<ActorRef<StoreMsg>, runtime::ractor::SpawnErr> {
    let (actor, _handle) = Actor::spawn(None, StoreServer, (store, path)).await?;
    Ok(actor)
}
