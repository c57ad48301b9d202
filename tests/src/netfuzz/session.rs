//! What every attack session shares: its number and seed (printed with
//! anything unexpected, so that it can be replayed), the run's frame budget
//! it draws from, and the choice of socket, connect params and serializer
//! version it attacks through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastrand::Rng;

use super::mutate::Vsn;
use super::target::{SocketSpec, Target};

/// How long a session waits for the server to end a connection it should
/// end (after a malformed frame, a close): far below any server timeout
/// (the heartbeat's 60 s), so a server that keeps the connection is seen.
pub const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The frames a run may still send, shared by every session.
#[derive(Debug)]
pub struct Budget {
    left: AtomicU64,
}

impl Budget {
    /// A budget of `frames`.
    pub fn new(frames: u64) -> Self {
        Budget {
            left: AtomicU64::new(frames),
        }
    }

    /// Takes up to `n` frames; how many were granted (0 when spent).
    pub fn take(&self, n: u64) -> u64 {
        let mut left = self.left.load(Ordering::Relaxed);
        loop {
            let granted = left.min(n);
            match self.left.compare_exchange_weak(
                left,
                left - granted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return granted,
                Err(now) => left = now,
            }
        }
    }

    /// Returns frames a session was granted but did not send.
    pub fn give_back(&self, n: u64) {
        self.left.fetch_add(n, Ordering::Relaxed);
    }

    /// Frames not yet granted.
    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Relaxed)
    }
}

/// One attack session: a connection (or a long-poll session) and its frames.
pub struct Session {
    /// The server.
    pub target: Arc<Target>,
    /// Its number in the run.
    pub index: u64,
    /// Its own seed, derived from the run's.
    pub seed: u64,
    /// Its random source for choices outside the frames.
    pub rng: Rng,
}

/// SplitMix64: spreads the run's seed and a session's number into a seed.
pub fn session_seed(run_seed: u64, index: u64) -> u64 {
    let mut z = run_seed
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Session {
    /// Session `index` of a run seeded `run_seed`.
    pub fn new(target: Arc<Target>, run_seed: u64, index: u64) -> Self {
        let seed = session_seed(run_seed, index);
        Session {
            target,
            index,
            seed,
            rng: Rng::with_seed(seed ^ 0x5EED),
        }
    }

    /// How the session is named in notes.
    pub fn label(&self) -> String {
        format!("session {} (seed {:#018x})", self.index, self.seed)
    }

    /// A socket to attack: the first one (the busiest) half the time; only
    /// those with long poll when `longpoll`.
    pub fn socket(&mut self, longpoll: bool) -> Arc<SocketSpec> {
        let candidates: Vec<&Arc<SocketSpec>> = self
            .target
            .sockets
            .iter()
            .filter(|s| s.longpoll || !longpoll)
            .collect();
        if self.rng.bool() {
            return candidates[0].clone();
        }
        candidates[self.rng.usize(..candidates.len())].clone()
    }

    /// Connect params for `socket`.
    pub fn params(&mut self, socket: &SocketSpec) -> String {
        socket.params[self.rng.usize(..socket.params.len())].clone()
    }

    /// A `vsn` to connect with: mostly 2.0.0 (phoenix.js), some 1.0.0, and
    /// now and then one the server must refuse. The serializer it selects,
    /// `None` for a refused one.
    pub fn vsn(&mut self) -> (String, Option<Vsn>) {
        match self.rng.u8(..100) {
            0..=79 => ("2.0.0".into(), Some(Vsn::V2)),
            80..=91 => ("1.0.0".into(), Some(Vsn::V1)),
            92 => ("2.0.0%00".into(), None),
            93 => ("3.0.0".into(), None),
            94 => ("".into(), None),
            95 => ("2".into(), None),
            96 => ("9".repeat(300), None),
            97 => ("%ff%fe".into(), None),
            98 => ("%202.0.0".into(), None),
            _ => ("2.0.0.0".into(), None),
        }
    }

    /// The query of a socket URL: `vsn` first, then `params`.
    pub fn query(vsn: &str, params: &str) -> String {
        if params.is_empty() {
            format!("vsn={vsn}")
        } else {
            format!("vsn={vsn}&{params}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_grants_no_more_than_it_has() {
        let budget = Budget::new(10);
        assert_eq!(budget.take(4), 4);
        assert_eq!(budget.take(40), 6);
        assert_eq!(budget.take(1), 0);
        budget.give_back(3);
        assert_eq!(budget.left(), 3);
    }

    #[test]
    fn sessions_get_distinct_reproducible_seeds() {
        assert_eq!(session_seed(1, 5), session_seed(1, 5));
        assert_ne!(session_seed(1, 5), session_seed(1, 6));
        assert_ne!(session_seed(1, 5), session_seed(2, 5));
    }
}
