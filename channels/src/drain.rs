//! Draining: how an endpoint closes its sockets when the node stops.
//!
//! Phoenix 1.7's socket drainer, as observed on the wire (see
//! `shared/protocol/phoenix-wire.md`, "Shutdown"): the node stops accepting
//! connections, then closes the open sockets in batches, each WebSocket with
//! close code 1012 ("service restart") and **no `phx_close`** for its
//! channels. phoenix.js reads that as an unclean close: it reconnects with its
//! back-off and rejoins every channel, on this node once it is back or on
//! another behind the same address. A `phx_close` would end each channel on
//! the client for good.
//!
//! Batches spread the reconnect storm: with thousands of sockets, closing all
//! at once would have every client reconnect to the other nodes at the same
//! moment. A second stop request, or the overall deadline, closes whatever is
//! left at once. Long-poll sessions are drained the same way: their pending
//! poll is answered "session gone", which makes phoenix.js reconnect and rejoin.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::connections::{Connections, OpenConnection};
use crate::metrics::Metrics;
use crate::outbox::CloseReason;

/// The drained-sockets counter, tagged `socket:`.
pub const SOCKETS_DRAINED: &str = "sockets_drained";

/// How long closed connections get to send their close frames after the last
/// batch (or after a second stop request), when the deadline is nearer.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How an endpoint drains its sockets (Phoenix's `drainer:` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainConfig {
    /// Sockets closed per batch (Phoenix: 10,000).
    pub batch_size: usize,
    /// Time between two batches (Phoenix: 2 s).
    pub batch_interval: Duration,
    /// The whole drain's bound: what is still open then is closed at once
    /// (Phoenix's drainer `shutdown`: 30 s).
    pub deadline: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            batch_size: 10_000,
            batch_interval: Duration::from_secs(2),
            deadline: Duration::from_secs(30),
        }
    }
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Sockets open when the drain started.
    pub sockets: usize,
    /// Batches closed at their own pace.
    pub batches: usize,
    /// Sockets closed at once because of a second stop request or the deadline.
    pub closed_early: usize,
    /// Connections that had not finished closing when the drain gave up on them.
    pub left_open: usize,
}

/// Drains `connections`: refuses new ones, closes the open ones in batches,
/// and waits for them to finish closing. `hurry` resolving (a second stop
/// request) closes the rest at once.
pub(crate) async fn drain(
    connections: &Connections,
    config: &DrainConfig,
    metrics: &Metrics,
    hurry: impl Future<Output = ()>,
) -> DrainReport {
    let deadline = Instant::now() + config.deadline;
    let open = connections.start_drain();
    let mut report = DrainReport {
        sockets: open.len(),
        ..Default::default()
    };
    let batch_size = config.batch_size.max(1);
    let rounds = open.len().div_ceil(batch_size);
    if rounds > 0 {
        tracing::info!(
            "draining {} socket(s) in {rounds} batch(es) of up to {batch_size}, {:?} apart",
            open.len(),
            config.batch_interval
        );
    }
    tokio::pin!(hurry);
    let mut batches = open.chunks(batch_size);
    while let Some(batch) = batches.next() {
        close(batch, metrics);
        report.batches += 1;
        if report.batches == rounds {
            break;
        }
        let rest = || batches.clone().flatten().count();
        tokio::select! {
            () = tokio::time::sleep(config.batch_interval) => continue,
            () = &mut hurry => tracing::info!("stop requested again: closing the {} remaining socket(s) now", rest()),
            () = tokio::time::sleep_until(deadline) => tracing::warn!(
                "drain deadline of {:?} reached: closing the {} remaining socket(s) now",
                config.deadline,
                rest()
            ),
        }
        let remaining: Vec<&OpenConnection> = batches.by_ref().flatten().collect();
        report.closed_early = remaining.len();
        for connection in remaining {
            close_one(connection, metrics);
        }
        break;
    }
    // The connections send their close frames and stop their channels.
    let wait_until = deadline.max(Instant::now() + CLOSE_GRACE);
    if tokio::time::timeout_at(wait_until, connections.all_closed())
        .await
        .is_err()
    {
        report.left_open = connections.count();
        tracing::warn!(
            "{} connection(s) did not finish closing in time",
            report.left_open
        );
    }
    report
}

fn close(batch: &[OpenConnection], metrics: &Metrics) {
    for connection in batch {
        close_one(connection, metrics);
    }
}

fn close_one(connection: &OpenConnection, metrics: &Metrics) {
    connection.outbox.close(CloseReason::Restart);
    metrics.increment(SOCKETS_DRAINED, &[("socket", connection.socket)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Batch, Outbox};
    use std::sync::Arc;

    /// A fake connection: registered, and gone once its outbox is closed.
    fn connection(connections: &Arc<Connections>) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::new(100));
        let registration = connections.register(&outbox, "UserSocket").unwrap();
        let closing = outbox.clone();
        tokio::spawn(async move {
            while !matches!(closing.next_batch().await, Batch::Close(_)) {}
            drop(registration);
        });
        outbox
    }

    #[tokio::test(start_paused = true)]
    async fn sockets_are_closed_in_batches_with_the_restart_code() {
        let connections = Arc::new(Connections::default());
        let outboxes: Vec<_> = (0..5).map(|_| connection(&connections)).collect();
        let metrics = Metrics::local();
        let config = DrainConfig {
            batch_size: 2,
            batch_interval: Duration::from_secs(1),
            deadline: Duration::from_secs(30),
        };
        let drain = tokio::spawn({
            let connections = connections.clone();
            let metrics = metrics.clone();
            async move { drain(&connections, &config, &metrics, std::future::pending()).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let closed = |outboxes: &[Arc<Outbox>]| outboxes.iter().filter(|o| o.is_closing()).count();
        assert_eq!(closed(&outboxes), 2, "the first batch");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(closed(&outboxes), 4, "the second batch, a second later");
        let report = drain.await.unwrap();
        assert_eq!(closed(&outboxes), 5);
        assert_eq!(
            report,
            DrainReport {
                sockets: 5,
                batches: 3,
                closed_early: 0,
                left_open: 0
            }
        );
        assert_eq!(
            metrics.counter(SOCKETS_DRAINED, &[("socket", "UserSocket")]),
            5
        );
        let mut reasons = Vec::new();
        for outbox in &outboxes {
            if let Batch::Close(reason) = outbox.next_batch().await {
                reasons.push(reason);
            }
        }
        assert!(reasons
            .iter()
            .all(|r| *r == CloseReason::Restart && r.code() == 1012));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_stop_request_closes_the_rest_at_once() {
        let connections = Arc::new(Connections::default());
        let outboxes: Vec<_> = (0..5).map(|_| connection(&connections)).collect();
        let config = DrainConfig {
            batch_size: 1,
            batch_interval: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
        };
        let hurry = tokio::time::sleep(Duration::from_secs(1));
        let report = drain(&connections, &config, &Metrics::local(), hurry).await;
        assert_eq!(report.batches, 1);
        assert_eq!(report.closed_early, 4);
        assert!(outboxes.iter().all(|o| o.is_closing()));
        assert_eq!(connections.count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_closes_the_rest_at_once() {
        let connections = Arc::new(Connections::default());
        let _outboxes: Vec<_> = (0..3).map(|_| connection(&connections)).collect();
        let config = DrainConfig {
            batch_size: 1,
            batch_interval: Duration::from_secs(10),
            deadline: Duration::from_secs(5),
        };
        let started = Instant::now();
        let report = drain(
            &connections,
            &config,
            &Metrics::local(),
            std::future::pending(),
        )
        .await;
        assert_eq!(report.closed_early, 2);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn nothing_to_drain_returns_at_once() {
        let connections = Connections::default();
        let report = drain(
            &connections,
            &DrainConfig::default(),
            &Metrics::local(),
            std::future::pending(),
        )
        .await;
        assert_eq!(report, DrainReport::default());
        assert!(connections.is_draining());
    }
}
