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
//!
//! Beyond one machine: with `--store postgres://…` every node writes to
//! PostgreSQL itself and none owns the data; with `--pubsub redis://…` too,
//! the nodes need no mesh at all (replication, carts and pages go through
//! Redis, and each node resyncs its inventory from the database):
//!
//! ```text
//! sneakers23 --store postgres://shop@db/shop --pubsub redis://cache:6379 --port 4000
//! ```

use std::path::PathBuf;

use channels::endpoint_args::{
    app_main, start_node, NodeCommand, ServerArgs, StartArgs, WebServer,
};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use clap::Parser;
use runtime::release;
use store_app::app::{App, AppOptions};
use store_app::inventory_resync::ResyncOptions;
use store_app::web::{default_assets_dir, AdminAccess, InventoryRef, StoreWeb};

#[derive(Parser)]
#[command(about = "The Sneakers23 store of Real-Time Phoenix, chapter 7")]
struct Cli {
    #[command(subcommand)]
    command: Option<NodeCommand>,
    #[command(flatten)]
    server: ServerArgs,
    /// The database directory: the one node given it owns the data.
    #[arg(long, env = "DATA_DIR", global = true, conflicts_with = "store")]
    data_dir: Option<PathBuf>,
    /// The store on PostgreSQL (`postgres://user[:password]@host[:port]/db`),
    /// used by every node directly; no node owns the data.
    #[arg(long, env = "STORE_URL", global = true, value_name = "postgres://…")]
    store: Option<String>,
    /// The catalogue an empty database is seeded with: demo, flash (every
    /// size one unit left; the replication benchmark's) or stocked (every
    /// size 100,000 units; the checkout benchmark's).
    #[arg(long, env = "CATALOGUE", default_value = "demo", value_parser = clap::builder::PossibleValuesParser::new(store_app::catalogue::NAMES), global = true)]
    catalogue: String,
    /// With `--pubsub redis://…`: milliseconds between two reloads of each
    /// node's inventory from the store (no mesh tells a node that a peer died
    /// between writing a sale and announcing it; this bounds how long such a
    /// sale stays unseen).
    #[arg(long, env = "INVENTORY_RESYNC_MS", default_value_t = store_app::inventory_resync::DEFAULT_INTERVAL.as_millis() as u64, value_parser = clap::value_parser!(u64).range(100..), global = true)]
    resync_interval_ms: u64,
    /// Static files (js, css, images, node_modules/phoenix); default: the crate's assets/.
    #[arg(long, env = "STORE_ASSETS_DIR", global = true)]
    assets_dir: Option<PathBuf>,
}

const APP: &str = "sneakers23";

fn main() -> std::process::ExitCode {
    app_main(Cli::parse(), |cli| cli.command.take(), run)
}

async fn run(cli: Cli, start: Option<StartArgs>) -> Result<(), Box<dyn std::error::Error>> {
    if start.is_none() && cli.data_dir.is_none() && cli.store.is_none() {
        return Err("an unnamed node owns the data: give --data-dir DIR (or DATA_DIR), or --store postgres://…".into());
    }
    // A certificate or PubSub that cannot be used fails before anything starts.
    let listen = cli.server.listeners(start.as_ref())?;
    let pubsub_adapter = cli.server.pubsub.adapter()?;
    // The node (and its name) first: a second start of a running node fails
    // here, before it could touch the database.
    let node = start_node(APP, start.as_ref()).await?;
    let mode = cli.server.mode();
    let signer = Signer::new(secret::load(mode)?);
    let pubsub = PubSub::new();
    let app = App::start(AppOptions {
        data_dir: cli.data_dir.clone(),
        postgres: cli.store.clone(),
        node: node.as_ref().map(|release| release.node().clone()),
        pubsub: pubsub.clone(),
        pubsub_adapter,
        catalogue: cli.catalogue.clone(),
        resync: ResyncOptions {
            interval: std::time::Duration::from_millis(cli.resync_interval_ms),
        },
    })
    .await?;
    if let Some(release) = &node {
        channels::console_commands::register(release.console(), &pubsub);
        if let Some(link) = app.pubsub_link() {
            link.register_console(release.console());
        }
        store_app::console_commands::register(
            release.console(),
            &app.context,
            &app.checkout,
            &signer,
        );
        channels::tracker::console_commands::register(
            release.console(),
            app.cart_tracker.tracker(),
        );
        store_app::console_commands::register_admin(release.console(), &app.cart_tracker);
    }
    let admin = AdminAccess::from_env();
    let stop = release::stop_requested(node.as_ref())?;
    let page = || {
        StoreWeb {
            pubsub: pubsub.clone(),
            supervisor: app.channels.clone(),
            inventory: InventoryRef::Named(store_app::sneakers23::INVENTORY.into()),
            signer,
            config: cli.server.socket_config(SocketConfig::default()),
            metrics: Metrics::local(),
            assets_dir: cli.assets_dir.clone().unwrap_or_else(default_assets_dir),
            options: cli.server.endpoint.options(),
            checkout: app.checkout.clone(),
            cart_tracker: Some(app.cart_tracker.clone()),
            admin: admin.clone(),
        }
        .endpoint()
    };
    let web = WebServer::start("Sneakers23Web.Endpoint", listen, page, stop).await?;
    web.run_until_stopped(node, app.stop()).await?;
    Ok(())
}
