//! The first failure of a run, for its summary: every mode counts failures
//! by kind, prints the first one as it happens, and reports it at the end
//! (the one that usually explains the rest).

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// The first failure recorded, if any.
#[derive(Default)]
pub struct FirstError(Mutex<Option<String>>);

impl FirstError {
    /// Counts a failure in `counter`; the first one is printed and kept.
    pub fn record(&self, counter: &AtomicUsize, err: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut first = self.0.lock();
        if first.is_none() {
            eprintln!("loadgen: first failure: {err}");
            *first = Some(err);
        }
    }

    /// The first failure, for the summary.
    pub fn get(&self) -> Option<String> {
        self.0.lock().clone()
    }
}
