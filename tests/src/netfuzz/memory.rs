//! The server's side of a run, read from `/proc`: whether its process is
//! still alive, and its resident memory (`VmRSS`, in KiB; `/proc` writes "kB"
//! but means KiB) before, at its highest during, and after the attack — "its
//! memory returns to baseline afterwards" is judged from these three.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `VmRSS` of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("no VmRSS in /proc/{pid}/status (a zombie?)"),
            )
        })
}

/// Whether `pid` runs: it exists and is neither a zombie nor dead.
pub fn is_alive(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("State:"))
        .is_some_and(|state| {
            let state = state.trim_start();
            !(state.starts_with('Z') || state.starts_with('X'))
        })
}

/// Samples a process's RSS every 100 ms in the background and keeps the
/// highest reading.
pub struct PeakWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakWatch {
    /// Starts sampling `pid`, counting `first` (a reading just taken) too.
    pub fn start(pid: u32, first: u64) -> Self {
        let peak = Arc::new(AtomicU64::new(first));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(rss) = rss_kib(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        PeakWatch { peak, stop, task }
    }

    /// Stops sampling; the highest reading.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

/// A fall of less than this between readings is noise, not memory returned.
const FALLING_KIB: u64 = 256;

/// The RSS once it stops falling: read every 500 ms until it has not fallen
/// by `FALLING_KIB` or more for `quiet`, or until `max_wait` has passed.
/// Returns the last reading and how long the wait took. A server that gives
/// memory back does so within seconds of its connections closing (and within
/// the long-poll session timeout for abandoned sessions).
pub async fn settled_rss(
    pid: u32,
    quiet: Duration,
    max_wait: Duration,
) -> std::io::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut mark = rss_kib(pid)?;
    let mut marked_at = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib(pid)?;
        if now + FALLING_KIB <= mark {
            mark = now;
            marked_at = Instant::now();
        }
        if marked_at.elapsed() >= quiet || started.elapsed() >= max_wait {
            return Ok((now, started.elapsed()));
        }
    }
}
