//! Phoenix.Tracker: presences replicated across the cluster, eventually
//! consistent and conflict-free.
//!
//! - [`clock`]: causal contexts (what a replica has seen of every other).
//! - [`state`]: the replicated set itself — an add-wins observed-remove set
//!   with deltas and full transfers — kept apart from the process that owns
//!   it, as phoenix_pubsub keeps `Tracker.State` apart from its replicas.
//! - [`server`]: the process on each node that owns its replica, takes its
//!   tracks, and gossips heartbeats, deltas and transfers over the cluster
//!   PubSub ([`Tracker`] is its handle).

pub mod clock;
pub mod console_commands;
pub mod server;
pub mod state;

pub use clock::{Context, ReplicaId};
pub use server::{
    DiffHandler, NoDiffs, TopicDiff, TrackedProcess, Tracker, TrackerOptions, TrackerStats,
};
pub use state::{Delta, Diff, Dot, Entry, Pid, ReplicaStatus, State, TrackError, Transfer};
