//! What the load generators share (`loadgen`'s modes and `store_bench`):
//! nearest-rank percentiles, the wall clock that stamps broadcasts across
//! processes, the compact decoder of the frames the throughput modes read, and
//! the frame of a benchmark's `main` (its runtime, its JSON summary lines).

pub mod report;
pub mod stats;
