//! How a node's PubSub reaches the other nodes, chosen at start
//! (`--pubsub cluster|redis://…`), shared by every app binary.
//!
//! [`PubSubArgs`] are the command-line flags, [`PubSubAdapter`] what they
//! choose, and [`PubSubLink`] the running connection a node keeps until it
//! stops: the cluster mesh for named nodes (the default, as Phoenix.PubSub's
//! PG2 adapter), or Redis pub/sub for nodes that cannot mesh
//! (Phoenix.PubSub.Redis). An unnamed server on the cluster adapter is alone
//! and needs no link.

use clap::Args;
use runtime::console::Console;
use runtime::node::Node;
use runtime::server::StartError;

use super::cluster::{join_cluster, ClusterLink, GROUP};
use super::redis::{join_redis, BadRedisUrl, RedisLink, RedisStatus, DEFAULT_CHANNEL};
use super::PubSub;

/// `--pubsub` and `--pubsub-channel`.
#[derive(Args, Debug, Clone)]
pub struct PubSubArgs {
    /// How broadcasts reach the other nodes: `cluster` (the mesh of named
    /// nodes) or `redis://[user:password@]host[:port][/db]` (any node, no mesh).
    #[arg(
        long = "pubsub",
        env = "PUBSUB",
        default_value = "cluster",
        value_name = "cluster|redis://…",
        global = true
    )]
    pub adapter: String,
    /// The Redis channel of `--pubsub redis://…` (one per application).
    #[arg(long, env = "PUBSUB_CHANNEL", default_value = DEFAULT_CHANNEL, global = true)]
    pub pubsub_channel: String,
}

impl PubSubArgs {
    /// The adapter the flags name, or why the value is not one.
    pub fn adapter(&self) -> Result<PubSubAdapter, String> {
        match self.adapter.as_str() {
            "cluster" => Ok(PubSubAdapter::Cluster),
            url if url.starts_with("redis://") => Ok(PubSubAdapter::Redis {
                url: url.to_string(),
                channel: self.pubsub_channel.clone(),
            }),
            other => Err(format!(
                "--pubsub must be `cluster` or a redis:// URL, not {:?}",
                runtime::log_text::url_without_credentials(other)
            )),
        }
    }
}

/// How a node's PubSub reaches the other nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PubSubAdapter {
    /// The cluster mesh (named nodes; an unnamed server is alone).
    #[default]
    Cluster,
    /// Through the Redis at `url`, on `channel` (Phoenix.PubSub.Redis).
    Redis {
        /// `redis://[user:password@]host[:port][/db]`.
        url: String,
        /// The Redis channel every node of the application uses.
        channel: String,
    },
}

/// Why a node's PubSub could not be linked to the others.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The cluster's PubSub process did not start.
    #[error("cannot join the cluster's PubSub: {0}")]
    Cluster(#[from] StartError),
    /// The Redis URL is not one.
    #[error(transparent)]
    Redis(#[from] BadRedisUrl),
}

/// What connects a node's PubSub to the others, kept until the node stops.
pub enum PubSubLink {
    /// Over the cluster mesh.
    Cluster(ClusterLink),
    /// Through Redis.
    Redis(RedisLink),
}

impl PubSubLink {
    /// Connects `pubsub` as `adapter` says: a named `node` joins the
    /// cluster's PubSub group; through Redis any node takes part, under its
    /// node name or, unnamed, a unique `<app>-<random>@<host>` (Redis tells
    /// nodes apart by name, as Phoenix.PubSub.Redis's `node_name`). `None`
    /// for an unnamed server on the cluster adapter, which is alone.
    pub async fn connect(
        pubsub: &PubSub,
        adapter: &PubSubAdapter,
        node: Option<&Node>,
        app: &str,
    ) -> Result<Option<PubSubLink>, LinkError> {
        Ok(match (adapter, node) {
            (PubSubAdapter::Redis { url, channel }, node) => {
                let name = match node {
                    Some(node) => node.self_name().to_string(),
                    None => unnamed_node_name(app),
                };
                Some(PubSubLink::Redis(join_redis(pubsub, url, channel, &name)?))
            }
            (PubSubAdapter::Cluster, Some(node)) => {
                Some(PubSubLink::Cluster(join_cluster(pubsub, node).await?))
            }
            (PubSubAdapter::Cluster, None) => None,
        })
    }

    /// The Redis link's state, when PubSub goes through Redis.
    pub fn redis_status(&self) -> Option<RedisStatus> {
        match self {
            PubSubLink::Redis(redis) => Some(redis.status()),
            PubSubLink::Cluster(_) => None,
        }
    }

    /// Through Redis, the subscriber's subscriptions (see
    /// [`RedisLink::subscriptions`]); over the mesh, `None`: a node hears of
    /// its peers' going and coming from the node itself.
    pub fn redis_subscriptions(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match self {
            PubSubLink::Redis(redis) => Some(redis.subscriptions()),
            PubSubLink::Cluster(_) => None,
        }
    }

    /// Registers `pubsub.status` on `console`: which adapter, and through
    /// Redis whether both connections are up and what went through them.
    pub fn register_console(&self, console: &Console) {
        let redis = match self {
            PubSubLink::Redis(redis) => Some(redis.monitor()),
            PubSubLink::Cluster(_) => None,
        };
        console.register_with(
            "pubsub.status",
            "",
            "how this node's PubSub reaches the others, and whether it does now",
            &redis,
            |redis, _| async move {
                Ok(match redis {
                    Some(redis) => redis.status().to_string(),
                    None => format!(
                        "PubSub over the cluster mesh (process group {GROUP}); \
                         `node.list` shows the peers it reaches"
                    ),
                })
            },
        );
    }

    /// Leaves the cluster group, or closes the Redis connections.
    pub async fn stop(self) {
        match self {
            PubSubLink::Cluster(cluster) => cluster.stop().await,
            PubSubLink::Redis(redis) => redis.stop().await,
        }
    }
}

/// A name for an unnamed server on Redis PubSub: `<app>-<random>@<host>`.
fn unnamed_node_name(app: &str) -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "nohost".into());
    format!("{app}-{:08x}@{host}", u32::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        pubsub: PubSubArgs,
    }

    fn adapter(args: &[&str]) -> Result<PubSubAdapter, String> {
        Cli::try_parse_from(std::iter::once("app").chain(args.iter().copied()))
            .map_err(|err| err.to_string())?
            .pubsub
            .adapter()
    }

    #[test]
    fn the_cluster_mesh_is_the_default() {
        assert_eq!(adapter(&[]), Ok(PubSubAdapter::Cluster));
    }

    #[test]
    fn a_redis_url_chooses_redis_on_the_default_channel() {
        assert_eq!(
            adapter(&["--pubsub", "redis://127.0.0.1:6379/2"]),
            Ok(PubSubAdapter::Redis {
                url: "redis://127.0.0.1:6379/2".into(),
                channel: DEFAULT_CHANNEL.into()
            })
        );
        assert_eq!(
            adapter(&["--pubsub", "redis://r", "--pubsub-channel", "shop"]),
            Ok(PubSubAdapter::Redis {
                url: "redis://r".into(),
                channel: "shop".into()
            })
        );
    }

    #[test]
    fn anything_else_is_refused_without_showing_a_password() {
        let err = adapter(&["--pubsub", "postgres://u:secret@db/x"]).unwrap_err();
        assert!(err.contains("must be `cluster` or a redis:// URL"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn an_unnamed_server_gets_a_unique_name_under_its_app() {
        let (a, b) = (unnamed_node_name("shop"), unnamed_node_name("shop"));
        assert!(a.starts_with("shop-") && a.contains('@'), "{a}");
        assert_ne!(a, b);
    }
}
