//! `admin.*`: the admin dashboard's figures at the console.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use channels::presence::Presence;
use runtime::console::{CommandError, Console};

use crate::web::CART_TRACKER_TOPIC;

/// Registers `admin.carts`.
pub(super) fn register(console: &Console, cart_tracker: &Presence) {
    console.register_with(
        "admin.carts",
        "",
        "every tracked cart on every node that is up: its node(s), tabs and items; totals per node",
        cart_tracker,
        |tracker, _args| async move {
            let carts = tracker
                .list(CART_TRACKER_TOPIC)
                .await
                .map_err(CommandError::failed)?;
            let carts = carts.as_object().cloned().unwrap_or_default();
            if carts.is_empty() {
                return Ok("no carts are open".to_string());
            }
            let mut out = String::new();
            let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
            for (cart_id, entry) in &carts {
                let metas = entry["metas"].as_array().cloned().unwrap_or_default();
                let mut nodes: Vec<String> = metas
                    .iter()
                    .filter_map(|m| m["node"].as_str().map(str::to_string))
                    .collect();
                nodes.sort();
                nodes.dedup();
                for node in &nodes {
                    *per_node.entry(node.clone()).or_default() += 1;
                }
                let items = metas
                    .first()
                    .map(|m| m["items"].to_string())
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "cart {}… on {} ({} tab(s)): items {items}",
                    &cart_id[..cart_id.len().min(8)],
                    nodes.join(", "),
                    metas.len()
                );
            }
            let _ = write!(out, "{} cart(s) open", carts.len());
            for (node, count) in per_node {
                let _ = write!(out, "; {node}: {count}");
            }
            Ok(out)
        },
    );
}
