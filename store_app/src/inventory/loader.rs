//! Where the inventory server's starting state comes from: the book's
//! `loader_mod`. The node that owns the database reads it directly; the other
//! nodes ask that node over the cluster; tests pass their own data.

pub use crate::model::Snapshot;
use crate::store::Store;
use crate::store_client::{StoreCallError, StoreClient};
use futures::future::BoxFuture;

/// Why a snapshot could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// No node holding the store is reachable (yet): the server starts empty
    /// and reloads when the store's node connects.
    #[error("no store is reachable: {0}")]
    Unavailable(String),
    /// The store answered with an error; the server's start fails.
    #[error("cannot load the catalogue: {0}")]
    Failed(String),
}

/// Loads a snapshot; called at every (re)start of the inventory server and
/// when the store's node (re)connects.
pub trait Loader: Send + Sync + 'static {
    /// The catalogue as it is now.
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, LoadError>>;
}

/// Loads from the store on this node.
pub struct StoreLoader(pub std::sync::Arc<Store>);

impl Loader for StoreLoader {
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, LoadError>> {
        Box::pin(async move {
            let store = self.0.clone();
            tokio::task::spawn_blocking(move || store.snapshot())
                .await
                .map_err(|e| LoadError::Failed(e.to_string()))?
                .map_err(|e| LoadError::Failed(e.to_string()))
        })
    }
}

/// Loads from whichever node holds the store (this one or a peer).
pub struct ClusterLoader(pub StoreClient);

impl Loader for ClusterLoader {
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, LoadError>> {
        Box::pin(async move {
            self.0.snapshot().await.map_err(|err| match err {
                StoreCallError::Unavailable(why) => LoadError::Unavailable(why),
                other => LoadError::Failed(other.to_string()),
            })
        })
    }
}

/// A fixed snapshot, for tests and demos.
impl Loader for Snapshot {
    fn load(&self) -> BoxFuture<'_, Result<Snapshot, LoadError>> {
        Box::pin(std::future::ready(Ok(self.clone())))
    }
}
