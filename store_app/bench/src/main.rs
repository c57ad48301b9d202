//! `store_bench`: the store's performance figures, measured.
//!
//! Why it exists: the issue asks for (1) the `GET /` page rate against the same
//! server's trivial route (`GET /health`) — the page is rendered from memory,
//! so it should reach at least half that rate — and (2) the replication
//! latency from a sale on the `back` node to the `stock_change` frame at a
//! page connected to `app`. `wrk` is not available here, so this binary is the
//! load generator for both. `scripts/bench_store.sh` starts the nodes and runs
//! it; `store_app/benches/PERFORMANCE.md` has the method and the figures.
//!
//! How it measures:
//!
//! - [`page`]: C keep-alive HTTP/1.1 connections, each with exactly one
//!   request in flight (no pipelining): write the request, read the whole
//!   response (headers parsed with `httparse`, body by `Content-Length`),
//!   stamp the latency, repeat. One path at a time, a warm-up first; one JSON
//!   line per path: requests/s, p50/p90/p99/max latency, errors, bytes per
//!   response.
//! - [`replication`]: one WebSocket client on `app`, joined to the topics of
//!   every released product; sales issued on `back` through the node's
//!   control socket *in this process* (the protocol `rpc` speaks, without
//!   spawning a process per sale). The clock starts just before the
//!   `inventory.sell` request is written and stops when the reader task takes
//!   the matching `stock_change` frame off the socket. One sale at a time: the
//!   next one is issued after the previous frame arrived. One JSON line.
//! - [`checkout`]: shoppers on keep-alive connections to several web nodes,
//!   each posting signed carts of 1–3 sizes to `POST /checkout` one after
//!   another; durable purchases per second and their latency. One JSON line.
//!
//! Both clocks are `Instant`s of this one process, so no cross-process clock
//! is involved. Percentiles are nearest-rank over every sample (as in
//! `channels`' loadgen), not a histogram's buckets. Progress and errors go to
//! stderr; the exit status is non-zero when a run could not be made.

mod checkout;
mod page;
mod replication;

use std::process::ExitCode;

use clap::Subcommand;
use loadgen::report::{self, json, BenchCli};

#[derive(Subcommand)]
enum Workload {
    /// Request rate and latency of HTTP paths over keep-alive connections.
    Page(page::PageArgs),
    /// Sale on back -> stock_change frame at a client on app: latency.
    Replication(replication::ReplicationArgs),
    /// Durable purchases per second and their latency, many shoppers at once.
    Checkout(checkout::CheckoutArgs),
}

fn main() -> ExitCode {
    let cli = BenchCli::<Workload>::parse_described(
        "Load and latency benchmarks for the Sneakers23 store nodes",
    );
    let runtime = match report::runtime("store_bench", cli.threads) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = match cli.workload {
        Workload::Page(args) => runtime
            .block_on(page::run(args))
            .and_then(|lines| lines.iter().map(json).collect()),
        Workload::Replication(args) => {
            replication::run(&runtime, args).and_then(|s| Ok(vec![json(&s)?]))
        }
        Workload::Checkout(args) => runtime
            .block_on(checkout::run(args))
            .and_then(|s| Ok(vec![json(&s)?])),
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    report::exit("store_bench", result)
}
