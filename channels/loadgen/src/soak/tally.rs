//! What every subscriber of a soak run adds to: per broadcast, how many
//! subscribers got it, its send time and the latest receipt. Lock-free
//! (atomics), since thousands of subscriber tasks update it once per delivery
//! each, and small: three numbers per broadcast, however many subscribers.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Per-broadcast counts and times, indexed by the broadcast's `i`.
pub struct Tally {
    delivered: Vec<AtomicU32>,
    sent_ns: Vec<AtomicU64>,
    last_receipt_ns: Vec<AtomicU64>,
    total: AtomicU64,
}

/// A [`Tally`] read out at the end of the run.
pub struct TallySnapshot {
    /// Subscribers that got broadcast `i`.
    pub delivered: Vec<u32>,
    /// Broadcast `i`'s send time (its payload's `t`), 0 if nobody got it.
    pub sent_ns: Vec<u64>,
    /// The last receipt of broadcast `i` by any subscriber, 0 if none.
    pub last_receipt_ns: Vec<u64>,
}

impl Tally {
    /// A tally for broadcasts `0..broadcasts`.
    pub fn new(broadcasts: usize) -> Self {
        Tally {
            delivered: (0..broadcasts).map(|_| AtomicU32::new(0)).collect(),
            sent_ns: (0..broadcasts).map(|_| AtomicU64::new(0)).collect(),
            last_receipt_ns: (0..broadcasts).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
        }
    }

    /// Records one delivery of broadcast `index`, sent at `sent_ns` and read
    /// at `at_ns`. An index past the expected broadcasts is not counted.
    pub fn record(&self, index: usize, sent_ns: u64, at_ns: u64) -> bool {
        let Some(delivered) = self.delivered.get(index) else {
            return false;
        };
        delivered.fetch_add(1, Ordering::Relaxed);
        self.sent_ns[index].store(sent_ns, Ordering::Relaxed);
        self.last_receipt_ns[index].fetch_max(at_ns, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Deliveries recorded so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether the last expected broadcast has reached anyone yet.
    pub fn reached_last(&self) -> bool {
        self.delivered
            .last()
            .is_some_and(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// The counts and times, read once the subscribers stopped.
    pub fn snapshot(&self) -> TallySnapshot {
        let read32 = |v: &[AtomicU32]| v.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        let read64 = |v: &[AtomicU64]| v.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        TallySnapshot {
            delivered: read32(&self.delivered),
            sent_ns: read64(&self.sent_ns),
            last_receipt_ns: read64(&self.last_receipt_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_counts_and_the_latest_receipt() {
        let tally = Tally::new(2);
        assert!(!tally.reached_last());
        assert!(tally.record(0, 100, 150));
        assert!(tally.record(0, 100, 130));
        assert!(!tally.reached_last());
        assert!(tally.record(1, 200, 210));
        assert!(tally.reached_last());
        assert!(!tally.record(2, 300, 310), "beyond the expected broadcasts");
        let snapshot = tally.snapshot();
        assert_eq!(snapshot.delivered, vec![2, 1]);
        assert_eq!(snapshot.sent_ns, vec![100, 200]);
        assert_eq!(snapshot.last_receipt_ns, vec![150, 210]);
        assert_eq!(tally.total(), 3);
    }
}
