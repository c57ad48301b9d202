//! Entry points for the fuzz targets in `fuzz/`, compiled only under
//! `cargo fuzz` (which sets `--cfg fuzzing`), for the decoders that are not
//! public: what another node sends. The frame decoders, the long-poll body
//! and tokens are fuzzed through their public functions. None may panic,
//! hang or allocate without bound, whatever the input.

/// The `secret_key_base` the token fuzz target signs and verifies with.
pub const SECRET_KEY_BASE: &str =
    "fuzz-secret-key-base-fuzz-secret-key-base-fuzz-secret-key-base-fuzz";

/// A cluster PubSub broadcast from another node (bincode), through to the
/// local broadcast it becomes.
pub fn cluster_broadcast(args: &[u8]) {
    crate::pubsub::cluster::fuzz_cast(args)
}

/// A tracker heartbeat, transfer or goodbye from another node (JSON),
/// decoded and merged into a replica's state.
pub fn tracker_gossip(json: &[u8]) {
    crate::tracker::server::fuzz_gossip(json)
}

/// Real messages of each kind `cluster_broadcast` and `tracker_gossip` read,
/// for the seed corpus (`fuzz/examples/write_seeds.rs`).
pub fn cluster_examples() -> Vec<(&'static str, Vec<u8>)> {
    let casts = crate::pubsub::cluster::cast_examples()
        .into_iter()
        .map(|b| ("cluster_broadcast", b));
    let gossip = crate::tracker::server::gossip_examples()
        .into_iter()
        .map(|g| ("tracker_gossip", g));
    casts.chain(gossip).collect()
}
