//! Keeps a node's inventory in step when PubSub goes through Redis.
//!
//! Over the cluster mesh a node hears when a peer goes down, and reloads from
//! the store ([`crate::store_watch`]): a peer that wrote a sale and died
//! before announcing it leaves nothing behind. Through Redis there is no
//! mesh and no node-down event, and Redis keeps nothing for a subscriber
//! that was away. So a node on Redis reloads its inventory from the store
//! (which every node reaches directly: PostgreSQL):
//!
//! - each time its subscriber subscribes, at start and again after an
//!   outage (what was broadcast meanwhile never arrives), and
//! - every [`ResyncOptions::interval`], which bounds how long an
//!   unannounced sale stays unseen by the other nodes' pages.
//!
//! A reload is safe at any moment: replicated sales carry the store's
//! figure and only ever lower it (`Inventory::apply_sale`), so one that
//! arrives after a reload that already had it changes nothing, and pages
//! are told only what the reload changed.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sneakers23::Sneakers23;

/// The default time between two periodic reloads.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How often a node on Redis reloads.
#[derive(Debug, Clone, Copy)]
pub struct ResyncOptions {
    /// Time between two periodic reloads.
    pub interval: Duration,
}

impl Default for ResyncOptions {
    fn default() -> Self {
        ResyncOptions {
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// The resync task; stopping (or dropping) it stops the reloads.
pub struct InventoryResync {
    task: JoinHandle<()>,
}

impl InventoryResync {
    /// Reloads `context`'s inventory after each subscription counted by
    /// `subscriptions`, and every `options.interval`.
    pub fn start(
        context: Sneakers23,
        subscriptions: watch::Receiver<u64>,
        options: ResyncOptions,
    ) -> InventoryResync {
        InventoryResync {
            task: tokio::spawn(resync(context, subscriptions, options)),
        }
    }

    /// Stops the reloads.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for InventoryResync {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn resync(
    context: Sneakers23,
    mut subscriptions: watch::Receiver<u64>,
    options: ResyncOptions,
) {
    let mut ticks = tokio::time::interval(options.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate: the start just loaded
                        // A subscription made while the node started counts too: a sale
                        // announced before it was in place is caught by the reload it causes.
    let mut subscriptions_open = true;
    loop {
        let why = tokio::select! {
            _ = ticks.tick() => "periodic",
            changed = subscriptions.changed(), if subscriptions_open => {
                if changed.is_err() {
                    subscriptions_open = false;
                    continue;
                }
                subscriptions.borrow_and_update();
                "subscribed to Redis"
            }
        };
        match context.reload().await {
            Ok(products) if why == "periodic" => {
                tracing::debug!(products, "inventory resynced from the store")
            }
            Ok(products) => {
                tracing::info!(products, why, "inventory reloaded from the store")
            }
            Err(err) => tracing::warn!(%err, why, "inventory resync from the store failed"),
        }
    }
}
