//! Tracker commands for a node's console ([`runtime::console`]):
//!
//! | command | does |
//! |---|---|
//! | `tracker.list TOPIC` | the topic's entries on every node that is up: key, node, meta |
//! | `tracker.stats` | entries, every other replica with its state and when it was last heard, the last delta's size |

use runtime::console::{CommandError, Console};

use super::server::Tracker;

/// Registers `tracker.list` and `tracker.stats` for `tracker`.
pub fn register(console: &Console, tracker: &Tracker) {
    console.register_with(
        "tracker.list",
        "TOPIC",
        "the topic's tracked entries on every node that is up: key, node, meta",
        tracker,
        |tracker, args| async move {
            let topic = args.required(0, "TOPIC")?;
            let mut entries = tracker.list(topic).await.map_err(CommandError::failed)?;
            if entries.is_empty() {
                return Ok(format!("(nothing tracked in {topic})"));
            }
            entries.sort_by(|a, b| (&a.key, &a.pid).cmp(&(&b.key, &b.pid)));
            Ok(entries
                .iter()
                .map(|e| format!("{}  {}  {}", e.key, e.pid.replica.node, e.meta))
                .collect::<Vec<_>>()
                .join("\n"))
        },
    );
    console.register_with(
        "tracker.stats",
        "",
        "entries held, every other replica (up or down, last heard), the last delta's size",
        tracker,
        |tracker, _args| async move {
            let stats = tracker.stats().await.map_err(CommandError::failed)?;
            let mut out = format!(
                "replica {}: {} entries; last delta {} (entries + dots); {} deltas merged; {} transfers requested",
                stats.replica,
                stats.entries,
                stats.last_delta_size,
                stats.deltas_merged,
                stats.transfers_requested
            );
            for (replica, status, silent) in &stats.replicas {
                out.push_str(&format!("\n  {replica} {status}, heard {silent:.1} s ago"));
            }
            Ok(out)
        },
    );
}
