//! What the load generator reads from `/proc`: a process's resident memory and
//! this process's open-files limit. Memory is in KiB (1024 bytes): `/proc`
//! writes "kB" but means KiB.

use std::time::Duration;

/// Resident memory of one process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`: all resident pages.
    pub total_kib: u64,
    /// `RssAnon`: resident anonymous pages (heap, stacks), without the binary's file pages.
    pub anon_kib: u64,
}

/// Reads `VmRSS` and `RssAnon` from `/proc/<pid>/status`.
pub fn rss(pid: u32) -> std::io::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> std::io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("no {name} in /proc/{pid}/status"),
                )
            })
    };
    Ok(Rss {
        total_kib: field("VmRSS:")?,
        anon_kib: field("RssAnon:")?,
    })
}

/// Reads the RSS once it stops moving: every half second until two readings
/// differ by less than 64 KiB, at most `max_wait`.
pub async fn settled_rss(pid: u32, max_wait: Duration) -> std::io::Result<Rss> {
    let deadline = tokio::time::Instant::now() + max_wait;
    let mut last = rss(pid)?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss(pid)?;
        if now.total_kib.abs_diff(last.total_kib) < 64 || tokio::time::Instant::now() >= deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// Number of open file descriptors of `pid`.
pub fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|dir| dir.count())
}

/// Descriptors a load generator keeps beside its connections (stdio, the
/// runtime, a server's /proc files).
pub const SPARE_FDS: u64 = 32;

/// Refuses a run of `connections` sockets (plus `extra` and [`SPARE_FDS`])
/// that this process's open-file limit cannot hold, saying what to do.
pub fn ensure_open_files(
    connections: usize,
    extra: u64,
    what: &str,
    hint: &str,
) -> Result<(), String> {
    let needed = connections as u64 + extra + SPARE_FDS;
    match open_files_limit() {
        Some(limit) if needed > limit => Err(format!(
            "{connections} {what} need {needed} open files, the limit is {limit}{hint}"
        )),
        _ => Ok(()),
    }
}

/// This process's soft limit on open files (`ulimit -n`), if it has one.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// CPU time `pid` has used so far, in nanoseconds: the sum of its threads'
/// `/proc/<pid>/task/*/schedstat` (time on a CPU, at nanosecond resolution,
/// where `/proc/<pid>/stat` counts 10 ms ticks). Threads that already exited
/// are not counted; the server's and loadgen's worker threads live for the
/// whole run.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// CPU time used by the server (if its pid is known) and by this process
/// between [`CpuClock::start`] and [`CpuClock::stop`]: tells whether a run was
/// bound by the server or by the load generator.
pub struct CpuClock {
    server: Option<(u32, u64)>,
    me: Option<u64>,
}

/// What [`CpuClock::stop`] reports, in milliseconds of CPU time.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CpuUse {
    pub server_ms: Option<f64>,
    pub loadgen_ms: Option<f64>,
}

impl CpuClock {
    pub fn start(server_pid: Option<u32>) -> Self {
        CpuClock {
            server: server_pid.and_then(|pid| Some((pid, cpu_ns(pid)?))),
            me: cpu_ns(std::process::id()),
        }
    }

    pub fn stop(&self) -> CpuUse {
        let since = |before: u64, now: Option<u64>| {
            now.map(|n| loadgen::stats::ms(n.saturating_sub(before)))
        };
        CpuUse {
            server_ms: self
                .server
                .and_then(|(pid, before)| since(before, cpu_ns(pid))),
            loadgen_ms: self
                .me
                .and_then(|before| since(before, cpu_ns(std::process::id()))),
        }
    }
}
