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

use crate::store::Store;
use crate::store_requests::{self, StoreFailure, StoreRequest};

/// The cluster-wide name of the store service.
pub const SERVICE: &str = "store";

/// The server's message: a request and where to send the encoded answer.
pub struct StoreMsg {
    /// The request.
    pub request: StoreRequest,
    /// Where the encoded answer (`Result<R::Answer, StoreFailure>` for the
    /// request's [`StoreCall`](crate::store_requests::StoreCall)) goes.
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
                store_requests::execute(&store, &path, request)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                tracing::error!(%what, "a store request panicked");
                store_requests::encode_failure(StoreFailure::Failed(format!(
                    "the store failed: {what}"
                )))
            });
            match answer {
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
