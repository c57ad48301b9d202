//! The Sneakers23 store node (book chapter 7), started by name like an Elixir
//! release (see `runtime::release`):
//!
//! ```text
//! sneakers23 start --name app@127.0.0.1 --data-dir data/app --http-port 4000
//! sneakers23 start --name back@127.0.0.1 --no-http
//! sneakers23 rpc back@127.0.0.1 'node.connect app@127.0.0.1'
//! sneakers23 rpc back@127.0.0.1 'inventory.release 2'
//! sneakers23 rpc back@127.0.0.1 'mock.sell_random_until_gone 500'
//! sneakers23 remote back@127.0.0.1
//! sneakers23 stop back@127.0.0.1
//! ```
//!
//! Exactly one node is started with `--data-dir`: it owns the database (sled
//! locks the directory), seeds it on first start, and serves it to the other
//! nodes as the cluster-wide "store" service. Without `start`, `sneakers23`
//! runs one unnamed node that owns `--data-dir` and serves the page.

use std::net::SocketAddr;
use std::path::PathBuf;

use channels::endpoint_args::{web_port, EndpointArgs, StartArgs, WebServer};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret::{self, Mode};
use channels::token::Signer;
use clap::{Parser, Subcommand};
use runtime::release::{self, Release};
use store_app::app::{App, AppOptions};
use store_app::web::{default_assets_dir, InventoryRef, StoreWeb};

#[derive(Parser)]
#[command(about = "The Sneakers23 store of Real-Time Phoenix, chapter 7")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Port of the web server.
    #[arg(long, env = "PORT", default_value_t = 4000, global = true)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    host: std::net::IpAddr,
    /// The database directory: the one node given it owns the data.
    #[arg(long, env = "DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The catalogue an empty database is seeded with: demo, or flash (every
    /// size one unit left; used by the replication benchmark).
    #[arg(long, env = "CATALOGUE", default_value = "demo", value_parser = clap::builder::PossibleValuesParser::new(store_app::catalogue::NAMES), global = true)]
    catalogue: String,
    /// Production mode: a secret_key_base is required.
    #[arg(long, global = true)]
    prod: bool,
    /// Static files (js, css, images, node_modules/phoenix); default: the crate's assets/.
    #[arg(long, env = "STORE_ASSETS_DIR", global = true)]
    assets_dir: Option<PathBuf>,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start a named node in the foreground (with a console when stdin is a terminal).
    Start(StartArgs),
    #[command(flatten)]
    Drive(release::Drive),
}

const APP: &str = "sneakers23";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match &cli.command {
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
    if start.is_none() && cli.data_dir.is_none() {
        return Err("an unnamed node owns the data: give --data-dir DIR (or DATA_DIR)".into());
    }
    // The node (and its name) first: a second start of a running node fails
    // here, before it could touch the database.
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
    let pubsub = PubSub::new();
    let app = App::start(AppOptions {
        data_dir: cli.data_dir.clone(),
        node: node.as_ref().map(|release| release.node().clone()),
        pubsub: pubsub.clone(),
        catalogue: cli.catalogue.clone(),
    })
    .await?;
    if let Some(release) = &node {
        channels::console_commands::register(release.console(), &pubsub);
        store_app::console_commands::register(release.console(), &app.context);
    }
    let address = web_port(start.as_ref(), cli.port).map(|port| SocketAddr::new(cli.host, port));
    let stop = release::stop_requested(node.as_ref())?;
    let page = || {
        StoreWeb {
            pubsub: pubsub.clone(),
            supervisor: app.channels.clone(),
            inventory: InventoryRef::Named(store_app::sneakers23::INVENTORY.into()),
            signer,
            config: cli.endpoint.socket_config(SocketConfig::default()),
            metrics: Metrics::local(),
            assets_dir: cli.assets_dir.clone().unwrap_or_else(default_assets_dir),
            options: cli.endpoint.options(),
        }
        .endpoint()
    };
    let web = WebServer::start("Sneakers23Web.Endpoint", address, page, stop).await?;
    // Run until asked to stop; then the web server drains, and the app, the
    // node and the control socket stop in that order.
    if let Some(release) = &mut node {
        release.run_until_stopped(true).await;
    }
    web.stopped().await?;
    tracing::info!("shutting down");
    app.stop().await;
    if let Some(release) = node {
        release.shutdown().await;
    }
    Ok(())
}
