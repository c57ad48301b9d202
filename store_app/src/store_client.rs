//! How any node reaches the store: the local server if this node owns the
//! database, otherwise whichever connected node registered the cluster-wide
//! [`SERVICE`]. The same call works both ways
//! (`runtime::node::wire::call`), so the inventory context never knows where
//! the database is. With the store on PostgreSQL (`--store postgres://…`)
//! there is no owner: every node runs each request against the database
//! itself ([`StoreCall::execute_pg`]).

use std::time::Duration;

use runtime::node::wire::{self, CallError};
use runtime::node::Node;
use runtime::ractor::ActorRef;

use crate::model::{Availability, Product, Snapshot};
use crate::store::postgres::PgStore;
use crate::store_requests::{
    ItemSold, LoadSnapshot, MarkProductReleased, Seed, Seeded, Status, StoreCall, StoreFailure,
    StoreStatus,
};
use crate::store_server::{StoreMsg, SERVICE};

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
    /// The store's answer could not be decoded as the answer to the
    /// request (nodes of different versions).
    #[error("undecodable answer from the store: {0}")]
    Protocol(String),
}

impl StoreCallError {
    /// Whether the request may have been applied although no answer said
    /// so (a timeout, a commit whose connection was lost): whoever keeps a
    /// copy of the data must reload it from the store.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            StoreCallError::Timeout(_) => true,
            StoreCallError::Refused(failure) => failure.outcome_unknown(),
            StoreCallError::Unavailable(_) | StoreCallError::Protocol(_) => false,
        }
    }
}

/// A handle to the store, wherever it is. Cheap to clone.
#[derive(Clone)]
pub struct StoreClient {
    local: Option<ActorRef<StoreMsg>>,
    node: Option<Node>,
    postgres: Option<PgStore>,
    timeout: Duration,
}

impl StoreClient {
    /// A client that looks for the store on this node (`local`), then on the
    /// cluster (`node`).
    pub fn new(local: Option<ActorRef<StoreMsg>>, node: Option<Node>) -> Self {
        StoreClient {
            local,
            node,
            postgres: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A client of the store on PostgreSQL: every request runs here.
    pub fn postgres(store: PgStore) -> Self {
        StoreClient {
            local: None,
            node: None,
            postgres: Some(store),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same client with another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether this node reaches the database itself (it owns the sled
    /// store, or the store is on PostgreSQL): no owner to look for.
    pub fn is_local(&self) -> bool {
        self.local.is_some() || self.postgres.is_some()
    }

    /// The node holding the store, if one is reachable.
    pub fn owner(&self) -> Option<String> {
        if let Some(postgres) = &self.postgres {
            return Some(postgres.describe());
        }
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

    /// Sends one request and waits for its answer, typed by the request.
    pub async fn request<R: StoreCall>(&self, request: R) -> Result<R::Answer, StoreCallError> {
        if let Some(postgres) = &self.postgres {
            return match tokio::time::timeout(self.timeout, request.execute_pg(postgres)).await {
                Ok(answer) => Ok(answer?),
                Err(_) => Err(StoreCallError::Timeout(self.timeout)),
            };
        }
        let actor = self.locate()?;
        let build = |reply| StoreMsg {
            request: request.into(),
            reply,
        };
        let answer: Result<R::Answer, StoreFailure> = wire::call(&actor, build, self.timeout)
            .await
            .map_err(|err| match err {
                // The request may have reached the store before its node
                // went away (the reply port is dropped with the session),
                // so its outcome is unknown, as after a timeout.
                CallError::Unreachable => StoreCallError::Unavailable(
                    "the store's node went away before answering: the operation may or may not have been applied".into(),
                ),
                CallError::Timeout(t) => StoreCallError::Timeout(t),
                CallError::Undecodable(why) => StoreCallError::Protocol(why),
            })?;
        Ok(answer?)
    }

    /// The whole catalogue.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreCallError> {
        self.request(LoadSnapshot).await
    }

    /// Marks a product released, durably.
    pub async fn mark_product_released(&self, id: u64) -> Result<Product, StoreCallError> {
        self.request(MarkProductReleased(id)).await
    }

    /// Sells one unit, durably: the availability before and after.
    pub async fn item_sold(&self, id: u64) -> Result<(Availability, Availability), StoreCallError> {
        self.request(ItemSold(id)).await
    }

    /// Fills an empty store with the catalogue `name` (`demo`, `flash`).
    pub async fn seed(&self, name: &str) -> Result<Seeded, StoreCallError> {
        self.request(Seed(name.to_string())).await
    }

    /// What the store holds.
    pub async fn status(&self) -> Result<StoreStatus, StoreCallError> {
        self.request(Status).await
    }
}
