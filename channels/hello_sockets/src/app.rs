//! One hello_sockets node, assembled: what the `hello_sockets` binary runs
//! (as `store_app::app` is the store's).
//!
//! The supervision tree (`HelloSockets.Supervisor`, one_for_one) holds the
//! channel processes' supervisor and the task supervisor for async replies.
//! A named node then joins the cluster PubSub and gets its console commands
//! (`pubsub.*`, the book's `broadcast`); the chapter 6 pipeline starts; the
//! endpoint is built from all of it. [`App::stop`] undoes it in reverse, after
//! the web server has drained.

use std::sync::{Arc, Mutex};

use channels::endpoint::{Endpoint, EndpointOptions};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::cluster::{join_cluster, ClusterLink};
use channels::pubsub::PubSub;
use channels::token::Signer;
use runtime::console::Console;
use runtime::introspect::ChildKind;
use runtime::node::Node;
use runtime::process::{ProcessSupervisor, ProcessSupervisorOptions};
use runtime::supervisor::{ChildSpec, Strategy, Supervisor, SupervisorOptions};
use runtime::task::{TaskSupervisor, TaskSupervisorOptions};

use crate::{HelloSockets, Pipeline};

/// The registered name of the channel processes' supervisor.
pub const CHANNELS: &str = "HelloSockets.Channels";

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
}

/// A running hello_sockets node.
pub struct App {
    /// Serve it with [`Endpoint::spawn_on`].
    pub endpoint: Arc<Endpoint>,
    root: Supervisor,
    cluster: Option<ClusterLink>,
}

impl App {
    /// Starts the supervision tree, the cluster PubSub (named nodes), the
    /// pipeline, and builds the endpoint.
    pub async fn start(options: AppOptions) -> Result<App, Box<dyn std::error::Error>> {
        // The task supervisor for async replies is a child of the tree; the
        // slot hands its handle out of the start function.
        let task_slot: Arc<Mutex<Option<TaskSupervisor>>> = Arc::default();
        let slot = task_slot.clone();
        let tasks_spec = ChildSpec::new("tasks", move |parent, _name| {
            let slot = slot.clone();
            async move {
                let tasks = TaskSupervisor::start_linked(
                    TaskSupervisorOptions {
                        name: Some("HelloSockets.TaskSupervisor".into()),
                        max_children: Some(10_000),
                    },
                    parent,
                )
                .await?;
                let actor = tasks.actor();
                *slot.lock().expect("slot lock") = Some(tasks);
                Ok(actor)
            }
        })
        .kind(ChildKind::Supervisor);
        let root = Supervisor::start(
            SupervisorOptions::new(Strategy::OneForOne).named("HelloSockets.Supervisor"),
            vec![
                ChildSpec::process_supervisor(
                    "channels",
                    ProcessSupervisorOptions {
                        name: Some(CHANNELS.into()),
                        ..Default::default()
                    },
                ),
                tasks_spec,
            ],
        )
        .await?;
        let tasks = task_slot
            .lock()
            .expect("slot lock")
            .clone()
            .ok_or("the task supervisor did not start")?;
        let channels = ProcessSupervisor::lookup(CHANNELS)
            .await
            .ok_or("the channel supervisor did not start")?;
        let pubsub = PubSub::new();
        let cluster = match &options.node {
            Some((node, console)) => {
                let link = join_cluster(&pubsub, node).await?;
                channels::console_commands::register(console, &pubsub);
                crate::console_commands::register(console, &pubsub);
                Some(link)
            }
            None => None,
        };
        let pipeline = Pipeline::start(pubsub.clone(), None).await?;
        let endpoint = HelloSockets {
            pubsub,
            supervisor: channels,
            signer: options.signer,
            config: options.config,
            metrics: options.metrics,
            tasks: Some(tasks),
            pipeline: Some(pipeline),
            options: options.endpoint,
        }
        .endpoint();
        Ok(App {
            endpoint,
            root,
            cluster,
        })
    }

    /// Stops what [`App::start`] started, last first: the cluster PubSub,
    /// then the supervision tree. Call it once the web server has drained.
    pub async fn stop(self) {
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
        self.root.stop().await;
        tracing::info!("supervision tree stopped");
    }
}
