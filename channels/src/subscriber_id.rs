//! The name of one PubSub subscription, in a module of its own because both
//! sides of a subscription use it: PubSub hands ids out, and a connection's
//! outbox carries them in its channel-exit notices. Neither needs the other's
//! module for it.

/// Identifies one subscription, for `unsubscribe` and `broadcast_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriberId(pub(crate) u64);
