//! The frame of a benchmark binary's `main` (`loadgen`, `store_bench`): its
//! own Tokio runtime with the threads asked for, and the outcome as JSON
//! summary lines on stdout, or the error on stderr and a failing exit code.

use std::process::ExitCode;

use serde::Serialize;

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
