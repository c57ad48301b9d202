//! `loadgen echo`: C connections, each pushing P sequential pings.
//!
//! Connection i joins its own topic `bench:echo:<i>`. Once all have joined,
//! each sends `ping` with a small payload, waits for the `ok` reply, and sends
//! the next, P times. The summary reports replies per second over the whole
//! run (first ping to last reply, all connections together) and the round-trip
//! time of each ping (send to reply, on `Instant`).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target, Ws};
use crate::first_error::FirstError;
use crate::procfs;
use loadgen::stats::{round2, Compact, Percentiles};

#[derive(clap::Args)]
pub struct EchoArgs {
    /// The server's WebSocket endpoint (`vsn=2.0.0` is added if missing).
    #[arg(long, default_value = "ws://127.0.0.1:4000/socket/websocket")]
    url: String,
    /// Connections, each on its own topic.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Sequential pings per connection.
    #[arg(long, default_value_t = 200)]
    pings: usize,
    /// Topic of connection i is `<prefix><i>`.
    #[arg(long, default_value = "bench:echo:")]
    topic_prefix: String,
    /// Source addresses to bind, round-robin (default 127.0.0.2-127.0.0.5 for
    /// a loopback server).
    #[arg(long, value_delimiter = ',')]
    sources: Vec<IpAddr>,
    /// Give up on a connect, a join or one ping after this long.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// The server's pid: report its CPU time during the pings.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Default)]
struct Shared {
    joined: AtomicUsize,
    failures: AtomicUsize,
    first_error: FirstError,
}

impl Shared {
    fn fail(&self, err: String) {
        self.first_error.record(&self.failures, err);
    }
}

/// Round trips of one connection (ns), and when its last reply came.
struct Done {
    rtts: Vec<u64>,
    finished: Option<Instant>,
}

/// Runs the mode; returns the JSON summary.
pub async fn run(args: EchoArgs) -> Result<EchoSummary, String> {
    if args.connections == 0 {
        return Err("--connections must be positive".into());
    }
    let target = Arc::new(Target::resolve(&args.url, &args.sources).await?);
    let shared = Arc::new(Shared::default());
    let timeout = Duration::from_secs(args.timeout_secs);
    let (go_tx, go_rx) = watch::channel(None::<Instant>);
    let ready = Arc::new(Semaphore::new(0));
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let (target, shared, ready) = (target.clone(), shared.clone(), ready.clone());
        let topic = format!("{}{i}", args.topic_prefix);
        let mut go = go_rx.clone();
        let pings = args.pings;
        tasks.push(tokio::spawn(async move {
            let ws = open(&target, i, &topic, timeout).await;
            ready.add_permits(1);
            let mut ws = match ws {
                Ok(ws) => {
                    shared.joined.fetch_add(1, Ordering::Relaxed);
                    ws
                }
                Err(err) => {
                    shared.fail(format!("{topic}: {err}"));
                    return None;
                }
            };
            let _ = go.wait_for(Option::is_some).await;
            let done = ping(&mut ws, &topic, pings, timeout).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
            match done {
                Ok(done) => Some(done),
                Err(err) => {
                    shared.fail(format!("{topic}: {err}"));
                    None
                }
            }
        }));
    }
    let _all = ready
        .acquire_many(args.connections as u32)
        .await
        .expect("the semaphore is never closed");
    let joined = shared.joined.load(Ordering::Relaxed);
    eprintln!(
        "loadgen: {joined} of {} connections joined",
        args.connections
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu = procfs::CpuClock::start(args.server_pid);
    let started = Instant::now();
    let _ = go_tx.send(Some(started));
    let mut rtts = Vec::with_capacity(args.connections * args.pings);
    let mut finished = started;
    for task in tasks {
        if let Ok(Some(done)) = task.await {
            rtts.extend(done.rtts);
            finished = finished.max(done.finished.unwrap_or(started));
        }
    }
    let cpu = cpu.stop();
    let replies = rtts.len();
    let seconds = finished.duration_since(started).as_secs_f64();
    let first_error = shared.first_error.get();
    Ok(EchoSummary {
        mode: "echo",
        url: target.url.clone(),
        connections: args.connections,
        joined,
        pings_per_connection: args.pings,
        expected: joined * args.pings,
        replies,
        failures: shared.failures.load(Ordering::Relaxed),
        seconds: (seconds * 1000.0).round() / 1000.0,
        replies_per_sec: if seconds > 0.0 {
            round2(replies as f64 / seconds).round()
        } else {
            0.0
        },
        rtt: Percentiles::of_ns(&mut rtts),
        cpu,
        loadgen_rss_kb: procfs::rss(std::process::id()).ok().map(|r| r.total_kib),
        first_error,
    })
}

async fn open(target: &Target, index: usize, topic: &str, timeout: Duration) -> Result<Ws, String> {
    let mut ws = tokio::time::timeout(timeout, target.connect(index))
        .await
        .map_err(|_| "connect timed out".to_string())??;
    tokio::time::timeout(timeout, client::join(&mut ws, topic, "1"))
        .await
        .map_err(|_| "join timed out".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// `pings` sequential round trips.
async fn ping(ws: &mut Ws, topic: &str, pings: usize, timeout: Duration) -> Result<Done, String> {
    let mut rtts = Vec::with_capacity(pings);
    let mut finished = None;
    for n in 0..pings {
        let msg_ref = (n + 2).to_string();
        let frame = client::frame(Some("1"), &msg_ref, topic, "ping", json!({"n": n}));
        let sent = Instant::now();
        ws.send(frame).await.map_err(|e| format!("ping {n}: {e}"))?;
        let reply = async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let Some(frame) = Compact::decode(text.as_str()) else {
                            return Err(format!("undecodable frame {text}"));
                        };
                        if frame.event() != "phx_reply" || frame.msg_ref() != Some(&msg_ref) {
                            continue;
                        }
                        return match frame.payload().status.as_deref() {
                            Some("ok") => Ok(()),
                            other => Err(format!("ping {n}: status {other:?}")),
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("ping {n}: {e}")),
                    None => return Err(format!("ping {n}: connection closed")),
                }
            }
        };
        tokio::time::timeout(timeout, reply)
            .await
            .map_err(|_| format!("ping {n}: no reply"))??;
        let now = Instant::now();
        rtts.push(now.duration_since(sent).as_nanos() as u64);
        finished = Some(now);
    }
    Ok(Done { rtts, finished })
}

/// The JSON line `echo` prints. Times in milliseconds.
#[derive(Serialize)]
pub struct EchoSummary {
    mode: &'static str,
    url: String,
    connections: usize,
    joined: usize,
    pings_per_connection: usize,
    /// joined × pings.
    expected: usize,
    replies: usize,
    /// Connections that failed to join or lost a ping.
    failures: usize,
    /// First ping to last reply.
    seconds: f64,
    replies_per_sec: f64,
    /// Round trip per ping: send to `ok` reply.
    rtt: Option<Percentiles>,
    /// CPU time of the server (with `--server-pid`) and of loadgen, first
    /// ping to last reply: which side bound the run.
    cpu: procfs::CpuUse,
    loadgen_rss_kb: Option<u64>,
    first_error: Option<String>,
}
