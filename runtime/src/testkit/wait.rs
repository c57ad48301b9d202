//! Bounded polling: "this becomes true soon", said once for every test.
//!
//! A test that waits for something another task or process does (a restart,
//! an exit handled, a reload, a replication) polls for it and never sleeps a
//! fixed time: it goes on as soon as the state is there, and fails — never
//! hangs — once the bound passes.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often the polls look again.
pub const POLL: Duration = Duration::from_millis(5);

/// Polls `check` until it holds or `limit` passes; returns whether it held
/// (for `assert!(eventually(…).await, "what did not happen")`).
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls the async `check` until it yields a value, and returns it; panics
/// naming `what` once `limit` has passed.
pub async fn poll_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`poll_for`] for synchronous tests (multi-process tests drive their nodes
/// from plain threads).
pub fn poll_for_blocking<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn poll_for_returns_the_first_value() {
        let polls = AtomicU32::new(0);
        let got = poll_for("three polls", Duration::from_secs(5), || async {
            (polls.fetch_add(1, Ordering::Relaxed) == 2).then_some("ready")
        })
        .await;
        assert_eq!(got, "ready");
        assert_eq!(polls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn eventually_says_whether_the_condition_came() {
        assert!(eventually(Duration::from_secs(5), || true).await);
        assert!(!eventually(Duration::from_millis(20), || false).await);
    }

    #[test]
    #[should_panic(expected = "waiting for the impossible")]
    fn a_condition_that_never_holds_fails_naming_it() {
        poll_for_blocking("the impossible", Duration::from_millis(30), || None::<()>);
    }
}
