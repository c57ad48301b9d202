//! The tracker across three nodes: 10,000 presences tracked in a burst,
//! spread over the nodes — how long until every node lists all of them, how
//! big the deltas are, and what an idle tracker holding them costs in CPU.
//!
//! The three "nodes" are trackers in this one process, joined by
//! `pubsub::local_network` (what the cluster PubSub would carry, without the
//! network): the figures are the tracker's own. Each is stated beside a
//! reference measured in the same run:
//!
//! - convergence after the burst, in broadcast periods (a delta leaves at
//!   the next tick, so about one period is the floor);
//! - idle CPU with 10,000 entries against the same three trackers empty,
//!   measured one after the other over the same window.
//!
//! `cargo bench -p channels --bench tracker_cluster` (`ENTRIES`, `RUNS`,
//! `IDLE_SECS` to change them). Without `--bench` (`cargo test
//! --all-targets`) it checks itself on 300 entries and a short window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::pubsub::local_network::{LocalNetwork, NodeHandle};
use channels::tracker::{NoDiffs, TrackedProcess, Tracker, TrackerOptions};
use serde_json::json;

/// CPU time of this process so far (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    let after = &stat[stat.rfind(')').expect("comm ends") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line (11 and 12 after comm).
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

struct Cluster {
    _handles: Vec<Arc<NodeHandle>>,
    trackers: Vec<Tracker>,
}

async fn cluster(options: &TrackerOptions) -> Cluster {
    let network = LocalNetwork::new();
    let mut handles = Vec::new();
    let mut trackers = Vec::new();
    for name in ["a@host", "b@host", "c@host"] {
        let handle = network.node(name);
        let tracker = Tracker::start(options.clone(), handle.pubsub().clone(), Arc::new(NoDiffs))
            .await
            .expect("the tracker starts");
        handles.push(handle);
        trackers.push(tracker);
    }
    Cluster {
        _handles: handles,
        trackers,
    }
}

async fn entries(tracker: &Tracker) -> usize {
    tracker.stats().await.map(|s| s.entries).unwrap_or(0)
}

/// CPU seconds per wall second while `cluster` sits idle for `window`.
async fn idle_cpu(window: Duration) -> f64 {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    tokio::time::sleep(window).await;
    (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: u64| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("ENTRIES", if measuring { 10_000 } else { 300 }) as usize;
    let runs = env("RUNS", if measuring { 3 } else { 1 }) as usize;
    let idle = Duration::from_secs(env("IDLE_SECS", if measuring { 15 } else { 2 }));
    let options = TrackerOptions::new("bench");
    let period = options.broadcast_period.as_secs_f64();

    let (mut burst_ms, mut converge_periods, mut converge_ms) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut delta_sizes, mut idle_full, mut idle_empty) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // The reference first: three empty trackers, idle.
        let empty = cluster(&options).await;
        idle_empty.push(idle_cpu(idle).await);
        for tracker in &empty.trackers {
            tracker.stop().await;
        }

        let full = cluster(&options).await;
        // Let the replicas meet before the burst.
        tokio::time::sleep(options.broadcast_period * 2).await;
        let started = Instant::now();
        let mut processes: Vec<TrackedProcess> = Vec::with_capacity(n);
        for i in 0..n {
            let tracker = &full.trackers[i % 3];
            let process = tracker.process();
            let topic = format!("room:{}", i % 100);
            tracker
                .track(
                    &process,
                    &topic,
                    &format!("user{i}"),
                    json!({"online_at": i}),
                )
                .await
                .unwrap()
                .unwrap();
            processes.push(process);
        }
        let burst = started.elapsed();
        burst_ms.push(burst.as_secs_f64() * 1e3);
        loop {
            let mut all = true;
            for tracker in &full.trackers {
                all &= entries(tracker).await == n;
            }
            if all {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no convergence within 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let after_burst = started.elapsed() - burst;
        converge_ms.push(after_burst.as_secs_f64() * 1e3);
        converge_periods.push(after_burst.as_secs_f64() / period);
        for tracker in &full.trackers {
            delta_sizes.push(tracker.stats().await.unwrap().last_delta_size as f64);
        }
        idle_full.push(idle_cpu(idle).await);
        for tracker in &full.trackers {
            tracker.stop().await;
        }
        drop(processes);
    }
    println!(
        "{{\"figure\":\"convergence\",\"entries\":{n},\"nodes\":3,\"burst_ms\":{:.0},\"after_burst_ms\":{:.0},\"broadcast_periods\":{:.2}}}",
        median(burst_ms),
        median(converge_ms),
        median(converge_periods)
    );
    println!(
        "{{\"figure\":\"delta_size\",\"entries\":{n},\"largest_of_a_burst\":{:.0},\"per_node_burst\":{}}}",
        delta_sizes.iter().cloned().fold(0.0, f64::max),
        n / 3
    );
    let (full, empty) = (median(idle_full), median(idle_empty));
    println!(
        "{{\"figure\":\"idle_cpu\",\"entries\":{n},\"cpu_per_s_with_entries\":{full:.4},\"cpu_per_s_empty\":{empty:.4},\"extra_cpu_ms_per_s\":{:.2}}}",
        (full - empty) * 1e3
    );
}
