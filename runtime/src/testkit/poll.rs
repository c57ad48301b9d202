//! Bounded polls for in-process tests: wait for a state that arrives
//! asynchronously (a restart, an exit handled) without sleeping a fixed time.

use std::future::Future;
use std::time::Duration;

/// How often a poll looks again.
const EVERY: Duration = Duration::from_millis(5);

/// Polls `check` until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Polls the async `check` until it yields a value, and returns it; panics
/// naming `what` once `limit` passes.
pub async fn poll_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(EVERY).await;
    }
}
