//! Helpers shared by the workspace's cross-crate tests (in `tests/tests/`).

/// Polls a condition until it holds or a limit passes (the runtime's test kit).
pub use runtime::testkit::eventually;
