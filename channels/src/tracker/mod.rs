//! Phoenix.Tracker: presences replicated across the cluster, eventually
//! consistent and conflict-free.
//!
//! - [`clock`]: causal contexts (what a replica has seen of every other).
//! - [`state`]: the replicated set itself — an add-wins observed-remove set
//!   with deltas and full transfers — kept apart from the process that owns
//!   it, as phoenix_pubsub keeps `Tracker.State` apart from its replicas.

pub mod clock;
pub mod state;

pub use clock::{Context, ReplicaId};
pub use state::{Delta, Diff, Dot, Entry, Pid, ReplicaStatus, State, TrackError, Transfer};
