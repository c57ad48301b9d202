//! What every binary that serves an endpoint shares (`hello_sockets`,
//! `sneakers23`): the endpoint's limits and drain settings ([`EndpointArgs`],
//! each option in `--help` with an environment variable beside it), `start`'s
//! node and web-server flags ([`StartArgs`]), and the web server's life
//! ([`WebServer`]: serve until the stop request, drain, then say so).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use runtime::release::{NodeArgs, Stop};
use tokio::task::JoinHandle;

use crate::drain::DrainConfig;
use crate::endpoint::{Endpoint, EndpointOptions};
use crate::http_connection::HttpConfig;
use crate::mount::SocketConfig;

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

/// A binary's web server, or the absence of one (`--no-http`).
pub struct WebServer(Option<JoinHandle<std::io::Result<()>>>);

impl WebServer {
    /// Serves the endpoint `build` makes as `name` at `address` until `stop`
    /// is requested (then it drains); with no address, logs that this node
    /// runs no web server.
    pub async fn start(
        name: &str,
        address: Option<SocketAddr>,
        build: impl FnOnce() -> Arc<Endpoint>,
        stop: Stop,
    ) -> std::io::Result<WebServer> {
        match address {
            Some(address) => Ok(WebServer(Some(
                build().spawn_on(name, address, stop).await?,
            ))),
            None => {
                tracing::info!("no web server (--no-http)");
                Ok(WebServer(None))
            }
        }
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
