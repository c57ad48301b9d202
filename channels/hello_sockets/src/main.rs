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
//! of every connected node (with `--pubsub redis://host:port`, any node,
//! named or not, reaches the others through Redis instead); its console has the runtime's `node.*` and
//! `processes` commands, channels' `pubsub.*`, and the book's
//! `broadcast TOPIC EVENT [JSON]`.

use std::time::Duration;

use channels::endpoint_args::{
    app_main, start_node, NodeCommand, ServerArgs, StartArgs, WebServer,
};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::secret;
use channels::token::Signer;
use clap::Parser;
use hello_sockets::app::{App, AppOptions};
use runtime::release;

#[derive(Parser)]
#[command(about = "The hello_sockets server of Real-Time Phoenix, chapters 2-5")]
struct Cli {
    #[command(subcommand)]
    command: Option<NodeCommand>,
    #[command(flatten)]
    server: ServerArgs,
    /// Close connections silent for this long (Phoenix: 60 s).
    #[arg(
        long,
        env = "HEARTBEAT_TIMEOUT_MS",
        default_value_t = 60_000,
        global = true
    )]
    heartbeat_timeout_ms: u64,
    /// WebSocket read buffer per connection, in bytes (allocated and
    /// zero-filled on a connection's first read, so it is paid by every idle
    /// connection).
    #[arg(long, env = "READ_BUFFER_BYTES", default_value_t = SocketConfig::default().read_buffer_bytes, global = true)]
    read_buffer_bytes: usize,
    /// Send StatsD metrics (DogStatsD tags) to this UDP address, e.g. 127.0.0.1:8125.
    #[arg(long, env = "STATSD_ADDR", global = true)]
    statsd: Option<std::net::SocketAddr>,
}

const APP: &str = "hello_sockets";

fn main() -> std::process::ExitCode {
    app_main(Cli::parse(), |cli| cli.command.take(), run)
}

async fn run(cli: Cli, start: Option<StartArgs>) -> Result<(), Box<dyn std::error::Error>> {
    // A certificate or PubSub that cannot be used fails before anything starts.
    let listen = cli.server.listeners(start.as_ref())?;
    let pubsub = cli.server.pubsub.adapter()?;
    // A named node: the node, its console and control socket come first.
    let node = start_node(APP, start.as_ref()).await?;
    let mode = cli.server.mode();
    let config = cli.server.socket_config(SocketConfig {
        heartbeat_timeout: Duration::from_millis(cli.heartbeat_timeout_ms),
        read_buffer_bytes: cli.read_buffer_bytes,
        ..Default::default()
    });
    let app = App::start(AppOptions {
        node: node
            .as_ref()
            .map(|release| (release.node().clone(), release.console().clone())),
        signer: Signer::new(secret::load(mode)?),
        config,
        metrics: match cli.statsd {
            Some(address) => Metrics::statsd(address)?,
            None => Metrics::local(),
        },
        endpoint: cli.server.endpoint.options(),
        pubsub,
    })
    .await?;
    // What stops the web server: a named node's shutdown, or for an unnamed
    // server SIGINT or SIGTERM, caught from before it reports its address.
    // The server then drains its sockets; a second request finishes at once.
    let stop = release::stop_requested(node.as_ref())?;
    let endpoint = app.endpoint.clone();
    let web = WebServer::start("HelloSocketsWeb.Endpoint", listen, || endpoint, stop).await?;
    web.run_until_stopped(node, app.stop()).await?;
    Ok(())
}
