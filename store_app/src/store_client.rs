//! How any node reaches the store: the local server if this node owns the
//! database, otherwise whichever connected node registered the cluster-wide
//! [`SERVICE`]. The same call works both ways
//! (`runtime::node::wire::call`), so the inventory context never knows where
//! the database is.

use std::time::Duration;

use runtime::node::wire::{self, CallError};
use runtime::node::Node;
use runtime::ractor::ActorRef;

use crate::model::Snapshot;
use crate::model::{Availability, Product};
use crate::store_server::{
    Seeded, StoreAnswer, StoreFailure, StoreMsg, StoreReply, StoreRequest, StoreStatus, SERVICE,
};

/// How long a store request may take before the caller gives up (a flush is
/// milliseconds; a hung owner is caught by the node heartbeat).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a store request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreCallError {
    /// No store is reachable: writes fail, reads keep working from memory.
    #[error("no store is reachable ({0}); the node started with --data-dir owns the database: connect to it with `node.connect NAME`")]
    Unavailable(String),
    /// The store answered with a refusal or an error.
    #[error(transparent)]
    Refused(#[from] StoreFailure),
    /// The store did not answer in time; the write may or may not have happened.
    #[error(
        "the store did not answer within {0:?}; the operation may or may not have been applied"
    )]
    Timeout(Duration),
    /// The store's answer was not the kind asked for.
    #[error("unexpected answer from the store: {0}")]
    Protocol(String),
}

/// A handle to the store, wherever it is. Cheap to clone.
#[derive(Clone)]
pub struct StoreClient {
    local: Option<ActorRef<StoreMsg>>,
    node: Option<Node>,
    timeout: Duration,
}

impl StoreClient {
    /// A client that looks for the store on this node (`local`), then on the
    /// cluster (`node`).
    pub fn new(local: Option<ActorRef<StoreMsg>>, node: Option<Node>) -> Self {
        StoreClient {
            local,
            node,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same client with another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether this node owns the database.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The node holding the store, if one is reachable.
    pub fn owner(&self) -> Option<String> {
        match (&self.local, &self.node) {
            (Some(_), Some(node)) => Some(node.self_name().to_string()),
            (Some(_), None) => Some("this node".to_string()),
            (None, Some(node)) => node.whereis_service(SERVICE).map(|s| s.node.to_string()),
            (None, None) => None,
        }
    }

    fn locate(&self) -> Result<ActorRef<StoreMsg>, StoreCallError> {
        if let Some(local) = &self.local {
            return Ok(local.clone());
        }
        let Some(node) = &self.node else {
            return Err(StoreCallError::Unavailable(
                "this node has no database and is not part of a cluster".into(),
            ));
        };
        let service = node.whereis_service(SERVICE).ok_or_else(|| {
            StoreCallError::Unavailable(format!(
                "no connected node holds the \"{SERVICE}\" service"
            ))
        })?;
        service.actor_ref::<StoreMsg>().ok_or_else(|| {
            StoreCallError::Unavailable(format!(
                "{} holds the store but its server is not reachable yet",
                service.node
            ))
        })
    }

    /// Sends one request and waits for the answer.
    pub async fn request(&self, request: StoreRequest) -> Result<StoreReply, StoreCallError> {
        let actor = self.locate()?;
        let answer: StoreAnswer =
            wire::call(&actor, |reply| StoreMsg { request, reply }, self.timeout)
                .await
                .map_err(|err| match err {
                    CallError::Unreachable => {
                        StoreCallError::Unavailable("the store's node went away".into())
                    }
                    CallError::Timeout(t) => StoreCallError::Timeout(t),
                    CallError::Undecodable(why) => StoreCallError::Protocol(why),
                })?;
        Ok(answer?)
    }

    /// The whole catalogue.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreCallError> {
        match self.request(StoreRequest::Snapshot).await? {
            StoreReply::Snapshot(snapshot) => Ok(snapshot),
            other => Err(unexpected(other)),
        }
    }

    /// Marks a product released, durably.
    pub async fn mark_product_released(&self, id: u64) -> Result<Product, StoreCallError> {
        match self.request(StoreRequest::MarkProductReleased(id)).await? {
            StoreReply::Released(product) => Ok(product),
            other => Err(unexpected(other)),
        }
    }

    /// Sells one unit, durably: the availability before and after.
    pub async fn item_sold(&self, id: u64) -> Result<(Availability, Availability), StoreCallError> {
        match self.request(StoreRequest::ItemSold(id)).await? {
            StoreReply::Sold(before, after) => Ok((before, after)),
            other => Err(unexpected(other)),
        }
    }

    /// Fills an empty store with the catalogue `name` (`demo`, `flash`).
    pub async fn seed(&self, name: &str) -> Result<Seeded, StoreCallError> {
        match self.request(StoreRequest::Seed(name.to_string())).await? {
            StoreReply::Seeded(seeded) => Ok(seeded),
            other => Err(unexpected(other)),
        }
    }

    /// What the store holds.
    pub async fn status(&self) -> Result<StoreStatus, StoreCallError> {
        match self.request(StoreRequest::Status).await? {
            StoreReply::Status(status) => Ok(status),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(reply: StoreReply) -> StoreCallError {
    StoreCallError::Protocol(format!("{reply:?}"))
}
