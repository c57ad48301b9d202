//! Bounded polling: "this becomes true soon", said once for every test.
//!
//! A test that waits for something another task or process does (a reload,
//! a replication, a supervisor's restart) polls for it, every 10 ms, and
//! fails naming what it waited for when the bound passes — it never hangs.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] and [`eventually_blocking`] look again.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `check` until it returns `Some`, and returns that; panics naming
/// `what` once `limit` has passed.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
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

/// [`eventually`] for synchronous tests (multi-process tests drive their
/// nodes from plain threads).
pub fn eventually_blocking<T>(
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
    async fn eventually_returns_the_first_value() {
        let polls = AtomicU32::new(0);
        let got = eventually("three polls", Duration::from_secs(5), || async {
            (polls.fetch_add(1, Ordering::Relaxed) == 2).then_some("ready")
        })
        .await;
        assert_eq!(got, "ready");
        assert_eq!(polls.load(Ordering::Relaxed), 3);
    }

    #[test]
    #[should_panic(expected = "waiting for the impossible")]
    fn a_condition_that_never_holds_fails_naming_it() {
        eventually_blocking("the impossible", Duration::from_millis(30), || None::<()>);
    }
}
