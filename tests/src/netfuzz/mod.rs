//! A network fuzzer against a running node (issue 15): random and mutated
//! frames over WebSocket and long poll, against every socket the server
//! mounts, while well-behaved clients stay connected — to show that the node
//! never crashes, that its memory returns to where it was, and that the
//! well-behaved clients lose no reply and no broadcast meanwhile.
//!
//! A run, in order ([`run`]):
//!
//! 1. learn the server ([`target`]: its sockets, real tokens fetched from it);
//!    warm it up with an attack of another seed (by default as large as the
//!    attack), and once its connections have closed and its memory has
//!    stopped moving read it: the baseline. The warm-up is what makes "back
//!    to baseline" a statement about the attack: glibc's allocator keeps much
//!    of what an attack's busiest moment took (per-thread arenas, the
//!    server's lazily made tables), and how much grows with the attack's size
//!    up to a level — a hello_sockets release build goes from 10 MiB cold to
//!    about 13–16 MiB after 10,000 frames and 21–26 MiB after 100,000, and
//!    stays between 23.6 and 26.1 MiB through seven more attacks of 100,000
//!    (its heap, `VmData`, level from the fourth on); after a warm-up of the
//!    attack's own size it ends within a few MiB of its baseline;
//! 2. connect the well-behaved clients ([`good_client`], [`good_longpoll`],
//!    checked by [`good_check`]);
//! 3. attack ([`campaign`]): sessions over tokio-tungstenite ([`websocket`]:
//!    right framing, wrong Phoenix messages), over raw TCP ([`raw_websocket`]:
//!    wrong framing, written by [`ws_wire`]) and over hand-written HTTP
//!    ([`longpoll`], [`http`]), each from its own seed, their frames made by
//!    [`mutate`], drawing on one frame budget ([`session`]), from spread
//!    source addresses ([`dial`]), while [`memory`] records the peak;
//! 4. stop the well-behaved clients once they have everything they are owed;
//! 5. wait until the server's memory stops falling: the "after" figure;
//! 6. ask whether the process lives and its health page answers, and
//!    summarise ([`report`]).
//!
//! The `netfuzz` binary (`src/bin/netfuzz.rs`) runs this against a server
//! given by address and process id; `tests/netfuzz_test.rs` starts the
//! servers and runs it at CI size; `scripts/netfuzz.sh` runs it at full size.

pub mod campaign;
pub mod dial;
pub mod good_check;
pub mod good_client;
pub mod good_longpoll;
pub mod http;
pub mod longpoll;
pub mod memory;
pub mod mutate;
pub mod raw_websocket;
pub mod report;
pub mod session;
pub mod target;
pub mod websocket;
pub mod ws_wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::Summary;
pub use target::TargetKind;

use campaign::CampaignOptions;
use good_client::GoodClients;
use report::RssFigures;
use target::Target;

/// Mixed into the run's seed for the warm-up, so that it sends other frames.
const WARMUP_SEED: u64 = 0x5741_524D_5550;

/// How long the health page may take to answer.
const HEALTH_LIMIT: Duration = Duration::from_secs(10);

/// What to attack and how hard.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which server it is.
    pub kind: TargetKind,
    /// Where it listens.
    pub server: SocketAddr,
    /// Its process, for memory and liveness.
    pub server_pid: u32,
    /// Frames to send.
    pub frames: u64,
    /// The run's seed.
    pub seed: u64,
    /// Attack sessions at once.
    pub concurrency: usize,
    /// Well-behaved WebSocket listeners (besides the broadcaster and the
    /// long-poll client).
    pub good_websockets: usize,
    /// The longest wait after the attack for the server's connections to
    /// close and its memory to stop falling.
    pub settle_max: Duration,
    /// The server's long-poll session timeout: an abandoned session closes
    /// this long after its last poll (without a metrics page to say so, the
    /// settle waits this long).
    pub longpoll_session_timeout: Duration,
    /// How long the memory must not fall to count as settled.
    pub settle_quiet: Duration,
    /// Frames of a warm-up attack before the baseline is read (0: none).
    pub warmup_frames: u64,
    /// Run only this session, to replay it.
    pub replay: Option<u64>,
    /// Run only the sessions of this transport.
    pub only: Option<campaign::Transport>,
    /// Override the server's frame limit (default: the servers' 1 MiB).
    pub max_frame_bytes: Option<usize>,
    /// Override the server's long-poll body limit (default 2 MiB).
    pub longpoll_max_body_bytes: Option<usize>,
}

impl Options {
    /// Defaults for `kind` at `server` (process `server_pid`): 100,000
    /// frames after a warm-up of as many, 8 sessions at once, 3 WebSocket
    /// listeners, up to 60 s of settling.
    pub fn new(kind: TargetKind, server: SocketAddr, server_pid: u32) -> Self {
        Options {
            kind,
            server,
            server_pid,
            frames: 100_000,
            seed: 1,
            concurrency: 8,
            good_websockets: 3,
            settle_max: Duration::from_secs(60),
            longpoll_session_timeout: Duration::from_secs(20),
            settle_quiet: Duration::from_secs(3),
            warmup_frames: 100_000,
            replay: None,
            only: None,
            max_frame_bytes: None,
            longpoll_max_body_bytes: None,
        }
    }
}

/// Sums of the gauges on a Prometheus page, by name (labels summed over).
fn gauges(page: &str) -> BTreeMap<String, i64> {
    let gauge_names: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" gauge"))
        .collect();
    let mut sums = BTreeMap::new();
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        if gauge_names.contains(&name) {
            if let Ok(value) = value.parse::<f64>() {
                *sums.entry(name.to_string()).or_insert(0) += value as i64;
            }
        }
    }
    sums
}

/// The processes a supervision-tree page (`runtime::introspect::render`:
/// two spaces of indent per level) lists below the second level: the
/// children of the app's supervisors — one per joined channel, one per
/// running task — which must all be gone once every client has.
pub fn supervised_processes(page: &str) -> Vec<String> {
    page.lines()
        .filter(|line| line.starts_with("    "))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Waits (until `deadline` at the most) for the server to have closed every
/// connection of the attack and of the good clients: until its metrics count
/// no socket and no channel, or, without a metrics page, for the long-poll
/// session timeout (abandoned long-poll sessions are the last to go).
async fn wait_for_connections_closed(target: &Target, options: &Options, deadline: Instant) {
    let Some(path) = target.metrics_path else {
        let until = (Instant::now() + options.longpoll_session_timeout + Duration::from_secs(1))
            .min(deadline);
        tokio::time::sleep_until(until.into()).await;
        return;
    };
    while Instant::now() < deadline {
        if let Ok(page) = http::get(options.server, path, HEALTH_LIMIT).await {
            let gauges = gauges(&String::from_utf8_lossy(&page.body));
            let open = |name: &str| gauges.get(name).copied().unwrap_or(0);
            if open("sockets_connected") == 0 && open("channels_joined") == 0 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs the fuzzer once; an error if the server could not even be prepared
/// for (no pages, the good clients could not join).
pub async fn run(options: Options) -> Result<Summary, String> {
    let started = Instant::now();
    let pid = options.server_pid;
    let mut target = Target::prepare(options.kind, options.server, options.seed).await?;
    if let Some(bytes) = options.max_frame_bytes {
        target.max_frame_bytes = bytes;
    }
    if let Some(bytes) = options.longpoll_max_body_bytes {
        target.longpoll_max_body_bytes = bytes;
    }
    let target = Arc::new(target);
    let cold_kib = memory::rss_kib(pid).map_err(|e| format!("server process {pid}: {e}"))?;
    if options.warmup_frames > 0 && options.replay.is_none() {
        let warmup = CampaignOptions {
            frames: options.warmup_frames,
            seed: options.seed ^ WARMUP_SEED,
            concurrency: options.concurrency,
            replay: None,
            only: options.only,
        };
        campaign::run(target.clone(), warmup).await;
        // Settled as after the attack: every connection closed (long-poll
        // sessions still open would take part in the attack's peak).
        let deadline = Instant::now() + options.settle_max;
        wait_for_connections_closed(&target, &options, deadline).await;
        let left = deadline.saturating_duration_since(Instant::now());
        memory::settled_rss(pid, options.settle_quiet, left)
            .await
            .map_err(|e| format!("server process {pid} after the warm-up: {e}"))?;
    }
    let baseline = memory::rss_kib(pid).map_err(|e| format!("server process {pid}: {e}"))?;
    let peak = memory::PeakWatch::start(pid, baseline);

    let good = GoodClients::start(&target, options.good_websockets).await?;
    let attack_started = Instant::now();
    let tally = campaign::run(
        target.clone(),
        CampaignOptions {
            frames: options.frames,
            seed: options.seed,
            concurrency: options.concurrency,
            replay: options.replay,
            only: options.only,
        },
    )
    .await;
    let attack_secs = attack_started.elapsed().as_secs_f64();
    let good = good.finish().await;
    let peak_kib = peak.stop().await;

    let settle_started = Instant::now();
    let deadline = settle_started + options.settle_max;
    wait_for_connections_closed(&target, &options, deadline).await;
    let left = deadline.saturating_duration_since(Instant::now());
    let after_kib = match memory::settled_rss(pid, options.settle_quiet, left).await {
        Ok((after, _)) => after,
        Err(_) => 0,
    };
    let settle = settle_started.elapsed();
    let server_alive = memory::is_alive(pid);
    let health_status = http::get(options.server, target.health_path, HEALTH_LIMIT)
        .await
        .ok()
        .map(|r| r.status);
    let mut processes_after = None;
    if let Some(path) = target.processes_path {
        if let Ok(page) = http::get(options.server, path, HEALTH_LIMIT).await {
            processes_after = Some(supervised_processes(&String::from_utf8_lossy(&page.body)));
        }
    }
    let mut gauges_after = BTreeMap::new();
    if let Some(path) = target.metrics_path {
        if let Ok(page) = http::get(options.server, path, HEALTH_LIMIT).await {
            gauges_after = gauges(&String::from_utf8_lossy(&page.body));
        }
    }
    Ok(Summary {
        target: options.kind.name().to_string(),
        seed: options.seed,
        tally,
        good,
        warmup_frames: if options.replay.is_none() {
            options.warmup_frames
        } else {
            0
        },
        rss: RssFigures {
            cold_kib,
            baseline_kib: baseline,
            peak_kib: peak_kib.max(after_kib),
            after_kib,
        },
        settle_secs: settle.as_secs_f64(),
        server_alive,
        health: (target.health_path.to_string(), health_status),
        gauges_after,
        processes_after,
        attack_secs,
        duration_secs: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supervised_processes_are_those_two_levels_down() {
        let page = "PROCESS                                  PID              QUEUE  RESTARTS  UPTIME\n\
                    HelloSockets.Supervisor                  <actor 0.0>          -         0  0.0s\n\
                    \x20 channels                               <actor 0.1>          -         0  0.0s\n\
                    \x20   PingChannel ping                     <proc 7>             0         0  1.0s\n\
                    \x20 tasks                                  <actor 0.2>          -         0  0.0s\n";
        assert_eq!(
            supervised_processes(page),
            ["PingChannel ping <proc 7> 0 0 1.0s"]
        );
    }

    #[test]
    fn gauges_are_summed_over_their_labels() {
        let page = "# TYPE socket_connect_total counter\nsocket_connect_total{status=\"ok\"} 9\n\
                    # TYPE sockets_connected gauge\nsockets_connected{socket=\"A\"} 2\n\
                    sockets_connected{socket=\"B\"} -1\n# TYPE channels_joined gauge\nchannels_joined 0\n";
        let sums = gauges(page);
        assert_eq!(sums.get("sockets_connected"), Some(&1));
        assert_eq!(sums.get("channels_joined"), Some(&0));
        assert!(!sums.contains_key("socket_connect_total"));
    }
}
