//! `loadgen`: a load generator for the hello_sockets server's `bench:*` channel.
//!
//! One mode per subcommand; each prints ONE JSON summary line on stdout (progress
//! and errors go to stderr):
//!
//! - `hold`: opens N WebSocket connections, joins each to its own topic
//!   (`bench:<i>`), keeps them alive with heartbeats, and — given the server's
//!   pid — reports the server's RSS growth per connection.
//! - `fanout`: N subscribers on one topic, one publisher pushing `broadcast`;
//!   deliveries per second, lost deliveries, delivery latency and completion.
//! - `echo`: C connections doing sequential `ping` pushes; replies per second
//!   and round-trip times.
//! - `connect`: connect + join at an offered rate; failures, achieved rate and
//!   connect-to-join latency.
//! - `soak`: N connections on one topic held with heartbeats for a long run
//!   while another process broadcasts (scripts/soak.sh); drops, gaps,
//!   latency, completion and the server's memory over time. `soak-merge`
//!   combines the lines of several (one per web node of a cluster).
//!
//! The shared pieces live in their own modules: [`client`] opens and joins
//! connections (every socket bound to one of several loopback source
//! addresses), [`procfs`] reads memory, CPU time and limits from `/proc`,
//! [`stats`] holds the clock, percentiles and a compact frame decoder, and
//! [`rxstamp`] reads the kernel's receive stamps for `fanout`.
//!
//! The modes use tokio-tungstenite directly rather than the crate's full
//! `channels::client::Client`: that client runs a connection task, a channel
//! membership and an mpsc stream per subscription, and decodes every frame
//! into a `serde_json::Value` before handing it over — one more task hop and
//! several allocations per delivery. On a two-core machine shared with the
//! server, the load generator's cost per delivery is what bounds a fan-out
//! measurement, so the subscriber here reads frames itself and decodes only
//! `event`, `t` and `i`.
//!
//! Memory figures are in KiB (1024 bytes), the unit of `/proc/PID/status`.

mod client;
mod connect;
mod echo;
mod fanout;
mod first_error;
mod hold;
mod open_args;
mod procfs;
mod rxstamp;
mod soak;

use std::process::ExitCode;

use clap::Subcommand;
use loadgen::report::{self, json, BenchCli};

#[derive(Subcommand)]
enum Workload {
    /// Open N connections, join each to one topic, hold them, report server RSS.
    Hold(hold::HoldArgs),
    /// N subscribers on one topic, one publisher: deliveries/s, loss, latency.
    Fanout(fanout::FanoutArgs),
    /// C connections doing sequential pings: replies/s, round-trip times.
    Echo(echo::EchoArgs),
    /// Connect + join at an offered rate: failures, achieved rate, latency.
    Connect(connect::ConnectArgs),
    /// N connections on one topic held with heartbeats while another process
    /// broadcasts: drops, gaps, latency, completion, server memory over time.
    Soak(soak::SoakArgs),
    /// Combines the summary lines of several `soak` processes into one.
    SoakMerge(soak::MergeArgs),
}

fn main() -> ExitCode {
    let cli = BenchCli::<Workload>::parse_described(
        "Load generator for the hello_sockets server (bench:* channel)",
    );
    let runtime = match report::runtime("loadgen", cli.threads) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        match cli.workload {
            Workload::Hold(args) => hold::run(args).await.and_then(|s| json(&s)),
            Workload::Fanout(args) => fanout::run(args).await.and_then(|s| json(&s)),
            Workload::Echo(args) => echo::run(args).await.and_then(|s| json(&s)),
            Workload::Connect(args) => connect::run(args).await.and_then(|s| json(&s)),
            Workload::Soak(args) => soak::run(args).await.and_then(|s| json(&s)),
            Workload::SoakMerge(args) => soak::merge(args).and_then(|s| json(&s)),
        }
    });
    report::exit("loadgen", result.map(|line| vec![line]))
}
