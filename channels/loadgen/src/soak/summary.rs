//! The summary line of `loadgen soak`, and `loadgen soak-merge`, which reads
//! the lines of several soak processes (one per web node of a cluster run)
//! and reports the run as a whole.
//!
//! A broadcast *completes* when every joined connection has it; its completion
//! time is the last receipt minus its send time. Across processes that is the
//! latest of their last receipts, which is why each line carries its
//! per-broadcast counts and times rather than only its own percentiles.

use serde::{Deserialize, Serialize};

use super::MemorySample;
use loadgen::stats::{round2, Percentiles};

/// The JSON line `soak` prints. Times in milliseconds, memory in KiB.
#[derive(Serialize, Deserialize)]
pub struct SoakSummary {
    pub mode: String,
    pub url: String,
    pub topic: String,
    pub connections: usize,
    pub connected: usize,
    pub joined: usize,
    /// Connections that did not connect or join.
    pub join_failures: usize,
    /// Joined connections the server closed, or that failed, during the run.
    pub dropped: usize,
    pub broadcasts: usize,
    /// joined × broadcasts.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    /// Broadcasts a connection skipped over (a later one arrived first).
    pub gaps: u64,
    /// Broadcasts that arrived after a later one, or twice.
    pub late_or_repeated: u64,
    /// What ended the hold.
    pub ended_by: String,
    /// Per delivery: receipt − send time.
    pub latency: Option<Percentiles>,
    /// Per broadcast that reached every joined connection of this process.
    pub completion: Option<Percentiles>,
    pub heartbeats_sent: u64,
    /// Heartbeats whose reply had not come when the next was due.
    pub heartbeats_unanswered: u64,
    pub connect_join_seconds: f64,
    pub held_seconds: f64,
    /// Server VmRSS before the first connection.
    pub rss_before_kb: Option<u64>,
    /// Server VmRSS once every connection joined and the reading settled.
    pub rss_joined_kb: Option<u64>,
    /// `(rss_joined − rss_before) / joined`.
    pub rss_per_connection_kb: Option<f64>,
    /// Server VmRSS every `--sample-secs` during the hold.
    pub rss_samples: Vec<MemorySample>,
    /// Server VmRSS at the end of the hold, connections still open.
    pub rss_end_kb: Option<u64>,
    /// Server VmRSS once every connection closed.
    pub rss_after_close_kb: Option<u64>,
    pub loadgen_rss_kb: Option<u64>,
    /// What `soak-merge` needs to combine processes.
    pub per_broadcast: PerBroadcast,
    pub first_error: Option<String>,
}

/// Per broadcast index: deliveries, send time and last receipt (ns since
/// the Unix epoch, 0 when nobody got it).
#[derive(Serialize, Deserialize, Default)]
pub struct PerBroadcast {
    pub delivered: Vec<u32>,
    pub sent_ns: Vec<u64>,
    pub last_receipt_ns: Vec<u64>,
}

/// Completion times (ns) of the broadcasts that reached all `joined`.
pub fn completions(delivered: &[u32], sent_ns: &[u64], last_ns: &[u64], joined: u64) -> Vec<u64> {
    (0..delivered.len())
        .filter(|&i| joined > 0 && u64::from(delivered[i]) >= joined)
        .map(|i| last_ns[i].saturating_sub(sent_ns[i]))
        .collect()
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Files holding one `loadgen soak` summary line each (other lines, such
    /// as progress, are skipped).
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
}

/// The JSON line `soak-merge` prints.
#[derive(Serialize)]
pub struct MergedSummary {
    mode: &'static str,
    processes: usize,
    connections: usize,
    joined: usize,
    join_failures: usize,
    dropped: usize,
    broadcasts: usize,
    expected: u64,
    delivered: u64,
    lost: u64,
    gaps: u64,
    late_or_repeated: u64,
    heartbeats_sent: u64,
    heartbeats_unanswered: u64,
    /// Broadcasts that reached every joined connection of every process.
    completed_broadcasts: usize,
    /// Per completed broadcast: the last receipt anywhere − send time.
    completion: Option<Percentiles>,
    /// The highest per-delivery p99 and max of any process.
    latency_p99_ms_worst_process: Option<f64>,
    latency_max_ms: Option<f64>,
    /// Sum of the servers' RSS growth at join over all joined connections.
    rss_per_connection_kb: Option<f64>,
    servers: Vec<ServerMemory>,
}

/// One server's memory over the run (KiB).
#[derive(Serialize)]
struct ServerMemory {
    url: String,
    joined: usize,
    rss_before_kb: Option<u64>,
    rss_joined_kb: Option<u64>,
    rss_per_connection_kb: Option<f64>,
    /// Lowest and highest sample during the hold.
    rss_hold_min_kb: Option<u64>,
    rss_hold_max_kb: Option<u64>,
    rss_end_kb: Option<u64>,
    /// (end − joined) / joined, in percent: flat memory stays near 0.
    rss_growth_during_hold_pct: Option<f64>,
    rss_after_close_kb: Option<u64>,
}

/// Reads the summaries and merges them.
pub fn merge(args: MergeArgs) -> Result<MergedSummary, String> {
    let mut summaries = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let summary = text
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<SoakSummary>(line).ok())
            .ok_or_else(|| format!("{} holds no soak summary line", file.display()))?;
        summaries.push(summary);
    }
    merge_summaries(&summaries)
}

fn merge_summaries(summaries: &[SoakSummary]) -> Result<MergedSummary, String> {
    let broadcasts = summaries[0].broadcasts;
    if summaries.iter().any(|s| s.broadcasts != broadcasts) {
        return Err("the summaries expected different numbers of broadcasts".into());
    }
    let sum = |f: fn(&SoakSummary) -> u64| summaries.iter().map(f).sum::<u64>();
    let joined = summaries.iter().map(|s| s.joined).sum::<usize>();
    let mut delivered = vec![0u32; broadcasts];
    let mut sent_ns = vec![0u64; broadcasts];
    let mut last_ns = vec![0u64; broadcasts];
    for s in summaries {
        let per = &s.per_broadcast;
        for i in 0..broadcasts {
            delivered[i] += per.delivered.get(i).copied().unwrap_or(0);
            sent_ns[i] = sent_ns[i].max(per.sent_ns.get(i).copied().unwrap_or(0));
            last_ns[i] = last_ns[i].max(per.last_receipt_ns.get(i).copied().unwrap_or(0));
        }
    }
    let mut completion = completions(&delivered, &sent_ns, &last_ns, joined as u64);
    let worst = |f: fn(&Percentiles) -> f64| {
        summaries
            .iter()
            .filter_map(|s| s.latency.as_ref().map(f))
            .reduce(f64::max)
    };
    let growth: Vec<(u64, usize)> = summaries
        .iter()
        .filter_map(|s| Some((s.rss_joined_kb?.checked_sub(s.rss_before_kb?)?, s.joined)))
        .collect();
    Ok(MergedSummary {
        mode: "soak-merge",
        processes: summaries.len(),
        connections: summaries.iter().map(|s| s.connections).sum(),
        joined,
        join_failures: summaries.iter().map(|s| s.join_failures).sum(),
        dropped: summaries.iter().map(|s| s.dropped).sum(),
        broadcasts,
        expected: sum(|s| s.expected),
        delivered: sum(|s| s.delivered),
        lost: sum(|s| s.lost),
        gaps: sum(|s| s.gaps),
        late_or_repeated: sum(|s| s.late_or_repeated),
        heartbeats_sent: sum(|s| s.heartbeats_sent),
        heartbeats_unanswered: sum(|s| s.heartbeats_unanswered),
        completed_broadcasts: completion.len(),
        completion: Percentiles::of_ns(&mut completion),
        latency_p99_ms_worst_process: worst(|p| p.p99_ms),
        latency_max_ms: worst(|p| p.max_ms),
        rss_per_connection_kb: (growth.len() == summaries.len() && joined > 0).then(|| {
            round2(growth.iter().map(|(kib, _)| *kib as f64).sum::<f64>() / joined as f64)
        }),
        servers: summaries.iter().map(server_memory).collect(),
    })
}

fn server_memory(s: &SoakSummary) -> ServerMemory {
    ServerMemory {
        url: s.url.clone(),
        joined: s.joined,
        rss_before_kb: s.rss_before_kb,
        rss_joined_kb: s.rss_joined_kb,
        rss_per_connection_kb: s.rss_per_connection_kb,
        rss_hold_min_kb: s.rss_samples.iter().map(|m| m.rss_kb).min(),
        rss_hold_max_kb: s.rss_samples.iter().map(|m| m.rss_kb).max(),
        rss_end_kb: s.rss_end_kb,
        rss_growth_during_hold_pct: match (s.rss_joined_kb, s.rss_end_kb) {
            (Some(joined), Some(end)) if joined > 0 => {
                Some(round2((end as f64 - joined as f64) * 100.0 / joined as f64))
            }
            _ => None,
        },
        rss_after_close_kb: s.rss_after_close_kb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(joined: usize, per: PerBroadcast) -> SoakSummary {
        let delivered = per.delivered.iter().map(|&n| u64::from(n)).sum();
        SoakSummary {
            mode: "soak".into(),
            url: "ws://x".into(),
            topic: "bench:soak".into(),
            connections: joined,
            connected: joined,
            joined,
            join_failures: 0,
            dropped: 0,
            broadcasts: per.delivered.len(),
            expected: (joined * per.delivered.len()) as u64,
            delivered,
            lost: (joined * per.delivered.len()) as u64 - delivered,
            gaps: 0,
            late_or_repeated: 0,
            ended_by: "test".into(),
            latency: None,
            completion: None,
            heartbeats_sent: 0,
            heartbeats_unanswered: 0,
            connect_join_seconds: 0.0,
            held_seconds: 0.0,
            rss_before_kb: Some(1000),
            rss_joined_kb: Some(1000 + 10 * joined as u64),
            rss_per_connection_kb: Some(10.0),
            rss_samples: Vec::new(),
            rss_end_kb: Some(1000 + 10 * joined as u64),
            rss_after_close_kb: None,
            loadgen_rss_kb: None,
            per_broadcast: per,
            first_error: None,
        }
    }

    #[test]
    fn a_broadcast_completes_when_every_process_has_it_at_the_latest_receipt() {
        // Broadcast 0 sent at 1 ms: process a's last receipt 3 ms, b's 5 ms.
        // Broadcast 1 missed one connection of b: not complete.
        let a = summary(
            2,
            PerBroadcast {
                delivered: vec![2, 2],
                sent_ns: vec![1_000_000, 2_000_000],
                last_receipt_ns: vec![3_000_000, 2_500_000],
            },
        );
        let b = summary(
            3,
            PerBroadcast {
                delivered: vec![3, 2],
                sent_ns: vec![1_000_000, 2_000_000],
                last_receipt_ns: vec![5_000_000, 2_200_000],
            },
        );
        let merged = merge_summaries(&[a, b]).unwrap();
        assert_eq!(merged.joined, 5);
        assert_eq!(merged.expected, 10);
        assert_eq!(merged.delivered, 9);
        assert_eq!(merged.lost, 1);
        assert_eq!(merged.completed_broadcasts, 1);
        assert_eq!(merged.completion.unwrap().max_ms, 4.0);
        assert_eq!(merged.rss_per_connection_kb, Some(10.0));
    }
}
