//! Opening the fuzzer's TCP connections.
//!
//! A run opens tens of thousands of short connections. From one source address
//! the kernel's ephemeral ports (about 28,000) would run out when the fuzzer
//! closes first and its side waits in TIME_WAIT, so attack connections to a
//! loopback server spread over the source addresses 127.0.0.2–127.0.0.9 (all
//! of 127.0.0.0/8 is loopback on Linux), as the load generator does. Every
//! connect is bounded: a server that stops accepting must show up as an
//! error, not hang the run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

/// How long a connect may take before it counts as the server not accepting.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// Source addresses, one after the other.
static NEXT_SOURCE: AtomicUsize = AtomicUsize::new(0);

/// How many loopback source addresses attack connections rotate over.
const SOURCES: usize = 8;

/// A connection to `server` from the next spread source address (from the
/// kernel's choice when `server` is not on loopback).
pub async fn connect_spread(server: SocketAddr) -> std::io::Result<TcpStream> {
    let source = match server.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % SOURCES;
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n as u8)))
        }
        _ => None,
    };
    connect_from(server, source).await
}

/// A connection to `server`, from `source` if given.
pub async fn connect_from(
    server: SocketAddr,
    source: Option<IpAddr>,
) -> std::io::Result<TcpStream> {
    let socket = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(source) = source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let stream = tokio::time::timeout(CONNECT_LIMIT, socket.connect(server))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connect to {server} took over {CONNECT_LIMIT:?}"),
            )
        })??;
    stream.set_nodelay(true)?;
    Ok(stream)
}
