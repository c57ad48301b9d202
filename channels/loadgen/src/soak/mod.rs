//! `loadgen soak`: N connections joined to one topic and held for a long run
//! with heartbeats, while another process broadcasts to the topic (the back
//! node's `bench.broadcast`, see scripts/soak.sh); every delivery is counted
//! and timed, and the server's memory is sampled throughout.
//!
//! The run: connect and join every connection; read the server's settled RSS;
//! write `--ready-file` (the script starts the broadcasts once every load
//! generator has written its own); then hold until every joined connection has
//! every one of `--broadcasts` broadcasts, or `--drain-secs` after the last
//! broadcast first arrived, or `--hold-secs` after ready. The summary line
//! carries, besides this process's counts and percentiles, the per-broadcast
//! counts and times that `loadgen soak-merge` combines across processes (one
//! per web node) into the whole cluster's completion percentiles.
//!
//! Memory is in KiB (1024 bytes), the unit of `/proc/PID/status`.

mod subscriber;
mod summary;
mod tally;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::client::{self, Target, Ws};
use crate::first_error::FirstError;
use crate::open_args::OpenArgs;
use crate::procfs::{self, Rss};
use loadgen::stats::{round2, Percentiles};
pub use summary::{merge, MergeArgs, SoakSummary};
use tally::Tally;

#[derive(clap::Args)]
pub struct SoakArgs {
    /// The server's WebSocket endpoint (`vsn=2.0.0` is added if missing).
    #[arg(long, default_value = "ws://127.0.0.1:4000/socket/websocket")]
    url: String,
    /// Connections to open, all joined to `--topic`.
    #[arg(long, default_value_t = 15_000)]
    connections: usize,
    /// The topic every connection joins.
    #[arg(long, default_value = "bench:soak")]
    topic: String,
    /// Broadcasts expected, indexed 0 to N−1 (the publisher's COUNT).
    #[arg(long)]
    broadcasts: usize,
    /// Give up this long after ready even if broadcasts are missing.
    #[arg(long, default_value_t = 900)]
    hold_secs: u64,
    /// Once the last broadcast has reached someone, wait at most this long
    /// for the rest of its deliveries.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// Written (with the number joined) once every connection has joined or
    /// failed: the signal to start the broadcasts.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    #[command(flatten)]
    open: OpenArgs,
    /// The server's pid: sample its RSS and open files.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Period of the server's memory samples during the hold.
    #[arg(long, default_value_t = 30)]
    sample_secs: u64,
}

/// What the connection tasks share.
pub struct Shared {
    tally: Tally,
    connected: AtomicUsize,
    joined: AtomicUsize,
    join_failures: AtomicUsize,
    attempted: AtomicUsize,
    dropped: AtomicUsize,
    heartbeats_sent: AtomicU64,
    heartbeats_unanswered: AtomicU64,
    first_error: FirstError,
}

/// Runs the mode; returns the JSON summary.
pub async fn run(args: SoakArgs) -> Result<SoakSummary, String> {
    procfs::ensure_open_files(
        args.connections,
        0,
        "connections",
        ": split the run over several load generators",
    )?;
    args.open.validate()?;
    if args.broadcasts == 0 || args.broadcasts > u32::MAX as usize {
        return Err("--broadcasts must be positive".into());
    }
    let target = Arc::new(Target::resolve(&args.url, &args.open.sources).await?);
    let server = args.server_pid;
    let read = |pid: u32| procfs::rss(pid).map_err(|e| format!("server pid {pid}: {e}"));
    let rss_before = server.map(read).transpose()?;

    let shared = Arc::new(Shared {
        tally: Tally::new(args.broadcasts),
        connected: AtomicUsize::new(0),
        joined: AtomicUsize::new(0),
        join_failures: AtomicUsize::new(0),
        attempted: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
        heartbeats_sent: AtomicU64::new(0),
        heartbeats_unanswered: AtomicU64::new(0),
        first_error: FirstError::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let timeout = args.open.timeout();
    let heartbeat = args.open.heartbeat();
    let permits = Arc::new(Semaphore::new(args.open.concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        args.open.pace(i, started).await;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (target, task_shared, topic) = (target.clone(), shared.clone(), args.topic.clone());
        let stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let ws = open(&target, i, &topic, timeout, &task_shared).await;
            drop(permit);
            match ws {
                Some(ws) => subscriber::run(ws, &topic, heartbeat, task_shared, stop).await,
                None => Default::default(),
            }
        }));
        if (i + 1) % 1000 == 0 {
            progress(&shared, i + 1, started);
        }
    }
    while shared.attempted.load(Ordering::Relaxed) < args.connections {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_join_seconds = started.elapsed().as_secs_f64();
    progress(&shared, args.connections, started);
    let joined = shared.joined.load(Ordering::Relaxed);

    let settle = Duration::from_secs(10);
    let rss_joined = match server {
        Some(pid) => Some(
            procfs::settled_rss(pid, settle)
                .await
                .map_err(|e| format!("server pid {pid}: {e}"))?,
        ),
        None => None,
    };
    if let Some(path) = &args.ready_file {
        std::fs::write(path, format!("joined {joined}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let ready = Instant::now();
    eprintln!(
        "loadgen: {joined} joined {}; waiting for {} broadcasts",
        args.topic, args.broadcasts
    );

    // Hold: sample the server, until every delivery arrived or time is up.
    let expected = (joined * args.broadcasts) as u64;
    let sample_every = Duration::from_secs(args.sample_secs.max(1));
    let mut next_sample = ready;
    let mut samples = Vec::new();
    let mut drain_deadline: Option<Instant> = None;
    let mut last_progress = ready;
    let hold_deadline = ready + Duration::from_secs(args.hold_secs);
    let ended_by = loop {
        let now = Instant::now();
        if let Some(pid) = server.filter(|_| now >= next_sample) {
            if let Ok(rss) = procfs::rss(pid) {
                samples.push(MemorySample {
                    secs: now.duration_since(ready).as_secs(),
                    rss_kb: rss.total_kib,
                    fds: procfs::open_fds(pid),
                });
            }
            next_sample += sample_every;
        }
        if now.duration_since(last_progress) >= Duration::from_secs(60) {
            eprintln!(
                "loadgen: {} of {expected} deliveries, {} dropped ({:.0} s)",
                shared.tally.total(),
                shared.dropped.load(Ordering::Relaxed),
                now.duration_since(ready).as_secs_f64()
            );
            last_progress = now;
        }
        if shared.tally.total() >= expected {
            break "every delivery arrived";
        }
        if drain_deadline.is_none() && shared.tally.reached_last() {
            drain_deadline = Some(now + Duration::from_secs(args.drain_secs));
        }
        if drain_deadline.is_some_and(|d| now >= d) {
            break "drain time after the last broadcast passed";
        }
        if now >= hold_deadline {
            break "--hold-secs passed";
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let held_seconds = ready.elapsed().as_secs_f64();
    let rss_end = server.map(read).transpose()?;
    let _ = stop_tx.send(true);
    let mut reports = Vec::with_capacity(tasks.len());
    for task in tasks {
        reports.push(task.await.unwrap_or_default());
    }
    let rss_after_close = match server {
        Some(pid) => {
            // Let the server notice the closes before the reading settles.
            tokio::time::sleep(Duration::from_secs(2)).await;
            Some(
                procfs::settled_rss(pid, Duration::from_secs(20))
                    .await
                    .map_err(|e| format!("server pid {pid}: {e}"))?,
            )
        }
        None => None,
    };

    let mut latencies: Vec<u64> = Vec::with_capacity(expected as usize);
    let (mut gaps, mut late_or_repeated) = (0, 0);
    for report in &reports {
        latencies.extend(report.latencies_us.iter().map(|&us| u64::from(us) * 1000));
        gaps += report.gaps;
        late_or_repeated += report.late_or_repeated;
    }
    drop(reports);
    let tally = shared.tally.snapshot();
    let delivered = tally.delivered.iter().map(|&n| u64::from(n)).sum::<u64>();
    let total = |rss: Option<Rss>| rss.map(|r| r.total_kib);
    let first_error = shared.first_error.get();
    Ok(SoakSummary {
        mode: "soak".into(),
        url: target.url.clone(),
        topic: args.topic,
        connections: args.connections,
        connected: shared.connected.load(Ordering::Relaxed),
        joined,
        join_failures: shared.join_failures.load(Ordering::Relaxed),
        dropped: shared.dropped.load(Ordering::Relaxed),
        broadcasts: args.broadcasts,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        gaps,
        late_or_repeated,
        ended_by: ended_by.into(),
        latency: Percentiles::of_ns(&mut latencies),
        completion: Percentiles::of_ns(&mut summary::completions(
            &tally.delivered,
            &tally.sent_ns,
            &tally.last_receipt_ns,
            joined as u64,
        )),
        heartbeats_sent: shared.heartbeats_sent.load(Ordering::Relaxed),
        heartbeats_unanswered: shared.heartbeats_unanswered.load(Ordering::Relaxed),
        connect_join_seconds: round2(connect_join_seconds),
        held_seconds: round2(held_seconds),
        rss_before_kb: total(rss_before),
        rss_joined_kb: total(rss_joined),
        rss_per_connection_kb: match (rss_before, rss_joined) {
            (Some(before), Some(after)) if joined > 0 => Some(round2(
                (after.total_kib as f64 - before.total_kib as f64) / joined as f64,
            )),
            _ => None,
        },
        rss_samples: samples,
        rss_end_kb: total(rss_end),
        rss_after_close_kb: total(rss_after_close),
        loadgen_rss_kb: procfs::rss(std::process::id()).ok().map(|r| r.total_kib),
        per_broadcast: summary::PerBroadcast {
            delivered: tally.delivered,
            sent_ns: tally.sent_ns,
            last_receipt_ns: tally.last_receipt_ns,
        },
        first_error,
    })
}

/// One reading of the server's memory during the hold.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy)]
pub struct MemorySample {
    /// Seconds since ready.
    pub secs: u64,
    pub rss_kb: u64,
    pub fds: Option<usize>,
}

/// Connects connection `index` and joins `topic`; counts the outcome.
async fn open(
    target: &Target,
    index: usize,
    topic: &str,
    timeout: Duration,
    shared: &Shared,
) -> Option<Ws> {
    let outcome = match tokio::time::timeout(timeout, target.connect(index)).await {
        Err(_) => Err("connect timed out".to_string()),
        Ok(Err(err)) => Err(err),
        Ok(Ok(mut ws)) => {
            shared.connected.fetch_add(1, Ordering::Relaxed);
            match tokio::time::timeout(timeout, client::join(&mut ws, topic, "1")).await {
                Err(_) => Err("join timed out".to_string()),
                Ok(Err(err)) => Err(err.to_string()),
                Ok(Ok(())) => Ok(ws),
            }
        }
    };
    let ws = match outcome {
        Ok(ws) => {
            shared.joined.fetch_add(1, Ordering::Relaxed);
            Some(ws)
        }
        Err(err) => {
            shared
                .first_error
                .record(&shared.join_failures, format!("connection {index}: {err}"));
            None
        }
    };
    shared.attempted.fetch_add(1, Ordering::Relaxed);
    ws
}

fn progress(shared: &Shared, started_count: usize, since: Instant) {
    eprintln!(
        "loadgen: {started_count} started, {} joined, {} failed ({:.1} s)",
        shared.joined.load(Ordering::Relaxed),
        shared.join_failures.load(Ordering::Relaxed),
        since.elapsed().as_secs_f64()
    );
}
