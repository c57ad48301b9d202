//! The book's `hello_sockets` app (chapters 2–6), built on the `channels` crate: the
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
//! - The chapter 6 pipeline ([`Pipeline`]): items pushed to `user:<id>`;
//!   `POST /pipeline?user_id=N` with a JSON body feeds it.
//! - `GET /processes`: the live supervision tree (the runtime's introspection).
//! - `GET /metrics`: every metric in Prometheus's text format.
//!
//! [`app::App`] assembles a node (supervision tree, cluster PubSub, console
//! commands, pipeline, endpoint); `src/main.rs` is the `hello_sockets` binary.

pub mod app;
mod auth_channel;
mod auth_socket;
mod bench_channel;
pub mod console_commands;
mod dedupe_channel;
mod ping_channel;
mod pipeline;
mod presence_channel;
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
pub use pipeline::{unix_ms_now, Item, Pipeline, Producer, BUFFER_SIZE};
pub use presence_channel::{AfterJoin, PresenceChannel, PresenceState};
pub use recurring_channel::{RecurringChannel, SendToken, UserId};
pub use stats_socket::{StatsChannel, StatsSocket, SLOW_PING};
pub use user_socket::UserSocket;
pub use wildcard_channel::WildcardChannel;

use channels::endpoint::{Endpoint, EndpointOptions};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::presence::Presence;
use channels::pubsub::PubSub;
use channels::token::Signer;
use channels::transport::{plain, query_params};
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
    /// The chapter 6 pipeline, fed by `POST /pipeline?user_id=N` when present.
    pub pipeline: Option<Pipeline>,
    /// HTTP connection limits and drain settings.
    pub options: EndpointOptions,
    /// The presence tracker behind `presence:*` (the route is mounted only
    /// with one).
    pub presence: Option<Presence>,
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
        pipeline: None,
        options: EndpointOptions::default(),
        presence: None,
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
            pipeline,
            options,
            presence,
        } = self;
        let token_signer = signer.clone();
        let user_socket = SocketConfig {
            longpoll: true,
            ..config.clone()
        };
        let page_metrics = metrics.clone();
        let mut builder = Endpoint::builder(pubsub, supervisor)
            .options(options)
            .signer(signer.clone())
            .metrics(metrics)
            .socket(
                "/socket",
                UserSocket::new(signer.clone()).with_presence(presence),
                user_socket,
            )
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
        if let Some(pipeline) = pipeline {
            builder = builder.route(Method::POST, "/pipeline", move |request| {
                let pipeline = pipeline.clone();
                async move { push_to_pipeline(&pipeline, request).await }
            });
        }
        if let Some(tasks) = tasks {
            builder = builder.tasks(tasks);
        }
        builder.build()
    }
}

/// `POST /pipeline?user_id=N` with a JSON body: `Producer.push_timed(%{data: body, user_id: N})`.
async fn push_to_pipeline(
    pipeline: &Pipeline,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<channels::transport::Body> {
    use http_body_util::BodyExt;
    let (params, _) = query_params(request.uri().query());
    let Some(user_id) = params.get("user_id").and_then(|id| id.parse::<u64>().ok()) else {
        return plain(StatusCode::BAD_REQUEST, "user_id must be a number");
    };
    let limited = http_body_util::Limited::new(request.into_body(), 64 * 1024);
    let Ok(body) = limited.collect().await else {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 KiB");
    };
    match serde_json::from_slice::<serde_json::Value>(&body.to_bytes()) {
        Ok(data) => match pipeline.push_timed(data, user_id) {
            true => plain(StatusCode::ACCEPTED, "queued"),
            false => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the pipeline is not running",
            ),
        },
        Err(err) => plain(StatusCode::BAD_REQUEST, format!("body is not JSON: {err}")),
    }
}
