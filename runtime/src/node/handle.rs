//! [`Node`]: starting a node, connecting, disconnecting, listing peers.
//!
//! `Node::start` resolves the cookie, starts ractor_cluster's `NodeServer` in
//! [`NodeConnectionMode::Transitive`] mode (connecting to B also connects to
//! B's peers, as Erlang does; note that `NodeServer::new(.., None)` would mean
//! *Isolated*), subscribes to its session events (the internal `peers` table), starts the
//! node monitor ([`super::monitor`]) and registers the node's port in the local
//! name directory ([`super::directory`]).
//!
//! `connect` opens the TCP connection itself (with a timeout; ractor_cluster's
//! `client_connect` has none) and hands it to the `NodeServer`, then waits —
//! boundedly — for the peer to come up, or for the handshake to fail, which it
//! reports as a precise [`ConnectError`] (a wrong cookie is
//! [`ConnectError::BadCookie`]) instead of a connection that silently never
//! appears.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use ractor_cluster::node::NodeConnectionMode;
use ractor_cluster::{NetworkStream, NodeServer, NodeServerMessage};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::cookie::{self, CookieError, CookieSource};
use super::directory::{DirectoryError, NameDirectory, Registration};
use super::events::{DownReason, NodeEvent};
use super::monitor::{HeartbeatConfig, MonitorMsg, NodeMonitor};
use super::name::{NameError, NodeAddress, NodeName};
use super::peers::{FailureKind, HandshakeFailure, SessionEvents, Shared};

/// The id of this module's subscription to the `NodeServer`'s events.
const SUBSCRIPTION_ID: &str = "runtime.node";
/// After a failed handshake, how long a competing connection to the same peer
/// (both nodes connecting at once) gets to win before `connect` gives up.
const COMPETING_CONNECTION_GRACE: Duration = Duration::from_millis(1000);

/// Where a node keeps its name directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DirectoryOption {
    /// [`super::directory::default_directory`].
    #[default]
    Default,
    /// This directory.
    At(PathBuf),
    /// No directory: the node is not findable by name alone, and `connect`
    /// needs `name@host:port`.
    Disabled,
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The node's name, `name@host`. The host is what peers connect to.
    pub name: NodeName,
    /// An explicit cookie; otherwise `RELEASE_COOKIE` / `NODE_COOKIE`, then the
    /// cookie file (see [`super::cookie`]).
    pub cookie: Option<String>,
    /// Where the cookie file lives (default `$HOME`).
    pub cookie_dir: Option<PathBuf>,
    /// The distribution port; 0 picks a free one.
    pub port: u16,
    /// The address to listen on. Default: the host part of the name if it is
    /// an IP address, otherwise all interfaces.
    pub listen_addr: Option<IpAddr>,
    /// The local name directory.
    pub directory: DirectoryOption,
    /// Heartbeat interval and timeout.
    pub heartbeat: HeartbeatConfig,
    /// How long `connect` waits for a peer to come up.
    pub connect_timeout: Duration,
}

impl NodeOptions {
    /// Defaults for `name`: cookie from the environment or cookie file, a free
    /// port, the default directory, 2 s / 12 s heartbeats, 5 s connect timeout.
    pub fn new(name: NodeName) -> Self {
        NodeOptions {
            name,
            cookie: None,
            cookie_dir: None,
            port: 0,
            listen_addr: None,
            directory: DirectoryOption::Default,
            heartbeat: HeartbeatConfig::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An option is out of range.
    #[error("invalid node options: {0}")]
    InvalidOptions(String),
    /// No usable cookie.
    #[error(transparent)]
    Cookie(#[from] CookieError),
    /// The name directory is unusable, or the name is taken on this host.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The distribution port could not be opened.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// An actor of the node failed to start.
    #[error("node actor failed to start: {0}")]
    Spawn(String),
}

/// Why `connect` failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The target is not `name@host[:port]`.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// That is this node.
    #[error("{0} is this node")]
    SelfConnect(NodeName),
    /// No port was given and the local name directory does not know the node.
    #[error(
        "{0} is not registered in the local name directory (is it running on this host? \
         for another host use {0}:PORT)"
    )]
    NotRegistered(NodeName),
    /// The name directory could not be read.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Nothing accepted the connection.
    #[error("cannot reach {node} at {addr}: {reason}")]
    Unreachable {
        /// The node.
        node: NodeName,
        /// Where it was looked for.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The peer refused the handshake: the two nodes have different cookies.
    #[error("{node} refused the connection: the cookies differ (wrong cookie)")]
    BadCookie {
        /// The node.
        node: NodeName,
    },
    /// The handshake ended without the peer coming up.
    #[error("the handshake with {node} failed: the connection was closed")]
    HandshakeFailed {
        /// The node.
        node: NodeName,
    },
    /// The node at that address has another name.
    #[error("the node at {addr} is {found}, not {expected}")]
    NameMismatch {
        /// The name asked for.
        expected: NodeName,
        /// The name of the node that answered.
        found: NodeName,
        /// The address.
        addr: String,
    },
    /// The peer did not come up in time.
    #[error("{node} did not answer within {timeout:?}")]
    Timeout {
        /// The node.
        node: NodeName,
        /// The timeout.
        timeout: Duration,
    },
    /// This node is stopped.
    #[error("this node is stopped")]
    Stopped,
}

/// `disconnect` was asked for a node that is not connected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not connected")]
pub struct NotConnected(pub NodeName);

struct Inner {
    shared: Arc<Shared>,
    server: ActorRef<NodeServerMessage>,
    monitor: ActorRef<MonitorMsg>,
    port: u16,
    cookie_source: CookieSource,
    heartbeat: HeartbeatConfig,
    connect_timeout: Duration,
    directory: Option<NameDirectory>,
    registration: Mutex<Option<Registration>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone without `stop`: stop anyway.
        self.shared.local_stop();
        self.server.stop(Some("node_dropped".to_string()));
        self.monitor.stop(Some("node_dropped".to_string()));
        // `registration` drops here, removing the directory entry.
    }
}

/// A running node. Cheap to clone; every clone is the same node.
///
/// A process should run one node: ractor's registry and process groups are
/// process-wide, so two nodes in one process share them (and
/// ractor_cluster's remote actor ids can collide).
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.shared.me)
            .field("port", &self.inner.port)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Starts a node. See [`NodeOptions`].
    pub async fn start(options: NodeOptions) -> Result<Node, StartError> {
        options
            .heartbeat
            .validate()
            .map_err(StartError::InvalidOptions)?;
        if options.connect_timeout.is_zero() {
            return Err(StartError::InvalidOptions(
                "the connect timeout must be positive".into(),
            ));
        }
        let name = options.name.clone();
        let (cookie, cookie_source) =
            cookie::resolve(options.cookie.as_deref(), options.cookie_dir.as_deref())?;
        let directory = match &options.directory {
            DirectoryOption::Default => Some(NameDirectory::open_default()?),
            DirectoryOption::At(path) => Some(NameDirectory::open(path.clone())?),
            DirectoryOption::Disabled => None,
        };
        // Fail early if a live node has the name (before opening a port).
        if let Some(dir) = &directory {
            dir.check_free(&name)?;
        }
        let listen_ip = options
            .listen_addr
            .or_else(|| name.host().parse::<IpAddr>().ok())
            .or_else(|| {
                // ractor_cluster's default is a dual-stack [::] socket; on a
                // host without IPv6 fall back to all IPv4 interfaces.
                let v6 = std::net::TcpListener::bind((std::net::Ipv6Addr::UNSPECIFIED, 0));
                v6.is_err()
                    .then_some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
            });

        let shared = Shared::new(name.clone());
        let (monitor, _) = Actor::spawn(None, NodeMonitor, (shared.clone(), options.heartbeat))
            .await
            .map_err(|e| StartError::Spawn(e.to_string()))?;
        shared.set_monitor(monitor.clone());

        let started = start_server(&name, cookie.as_str(), options.port, listen_ip).await;
        let (server, port) = match started {
            Ok(ok) => ok,
            Err(e) => {
                monitor.stop(None);
                return Err(e);
            }
        };
        let subscribed = server.cast(NodeServerMessage::SubscribeToEvents {
            id: SUBSCRIPTION_ID.to_string(),
            subscription: Box::new(SessionEvents(shared.clone())),
        });
        // A call after the cast: the subscription is in place when it returns.
        let barrier = ractor::call_t!(server, NodeServerMessage::GetSessions, 5_000);
        if subscribed.is_err() || barrier.is_err() {
            server.stop(None);
            monitor.stop(None);
            return Err(StartError::Spawn("the node server stopped".into()));
        }
        let registration = match &directory {
            Some(dir) => match dir.register(&name, port) {
                Ok(r) => Some(r),
                Err(e) => {
                    server.stop(None);
                    monitor.stop(None);
                    return Err(e.into());
                }
            },
            None => None,
        };
        tracing::info!(node = %name, port, cookie = %cookie_source, "node started");
        Ok(Node {
            inner: Arc::new(Inner {
                shared,
                server,
                monitor,
                port,
                cookie_source,
                heartbeat: options.heartbeat,
                connect_timeout: options.connect_timeout,
                directory,
                registration: Mutex::new(registration),
            }),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub(crate) fn notify_monitor(&self, msg: MonitorMsg) {
        let _ = self.inner.monitor.cast(msg);
    }

    /// This node's name (Erlang's `node()`).
    pub fn self_name(&self) -> &NodeName {
        &self.inner.shared.me
    }

    /// The distribution port this node listens on.
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Where the cookie came from.
    pub fn cookie_source(&self) -> &CookieSource {
        &self.inner.cookie_source
    }

    /// The heartbeat settings.
    pub fn heartbeat(&self) -> HeartbeatConfig {
        self.inner.heartbeat
    }

    /// The local name directory, unless disabled.
    pub fn directory(&self) -> Option<&NameDirectory> {
        self.inner.directory.as_ref()
    }

    /// ractor_cluster's `NodeServer`, for what this API does not cover.
    pub fn node_server(&self) -> &ActorRef<NodeServerMessage> {
        &self.inner.server
    }

    /// The connected peers, sorted (Erlang's `nodes()`).
    pub fn list(&self) -> Vec<NodeName> {
        self.inner.shared.list()
    }

    /// Whether `node` is connected.
    pub fn is_connected(&self, node: &NodeName) -> bool {
        self.inner.shared.is_up(node)
    }

    /// The ractor_cluster node id of a connected peer: remote actors of that
    /// peer have `ActorId::Remote { node_id, .. }` (how the cluster PubSub finds
    /// one node's server among a process group's members).
    pub fn peer_node_id(&self, node: &NodeName) -> Option<u64> {
        self.inner.shared.peer_node_id(node)
    }

    /// Node events from now on: nodeup, nodedown, refused cookies.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.shared.subscribe()
    }

    /// Connects to `target`, `name@host` (port from the local name directory)
    /// or `name@host:port`, and waits until it is up. Connecting to a node that
    /// is already connected succeeds at once. Through transitive connections,
    /// the target's peers are connected as well (shortly after).
    pub async fn connect(&self, target: &str) -> Result<NodeName, ConnectError> {
        self.connect_to(target.parse()?).await
    }

    /// [`Node::connect`] with a parsed address.
    pub async fn connect_to(&self, target: NodeAddress) -> Result<NodeName, ConnectError> {
        let node = target.node;
        let shared = &self.inner.shared;
        if node == shared.me {
            return Err(ConnectError::SelfConnect(node));
        }
        if shared.is_up(&node) {
            return Ok(node);
        }
        let port = match target.port {
            Some(port) => port,
            None => self.registered_port(&node)?,
        };
        let deadline = Instant::now() + self.inner.connect_timeout;
        // Subscribe before connecting so that no outcome is missed.
        let events = shared.subscribe();
        let failures = shared.subscribe_handshakes();
        let addr = self.open_connection(&node, port, deadline).await?;
        self.await_handshake(node, addr, events, failures, deadline)
            .await
    }

    /// `node`'s distribution port, from the name directory (EPMD's job).
    fn registered_port(&self, node: &NodeName) -> Result<u16, ConnectError> {
        let dir = self
            .inner
            .directory
            .as_ref()
            .ok_or_else(|| ConnectError::NotRegistered(node.clone()))?;
        dir.lookup(node)?
            .ok_or_else(|| ConnectError::NotRegistered(node.clone()))
    }

    /// Opens a TCP connection to `node` at `port` and hands it to
    /// ractor_cluster's node server, which runs the handshake; the peer's
    /// address, by which handshake failures are reported.
    async fn open_connection(
        &self,
        node: &NodeName,
        port: u16,
        deadline: Instant,
    ) -> Result<String, ConnectError> {
        let unreachable = |reason: String| ConnectError::Unreachable {
            node: node.clone(),
            addr: format!("{}:{port}", node.host()),
            reason,
        };
        let addrs: Vec<SocketAddr> = (node.host(), port)
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?
            .collect();
        let stream = tokio::time::timeout_at(deadline, connect_any(&addrs))
            .await
            .map_err(|_| ConnectError::Timeout {
                node: node.clone(),
                timeout: self.inner.connect_timeout,
            })?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let peer_addr = stream.peer_addr().map_err(|e| unreachable(e.to_string()))?;
        let local_addr = stream
            .local_addr()
            .map_err(|e| unreachable(e.to_string()))?;
        self.inner
            .server
            .cast(NodeServerMessage::ConnectionOpened {
                stream: Box::new(NetworkStream::Raw {
                    peer_addr,
                    local_addr,
                    stream,
                }),
                is_server: false,
            })
            .map_err(|_| ConnectError::Stopped)?;
        Ok(peer_addr.to_string())
    }

    /// Waits until `node` is up, or the handshake on the connection to `addr`
    /// fails (a competing connection from the other side gets a short grace
    /// to win), or the deadline passes.
    async fn await_handshake(
        &self,
        node: NodeName,
        addr: String,
        mut events: broadcast::Receiver<NodeEvent>,
        mut failures: broadcast::Receiver<HandshakeFailure>,
        deadline: Instant,
    ) -> Result<NodeName, ConnectError> {
        let shared = &self.inner.shared;
        let mut failed: Option<FailureKind> = None;
        let mut wait_until = deadline;
        loop {
            if shared.is_up(&node) {
                return Ok(node);
            }
            tokio::select! {
                event = events.recv() => match event {
                    Ok(NodeEvent::Up { node: up }) if up == node => return Ok(node),
                    Ok(NodeEvent::Up { node: up }) => {
                        if shared.peer_at(&addr).as_ref() == Some(&up) {
                            return Err(ConnectError::NameMismatch {
                                expected: node,
                                found: up,
                                addr,
                            });
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(ConnectError::Stopped),
                },
                failure = failures.recv() => match failure {
                    Ok(f) if f.addr == addr && !f.incoming && failed.is_none() => {
                        failed = Some(f.kind);
                        wait_until = deadline.min(Instant::now() + COMPETING_CONNECTION_GRACE);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(ConnectError::Stopped),
                },
                _ = tokio::time::sleep_until(wait_until) => break,
            }
        }
        if shared.is_up(&node) {
            return Ok(node);
        }
        Err(match failed {
            Some(FailureKind::BadCookie) => ConnectError::BadCookie { node },
            Some(FailureKind::SelfConnection) => ConnectError::SelfConnect(node),
            Some(FailureKind::Closed) => ConnectError::HandshakeFailed { node },
            None => {
                shared.abandon_handshakes(&addr);
                ConnectError::Timeout {
                    node,
                    timeout: self.inner.connect_timeout,
                }
            }
        })
    }

    /// Disconnects `node` (Erlang's `disconnect_node/1`). Subscribers get a
    /// nodedown with [`DownReason::Disconnected`]. Transitive connections may
    /// connect it again later, as in Erlang.
    pub fn disconnect(&self, node: &NodeName) -> Result<(), NotConnected> {
        if self
            .inner
            .shared
            .declare_down(node, DownReason::Disconnected)
        {
            Ok(())
        } else {
            Err(NotConnected(node.clone()))
        }
    }

    /// Stops the node: peers see it go down at once, local subscribers get
    /// nodedown ([`DownReason::LocalStop`]) for every peer, and the name
    /// directory entry is removed.
    pub async fn stop(&self) {
        if let Some(reg) = self.inner.registration.lock().take() {
            reg.remove();
        }
        self.inner.shared.local_stop();
        let wait = Some(Duration::from_secs(5));
        let _ = self
            .inner
            .server
            .stop_and_wait(Some("node_stop".to_string()), wait)
            .await;
        let _ = self
            .inner
            .monitor
            .stop_and_wait(Some("node_stop".to_string()), wait)
            .await;
    }
}

/// Tries each address in turn.
async fn connect_any(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Starts the `NodeServer`, returning it and its port. With port 0, a free
/// port is picked first (ractor_cluster does not report the port it bound),
/// retrying if another process takes it in between.
async fn start_server(
    name: &NodeName,
    cookie: &str,
    port: u16,
    listen_ip: Option<IpAddr>,
) -> Result<(ActorRef<NodeServerMessage>, u16), StartError> {
    let bind_ip = listen_ip.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    let attempts = if port == 0 { 5 } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let chosen = if port == 0 {
            let probe =
                std::net::TcpListener::bind((bind_ip, 0)).map_err(|e| StartError::Listen {
                    addr: SocketAddr::new(bind_ip, 0),
                    reason: e.to_string(),
                })?;
            probe
                .local_addr()
                .map_err(|e| StartError::Listen {
                    addr: SocketAddr::new(bind_ip, 0),
                    reason: e.to_string(),
                })?
                .port()
        } else {
            port
        };
        let mut server = NodeServer::new(
            chosen,
            cookie.to_string(),
            name.name().to_string(),
            name.host().to_string(),
            None,
            Some(NodeConnectionMode::Transitive),
        );
        if let Some(ip) = listen_ip {
            server = server.with_listen_addr(ip);
        }
        match Actor::spawn(None, server, ()).await {
            Ok((server, _)) => return Ok((server, chosen)),
            Err(e) => {
                last_err = Some(StartError::Listen {
                    addr: SocketAddr::new(bind_ip, chosen),
                    reason: e.to_string(),
                })
            }
        }
    }
    Err(last_err.unwrap_or_else(|| StartError::Spawn("no attempt made".into())))
}
