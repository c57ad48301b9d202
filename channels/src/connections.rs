//! The endpoint's open socket connections, so that a shutdown can drain them.
//!
//! Every WebSocket connection and every long-poll session registers its
//! outbox here for its life; closing an outbox is how anyone ends a
//! connection (the transport sees the close, sends the close frame, stops its
//! channels). The drain (`drain.rs`) walks this table. Once a drain has
//! started, registering is refused, so a connection that was still in its
//! handshake when the drain took its list cannot slip past it.
//!
//! An entry is the outbox (weak: the table never keeps a connection alive)
//! and the socket's name for the drained-sockets metric.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::outbox::Outbox;

#[derive(Default)]
struct Table {
    next_id: u64,
    open: BTreeMap<u64, (Weak<Outbox>, &'static str)>,
    draining: bool,
}

/// The open connections of one endpoint.
#[derive(Default)]
pub struct Connections {
    table: Mutex<Table>,
    /// Notified whenever a connection leaves the table.
    left: Notify,
}

/// A connection's place in [`Connections`]; dropping it takes it out.
pub struct Registration {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.table.lock().open.remove(&self.id);
        self.connections.left.notify_waiters();
    }
}

/// An open connection, as the drain sees it.
pub(crate) struct OpenConnection {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) socket: &'static str,
}

impl Connections {
    /// Adds a connection of socket `socket` whose outbox is `outbox`; `None`
    /// once the endpoint drains (the caller closes the connection at once).
    pub fn register(
        self: &Arc<Self>,
        outbox: &Arc<Outbox>,
        socket: &'static str,
    ) -> Option<Registration> {
        let mut table = self.table.lock();
        if table.draining {
            return None;
        }
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(id, (Arc::downgrade(outbox), socket));
        Some(Registration {
            connections: self.clone(),
            id,
        })
    }

    /// Connections open now.
    pub fn count(&self) -> usize {
        self.table.lock().open.len()
    }

    /// Whether a drain has started: new connections are refused.
    pub fn is_draining(&self) -> bool {
        self.table.lock().draining
    }

    /// Refuses new connections from now on and returns the open ones, oldest
    /// first.
    pub(crate) fn start_drain(&self) -> Vec<OpenConnection> {
        let mut table = self.table.lock();
        table.draining = true;
        table
            .open
            .values()
            .filter_map(|(outbox, socket)| {
                Some(OpenConnection {
                    outbox: outbox.upgrade()?,
                    socket,
                })
            })
            .collect()
    }

    /// Resolves once no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            // Registered before the check, so a leave in between is not missed.
            let left = self.left.notified();
            if self.count() == 0 {
                return;
            }
            left.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_drain_lists_the_open_connections_and_refuses_new_ones() {
        let connections = Arc::new(Connections::default());
        let first = Arc::new(Outbox::new(100));
        let second = Arc::new(Outbox::new(100));
        let kept = connections.register(&first, "UserSocket").unwrap();
        let gone = connections.register(&second, "UserSocket").unwrap();
        drop(gone);
        assert_eq!(connections.count(), 1);

        let open = connections.start_drain();
        assert_eq!(open.len(), 1);
        assert!(Arc::ptr_eq(&open[0].outbox, &first));
        assert!(connections.is_draining());
        assert!(connections
            .register(&Arc::new(Outbox::new(100)), "UserSocket")
            .is_none());

        let waiting = tokio::spawn({
            let connections = connections.clone();
            async move { connections.all_closed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(kept);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("all_closed resolves once the last connection leaves")
            .unwrap();
    }
}
