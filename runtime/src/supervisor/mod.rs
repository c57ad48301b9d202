//! Supervisors with OTP's semantics.
//!
//! - [`restart`]: restart policies, shutdown, restart intensity (shared by all).

pub mod restart;

pub use restart::{Intensity, Restart, Shutdown};
