//! The book's hello_sockets server.
//!
//! `hello_sockets` serves on `PORT` (default 4000) as a single unnamed node;
//! `hello_sockets gen-secret` prints a fresh `secret_key_base`. With `--prod`
//! the server refuses to start without `SECRET_KEY_BASE` (or
//! `SECRET_KEY_BASE_FILE`).
//!
//! As a node of a cluster, like an Elixir release's `bin/hello_sockets`
//! (see [`runtime::release`]):
//!
//! ```text
//! hello_sockets start --name web@127.0.0.1 [--http-port 4000 | --no-http] [--cookie C]
//! hello_sockets rpc web@127.0.0.1 'node.connect back@127.0.0.1'
//! hello_sockets rpc web@127.0.0.1 'broadcast ping request_ping {}'
//! hello_sockets remote web@127.0.0.1
//! hello_sockets stop web@127.0.0.1
//! ```
//!
//! A named node joins the cluster PubSub, so a broadcast reaches the channels
//! of every connected node; its console has the runtime's `node.*` and
//! `processes` commands, channels' `pubsub.*`, and the book's
//! `broadcast TOPIC EVENT [JSON]`.

use std::net::SocketAddr;
use std::time::Duration;

use channels::endpoint_args::EndpointArgs;
use channels::hello_sockets::{HelloSockets, Pipeline};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::cluster::join_cluster;
use channels::pubsub::PubSub;
use channels::secret::{self, Mode};
use channels::token::Signer;
use clap::{Args, Parser, Subcommand};
use runtime::console::Console;
use runtime::process::ProcessSupervisor;
use runtime::release::{self, NodeArgs, Release};
use runtime::supervisor::{Strategy, Supervisor, SupervisorOptions};
use runtime::task::TaskSupervisor;

#[derive(Parser)]
#[command(about = "The hello_sockets server of Real-Time Phoenix, chapters 2-5")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Port to serve on.
    #[arg(long, env = "PORT", default_value_t = 4000, global = true)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    host: std::net::IpAddr,
    /// Production mode: a secret_key_base is required.
    #[arg(long, global = true)]
    prod: bool,
    /// Close connections silent for this long (Phoenix: 60 s).
    #[arg(
        long,
        env = "HEARTBEAT_TIMEOUT_MS",
        default_value_t = 60_000,
        global = true
    )]
    heartbeat_timeout_ms: u64,
    /// Origins allowed to open sockets (`check_origin`), comma-separated, e.g.
    /// `http://localhost:4000`. Empty (the default) allows any; a request
    /// without an `Origin` header always passes.
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',', global = true)]
    allowed_origins: Vec<String>,
    /// WebSocket read buffer per connection, in bytes (allocated and
    /// zero-filled on a connection's first read, so it is paid by every idle
    /// connection).
    #[arg(long, env = "READ_BUFFER_BYTES", default_value_t = SocketConfig::default().read_buffer_bytes, global = true)]
    read_buffer_bytes: usize,
    /// Send StatsD metrics (DogStatsD tags) to this UDP address, e.g. 127.0.0.1:8125.
    #[arg(long, env = "STATSD_ADDR", global = true)]
    statsd: Option<std::net::SocketAddr>,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Print a fresh secret_key_base.
    GenSecret,
    /// Start a named node in the foreground (with a console when stdin is a terminal).
    Start(StartArgs),
    #[command(flatten)]
    Drive(release::Drive),
}

#[derive(Args)]
struct StartArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Port of the web server (default: --port / PORT); 0 picks a free one.
    #[arg(long, value_name = "PORT", conflicts_with = "no_http")]
    http_port: Option<u16>,
    /// Run no web server (the book's back node).
    #[arg(long)]
    no_http: bool,
}

const APP: &str = "hello_sockets";

const CHANNELS: &str = "HelloSockets.Channels";
/// The task supervisor for async replies, a child of the tree.
const TASKS: &str = "HelloSockets.TaskSupervisor";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::GenSecret) => {
            println!("{}", secret::generate());
            return std::process::ExitCode::SUCCESS;
        }
        Some(Command::Drive(drive)) => return drive.run(),
        Some(Command::Start(_)) | None => {}
    }
    release::main(run(cli))
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let start = match cli.command {
        Some(Command::Start(start)) => Some(start),
        _ => None,
    };
    // A named node: the node, its console and control socket come first, so
    // that a name already in use fails before anything else starts.
    let mut node = match &start {
        Some(start) => Some(Release::start(APP, &start.node).await?),
        None => None,
    };
    let mode = if cli.prod {
        Mode::Production
    } else {
        Mode::Development
    };
    let signer = Signer::new(secret::load(mode)?);
    // The task supervisor for async replies is a child of the tree, found by
    // its name like the channel supervisor.
    let root = Supervisor::start(
        SupervisorOptions::new(Strategy::OneForOne).named("HelloSockets.Supervisor"),
        vec![
            ProcessSupervisor::child_spec("channels", SupervisorOptions::default().named(CHANNELS)),
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
    let config = cli.endpoint.socket_config(SocketConfig {
        heartbeat_timeout: Duration::from_millis(cli.heartbeat_timeout_ms),
        allowed_origins: cli
            .allowed_origins
            .into_iter()
            .map(|origin| origin.trim().to_string())
            .filter(|origin| !origin.is_empty())
            .collect(),
        read_buffer_bytes: cli.read_buffer_bytes,
        ..Default::default()
    });
    let metrics = match cli.statsd {
        Some(address) => Metrics::statsd(address)?,
        None => Metrics::local(),
    };
    let pubsub = PubSub::new();
    let cluster = match &node {
        Some(release) => {
            let link = join_cluster(&pubsub, release.node()).await?;
            channels::console_commands::register(release.console(), &pubsub);
            register_book_commands(release.console(), &pubsub);
            Some(link)
        }
        None => None,
    };
    let pipeline = Pipeline::start(pubsub.clone(), None).await?;
    let endpoint = HelloSockets {
        pubsub,
        supervisor: channels,
        signer,
        config,
        metrics,
        tasks: Some(tasks),
        pipeline: Some(pipeline),
        options: cli.endpoint.options(),
    }
    .endpoint();
    let http_port = match &start {
        Some(start) if start.no_http => None,
        Some(start) => Some(start.http_port.unwrap_or(cli.port)),
        None => Some(cli.port),
    };
    // What stops the web server: a named node's shutdown, or for an unnamed
    // server SIGINT or SIGTERM, caught from before it reports its address.
    // The server then drains its sockets; a second request finishes at once.
    let stop = release::stop_requested(node.as_ref())?;
    let server = match http_port {
        Some(port) => {
            let address = SocketAddr::new(cli.host, port);
            Some(
                endpoint
                    .spawn_on("HelloSocketsWeb.Endpoint", address, stop)
                    .await?,
            )
        }
        None => {
            tracing::info!("no web server (--no-http)");
            None
        }
    };
    // Run until asked to stop: a named node by its console, `stop`, SIGINT or
    // SIGTERM; an unnamed one by SIGINT or SIGTERM (its server's shutdown signal).
    if let Some(release) = &mut node {
        release.run_until_stopped(true).await;
    }
    // Then stop in order: the web server, the cluster PubSub, the supervision
    // tree (last started first), the node, the control socket.
    if let Some(server) = server {
        server.await??;
        tracing::info!("web server stopped");
    }
    tracing::info!("shutting down");
    if let Some(cluster) = cluster {
        cluster.stop().await;
    }
    root.stop().await;
    tracing::info!("supervision tree stopped");
    if let Some(release) = node {
        release.shutdown().await;
    }
    Ok(())
}

/// The book's console commands: `broadcast ping request_ping {}` is
/// `HelloSocketsWeb.Endpoint.broadcast("ping", "request_ping", %{})`.
fn register_book_commands(console: &Console, pubsub: &PubSub) {
    let pubsub = pubsub.clone();
    console.register(
        "broadcast",
        "TOPIC EVENT [JSON]",
        "Endpoint.broadcast: to every subscriber of TOPIC on every node (JSON defaults to {}), \
         e.g. broadcast ping request_ping",
        move |args| {
            let pubsub = pubsub.clone();
            async move {
                let (topic, event, payload) = channels::console_commands::message(&args, 0)?;
                pubsub.broadcast(&topic, &event, payload);
                Ok(format!("broadcast {event} to {topic}"))
            }
        },
    );
}
