//! `loadgen fanout`: N subscribers on one `bench:*` topic, one publisher.
//!
//! Every subscriber joins the same topic. One extra connection (the publisher)
//! joins it too and pushes `broadcast` M times with the payload
//! `{"t": <send time, ns since the Unix epoch>, "i": <index>, "pad": "xxx…"}`,
//! padded so that the payload is `--payload-bytes` long. The server answers
//! each push with `bcast` to every member of the topic. With `--interval-ms 0`
//! (the default) the pushes go back to back without waiting for replies;
//! otherwise one is sent every interval.
//!
//! Each subscriber stamps every `bcast` on receipt with the same clock. After
//! the last push, loadgen waits until every delivery arrived or `--drain-secs`
//! passed. The summary reports:
//!
//! - `deliveries_per_sec`: deliveries / (last receipt − first send);
//! - `lost`: subscribers × broadcasts − deliveries received;
//! - `latency`: per delivery, receipt − send time;
//! - `completion`: per broadcast, the last subscriber's receipt − send time;
//! - `latency_at_socket`, `completion_at_socket`: the same, from the time the
//!   kernel put the frame into the subscriber's socket (`SO_TIMESTAMPNS`, see
//!   `rxstamp`) rather than the time loadgen read it. On one machine loadgen's
//!   1,000 reads share the cores with the server, so the receipt time includes
//!   loadgen's own queueing; the socket time is what the server controls.
//!
//! The publisher's own copies of the broadcasts are read and not counted.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use tokio_tungstenite::WebSocketStream;

use crate::client::{self, Target};
use crate::first_error::FirstError;
use crate::procfs;
use crate::rxstamp::Stamped;
use loadgen::stats::{ms, round2, wall_ns, Compact, Percentiles};

#[derive(clap::Args)]
pub struct FanoutArgs {
    /// The server's WebSocket endpoint (`vsn=2.0.0` is added if missing).
    #[arg(long, default_value = "ws://127.0.0.1:4000/socket/websocket")]
    url: String,
    /// Subscriber connections, all joined to `--topic`.
    #[arg(long, default_value_t = 2_000)]
    subscribers: usize,
    /// Broadcasts the publisher sends.
    #[arg(long, default_value_t = 200)]
    broadcasts: usize,
    /// Size of each broadcast's JSON payload in bytes (padded with `pad`).
    #[arg(long, default_value_t = 256)]
    payload_bytes: usize,
    /// Milliseconds between broadcasts; 0 sends them back to back.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// The topic every connection joins.
    #[arg(long, default_value = "bench:fanout")]
    topic: String,
    /// Source addresses to bind, round-robin (default 127.0.0.2-127.0.0.5 for
    /// a loopback server).
    #[arg(long, value_delimiter = ',')]
    sources: Vec<IpAddr>,
    /// Connections being opened and joined at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// After the last push, wait at most this long for missing deliveries.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// Give up on one connect, or one join, after this long.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Pause between the last join and the first broadcast.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
    /// The server's pid: report its CPU time during the broadcasts.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// A subscriber's connection.
type Ws = WebSocketStream<Stamped>;

/// What one subscriber saw: `(broadcast index, receipt time, socket time)`,
/// in ns since the Unix epoch.
type Receipts = Vec<(u32, u64, u64)>;

#[derive(Default)]
struct Shared {
    delivered: AtomicU64,
    joined: AtomicUsize,
    failed: AtomicUsize,
    dropped: AtomicUsize,
    first_error: FirstError,
}

/// Runs the mode; returns the JSON summary.
pub async fn run(args: FanoutArgs) -> Result<FanoutSummary, String> {
    // One more for the publisher's connection.
    procfs::ensure_open_files(args.subscribers, 1, "subscribers", "")?;
    if args.concurrency == 0 || args.broadcasts == 0 || args.broadcasts > u32::MAX as usize {
        return Err("--concurrency and --broadcasts must be positive".into());
    }
    let target = Arc::new(Target::resolve(&args.url, &args.sources).await?);
    let shared = Arc::new(Shared::default());
    let timeout = Duration::from_secs(args.timeout_secs);
    let (stop_tx, stop_rx) = watch::channel(false);

    // Subscribers: connect and join, `--concurrency` at a time.
    let permits = Arc::new(Semaphore::new(args.concurrency));
    let join_started = Instant::now();
    let mut subscribers = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (target, shared, topic) = (target.clone(), shared.clone(), args.topic.clone());
        let stop = stop_rx.clone();
        let capacity = args.broadcasts;
        subscribers.push(tokio::spawn(async move {
            let ws = open(&target, i, &topic, timeout, &shared).await;
            drop(permit);
            match ws {
                Some(ws) => subscribe(ws, capacity, &shared, stop).await,
                None => Vec::new(),
            }
        }));
    }
    let _all = permits
        .acquire_many(args.concurrency as u32)
        .await
        .expect("the semaphore is never closed");
    let joined = shared.joined.load(Ordering::Relaxed);
    let join_seconds = join_started.elapsed().as_secs_f64();
    eprintln!(
        "loadgen: {joined} of {} subscribers joined {} in {join_seconds:.2} s",
        args.subscribers, args.topic
    );

    // The publisher: its own connection, reading on its own task.
    let publisher = open(&target, args.subscribers, &args.topic, timeout, &shared)
        .await
        .ok_or("the publisher could not join")?;
    let (mut sink, mut stream) = publisher.split();
    let replies = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (replies, mut stop) = (replies.clone(), stop_rx.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    incoming = stream.next() => match incoming {
                        Some(Ok(Message::Text(text))) => {
                            if Compact::decode(text.as_str()).is_some_and(|f| f.event() == "phx_reply") {
                                replies.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    _ = stop.changed() => break,
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;

    let pad = padding(args.payload_bytes);
    let mut send_ns = Vec::with_capacity(args.broadcasts);
    let interval = Duration::from_millis(args.interval_ms);
    let cpu = procfs::CpuClock::start(args.server_pid);
    let publish_started = Instant::now();
    let mut next = publish_started;
    for i in 0..args.broadcasts {
        if !interval.is_zero() {
            tokio::time::sleep_until(next).await;
            next += interval;
        }
        let t = wall_ns();
        let payload = json!({"t": t, "i": i, "pad": pad});
        let push = client::frame(
            Some("1"),
            &(i + 2).to_string(),
            &args.topic,
            "broadcast",
            payload,
        );
        send_ns.push(t);
        sink.send(push)
            .await
            .map_err(|e| format!("publisher: push {i}: {e}"))?;
    }
    let sent_at = Instant::now();

    // Drain: until every delivery arrived or the drain timeout passed.
    let expected = (joined * args.broadcasts) as u64;
    let drain_deadline = sent_at + Duration::from_secs(args.drain_secs);
    while shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = cpu.stop();
    let _ = stop_tx.send(true);
    let mut receipts = Vec::with_capacity(subscribers.len());
    for task in subscribers {
        receipts.push(task.await.unwrap_or_default());
    }
    let _ = reader.await;
    let _ = sink.close().await;

    // Aggregate.
    let first_send = send_ns.first().copied().unwrap_or(0);
    let mut latencies = Vec::with_capacity(expected as usize);
    let mut socket_latencies = Vec::with_capacity(expected as usize);
    let mut last_receipt = vec![None::<u64>; args.broadcasts];
    let mut last_at_socket = vec![0u64; args.broadcasts];
    let mut reached = vec![0usize; args.broadcasts];
    let mut last_any = first_send;
    for (index, at, at_socket) in receipts.iter().flatten().copied() {
        let index = index as usize;
        let Some(&sent) = send_ns.get(index) else {
            continue;
        };
        latencies.push(at.saturating_sub(sent));
        socket_latencies.push(at_socket.saturating_sub(sent));
        last_at_socket[index] = last_at_socket[index].max(at_socket);
        last_any = last_any.max(at);
        reached[index] += 1;
        let last = last_receipt[index].get_or_insert(at);
        *last = (*last).max(at);
    }
    // A broadcast completes when every joined subscriber has it.
    let mut completions: Vec<u64> = (0..args.broadcasts)
        .filter(|&i| reached[i] >= joined)
        .filter_map(|i| last_receipt[i].map(|at| at.saturating_sub(send_ns[i])))
        .collect();
    let mut socket_completions: Vec<u64> = (0..args.broadcasts)
        .filter(|&i| reached[i] >= joined)
        .map(|i| last_at_socket[i].saturating_sub(send_ns[i]))
        .collect();
    let delivered = latencies.len() as u64;
    let span_ns = last_any.saturating_sub(first_send);
    let rate = if span_ns > 0 {
        delivered as f64 / (span_ns as f64 / 1e9)
    } else {
        0.0
    };
    let first_error = shared.first_error.get();
    Ok(FanoutSummary {
        mode: "fanout",
        url: target.url.clone(),
        topic: args.topic,
        subscribers: args.subscribers,
        joined,
        join_failures: shared.failed.load(Ordering::Relaxed),
        dropped: shared.dropped.load(Ordering::Relaxed),
        broadcasts: args.broadcasts,
        payload_bytes: args.payload_bytes,
        interval_ms: args.interval_ms,
        push_replies: replies.load(Ordering::Relaxed),
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        seconds: (span_ns as f64 / 1e6).round() / 1000.0,
        deliveries_per_sec: rate.round(),
        latency: Percentiles::of_ns(&mut latencies),
        completed_broadcasts: completions.len(),
        completion: Percentiles::of_ns(&mut completions),
        latency_at_socket: Percentiles::of_ns(&mut socket_latencies),
        completion_at_socket: Percentiles::of_ns(&mut socket_completions),
        join_seconds: round2(join_seconds),
        cpu,
        publish_ms: ms(sent_at.duration_since(publish_started).as_nanos() as u64),
        loadgen_rss_kb: procfs::rss(std::process::id()).ok().map(|r| r.total_kib),
        first_error,
    })
}

/// The `pad` string that makes `{"t":…,"i":…,"pad":"…"}` `payload_bytes` long
/// (with a 19-digit `t` and a 3-digit `i`).
fn padding(payload_bytes: usize) -> String {
    let skeleton = json!({"t": 1_000_000_000_000_000_000u64, "i": 100, "pad": ""})
        .to_string()
        .len();
    "x".repeat(payload_bytes.saturating_sub(skeleton))
}

/// Connects connection `index` and joins `topic`; counts the outcome.
async fn open(
    target: &Target,
    index: usize,
    topic: &str,
    timeout: Duration,
    shared: &Shared,
) -> Option<Ws> {
    let outcome = match tokio::time::timeout(timeout, target.connect_stamped(index)).await {
        Err(_) => Err("connect timed out".to_string()),
        Ok(Err(err)) => Err(err),
        Ok(Ok(mut ws)) => {
            match tokio::time::timeout(timeout, client::join(&mut ws, topic, "1")).await {
                Err(_) => Err("join timed out".to_string()),
                Ok(Err(err)) => Err(err.to_string()),
                Ok(Ok(())) => Ok(ws),
            }
        }
    };
    match outcome {
        Ok(ws) => {
            shared.joined.fetch_add(1, Ordering::Relaxed);
            Some(ws)
        }
        Err(err) => {
            shared
                .first_error
                .record(&shared.failed, format!("connection {index}: {err}"));
            None
        }
    }
}

/// Reads `bcast` frames and stamps them until told to stop.
async fn subscribe(
    mut ws: Ws,
    capacity: usize,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) -> Receipts {
    let mut receipts = Receipts::with_capacity(capacity);
    loop {
        tokio::select! {
            biased;
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let at = wall_ns();
                    // A read without a stamp (never expected) counts as read.
                    let at_socket = ws.get_ref().last_rx_ns().unwrap_or(at);
                    let Some(frame) = Compact::decode(text.as_str()) else { continue };
                    if frame.event() == "bcast" {
                        if let Some(i) = frame.payload().i {
                            receipts.push((i, at, at_socket));
                            shared.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    shared.first_error.record(&shared.dropped, format!("subscriber dropped: {err}"));
                    break;
                }
                None => {
                    shared.first_error.record(&shared.dropped, "subscriber closed by server".into());
                    break;
                }
            },
            _ = stop.changed() => break,
        }
    }
    // Dropped, not closed: a close handshake with thousands of sockets would
    // only slow the summary down; the server sees the TCP close.
    drop(ws);
    receipts
}

/// The JSON line `fanout` prints. Times in milliseconds.
#[derive(Serialize)]
pub struct FanoutSummary {
    mode: &'static str,
    url: String,
    topic: String,
    subscribers: usize,
    joined: usize,
    join_failures: usize,
    /// Subscribers the server closed during the run.
    dropped: usize,
    broadcasts: usize,
    payload_bytes: usize,
    interval_ms: u64,
    /// `ok` replies to the publisher's pushes.
    push_replies: usize,
    /// joined × broadcasts.
    expected: u64,
    delivered: u64,
    lost: u64,
    /// First send to last receipt.
    seconds: f64,
    deliveries_per_sec: f64,
    /// Per delivery: receipt − send time.
    latency: Option<Percentiles>,
    /// Broadcasts that reached every joined subscriber.
    completed_broadcasts: usize,
    /// Per completed broadcast: the last subscriber's receipt − send time.
    completion: Option<Percentiles>,
    /// Per delivery: arrival in the subscriber's socket (kernel stamp) − send time.
    latency_at_socket: Option<Percentiles>,
    /// Per completed broadcast: the last arrival in a socket − send time.
    completion_at_socket: Option<Percentiles>,
    join_seconds: f64,
    /// CPU time of the server (with `--server-pid`) and of loadgen, first
    /// push to the end of the drain: which side bound the run.
    cpu: procfs::CpuUse,
    /// Time the publisher took to send every push.
    publish_ms: f64,
    loadgen_rss_kb: Option<u64>,
    first_error: Option<String>,
}
