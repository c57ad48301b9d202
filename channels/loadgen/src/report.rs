//! The frame of a benchmark binary's `main` (`loadgen`, `store_bench`): its
//! command line (workloads and threads), its own Tokio runtime with the
//! threads asked for, and the outcome as JSON summary lines on stdout, or the
//! error on stderr and a failing exit code.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::Serialize;

/// A benchmark binary's command line: one of its workloads (`W`, a clap
/// subcommand enum, each variant with its own flags) and the threads it runs on.
#[derive(Parser)]
pub struct BenchCli<W: Subcommand> {
    /// The workload and its flags.
    #[command(subcommand)]
    pub workload: W,
    /// Tokio worker threads of the benchmark client.
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
}

impl<W: Subcommand> BenchCli<W> {
    /// Parses the command line of the binary `about` describes (exits with
    /// clap's message on a bad one). A flag given twice takes its last value,
    /// so that scripts can append overrides to a workload's flags.
    pub fn parse_described(about: &'static str) -> Self {
        let command = Self::command()
            .about(about)
            .args_override_self(true)
            .mut_subcommands(|sub| sub.args_override_self(true));
        Self::from_arg_matches(&command.get_matches()).unwrap_or_else(|err| err.exit())
    }
}

/// A multi-threaded runtime with `threads` workers (at least one), or the
/// exit code after saying why there is none.
pub fn runtime(program: &str, threads: usize) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("{program}: cannot start the runtime: {err}");
            ExitCode::FAILURE
        })
}

/// One summary as a JSON line.
pub fn json(summary: &impl Serialize) -> Result<String, String> {
    serde_json::to_string(summary).map_err(|e| format!("cannot encode the summary: {e}"))
}

/// Prints the summary lines and succeeds, or prints the error and fails.
pub fn exit(program: &str, outcome: Result<Vec<String>, String>) -> ExitCode {
    match outcome {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{program}: {err}");
            ExitCode::FAILURE
        }
    }
}
