//! The console's built-in node commands.
//!
//! | command | does |
//! |---|---|
//! | `node.self` | this node's name (Erlang's `node()`) |
//! | `node.list` | the connected nodes (`nodes()`), one a line |
//! | `node.connect NODE` | connects, by name (local name directory) or `name@host:port` |
//! | `node.disconnect NODE` | disconnects (`disconnect_node/1`) |
//! | `node.names` | the nodes registered on this host (`epmd -names`) |
//! | `node.stop` | stops this node cleanly (what `bin/app stop` sends) |
//! | `processes` | the supervision tree with queue lengths, restarts, uptime |
//!
//! `NODE` parameters complete from the connected nodes and the local name
//! directory.

use std::sync::Arc;

use super::registry::{CommandError, Console};
use crate::introspect;
use crate::node::{Node, NodeName};

/// What `node.list` prints when no node is connected.
pub const NO_NODES: &str = "(no connected nodes)";

/// Registers `processes` (needs no node).
pub fn register_processes(console: &Console) {
    console.register(
        "processes",
        "",
        "the supervision tree: every process with its queue length, restarts and uptime",
        |_| async { Ok(introspect::render(&introspect::processes())) },
    );
}

/// Registers the `node.*` commands and `processes` for `node`.
pub fn register_node(console: &Console, node: &Node) {
    register_processes(console);
    let n = node.clone();
    console.register("node.self", "", "this node's name", move |_| {
        let name = n.self_name().to_string();
        async move { Ok(name) }
    });
    let n = node.clone();
    console.register("node.list", "", "the connected nodes", move |_| {
        let nodes = n.list();
        async move {
            if nodes.is_empty() {
                return Ok(NO_NODES.to_string());
            }
            Ok(nodes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"))
        }
    });
    console.register_with(
        "node.connect",
        "NODE",
        "connects to a node: name@host (found in this host's name directory) or name@host:port",
        node,
        |n, args| async move {
            let target = args.required(0, "NODE")?.to_string();
            match n.connect(&target).await {
                Ok(node) => Ok(format!("connected to {node}")),
                Err(e) => Err(CommandError::failed(e)),
            }
        },
    );
    console.register_with(
        "node.disconnect",
        "NODE",
        "disconnects from a node",
        node,
        |n, args| async move {
            let target: NodeName = args.parse(0, "NODE")?;
            n.disconnect(&target).map_err(CommandError::failed)?;
            Ok(format!("disconnected from {target}"))
        },
    );
    console.register_with(
        "node.names",
        "",
        "the nodes registered in this host's name directory, with their ports",
        node,
        |n, _| async move {
            let dir = n
                .directory()
                .ok_or_else(|| CommandError::failed("this node has no name directory"))?;
            let entries = dir.entries().map_err(CommandError::failed)?;
            Ok(entries
                .iter()
                .map(|(name, e)| format!("{name} port {} pid {}", e.port, e.pid))
                .collect::<Vec<_>>()
                .join("\n"))
        },
    );
    let n = node.clone();
    let shutdown = console.shutdown_requests();
    console.register(
        "node.stop",
        "",
        "stops this node cleanly: its applications, then the node",
        move |_| {
            let name = n.self_name().to_string();
            shutdown.request();
            async move { Ok(format!("stopping {name}")) }
        },
    );
    let n = node.clone();
    console.complete_param("NODE", Arc::new(move || node_names(&n)));
}

/// Connected nodes and the other nodes of the name directory.
pub fn node_names(node: &Node) -> Vec<String> {
    let me = node.self_name();
    let mut names: Vec<String> = node.list().iter().map(ToString::to_string).collect();
    if let Some(dir) = node.directory() {
        if let Ok(entries) = dir.entries() {
            names.extend(
                entries
                    .into_iter()
                    .filter(|(name, _)| name != me)
                    .map(|(name, _)| name.to_string()),
            );
        }
    }
    names.sort();
    names.dedup();
    names
}
