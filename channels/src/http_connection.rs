//! One HTTP connection, served by hyper, with the bounds a public server needs.
//!
//! hyper serves requests; this file decides how long a connection may hold a
//! file descriptor without earning it. Left alone, a client that opens a
//! connection and sends nothing, or sends its headers one byte a second
//! (slowloris), keeps its socket for ever, and a few thousand of them exhaust
//! the node's descriptors. The rules, as nginx has them:
//!
//! | the connection is… | it is closed after | option |
//! |---|---|---|
//! | new, or reading a request's head (request line and headers) | `header_read_timeout`, counted from the accept or from the head's first byte | [`HttpConfig::header_read_timeout`] |
//! | kept alive, waiting for its next request | `keep_alive_timeout` after the last response | [`HttpConfig::keep_alive_timeout`] |
//! | in a request (a long poll may wait 10 s) | never by these rules: the request's own bounds apply | |
//!
//! and at most [`HttpConfig::max_handshakes`] connections may be waiting for
//! their first request's head at once: past it a new connection is closed as
//! soon as it is accepted, which sheds a flood instead of queueing it.
//!
//! A WebSocket connection leaves this file once it is upgraded; from then on
//! the heartbeat rule of the WebSocket transport bounds it.
//!
//! How the phase is known: the socket is wrapped in `Watched`, which notices
//! the first byte of a head; hyper calling the service means the head is
//! complete; the service returning means the request is done. A watchdog
//! timer per connection compares the phase's start with its bound.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::transport::Body;

/// The counter of connections closed by these rules, tagged `reason:`
/// (`header_timeout`, `keep_alive_timeout`, `handshake_limit`,
/// `tls_handshake_failed`).
pub const HTTP_CONNECTIONS_CUT: &str = "http_connections_cut";

/// Timeouts and bounds of the endpoint's HTTP connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// A request's head must be complete this long after its first byte, or
    /// after the accept for a connection's first request (nginx's
    /// `client_header_timeout`).
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no new request for this long after its
    /// last response is closed (nginx's `keepalive_timeout`).
    pub keep_alive_timeout: Duration,
    /// The most connections that may be waiting for their first request's
    /// head at once; past it, new connections are closed at once.
    pub max_handshakes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_handshakes: 2_048,
        }
    }
}

/// What every HTTP connection of an endpoint shares.
pub(crate) struct HttpConnections {
    config: HttpConfig,
    metrics: Metrics,
    /// Connections waiting for their first request's head.
    handshakes: AtomicUsize,
    /// Connections being served (not counting upgraded ones).
    open: AtomicUsize,
    closed: Notify,
    /// Set when the endpoint stops: connections finish their request and close.
    stopping: watch::Sender<bool>,
    /// When the handshake bound last logged a warning, and how many
    /// connections it refused since.
    refused: Mutex<(Option<Instant>, u64)>,
}

impl HttpConnections {
    pub(crate) fn new(config: HttpConfig, metrics: Metrics) -> Self {
        HttpConnections {
            config,
            metrics,
            handshakes: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            closed: Notify::new(),
            stopping: watch::channel(false).0,
            refused: Mutex::new((None, 0)),
        }
    }

    /// Asks every connection to finish its request and close.
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once every connection is closed (or upgraded).
    pub(crate) async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    }

    /// Takes a handshake slot for a new connection, or counts a refusal.
    fn try_handshake(&self) -> bool {
        let taken = self
            .handshakes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.config.max_handshakes).then_some(n + 1)
            })
            .is_ok();
        if !taken {
            self.count_cut("handshake_limit");
            // One line per 10 s however hard the flood: a log line per
            // refused connection would be the flood's amplifier.
            let mut refused = self.refused.lock();
            refused.1 += 1;
            let now = Instant::now();
            if refused
                .0
                .is_none_or(|at| now - at >= Duration::from_secs(10))
            {
                tracing::warn!(
                    "refusing connections: {} are waiting for their first request (max_handshakes); {} refused since the last warning",
                    self.config.max_handshakes,
                    refused.1
                );
                *refused = (Some(now), 0);
            }
        }
        taken
    }

    fn count_cut(&self, reason: &str) {
        self.metrics
            .increment(HTTP_CONNECTIONS_CUT, &[("reason", reason)]);
    }
}

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Between requests, nothing of the next one read yet.
    Idle = 0,
    /// Reading a request's head.
    Head = 1,
    /// In a request: the service is running.
    Busy = 2,
}

/// A connection's phase and when it began, shared by the socket wrapper, the
/// service and the watchdog.
struct Activity {
    accepted: Instant,
    phase: AtomicU8,
    /// When the phase began, in milliseconds after `accepted`.
    since_ms: AtomicU64,
    /// Whether this connection still holds a handshake slot.
    in_handshake: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            accepted: Instant::now(),
            // A new connection is reading its first head from the accept on.
            phase: AtomicU8::new(Phase::Head as u8),
            since_ms: AtomicU64::new(0),
            in_handshake: AtomicBool::new(true),
        }
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Head,
            _ => Phase::Busy,
        }
    }

    fn enter(&self, phase: Phase) {
        let now = self.accepted.elapsed().as_millis() as u64;
        self.since_ms.store(now, Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
    }

    fn since(&self) -> Instant {
        self.accepted + Duration::from_millis(self.since_ms.load(Ordering::Acquire))
    }

    /// The first byte of a head arrived (called on every read; cheap).
    fn bytes_read(&self) {
        if self.phase.load(Ordering::Relaxed) == Phase::Idle as u8 {
            self.enter(Phase::Head);
        }
    }

    /// Gives the handshake slot back, once.
    fn end_handshake(&self, shared: &HttpConnections) {
        if self.in_handshake.swap(false, Ordering::AcqRel) {
            shared.handshakes.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The accepted socket (TCP, or TLS over TCP), telling [`Activity`] when a
/// head starts.
struct Watched<S> {
    stream: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The TCP stream under a connection that hyper upgraded, and the bytes hyper
/// had read past the upgrade request. The connection's bookkeeping (the
/// [`Watched`] wrapper, its [`Activity`], hyper's own wrapper) is dropped: an
/// upgraded connection keeps nothing of its HTTP past, which matters when
/// there are 10,000 of them. `Err` for a connection not served here, and for
/// a TLS connection (it stays in hyper's wrapper).
pub(crate) fn into_tcp(
    upgraded: hyper::upgrade::Upgraded,
) -> Result<(TcpStream, bytes::Bytes), hyper::upgrade::Upgraded> {
    let parts = upgraded.downcast::<TokioIo<Watched<TcpStream>>>()?;
    Ok((parts.io.into_inner().stream, parts.read_buf))
}

/// Marks the end of a request even if its future is dropped.
struct RequestDone(Arc<Activity>);

impl Drop for RequestDone {
    fn drop(&mut self) {
        self.0.enter(Phase::Idle);
    }
}

/// Counts a served connection until dropped.
struct OpenGuard(Arc<HttpConnections>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
    }
}

/// Serves one accepted connection with `handle` until it closes, is upgraded,
/// or breaks one of the rules above.
pub(crate) async fn serve<H, F>(
    shared: Arc<HttpConnections>,
    stream: TcpStream,
    peer: SocketAddr,
    handle: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    if !shared.try_handshake() {
        return;
    }
    serve_with_slot(shared, stream, peer, handle).await;
}

/// [`serve`] for an HTTPS listener: the TLS handshake first, within the
/// header timeout and holding a handshake slot (a client that opens TLS and
/// stalls is cut like one that stalls in its headers), then the same.
pub(crate) async fn serve_tls<H, F>(
    shared: Arc<HttpConnections>,
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    peer: SocketAddr,
    handle: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    if !shared.try_handshake() {
        return;
    }
    let timeout = shared.config.header_read_timeout;
    let mut stopping = shared.stopping.subscribe();
    let accepted = tokio::select! {
        accepted = tokio::time::timeout(timeout, acceptor.accept(stream)) => accepted,
        _ = stopping.wait_for(|stop| *stop) => {
            shared.handshakes.fetch_sub(1, Ordering::AcqRel);
            return;
        }
    };
    match accepted {
        Ok(Ok(tls)) => serve_with_slot(shared, tls, peer, handle).await,
        Ok(Err(err)) => {
            // Plain HTTP sent to the HTTPS port, an unknown CA, a scanner.
            tracing::debug!(%peer, %err, "TLS handshake failed");
            shared.handshakes.fetch_sub(1, Ordering::AcqRel);
            shared.count_cut("tls_handshake_failed");
        }
        Err(_) => {
            shared.handshakes.fetch_sub(1, Ordering::AcqRel);
            shared.count_cut("header_timeout");
        }
    }
}

/// Serves a connection that already holds a handshake slot.
async fn serve_with_slot<S, H, F>(
    shared: Arc<HttpConnections>,
    stream: S,
    peer: SocketAddr,
    handle: H,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    shared.open.fetch_add(1, Ordering::AcqRel);
    let _open = OpenGuard(shared.clone());
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let handle = Arc::new(handle);
    let service = {
        let activity = activity.clone();
        let shared = shared.clone();
        service_fn(move |request| {
            activity.enter(Phase::Busy);
            activity.end_handshake(&shared);
            let done = RequestDone(activity.clone());
            let response = handle(request, peer);
            async move {
                let response = response.await;
                drop(done);
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let config = &shared.config;
    let mut stopping = shared.stopping.subscribe();
    let mut closing = false;
    // The phase can change while the watchdog sleeps (a request ends, the
    // next head starts), so it looks again at least this often: a bound is
    // enforced at most a quarter of the shorter bound late.
    let tick = (config.header_read_timeout.min(config.keep_alive_timeout) / 4)
        .max(Duration::from_millis(10));
    let watchdog = tokio::time::sleep(tick);
    tokio::pin!(watchdog);
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%err, "HTTP connection ended with an error");
                }
                break;
            }
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = &mut watchdog => {
                let now = Instant::now();
                let (bound, reason) = match activity.phase() {
                    Phase::Head => (config.header_read_timeout, "header_timeout"),
                    Phase::Idle => (config.keep_alive_timeout, "keep_alive_timeout"),
                    Phase::Busy => {
                        // A request has its own bounds.
                        watchdog.as_mut().reset(now + tick);
                        continue;
                    }
                };
                let expires = activity.since() + bound;
                if now < expires {
                    watchdog.as_mut().reset(expires.min(now + tick));
                    continue;
                }
                if activity.phase() == Phase::Idle && !closing {
                    // The last response may still be on its way out: let
                    // hyper finish it, then close; cut it if it is still
                    // there one more period later.
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                    shared.count_cut(reason);
                    watchdog.as_mut().reset(now + bound);
                    continue;
                }
                tracing::debug!(%peer, reason, "closing an HTTP connection");
                if reason != "keep_alive_timeout" {
                    shared.count_cut(reason);
                }
                break;
            }
        }
    }
    activity.end_handshake(&shared);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_starts_with_its_first_byte_after_an_idle_wait() {
        let activity = Activity::new();
        assert_eq!(
            activity.phase(),
            Phase::Head,
            "a new connection reads its first head"
        );
        activity.enter(Phase::Busy);
        activity.bytes_read();
        assert_eq!(
            activity.phase(),
            Phase::Busy,
            "a body's bytes are part of the request"
        );
        activity.enter(Phase::Idle);
        activity.bytes_read();
        assert_eq!(activity.phase(), Phase::Head);
    }

    #[test]
    fn the_handshake_bound_refuses_past_its_size() {
        let shared = HttpConnections::new(
            HttpConfig {
                max_handshakes: 2,
                ..Default::default()
            },
            Metrics::local(),
        );
        assert!(shared.try_handshake());
        assert!(shared.try_handshake());
        assert!(!shared.try_handshake());
        let activity = Activity::new();
        activity.end_handshake(&shared);
        activity.end_handshake(&shared);
        assert_eq!(
            shared.handshakes.load(Ordering::Acquire),
            1,
            "given back once"
        );
        assert!(shared.try_handshake());
        assert_eq!(
            shared
                .metrics
                .counter(HTTP_CONNECTIONS_CUT, &[("reason", "handshake_limit")]),
            1
        );
    }
}
