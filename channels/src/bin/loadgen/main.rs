//! `loadgen`: a load generator for the hello_sockets server's `bench:*` channel.
//!
//! One mode per subcommand; each prints ONE JSON summary line on stdout (progress
//! and errors go to stderr):
//!
//! - `hold`: opens N WebSocket connections, joins each to its own topic
//!   (`bench:<i>`), keeps them alive with heartbeats, and — given the server's
//!   pid — reports the server's RSS growth per connection.
//!
//! The shared pieces live in their own modules so that further modes (fan-out,
//! echo) reuse them: [`client`] opens and joins connections, [`procfs`] reads
//! memory and limits from `/proc`.
//!
//! Memory figures are in KiB (1024 bytes), the unit of `/proc/PID/status`.

mod client;
mod hold;
mod procfs;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generator for the hello_sockets server (bench:* channel)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
    /// Tokio worker threads of the load generator.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
}

#[derive(Subcommand)]
enum Mode {
    /// Open N connections, join each to one topic, hold them, report server RSS.
    Hold(hold::HoldArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("loadgen: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.mode {
            Mode::Hold(args) => hold::run(args).await,
        }
    });
    match result {
        Ok(summary) => match serde_json::to_string(&summary) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("loadgen: cannot encode the summary: {err}");
                ExitCode::FAILURE
            }
        },
        Err(err) => {
            eprintln!("loadgen: {err}");
            ExitCode::FAILURE
        }
    }
}
