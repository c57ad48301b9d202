//! `loadgen connect`: connect + join at a fixed offered rate.
//!
//! Connection i starts at `i / rate` seconds (open loop: a slow server does not
//! slow the schedule down), connects from the next source address, and joins
//! its own topic `bench:conn:<i>`. Joined connections stay open until the end
//! of the run, as real clients would. The latency of a connection is measured
//! from its scheduled start to its join reply, so a backlog shows up in it.
//!
//! The run is `clean` when nothing failed and the joins kept up with the
//! offered rate: the last join came at most 250 ms after the last scheduled
//! start, i.e. the server never fell behind by more than that.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::{self, Target};
use crate::procfs;
use loadgen::stats::{ms, round2, Percentiles};

/// How far the last join may trail the schedule in a clean run.
const MAX_BACKLOG: Duration = Duration::from_millis(250);

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// The server's WebSocket endpoint (`vsn=2.0.0` is added if missing).
    #[arg(long, default_value = "ws://127.0.0.1:4000/socket/websocket")]
    url: String,
    /// Connections to open and join.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Offered rate: new connections per second.
    #[arg(long, default_value_t = 4_000.0)]
    rate: f64,
    /// Topic of connection i is `<prefix><i>`.
    #[arg(long, default_value = "bench:conn:")]
    topic_prefix: String,
    /// Source addresses to bind, round-robin (default 127.0.0.2-127.0.0.5 for
    /// a loopback server).
    #[arg(long, value_delimiter = ',')]
    sources: Vec<IpAddr>,
    /// Give up on one connect + join after this long.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

enum Outcome {
    Joined { latency_ns: u64, at: Instant },
    ConnectFailed(String),
    JoinFailed(String),
}

/// Runs the mode; returns the JSON summary.
pub async fn run(args: ConnectArgs) -> Result<ConnectSummary, String> {
    procfs::ensure_open_files(args.connections, 0, "connections", "")?;
    if args.rate.is_nan() || args.rate <= 0.0 || args.connections == 0 {
        return Err("--rate and --connections must be positive".into());
    }
    let target = Arc::new(Target::resolve(&args.url, &args.sources).await?);
    let timeout = Duration::from_secs(args.timeout_secs);
    let (stop_tx, stop_rx) = watch::channel(false);
    let outcomes = Arc::new(Mutex::new(Vec::with_capacity(args.connections)));
    let started = Instant::now();
    let mut max_lag = Duration::ZERO;
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let scheduled = started + Duration::from_secs_f64(i as f64 / args.rate);
        tokio::time::sleep_until(scheduled).await;
        max_lag = max_lag.max(Instant::now().saturating_duration_since(scheduled));
        let (target, outcomes) = (target.clone(), outcomes.clone());
        let topic = format!("{}{i}", args.topic_prefix);
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let ws = tokio::time::timeout(timeout, async {
                let mut ws = target.connect(i).await.map_err(Outcome::ConnectFailed)?;
                client::join(&mut ws, &topic, "1")
                    .await
                    .map_err(|e| Outcome::JoinFailed(e.to_string()))?;
                Ok::<_, Outcome>(ws)
            })
            .await
            .unwrap_or_else(|_| Err(Outcome::JoinFailed("timed out".into())));
            let at = Instant::now();
            let (outcome, ws) = match ws {
                Ok(ws) => {
                    let latency_ns = at.duration_since(scheduled).as_nanos() as u64;
                    (Outcome::Joined { latency_ns, at }, Some(ws))
                }
                Err(failed) => (failed, None),
            };
            outcomes.lock().push(outcome);
            // Held until the end of the run, then dropped (the server sees
            // the TCP close).
            let _ = stop.changed().await;
            drop(ws);
        }));
    }
    let last_scheduled =
        started + Duration::from_secs_f64((args.connections - 1) as f64 / args.rate);
    while outcomes.lock().len() < args.connections {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }

    let outcomes = std::mem::take(&mut *outcomes.lock());
    let (mut latencies, mut connect_failures, mut join_failures) = (Vec::new(), 0, 0);
    let mut last_join = started;
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Joined { latency_ns, at } => {
                latencies.push(latency_ns);
                last_join = last_join.max(at);
            }
            Outcome::ConnectFailed(err) => {
                connect_failures += 1;
                first_error.get_or_insert(format!("connect: {err}"));
            }
            Outcome::JoinFailed(err) => {
                join_failures += 1;
                first_error.get_or_insert(format!("join: {err}"));
            }
        }
    }
    let joined = latencies.len();
    let seconds = last_join.duration_since(started).as_secs_f64();
    let backlog = last_join.saturating_duration_since(last_scheduled);
    Ok(ConnectSummary {
        mode: "connect",
        url: target.url.clone(),
        connections: args.connections,
        offered_rate: args.rate,
        joined,
        connect_failures,
        join_failures,
        seconds: (seconds * 1000.0).round() / 1000.0,
        achieved_rate: if seconds > 0.0 {
            round2(joined as f64 / seconds).round()
        } else {
            0.0
        },
        final_backlog_ms: ms(backlog.as_nanos() as u64),
        schedule_lag_max_ms: ms(max_lag.as_nanos() as u64),
        clean: connect_failures == 0 && join_failures == 0 && backlog <= MAX_BACKLOG,
        latency: Percentiles::of_ns(&mut latencies),
        loadgen_rss_kb: procfs::rss(std::process::id()).ok().map(|r| r.total_kib),
        first_error,
    })
}

/// The JSON line `connect` prints. Times in milliseconds.
#[derive(Serialize)]
pub struct ConnectSummary {
    mode: &'static str,
    url: String,
    connections: usize,
    offered_rate: f64,
    joined: usize,
    connect_failures: usize,
    join_failures: usize,
    /// First scheduled start to last join reply.
    seconds: f64,
    /// joined / seconds.
    achieved_rate: f64,
    /// Last join reply − last scheduled start.
    final_backlog_ms: f64,
    /// How late loadgen itself started a connection (it must stay small for
    /// the offered rate to be real).
    schedule_lag_max_ms: f64,
    /// No failure, and the final backlog within 250 ms.
    clean: bool,
    /// Per connection: scheduled start to join reply.
    latency: Option<Percentiles>,
    loadgen_rss_kb: Option<u64>,
    first_error: Option<String>,
}
