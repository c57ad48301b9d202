//! `netfuzz`: the network fuzzer (`tests::netfuzz`) against a running node.
//!
//! ```text
//! netfuzz --url http://127.0.0.1:4000 --target hello-sockets --server-pid 1234 --frames 100000 --seed 7
//! netfuzz --url http://127.0.0.1:4001 --target sneakers23 --server-pid 1235
//! netfuzz ... --replay 4711        # only session 4711 of the run seeded --seed
//! ```
//!
//! It prints one JSON line (frames sent per kind, what the server answered,
//! errors, the good clients' replies and broadcasts expected and received,
//! the server's RSS at baseline, peak and after, whether it is alive and its
//! health page answers) and exits 0 when the node survived, answers, lost
//! nothing for the good clients and its memory came back within
//! `--rss-tolerance-kib` (and `--rss-tolerance-percent`) of its baseline; 1
//! otherwise; 2 when the run could not start.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tests::netfuzz::campaign::Transport;
use tests::netfuzz::{self, Options, TargetKind};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Target {
    /// The book's hello_sockets server.
    HelloSockets,
    /// A sneakers23 store node.
    Sneakers23,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Only {
    /// Well-framed WebSocket, bad messages.
    Ws,
    /// Raw WebSocket framing.
    RawWs,
    /// Long poll.
    Longpoll,
}

#[derive(Parser, Debug)]
#[command(about = "A network fuzzer against a running Phoenix Channels node")]
struct Cli {
    /// The server's base URL, e.g. http://127.0.0.1:4000.
    #[arg(long)]
    url: String,
    /// Which server it is (what its sockets and tokens are).
    #[arg(long, value_enum)]
    target: Target,
    /// The server's process id (for its memory and liveness).
    #[arg(long)]
    server_pid: u32,
    /// Frames to send in all.
    #[arg(long, default_value_t = 100_000)]
    frames: u64,
    /// Frames of the warm-up attack before the baseline is read (default:
    /// as many as --frames, so that "after" is held to what an attack of the
    /// same size leaves).
    #[arg(long)]
    warmup_frames: Option<u64>,
    /// The run's seed; every session's seed derives from it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Attack sessions at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Well-behaved WebSocket listeners (besides the broadcaster and the long-poll client).
    #[arg(long, default_value_t = 3)]
    good_clients: usize,
    /// Longest wait, in seconds, after the attack for the server's
    /// connections to close (long-poll sessions: after their timeout) and its
    /// memory to stop falling.
    #[arg(long, default_value_t = 60)]
    settle_secs: u64,
    /// The server's long-poll session timeout in seconds (how long abandoned
    /// sessions live).
    #[arg(long, default_value_t = 20)]
    longpoll_session_secs: u64,
    /// Replay only this session of the run (its number, from a note).
    #[arg(long)]
    replay: Option<u64>,
    /// Attack through one transport only.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// The server's WebSocket frame limit in bytes.
    #[arg(long)]
    max_frame_bytes: Option<usize>,
    /// The server's long-poll body limit in bytes.
    #[arg(long)]
    longpoll_max_body_bytes: Option<usize>,
    /// Memory the server may keep after the attack, over its baseline, in KiB
    /// (what the allocator keeps of the attack's busiest moment; see
    /// tests/netfuzz_test.rs for the measurements).
    #[arg(long, default_value_t = 6 * 1024)]
    rss_tolerance_kib: u64,
    /// … or this share of its baseline, in percent, whichever is larger.
    #[arg(long, default_value_t = 20)]
    rss_tolerance_percent: u64,
}

fn server_address(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url must start with http://: {url}"))?;
    let host_port = rest.split('/').next().unwrap_or(rest);
    host_port
        .to_socket_addrs()
        .map_err(|e| format!("--url {url}: {e}"))?
        .next()
        .ok_or_else(|| format!("--url {url}: no address"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let server = match server_address(&cli.url) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("netfuzz: {err}");
            return ExitCode::from(2);
        }
    };
    let kind = match cli.target {
        Target::HelloSockets => TargetKind::HelloSockets,
        Target::Sneakers23 => TargetKind::Sneakers23,
    };
    let mut options = Options::new(kind, server, cli.server_pid);
    options.frames = cli.frames;
    options.warmup_frames = cli.warmup_frames.unwrap_or(cli.frames);
    options.seed = cli.seed;
    options.concurrency = cli.concurrency;
    options.good_websockets = cli.good_clients;
    options.settle_max = Duration::from_secs(cli.settle_secs);
    options.longpoll_session_timeout = Duration::from_secs(cli.longpoll_session_secs);
    options.replay = cli.replay;
    options.only = cli.only.map(|only| match only {
        Only::Ws => Transport::WebSocket,
        Only::RawWs => Transport::RawWebSocket,
        Only::Longpoll => Transport::LongPoll,
    });
    options.max_frame_bytes = cli.max_frame_bytes;
    options.longpoll_max_body_bytes = cli.longpoll_max_body_bytes;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("netfuzz: no runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let summary = match runtime.block_on(netfuzz::run(options)) {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("netfuzz: {err}");
            return ExitCode::from(2);
        }
    };
    println!("{}", summary.to_json());
    let rss = summary.rss;
    let tolerance = cli
        .rss_tolerance_kib
        .max(rss.baseline_kib * cli.rss_tolerance_percent / 100);
    let healthy = summary.server_alive
        && summary.health.1 == Some(200)
        && summary.good.lost_nothing()
        && rss.after_kib <= rss.baseline_kib + tolerance;
    if healthy {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "netfuzz: the node did not come through: alive {}, health {:?}, good clients lost nothing {}, RSS after {} KiB vs baseline {} KiB + {tolerance} KiB",
            summary.server_alive,
            summary.health.1,
            summary.good.lost_nothing(),
            rss.after_kib,
            rss.baseline_kib
        );
        ExitCode::from(1)
    }
}
