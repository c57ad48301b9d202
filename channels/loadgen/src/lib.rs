//! What the load generators share: nearest-rank percentiles, the wall clock
//! that stamps broadcasts across processes, and the compact decoder of the
//! frames the throughput modes read (`loadgen`'s modes and `store_bench`).

pub mod stats;
