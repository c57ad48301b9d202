//! Distributed nodes, Erlang style, on ractor_cluster.
//!
//! ```no_run
//! # async fn demo(db: runtime::ractor::ActorCell) -> Result<(), Box<dyn std::error::Error>> {
//! use runtime::node::{Node, NodeOptions};
//! let node = Node::start(NodeOptions::new("app@127.0.0.1".parse()?)).await?;
//! let mut events = node.subscribe();                 // nodeup / nodedown
//! node.connect("back@127.0.0.1").await?;             // port from the local name directory
//! node.connect("store@10.0.0.7:9101").await?;        // or given
//! println!("{} sees {:?}", node.self_name(), node.list());
//! node.register_service("db", db)?;                 // cluster-wide name
//! let owner = node.whereis_service("db").map(|s| s.node);
//! # Ok(()) }
//! ```
//!
//! # What ractor_cluster gives, and what this module adds
//!
//! ractor_cluster provides the transport: a `NodeServer` that listens and owns
//! one `NodeSession` per peer connection, a cookie challenge/response
//! handshake, transitive connections (in `Transitive` mode), proxies
//! (`RemoteActor`s) for every remote-capable actor of every peer, and process
//! groups kept in sync across nodes. On top of it this module adds:
//!
//! | file | why it exists |
//! |---|---|
//! | [`name`] | Erlang-style `name@host[:port]` names, validated (they become file names and addresses) |
//! | [`cookie`] | which cookie: explicit > `RELEASE_COOKIE`/`NODE_COOKIE` > a `0600` cookie file created on first start; looser permissions are refused |
//! | [`directory`] | EPMD without a daemon: a private directory of `name → port` files, so `connect("back@127.0.0.1")` needs no port; stale entries of killed nodes are detected |
//! | [`handle`] | [`Node`]: start (Transitive mode — `NodeServer::new(.., None)` would be Isolated), `connect` with a timeout and a precise error, `disconnect`, `list`, `self_name`, `stop` |
//! | `peers` (internal) | the peer table, fed by ractor_cluster's session events: nodeup when a session is ready, nodedown when it closes; follows session elections without flapping; recognises a refused cookie, which ractor_cluster only shows as a closed connection |
//! | [`events`] | [`NodeEvent`]s on a broadcast channel: `Up`, `Down { reason }`, `BadCookie` |
//! | [`monitor`] | heartbeats: ractor_cluster does not notice a *hung* peer (a SIGSTOPped node stayed connected, in every process group, for 15 s+); each node's monitor ticks every peer and declares a silent one down after a timeout (Erlang's `net_ticktime`), closing its sessions so ractor_cluster cleans up what it owned |
//! | [`services`] | a cluster-wide service directory (`register_service` / `whereis_service`): names replicated by the monitors, cleaned up at nodedown |
//! | [`wire`] | bincode 2 encoding for messages that cross nodes |
//!
//! # Decisions
//!
//! - **One remote-capable actor per node.** ractor_cluster builds a proxy actor
//!   (~11 KB, measured) on every peer for every remote-capable actor, and
//!   announces each one to every peer. So per-connection and per-channel
//!   processes are never remote-capable; the node monitor is one such actor,
//!   the cluster PubSub server (`channels::pubsub::cluster`) another, and the
//!   store server on the node that owns the database a third; everything else
//!   that must cross nodes goes through them. The service directory replicates *names*
//!   through the monitor instead of making each service remote-capable.
//! - **Liveness has two sources.** A closed connection (a killed peer) is
//!   reported by ractor_cluster at once; silence (a hung peer) by the heartbeat,
//!   within `timeout + interval` (defaults 12 s + 2 s: under 15 s). Either way the
//!   peer's sessions are closed, so its proxies and pg memberships disappear.
//! - **No spurious nodedown.** When two nodes connect to each other at once,
//!   ractor_cluster keeps one connection and closes the other; one side can see
//!   its connection close a moment before the surviving one is authenticated.
//!   A peer whose connection closes while another handshake is in flight is
//!   therefore held for up to 1 s before nodedown (a spurious nodedown could
//!   start a failover). Conversely, a handshake that was already in flight when
//!   a peer was declared down (disconnected, or dropped by the heartbeat) is
//!   closed if it completes: an old connection attempt does not undo a nodedown.
//! - **Errors say what happened.** A wrong cookie is `ConnectError::BadCookie`
//!   on the connecting side and a `NodeEvent::BadCookie` plus a warning on the
//!   accepting side; an unknown name says to give a port.
//! - **One node per OS process.** ractor's registry and process groups are
//!   process-wide, so a cluster inside one process is misleading; the tests use
//!   real processes (`src/bin/cluster_test_node.rs`).
//!
//! # Limitations
//!
//! - No TLS (ractor_cluster supports it; not wired up yet) and no IPv6 literals
//!   in names.
//! - A handshake cut by a network failure after the names were exchanged is
//!   reported as a wrong cookie (ractor_cluster gives no reason).
//! - A peer must run this module's monitor, or it is dropped after the
//!   heartbeat timeout.
//! - The name directory knows only this host's nodes; others need a port.

pub mod cookie;
pub mod directory;
pub mod events;
pub mod handle;
pub mod monitor;
pub mod name;
pub(crate) mod peers;
pub mod services;
pub mod wire;

#[cfg(test)]
pub(crate) mod testutil;

pub use cookie::{Cookie, CookieError, CookieSource};
pub use directory::{DirectoryError, NameDirectory};
pub use events::{DownReason, NodeEvent};
pub use handle::{ConnectError, DirectoryOption, Node, NodeOptions, NotConnected, StartError};
pub use monitor::HeartbeatConfig;
pub use name::{NameError, NodeAddress, NodeName};
pub use services::{Service, ServiceError};
