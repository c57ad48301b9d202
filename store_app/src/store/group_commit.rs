//! Group commit: many writers, one flush.
//!
//! Every write to the store is acknowledged only once it is on disk, and
//! making it so costs a sled `flush` plus an `fdatasync` (~0.3 ms here). Done
//! once per write, that caps the store at ~3,000 writes a second however many
//! shoppers wait. Databases get past this by syncing *batches*: a writer that
//! needs its write durable either finds that a sync which started after its
//! write has finished (done), or that none is running (it runs one, covering
//! every write applied so far), or that one is running that may have started
//! before its write (it waits for it, then looks again). While one sync runs,
//! the writes that arrive meanwhile pile up and the next sync covers them all.
//!
//! Writes are numbered in the order they were applied to sled (the number is
//! taken *after* the write), and a sync covers every number taken before it
//! starts, so a write is never acknowledged by a sync that began before it.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

/// The numbered writes of one database and how far they are durable.
#[derive(Default)]
pub struct GroupCommit {
    /// The number of the last write applied to sled.
    written: AtomicU64,
    sync: Mutex<SyncState>,
    /// Signalled whenever a sync ends.
    sync_ended: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Every write numbered up to this is durable.
    durable: u64,
    /// Whether a writer is syncing now.
    running: bool,
    /// Syncs run so far.
    syncs: u64,
}

/// How group commit has gone so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Writes made durable.
    pub writes: u64,
    /// Syncs that made them so (`writes / syncs` is the mean batch).
    pub syncs: u64,
}

impl GroupCommit {
    /// Numbers a write that has just been applied; pass the number to
    /// [`Self::wait_durable`].
    pub fn written(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once write `number` is durable, running `sync` (which makes
    /// every write applied so far durable) when no running sync covers it.
    /// A failed sync fails the writer that ran it; the writers waiting on it
    /// try again themselves (the store's own sync refuses to run again after
    /// a failure, so they fail too: see `store/mod.rs`).
    pub fn wait_durable<E>(&self, number: u64, sync: impl Fn() -> Result<(), E>) -> Result<(), E> {
        let mut state = self.sync.lock();
        loop {
            if state.durable >= number {
                return Ok(());
            }
            if state.running {
                self.sync_ended.wait(&mut state);
                continue;
            }
            state.running = true;
            drop(state);
            // Every write numbered up to here is in sled already.
            let covers = self.written.load(Ordering::SeqCst);
            let result = sync();
            state = self.sync.lock();
            state.running = false;
            if result.is_ok() {
                state.durable = state.durable.max(covers);
                state.syncs += 1;
            }
            self.sync_ended.notify_all();
            result?;
        }
    }

    /// Writes made durable and the syncs it took.
    pub fn stats(&self) -> CommitStats {
        let state = self.sync.lock();
        CommitStats {
            writes: state.durable,
            syncs: state.syncs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_write_is_acknowledged_only_after_a_sync_that_began_after_it() {
        let commit = Arc::new(GroupCommit::default());
        // What the "disk" holds: the highest write number a finished sync saw.
        let on_disk = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (commit, on_disk) = (commit.clone(), on_disk.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let number = commit.written();
                        commit
                            .wait_durable(number, || {
                                let seen = commit.written.load(Ordering::SeqCst);
                                std::thread::sleep(Duration::from_micros(50));
                                on_disk.fetch_max(seen, Ordering::SeqCst);
                                Ok::<(), ()>(())
                            })
                            .unwrap();
                        assert!(on_disk.load(Ordering::SeqCst) >= number);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let stats = commit.stats();
        assert_eq!(stats.writes, 1600);
        assert!(stats.syncs <= 1600);
    }

    #[test]
    fn writers_waiting_on_a_sync_share_it() {
        let commit = Arc::new(GroupCommit::default());
        let (entered, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        // The first writer's sync blocks until every other writer has written.
        let first = commit.written();
        let syncing = {
            let (commit, entered, release) = (commit.clone(), entered.clone(), release.clone());
            std::thread::spawn(move || {
                commit.wait_durable(first, || {
                    entered.store(true, Ordering::SeqCst);
                    while !release.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    Ok::<(), ()>(())
                })
            })
        };
        // Inside the sync: it covers the first write only.
        while !entered.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let number = commit.written();
                let commit = commit.clone();
                std::thread::spawn(move || commit.wait_durable(number, || Ok::<(), ()>(())))
            })
            .collect();
        release.store(true, Ordering::SeqCst);
        syncing.join().unwrap().unwrap();
        for waiter in waiters {
            waiter.join().unwrap().unwrap();
        }
        // One sync for the first write, one for the five that waited on it.
        assert_eq!(
            commit.stats(),
            CommitStats {
                writes: 6,
                syncs: 2
            }
        );
    }

    #[test]
    fn a_failed_sync_fails_its_writer_and_the_next_one_retries() {
        let commit = GroupCommit::default();
        let number = commit.written();
        assert_eq!(
            commit.wait_durable(number, || Err("disk full")),
            Err("disk full")
        );
        assert_eq!(commit.stats().writes, 0);
        commit.wait_durable(number, || Ok::<(), &str>(())).unwrap();
        assert_eq!(
            commit.stats(),
            CommitStats {
                writes: 1,
                syncs: 1
            }
        );
    }
}
