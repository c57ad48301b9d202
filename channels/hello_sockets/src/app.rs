//! One hello_sockets node, assembled: what the `hello_sockets` binary runs
//! (as `store_app::app` is the store's).
//!
//! The supervision tree (`HelloSockets.Supervisor`, one_for_one) holds the
//! channel processes' supervisor and the task supervisor for async replies.
//! A named node then joins the cluster PubSub and gets its console commands
//! (`pubsub.*`, the book's `broadcast`) — or, with `--pubsub redis://…`, any
//! node reaches the others through Redis instead; the chapter 6 pipeline starts; the
//! endpoint is built from all of it. [`App::stop`] undoes it in reverse, after
//! the web server has drained.

use std::sync::Arc;

use channels::endpoint::{Endpoint, EndpointOptions};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::presence::Presence;
use channels::pubsub::link::{PubSubAdapter, PubSubLink};
use channels::pubsub::PubSub;
use channels::token::Signer;
use channels::tracker::TrackerOptions;
use runtime::console::Console;
use runtime::node::Node;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::{Strategy, Supervisor, SupervisorOptions};
use runtime::task::TaskSupervisor;

use crate::{HelloSockets, Pipeline};

/// The registered name of the channel processes' supervisor.
pub const CHANNELS: &str = "HelloSockets.Channels";
/// The registered name of the task supervisor for async replies.
pub const TASKS: &str = "HelloSockets.TaskSupervisor";
/// The presence tracker's name, the same on every node.
pub const PRESENCE: &str = "HelloSockets.Presence";

/// What a node is started with.
pub struct AppOptions {
    /// The named node and its console; `None` for a single unnamed server.
    pub node: Option<(Node, Console)>,
    /// Signs user and long-poll tokens.
    pub signer: Signer,
    /// Settings for every socket.
    pub config: SocketConfig,
    /// Where metrics go.
    pub metrics: Metrics,
    /// HTTP connection limits and drain settings.
    pub endpoint: EndpointOptions,
    /// How broadcasts reach the other nodes.
    pub pubsub: PubSubAdapter,
}

/// A running hello_sockets node.
pub struct App {
    /// Serve it with [`Endpoint::spawn_on`].
    pub endpoint: Arc<Endpoint>,
    root: Supervisor,
    link: Option<PubSubLink>,
    presence: Presence,
}

impl App {
    /// Starts the supervision tree, the cluster PubSub (named nodes), the
    /// pipeline, and builds the endpoint.
    pub async fn start(options: AppOptions) -> Result<App, Box<dyn std::error::Error>> {
        // The task supervisor for async replies is a child of the tree, found
        // by its name like the channel supervisor.
        let root = Supervisor::start(
            SupervisorOptions::new(Strategy::OneForOne).named("HelloSockets.Supervisor"),
            vec![
                ProcessSupervisor::child_spec(
                    "channels",
                    SupervisorOptions::default().named(CHANNELS),
                ),
                TaskSupervisor::child_spec(
                    "tasks",
                    SupervisorOptions::default()
                        .named(TASKS)
                        .max_children(10_000),
                ),
            ],
        )
        .await?;
        let tasks = TaskSupervisor::lookup(TASKS).ok_or("the task supervisor did not start")?;
        let channels =
            ProcessSupervisor::lookup(CHANNELS).ok_or("the channel supervisor did not start")?;
        let pubsub = PubSub::new();
        let node = options.node.as_ref().map(|(node, _)| node);
        let link = PubSubLink::connect(&pubsub, &options.pubsub, node, "hello_sockets").await?;
        if let Some((_, console)) = &options.node {
            channels::console_commands::register(console, &pubsub);
            if let Some(link) = &link {
                link.register_console(console);
            }
            crate::console_commands::register(console, &pubsub);
        }
        let pipeline = Pipeline::start(pubsub.clone(), None).await?;
        // Every node starts the presence tracker under the same name: their
        // replicas find each other over the cluster PubSub.
        let presence = Presence::start(TrackerOptions::from_env(PRESENCE), pubsub.clone()).await?;
        if let Some((_, console)) = &options.node {
            channels::tracker::console_commands::register(console, presence.tracker());
        }
        let endpoint = HelloSockets {
            pubsub,
            supervisor: channels,
            signer: options.signer,
            config: options.config,
            metrics: options.metrics,
            tasks: Some(tasks),
            pipeline: Some(pipeline),
            options: options.endpoint,
            presence: Some(presence.clone()),
        }
        .endpoint();
        Ok(App {
            endpoint,
            root,
            link,
            presence,
        })
    }

    /// The Redis link's state, when PubSub goes through Redis.
    pub fn redis_status(&self) -> Option<channels::pubsub::redis::RedisStatus> {
        self.link.as_ref().and_then(PubSubLink::redis_status)
    }

    /// Stops what [`App::start`] started, last first: the presence tracker
    /// (saying goodbye), the cluster PubSub, then the supervision tree. Call
    /// it once the web server has drained.
    pub async fn stop(self) {
        // First, while the cluster is still there: the other nodes drop this
        // node's presences at once instead of after the down period.
        self.presence.tracker().stop().await;
        if let Some(link) = self.link {
            link.stop().await;
        }
        self.root.stop().await;
        tracing::info!("supervision tree stopped");
    }
}
