//! The book's hello_sockets server.
//!
//! `hello_sockets` serves on `PORT` (default 4000); `hello_sockets gen-secret`
//! prints a fresh `secret_key_base`. With `--prod` the server refuses to start
//! without `SECRET_KEY_BASE` (or `SECRET_KEY_BASE_FILE`).

use std::net::SocketAddr;
use std::time::Duration;

use channels::hello_sockets::{HelloSockets, Pipeline};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret::{self, Mode};
use channels::token::Signer;
use clap::{Parser, Subcommand};
use runtime::introspect::ChildKind;
use runtime::process::{ProcessSupervisor, ProcessSupervisorOptions};
use runtime::supervisor::{ChildSpec, Strategy, Supervisor, SupervisorOptions};
use runtime::task::{TaskSupervisor, TaskSupervisorOptions};
use std::sync::{Arc, Mutex};

#[derive(Parser)]
#[command(about = "The hello_sockets server of Real-Time Phoenix, chapters 2-5")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Port to serve on.
    #[arg(long, env = "PORT", default_value_t = 4000)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Production mode: a secret_key_base is required.
    #[arg(long)]
    prod: bool,
    /// Close connections silent for this long (Phoenix: 60 s).
    #[arg(long, env = "HEARTBEAT_TIMEOUT_MS", default_value_t = 60_000)]
    heartbeat_timeout_ms: u64,
    /// Origins allowed to open sockets (`check_origin`), comma-separated, e.g.
    /// `http://localhost:4000`. Empty (the default) allows any; a request
    /// without an `Origin` header always passes.
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// WebSocket read buffer per connection, in bytes (allocated and
    /// zero-filled on a connection's first read, so it is paid by every idle
    /// connection).
    #[arg(long, env = "READ_BUFFER_BYTES", default_value_t = SocketConfig::default().read_buffer_bytes)]
    read_buffer_bytes: usize,
    /// Send StatsD metrics (DogStatsD tags) to this UDP address, e.g. 127.0.0.1:8125.
    #[arg(long, env = "STATSD_ADDR")]
    statsd: Option<std::net::SocketAddr>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a fresh secret_key_base.
    GenSecret,
}

const CHANNELS: &str = "HelloSockets.Channels";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::GenSecret) = cli.command {
        println!("{}", secret::generate());
        return std::process::ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let mode = if cli.prod {
        Mode::Production
    } else {
        Mode::Development
    };
    let signer = Signer::new(secret::load(mode)?);
    // The task supervisor for async replies is a child of the tree; the slot
    // hands its handle out of the start function.
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
    let config = SocketConfig {
        heartbeat_timeout: Duration::from_millis(cli.heartbeat_timeout_ms),
        allowed_origins: cli
            .allowed_origins
            .into_iter()
            .map(|origin| origin.trim().to_string())
            .filter(|origin| !origin.is_empty())
            .collect(),
        read_buffer_bytes: cli.read_buffer_bytes,
        ..Default::default()
    };
    let metrics = match cli.statsd {
        Some(address) => Metrics::statsd(address)?,
        None => Metrics::local(),
    };
    let pubsub = PubSub::new();
    let pipeline = Pipeline::start(pubsub.clone(), None).await?;
    let endpoint = HelloSockets {
        pubsub,
        supervisor: channels,
        signer,
        config,
        metrics,
        tasks: Some(tasks),
        pipeline: Some(pipeline),
    }
    .endpoint();
    let address = SocketAddr::new(cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(
        "Running HelloSocketsWeb.Endpoint at http://{}",
        listener.local_addr()?
    );
    endpoint
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    tracing::info!("shutting down");
    root.stop().await;
    Ok(())
}
