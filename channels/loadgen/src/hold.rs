//! `loadgen hold`: N connections, each joined to one topic, held open.
//!
//! Reads the server's RSS before connecting, once everything is joined and the
//! reading has settled, optionally again at the end of `--hold-secs`, and once
//! more after every connection has closed (which shows what the server gives
//! back). The headline figure is `rss_per_connection_kib`: settled RSS growth
//! divided by the connections joined, in KiB (1024 bytes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target, Ws};
use crate::first_error::FirstError;
use crate::open_args::OpenArgs;
use crate::procfs::{self, Rss};

#[derive(clap::Args)]
pub struct HoldArgs {
    /// The server's WebSocket endpoint (`vsn=2.0.0` is added if missing).
    #[arg(long, default_value = "ws://127.0.0.1:4000/socket/websocket")]
    url: String,
    /// Connections to open, each joined to its own topic.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Topic of connection i is `<prefix><first-topic + i>`.
    #[arg(long, default_value = "bench:")]
    topic_prefix: String,
    /// Number of the first topic (to split one run over several processes).
    #[arg(long, default_value_t = 0)]
    first_topic: usize,
    /// Spread the connections over this many topics (topic number modulo
    /// it) instead of one topic each.
    #[arg(long)]
    topics: Option<usize>,
    /// Join with `{"user": "u<number>"}` (the connection's number), as a
    /// presence room asks.
    #[arg(long)]
    join_user: bool,
    /// The server's pid: report its RSS growth per connection.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Keep the connections open this long after the settled reading.
    #[arg(long, default_value_t = 0)]
    hold_secs: u64,
    #[command(flatten)]
    open: OpenArgs,
    /// Longest wait for the server's RSS to settle, per reading.
    #[arg(long, default_value_t = 10)]
    settle_secs: u64,
}

#[derive(Default)]
struct Stats {
    connected: AtomicUsize,
    connect_failures: AtomicUsize,
    joined: AtomicUsize,
    join_failures: AtomicUsize,
    /// Connections done connecting and joining, whatever the outcome.
    attempted: AtomicUsize,
    /// Joined connections the server closed before we stopped.
    dropped: AtomicUsize,
    first_error: FirstError,
}

struct Conn {
    index: usize,
    topic: String,
    params: serde_json::Value,
    target: Arc<Target>,
    stats: Arc<Stats>,
    timeout: Duration,
    heartbeat: Duration,
}

/// Runs the mode; returns the JSON summary.
pub async fn run(args: HoldArgs) -> Result<HoldSummary, String> {
    procfs::ensure_open_files(
        args.connections,
        0,
        "connections",
        ": raise `ulimit -n` or split the run over processes with --first-topic",
    )?;
    args.open.validate()?;
    let target = Arc::new(Target::resolve(&args.url, &args.open.sources).await?);
    let server = args.server_pid;
    let read = |pid: u32| procfs::rss(pid).map_err(|e| format!("server pid {pid}: {e}"));
    let before = server.map(read).transpose()?;
    let fds_before = server.and_then(procfs::open_fds);

    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
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
        let conn = Conn {
            index: i,
            topic: format!(
                "{}{}",
                args.topic_prefix,
                match args.topics {
                    Some(topics) => (args.first_topic + i) % topics.max(1),
                    None => args.first_topic + i,
                }
            ),
            params: if args.join_user {
                serde_json::json!({ "user": format!("u{}", args.first_topic + i) })
            } else {
                serde_json::json!({})
            },
            target: target.clone(),
            stats: stats.clone(),
            timeout: args.open.timeout(),
            heartbeat: args.open.heartbeat(),
        };
        let stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let ws = conn.open().await;
            drop(permit);
            if let Some(ws) = ws {
                conn.hold(ws, stop).await;
            }
        }));
        if (i + 1) % 1000 == 0 {
            progress(&stats, i + 1, started);
        }
    }
    while stats.attempted.load(Ordering::Relaxed) < args.connections {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_join_seconds = started.elapsed().as_secs_f64();
    progress(&stats, args.connections, started);

    let settle = Duration::from_secs(args.settle_secs);
    let settled = |pid: u32| async move {
        procfs::settled_rss(pid, settle)
            .await
            .map_err(|e| format!("server pid {pid}: {e}"))
    };
    let after = match server {
        Some(pid) => Some(settled(pid).await?),
        None => None,
    };
    let fds_after = server.and_then(procfs::open_fds);
    let end_of_hold = if args.hold_secs > 0 {
        eprintln!("loadgen: holding for {} s", args.hold_secs);
        tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
        server.map(read).transpose()?
    } else {
        None
    };
    let held = stats.joined.load(Ordering::Relaxed) - stats.dropped.load(Ordering::Relaxed);

    let _ = stop_tx.send(true);
    let closing = futures::future::join_all(tasks);
    if tokio::time::timeout(Duration::from_secs(60), closing)
        .await
        .is_err()
    {
        eprintln!("loadgen: some connections did not close within 60 s");
    }
    let after_close = match server {
        Some(pid) => {
            // Let the server notice the closes before the reading settles.
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some(settled(pid).await?)
        }
        None => None,
    };
    let fds_after_close = server.and_then(procfs::open_fds);

    let joined = stats.joined.load(Ordering::Relaxed);
    let per_connection = |pick: fn(&Rss) -> u64| match (before, after) {
        (Some(b), Some(a)) if joined > 0 => {
            let kib = (pick(&a) as f64 - pick(&b) as f64) / joined as f64;
            Some((kib * 100.0).round() / 100.0)
        }
        _ => None,
    };
    let total = |rss: Option<Rss>| rss.map(|r| r.total_kib);
    let first_error = stats.first_error.get();
    Ok(HoldSummary {
        mode: "hold",
        url: target.url.clone(),
        connections: args.connections,
        connected: stats.connected.load(Ordering::Relaxed),
        joined,
        connect_failures: stats.connect_failures.load(Ordering::Relaxed),
        join_failures: stats.join_failures.load(Ordering::Relaxed),
        dropped_during_hold: stats.dropped.load(Ordering::Relaxed),
        held_at_end: held,
        connect_join_seconds: (connect_join_seconds * 1000.0).round() / 1000.0,
        hold_seconds: args.hold_secs,
        unit: "KiB",
        rss_before_kb: total(before),
        rss_after_kb: total(after),
        rss_per_connection_kb: per_connection(|r| r.total_kib),
        rss_anon_per_connection_kb: per_connection(|r| r.anon_kib),
        rss_end_of_hold_kb: total(end_of_hold),
        rss_after_close_kb: total(after_close),
        server_fds_before: fds_before,
        server_fds_after: fds_after,
        server_fds_after_close: fds_after_close,
        loadgen_rss_kb: procfs::rss(std::process::id()).ok().map(|r| r.total_kib),
        first_error,
    })
}

/// The JSON line `hold` prints. Memory is in KiB (1024 bytes); `*_kb` names
/// follow `/proc`, which writes kB for KiB.
#[derive(Serialize)]
pub struct HoldSummary {
    mode: &'static str,
    url: String,
    connections: usize,
    connected: usize,
    joined: usize,
    connect_failures: usize,
    join_failures: usize,
    /// Joined connections the server closed before the end.
    dropped_during_hold: usize,
    held_at_end: usize,
    /// From the first connect to the last join reply (or failure).
    connect_join_seconds: f64,
    hold_seconds: u64,
    unit: &'static str,
    /// Server VmRSS before the first connection.
    rss_before_kb: Option<u64>,
    /// Server VmRSS once all are joined and the reading has settled.
    rss_after_kb: Option<u64>,
    /// `(rss_after - rss_before) / joined`.
    rss_per_connection_kb: Option<f64>,
    /// The same for RssAnon (heap and stacks only).
    rss_anon_per_connection_kb: Option<f64>,
    /// Server VmRSS at the end of `--hold-secs` (after heartbeats).
    rss_end_of_hold_kb: Option<u64>,
    /// Server VmRSS once every connection closed: what the server kept.
    rss_after_close_kb: Option<u64>,
    server_fds_before: Option<usize>,
    server_fds_after: Option<usize>,
    server_fds_after_close: Option<usize>,
    loadgen_rss_kb: Option<u64>,
    first_error: Option<String>,
}

fn progress(stats: &Stats, started_count: usize, since: Instant) {
    eprintln!(
        "loadgen: {started_count} started, {} joined, {} connect failures, {} join failures ({:.1} s)",
        stats.joined.load(Ordering::Relaxed),
        stats.connect_failures.load(Ordering::Relaxed),
        stats.join_failures.load(Ordering::Relaxed),
        since.elapsed().as_secs_f64()
    );
}

impl Conn {
    /// Connects and joins; counts the outcome.
    async fn open(&self) -> Option<Ws> {
        let stats = &self.stats;
        let outcome =
            match tokio::time::timeout(self.timeout, self.target.connect(self.index)).await {
                Err(_) => Err((&stats.connect_failures, "connect timed out".to_string())),
                Ok(Err(err)) => Err((&stats.connect_failures, err)),
                Ok(Ok(mut ws)) => {
                    stats.connected.fetch_add(1, Ordering::Relaxed);
                    match tokio::time::timeout(
                        self.timeout,
                        client::join_with(&mut ws, &self.topic, "1", self.params.clone()),
                    )
                    .await
                    {
                        Err(_) => Err((&stats.join_failures, "join timed out".to_string())),
                        Ok(Err(err)) => Err((&stats.join_failures, err.to_string())),
                        Ok(Ok(())) => Ok(ws),
                    }
                }
            };
        let ws = match outcome {
            Ok(ws) => {
                stats.joined.fetch_add(1, Ordering::Relaxed);
                Some(ws)
            }
            Err((counter, err)) => {
                stats
                    .first_error
                    .record(counter, format!("{}: {err}", self.topic));
                None
            }
        };
        stats.attempted.fetch_add(1, Ordering::Relaxed);
        ws
    }

    /// Heartbeats until told to stop (then closes), or until the server closes.
    async fn hold(&self, mut ws: Ws, mut stop: watch::Receiver<bool>) {
        let mut beat = tokio::time::interval_at(Instant::now() + self.heartbeat, self.heartbeat);
        let mut next_ref = 2u64;
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    if ws.send(client::heartbeat(next_ref)).await.is_err() {
                        break self.dropped("heartbeat not sent");
                    }
                    next_ref += 1;
                }
                incoming = ws.next() => match incoming {
                    Some(Ok(Message::Close(_))) | None => break self.dropped("closed by server"),
                    Some(Err(err)) => break self.dropped(&err.to_string()),
                    Some(Ok(_)) => {}
                },
                _ = stop.changed() => {
                    let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
                    break;
                }
            }
        }
    }

    fn dropped(&self, why: &str) {
        let stats = &self.stats;
        stats
            .first_error
            .record(&stats.dropped, format!("{} dropped: {why}", self.topic));
    }
}
