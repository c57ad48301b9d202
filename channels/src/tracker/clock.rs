//! Causal contexts: for every replica, the highest event clock seen from it
//! with nothing missing below (Phoenix.Tracker.Clock's operations on them).
//!
//! A replica numbers its own events 1, 2, 3, …; a context `{a: 5, b: 2}`
//! says "every event of `a` up to 5 and of `b` up to 2 is known here".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One incarnation of a tracker replica: its node, and when it started (a
/// node restarted is a new replica, so its old entries are never mistaken
/// for its new ones).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplicaId {
    /// The node's name, `name@host`.
    pub node: String,
    /// When this incarnation started (any number that grows across restarts).
    pub vsn: u64,
}

impl std::fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.node, self.vsn)
    }
}

/// Per replica, the highest contiguous clock known.
pub type Context = BTreeMap<ReplicaId, u64>;

/// The least context that knows everything either knows.
pub fn upperbound(a: &Context, b: &Context) -> Context {
    let mut merged = a.clone();
    for (replica, &clock) in b {
        let entry = merged.entry(replica.clone()).or_insert(clock);
        *entry = (*entry).max(clock);
    }
    merged
}

/// What both contexts know (replicas only one of them has keep its clock).
pub fn lowerbound(a: &Context, b: &Context) -> Context {
    let mut merged = a.clone();
    for (replica, &clock) in b {
        let entry = merged.entry(replica.clone()).or_insert(clock);
        *entry = (*entry).min(clock);
    }
    merged
}

/// Whether `a` knows at least everything `b` knows, for every replica of `b`.
pub fn dominates(a: &Context, b: &Context) -> bool {
    b.iter()
        .all(|(replica, &clock)| a.get(replica).copied().unwrap_or(0) >= clock)
}

/// Whether `a`, for each of its own replicas, is at least as far as `b`:
/// deltas covering `a`'s range and `b`'s can be joined without a gap when
/// `a`'s end dominates `b`'s start this way. Two empty contexts are equal;
/// an empty `a` dominates nothing else.
pub fn dominates_or_equal(a: &Context, b: &Context) -> bool {
    if a.is_empty() {
        return b.is_empty();
    }
    a.iter()
        .all(|(replica, &clock)| clock >= b.get(replica).copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(node: &str) -> ReplicaId {
        ReplicaId {
            node: node.into(),
            vsn: 1,
        }
    }

    fn ctx(pairs: &[(&str, u64)]) -> Context {
        pairs.iter().map(|(n, c)| (replica(n), *c)).collect()
    }

    #[test]
    fn bounds_take_the_max_and_the_min_per_replica() {
        let a = ctx(&[("a", 3), ("b", 1)]);
        let b = ctx(&[("b", 4), ("c", 2)]);
        assert_eq!(upperbound(&a, &b), ctx(&[("a", 3), ("b", 4), ("c", 2)]));
        assert_eq!(lowerbound(&a, &b), ctx(&[("a", 3), ("b", 1), ("c", 2)]));
    }

    #[test]
    fn domination_is_per_replica() {
        let a = ctx(&[("a", 3), ("b", 1)]);
        assert!(dominates(&a, &ctx(&[("a", 2)])));
        assert!(dominates(&a, &a));
        assert!(!dominates(&a, &ctx(&[("b", 2)])));
        assert!(!dominates(&a, &ctx(&[("c", 1)])));
        assert!(dominates_or_equal(&ctx(&[]), &ctx(&[])));
        assert!(!dominates_or_equal(&ctx(&[]), &a));
        assert!(dominates_or_equal(
            &ctx(&[("a", 3)]),
            &ctx(&[("a", 3), ("b", 9)])
        ));
        assert!(!dominates_or_equal(&ctx(&[("a", 2)]), &ctx(&[("a", 3)])));
    }
}
