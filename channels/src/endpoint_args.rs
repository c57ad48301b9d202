//! What every binary that serves an endpoint shares (`hello_sockets`,
//! `sneakers23`): its subcommands ([`NodeCommand`]: `gen-secret`, `start`,
//! `rpc`, `remote`, `stop`), where and how it serves ([`ServerArgs`]), the
//! endpoint's limits and drain settings ([`EndpointArgs`], each option in
//! `--help` with an environment variable beside it), HTTPS
//! ([`TlsArgs`]), how PubSub reaches other nodes ([`PubSubArgs`]), `start`'s node and
//! web-server flags ([`StartArgs`], [`start_node`]), and the web server's life
//! ([`WebServer`]: serve until the stop request, drain, then say so, then the
//! app and the node stop in order).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use runtime::release::{Drive, NodeArgs, Release, ReleaseError, Stop};
use tokio::task::JoinHandle;

use crate::check_origin::CheckOrigin;
use crate::drain::DrainConfig;
use crate::endpoint::{Endpoint, EndpointOptions};
use crate::http_connection::HttpConfig;
use crate::mount::SocketConfig;
use crate::pubsub::link::PubSubArgs;
use crate::secret::{self, Mode};
use crate::tls::{self, GenCertArgs, Listen, TlsArgs, TlsError};

/// The subcommands of an app binary; without one it serves as an unnamed
/// node (one process, no cluster).
#[derive(Subcommand, Debug, Clone)]
pub enum NodeCommand {
    /// Print a fresh secret_key_base.
    GenSecret,
    /// Write a self-signed certificate for development (mix phx.gen.cert).
    GenCert(GenCertArgs),
    /// Start a named node in the foreground (with a console when stdin is a terminal).
    Start(StartArgs),
    #[command(flatten)]
    Drive(Drive),
}

impl NodeCommand {
    /// Runs a command that serves nothing (`gen-secret`; `rpc`, `remote`,
    /// `stop` against a running node) and returns its exit code; `None` for
    /// `start` or no command, which the binary serves.
    pub fn run_client(command: Option<&NodeCommand>) -> Option<ExitCode> {
        match command? {
            NodeCommand::GenSecret => {
                println!("{}", secret::generate());
                Some(ExitCode::SUCCESS)
            }
            NodeCommand::GenCert(args) => Some(match tls::gen_cert(args) {
                Ok((cert, key)) => {
                    println!(
                        "wrote {} and {} (self-signed, for development)\n\
                         serve them with --tls-cert {} --tls-key {}",
                        cert.display(),
                        key.display(),
                        cert.display(),
                        key.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("gen-cert: {err}");
                    ExitCode::FAILURE
                }
            }),
            NodeCommand::Drive(drive) => Some(drive.run()),
            NodeCommand::Start(_) => None,
        }
    }

    /// `start`'s arguments, when the command is `start`.
    pub fn start_args(command: Option<NodeCommand>) -> Option<StartArgs> {
        match command? {
            NodeCommand::Start(start) => Some(start),
            _ => None,
        }
    }
}

/// An app binary's `main`: its parsed command line `cli`, from which
/// `command` takes the subcommand; a command that serves nothing runs and
/// exits, otherwise `serve` runs as [`runtime::release::main`] (logging, the
/// runtime, an error as a failing exit status), given `start`'s arguments for
/// a named node and `None` for an unnamed server.
pub fn app_main<C, F>(
    mut cli: C,
    command: impl FnOnce(&mut C) -> Option<NodeCommand>,
    serve: impl FnOnce(C, Option<StartArgs>) -> F,
) -> ExitCode
where
    F: Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    let command = command(&mut cli);
    if let Some(code) = NodeCommand::run_client(command.as_ref()) {
        return code;
    }
    runtime::release::main(serve(cli, NodeCommand::start_args(command)))
}

/// Where and how an app binary serves: its web server's address, the mode,
/// the endpoint's limits, HTTPS, and how its PubSub reaches other nodes.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Port of the web server.
    #[arg(long, env = "PORT", default_value_t = 4000, global = true)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: IpAddr,
    /// Production mode: a secret_key_base is required.
    #[arg(long, global = true)]
    pub prod: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub pubsub: PubSubArgs,
}

impl ServerArgs {
    /// Production with `--prod`, else development.
    pub fn mode(&self) -> Mode {
        Mode::from_prod_flag(self.prod)
    }

    /// `config` with the endpoint's per-socket settings, and the origin
    /// check: `--check-origin` if given, else the request's own host in
    /// production and any origin in development (as Phoenix checks origins
    /// by default in production only).
    pub fn socket_config(&self, config: SocketConfig) -> SocketConfig {
        let check_origin = match (&self.endpoint.check_origin, self.mode()) {
            (Some(check), _) => check.clone(),
            (None, Mode::Production) => CheckOrigin::SameHost,
            (None, Mode::Development) => CheckOrigin::Any,
        };
        SocketConfig {
            check_origin,
            ..self.endpoint.socket_config(config)
        }
    }

    /// The web server's plain HTTP address: `--http-port` for a started
    /// node (else `--port`), none with `--no-http`; `--port` for an unnamed
    /// server.
    pub fn web_address(&self, start: Option<&StartArgs>) -> Option<SocketAddr> {
        web_port(start, self.port).map(|port| SocketAddr::new(self.host, port))
    }

    /// Every address the web server listens on: plain HTTP at
    /// [`Self::web_address`] and, with a certificate, HTTPS at
    /// `--https-port` (HSTS in production); none with `--no-http`.
    pub fn listeners(&self, start: Option<&StartArgs>) -> Result<Vec<Listen>, TlsError> {
        match web_port(start, self.port) {
            Some(port) => {
                tls::listeners(self.host, port, &self.tls, self.mode() == Mode::Production)
            }
            None => Ok(Vec::new()),
        }
    }
}

/// Drain and connection limits of an endpoint (defaults: Phoenix's drainer,
/// nginx-like HTTP timeouts).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Connection limits and draining")]
pub struct EndpointArgs {
    /// On stop, close open sockets in batches of this many (close code 1012:
    /// clients reconnect and rejoin).
    #[arg(long, env = "DRAIN_BATCH_SIZE", default_value_t = DrainConfig::default().batch_size, global = true)]
    pub drain_batch_size: usize,
    /// Milliseconds between two drain batches.
    #[arg(long, env = "DRAIN_BATCH_INTERVAL_MS", default_value_t = millis(DrainConfig::default().batch_interval), global = true)]
    pub drain_batch_interval_ms: u64,
    /// Milliseconds the whole drain may take; the rest is then closed at once
    /// (as it is by a second stop request).
    #[arg(long, env = "DRAIN_DEADLINE_MS", default_value_t = millis(DrainConfig::default().deadline), global = true)]
    pub drain_deadline_ms: u64,
    /// Milliseconds a client has to send a request's headers, from its first
    /// byte (or from the connect, for a connection's first request).
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_MS", default_value_t = millis(HttpConfig::default().header_read_timeout), global = true)]
    pub http_header_timeout_ms: u64,
    /// Milliseconds a kept-alive HTTP connection may wait for its next request.
    #[arg(long, env = "HTTP_KEEP_ALIVE_TIMEOUT_MS", default_value_t = millis(HttpConfig::default().keep_alive_timeout), global = true)]
    pub http_keep_alive_timeout_ms: u64,
    /// Connections that may be waiting for their first request at once; more
    /// are closed as soon as they are accepted.
    #[arg(long, env = "MAX_HANDSHAKES", default_value_t = HttpConfig::default().max_handshakes, global = true)]
    pub max_handshakes: usize,
    /// Which pages may open sockets: `any`, `host` (the origin must name the
    /// host the request was sent to), or origins such as
    /// `https://shop.example,https://www.shop.example`. Default: `host` with
    /// `--prod`, else `any`. A request without `Origin` always passes.
    #[arg(long, env = "CHECK_ORIGIN", global = true)]
    pub check_origin: Option<CheckOrigin>,
    /// Largest long-poll POST body in bytes; a larger one is answered 413.
    #[arg(long, env = "LONGPOLL_MAX_BODY_BYTES", default_value_t = SocketConfig::default().longpoll_max_body_bytes, global = true)]
    pub longpoll_max_body_bytes: usize,
}

/// `app start`'s arguments, the same for every app binary: the node, and its
/// web server (or none, for the book's back node).
#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Port of the web server (default: --port / PORT); 0 picks a free one.
    #[arg(long, value_name = "PORT", conflicts_with = "no_http")]
    pub http_port: Option<u16>,
    /// Run no web server (the book's back node).
    #[arg(long)]
    pub no_http: bool,
}

/// The web server's port: `--http-port` (else `default`, the binary's
/// `--port`) for a started node unless it runs `--no-http`; `default` for an
/// unnamed server (no `start`).
pub fn web_port(start: Option<&StartArgs>, default: u16) -> Option<u16> {
    match start {
        Some(start) if start.no_http => None,
        Some(start) => Some(start.http_port.unwrap_or(default)),
        None => Some(default),
    }
}

/// The named node `app start` asks for, started first so that a name already
/// in use fails before anything else starts (or touches a database); `None`
/// for an unnamed server (no `start`).
pub async fn start_node(
    app: &str,
    start: Option<&StartArgs>,
) -> Result<Option<Release>, ReleaseError> {
    match start {
        Some(start) => Ok(Some(Release::start(app, &start.node).await?)),
        None => Ok(None),
    }
}

/// A binary's web server, or the absence of one (`--no-http`).
pub struct WebServer(Option<JoinHandle<std::io::Result<()>>>);

impl WebServer {
    /// Serves the endpoint `build` makes as `name` on every listener until
    /// `stop` is requested (then it drains); with none, logs that this node
    /// runs no web server.
    pub async fn start(
        name: &str,
        listen: Vec<Listen>,
        build: impl FnOnce() -> Arc<Endpoint>,
        stop: Stop,
    ) -> std::io::Result<WebServer> {
        if listen.is_empty() {
            tracing::info!("no web server (--no-http)");
            return Ok(WebServer(None));
        }
        Ok(WebServer(Some(build().spawn_on(name, listen, stop).await?)))
    }

    /// Runs until asked to stop — a named node by its console, `stop`,
    /// SIGINT or SIGTERM; an unnamed one by SIGINT or SIGTERM (the stop this
    /// server was started with) — then stops in order: this web server (it
    /// drains), the app (`stop_app`), the node, the control socket.
    pub async fn run_until_stopped(
        self,
        node: Option<Release>,
        stop_app: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut node = node;
        if let Some(release) = &mut node {
            release.run_until_stopped(true).await;
        }
        self.stopped().await?;
        tracing::info!("shutting down");
        stop_app.await;
        if let Some(release) = node {
            release.shutdown().await;
        }
        Ok(())
    }

    /// Waits until the server has drained (after the stop request).
    pub async fn stopped(self) -> std::io::Result<()> {
        if let Some(server) = self.0 {
            server.await.map_err(std::io::Error::other)??;
            tracing::info!("web server stopped");
        }
        Ok(())
    }
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

impl EndpointArgs {
    /// The endpoint-wide settings.
    pub fn options(&self) -> EndpointOptions {
        EndpointOptions {
            http: HttpConfig {
                header_read_timeout: Duration::from_millis(self.http_header_timeout_ms),
                keep_alive_timeout: Duration::from_millis(self.http_keep_alive_timeout_ms),
                max_handshakes: self.max_handshakes,
            },
            drain: DrainConfig {
                batch_size: self.drain_batch_size,
                batch_interval: Duration::from_millis(self.drain_batch_interval_ms),
                deadline: Duration::from_millis(self.drain_deadline_ms),
            },
        }
    }

    /// `config` with the per-socket limits set here.
    pub fn socket_config(&self, config: SocketConfig) -> SocketConfig {
        SocketConfig {
            longpoll_max_body_bytes: self.longpoll_max_body_bytes,
            ..config
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        endpoint: EndpointArgs,
    }

    #[test]
    fn the_defaults_are_the_libraries_defaults() {
        let cli = Cli::parse_from(["app"]);
        assert_eq!(cli.endpoint.options(), EndpointOptions::default());
        assert_eq!(
            cli.endpoint
                .socket_config(SocketConfig::default())
                .longpoll_max_body_bytes,
            SocketConfig::default().longpoll_max_body_bytes
        );
    }

    #[test]
    fn options_set_every_setting() {
        let cli = Cli::parse_from([
            "app",
            "--drain-batch-size",
            "5",
            "--drain-batch-interval-ms",
            "100",
            "--drain-deadline-ms",
            "1000",
            "--http-header-timeout-ms",
            "200",
            "--http-keep-alive-timeout-ms",
            "300",
            "--max-handshakes",
            "7",
        ]);
        let options = cli.endpoint.options();
        assert_eq!(options.drain.batch_size, 5);
        assert_eq!(options.drain.batch_interval, Duration::from_millis(100));
        assert_eq!(options.drain.deadline, Duration::from_secs(1));
        assert_eq!(options.http.header_read_timeout, Duration::from_millis(200));
        assert_eq!(options.http.keep_alive_timeout, Duration::from_millis(300));
        assert_eq!(options.http.max_handshakes, 7);
    }
}
