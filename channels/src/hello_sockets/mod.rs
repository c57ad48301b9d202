//! The book's `hello_sockets` app (chapters 2–5), built on this crate: the
//! reference application for the endpoint, sockets and channels, and the
//! server the wire tests, the phoenix.js test and the load generator talk to.
//!
//! - `UserSocket` at `/socket` (WebSocket and long poll): `ping`, `ping:*`, `wild:*`, `dupe`,
//!   `recurring`, `bench:*`; anyone may connect.
//! - `AuthSocket` at `/auth_socket`: a signed token is required; `ping`,
//!   `user:*` (only your own user), `recurring`.
//! - `GET /token?user_id=N`: a fresh token, for tests and demos.
//! - `StatsSocket` at `/stats_socket` (chapter 6): counted connects and joins,
//!   timed `ping`, blocking `slow_ping`, async `parallel_slow_ping`.
//! - `GET /processes`: the live supervision tree (the runtime's introspection).
//! - `GET /metrics`: every metric in Prometheus's text format.

mod auth_channel;
mod auth_socket;
mod bench_channel;
mod dedupe_channel;
mod ping_channel;
mod recurring_channel;
mod stats_socket;
mod user_socket;
mod wildcard_channel;

use std::sync::Arc;

use http::{Method, StatusCode};
use runtime::process::ProcessSupervisor;

pub use auth_channel::AuthChannel;
pub use auth_socket::{AuthAssigns, AuthSocket, TOKEN_MAX_AGE, TOKEN_SALT};
pub use bench_channel::BenchChannel;
pub use dedupe_channel::{DedupeChannel, DedupeInfo, DedupeState};
pub use ping_channel::PingChannel;
pub use recurring_channel::{RecurringChannel, SendToken, UserId};
pub use stats_socket::{StatsChannel, StatsSocket, SLOW_PING};
pub use user_socket::UserSocket;
pub use wildcard_channel::WildcardChannel;

use crate::endpoint::Endpoint;
use crate::metrics::Metrics;
use crate::mount::SocketConfig;
use crate::pubsub::PubSub;
use crate::token::Signer;
use crate::transport::{plain, query_params};
use runtime::task::TaskSupervisor;

/// Everything the hello_sockets endpoint is built from.
pub struct HelloSockets {
    /// The node's PubSub.
    pub pubsub: PubSub,
    /// Where channel processes run.
    pub supervisor: ProcessSupervisor,
    /// Signs user and long-poll tokens.
    pub signer: Signer,
    /// Settings for every socket (`/socket` also gets long poll).
    pub config: SocketConfig,
    /// Where metrics go.
    pub metrics: Metrics,
    /// Where async replies run; started on first use when `None`.
    pub tasks: Option<TaskSupervisor>,
}

/// The hello_sockets endpoint with local-only metrics.
pub fn endpoint(
    pubsub: PubSub,
    supervisor: ProcessSupervisor,
    signer: Signer,
    config: SocketConfig,
) -> Arc<Endpoint> {
    HelloSockets {
        pubsub,
        supervisor,
        signer,
        config,
        metrics: Metrics::local(),
        tasks: None,
    }
    .endpoint()
}

impl HelloSockets {
    /// The endpoint: the three sockets and the `/token`, `/processes` and
    /// `/metrics` routes.
    pub fn endpoint(self) -> Arc<Endpoint> {
        let HelloSockets {
            pubsub,
            supervisor,
            signer,
            config,
            metrics,
            tasks,
        } = self;
        let token_signer = signer.clone();
        let user_socket = SocketConfig {
            longpoll: true,
            ..config.clone()
        };
        let page_metrics = metrics.clone();
        let mut builder = Endpoint::builder(pubsub, supervisor)
            .signer(signer.clone())
            .metrics(metrics)
            .socket("/socket", UserSocket::new(signer.clone()), user_socket)
            .socket("/auth_socket", AuthSocket::new(signer), config.clone())
            .socket("/stats_socket", StatsSocket, config)
            .route(Method::GET, "/token", move |request| {
                let signer = token_signer.clone();
                async move {
                    let (params, _) = query_params(request.uri().query());
                    match params.get("user_id").and_then(|id| id.parse::<u64>().ok()) {
                        Some(user_id) => plain(StatusCode::OK, signer.sign(TOKEN_SALT, &user_id)),
                        None => plain(StatusCode::BAD_REQUEST, "user_id must be a number"),
                    }
                }
            })
            .route(Method::GET, "/processes", |_request| async {
                plain(
                    StatusCode::OK,
                    runtime::introspect::render(&runtime::introspect::processes()),
                )
            })
            .route(Method::GET, "/metrics", move |_request| {
                let text = page_metrics.prometheus();
                async move { plain(StatusCode::OK, text) }
            });
        if let Some(tasks) = tasks {
            builder = builder.tasks(tasks);
        }
        builder.build()
    }
}
