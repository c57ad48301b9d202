//! [`StatusCell`]: a small state (the connection's, a channel's) that the
//! connection task writes and any handle reads without locking, or waits on.
//!
//! A `tokio::sync::watch` would do, but it weighs about 350 bytes (nine
//! `Notify`s); a load generator holds one per connection and one per channel,
//! thousands of times. This is one byte and one `Notify`.

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

/// A state stored as a byte.
pub(super) trait AsByte: Copy {
    fn to_byte(self) -> u8;
    fn from_byte(byte: u8) -> Self;
}

/// A state readers can poll or wait on.
#[derive(Debug)]
pub(super) struct StatusCell {
    value: AtomicU8,
    changed: Notify,
}

impl StatusCell {
    pub fn new<T: AsByte>(value: T) -> StatusCell {
        StatusCell {
            value: AtomicU8::new(value.to_byte()),
            changed: Notify::new(),
        }
    }

    pub fn get<T: AsByte>(&self) -> T {
        T::from_byte(self.value.load(Ordering::Acquire))
    }

    /// Sets the state, waking waiters if it changed.
    pub fn set<T: AsByte>(&self, value: T) {
        if self.value.swap(value.to_byte(), Ordering::AcqRel) != value.to_byte() {
            self.changed.notify_waiters();
        }
    }

    /// Waits until the state satisfies `accept`; the state that did.
    pub async fn wait_for<T: AsByte>(&self, accept: impl Fn(T) -> bool) -> T {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Register before looking, so that no change slips in between.
            changed.as_mut().enable();
            let value = self.get::<T>();
            if accept(value) {
                return value;
            }
            changed.await;
        }
    }
}
