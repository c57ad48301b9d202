//! A test kit for tests of applications that embed [`crate::release`] or
//! [`crate::node`]: run nodes as real OS processes and drive them; and the
//! bounded polls every in-process test needs.
//!
//! Why it exists: ractor's registry and process groups are process-wide, so a
//! "cluster" inside one test process shares them and proves little. A cluster
//! test therefore starts every node as its own OS process, and every such test
//! needs the same pieces — which used to be copied from test file to test
//! file. They are here, once:
//!
//! - [`TempDir`]: a fresh directory, removed on drop.
//! - [`NodeDirs`]: a cluster's own name directory and cookie directory, and a
//!   [`Command`](std::process::Command) isolated from the user's nodes and cookies
//!   ([`NAME_DIR_ENV`] and [`COOKIE_DIR_ENV`] set, [`COOKIE_ENV_VARS`] removed).
//! - [`NodeProcess`]: a started node whose stdout (and stderr) lines are read
//!   by threads as they come; wait for a log line, read the HTTP port from it,
//!   write commands to its stdin; killed (SIGKILL) and reaped on drop, also
//!   when an assertion fails.
//! - [`run_bounded`]: a client command (`rpc`, `remote`, `stop`, a `start`
//!   that must fail) run to completion within a bound; its exit code and
//!   output in a [`Run`].
//! - [`AppCluster`]: one app's nodes as a cluster: isolated directories and
//!   environment, `start` commands, `rpc` (until a condition holds), peers.
//! - [`eventually`], [`poll_for`] and [`poll_for_blocking`]: bounded polls
//!   (a restart, an exit handled, a replication), failing when the bound passes.
//! - [`http_get`]: one bounded HTTP/1.1 `GET`: status, headers, body.
//! - [`RedisServer`], [`PostgresServer`]: a real `redis-server` or PostgreSQL
//!   on a free port with a private directory, which a test can kill and
//!   restart (skipped loudly when not installed, unless `REDIS_TESTS` /
//!   `POSTGRES_TESTS` is `required`).
//!
//! Every wait is bounded by a timeout the test gives. The helpers that panic
//! say what did not happen and show the process's last log lines.
//!
//! ```no_run
//! use std::time::Duration;
//! use runtime::testkit::{run_bounded, NodeDirs, NodeProcess};
//!
//! // In a test: env!("CARGO_BIN_EXE_my_app").
//! const BIN: &str = "target/debug/my_app";
//! const SOON: Duration = Duration::from_secs(20);
//!
//! let dirs = NodeDirs::new("my-app-mesh");
//! let mut start = dirs.command(BIN);
//! start.args(["start", "--name", "a@127.0.0.1", "--http-port", "0"]);
//! let mut a = NodeProcess::spawn("a@127.0.0.1", start);
//! let port = a.wait_for_http(|l| l.contains("http://127.0.0.1:"), SOON);
//! assert!(port.is_some());
//!
//! let mut rpc = dirs.command(BIN);
//! rpc.args(["rpc", "a@127.0.0.1", "node.self"]);
//! let run = run_bounded(rpc, None, SOON);
//! assert_eq!(run.code, Some(0), "{run:?}");
//! assert_eq!(run.stdout.trim(), "a@127.0.0.1");
//! // `a` is killed when it goes out of scope, and `dirs` removed.
//! ```
//!
//! The directories are deliberately plain (`std::env::temp_dir()`, the
//! label, the test process's id and a counter) rather than random: their
//! paths stay short enough for the Unix control sockets inside them, and a
//! leftover directory says which test left it.

mod app_cluster;
mod dirs;
mod http;
mod node_process;
mod run;
mod servers;
mod wait;

use std::time::Duration;

pub use crate::node::cookie::COOKIE_ENV_VARS;
pub use crate::release::{COOKIE_DIR_ENV, NAME_DIR_ENV};
pub use app_cluster::AppCluster;
pub use dirs::{clear_cookie_env, NodeDirs, TempDir};
pub use http::{http_get, http_get_async, http_post_form, HttpResponse};
pub use node_process::{http_port_in, NodeProcess, Streams, WaitError};
pub use run::{run_bounded, Run};
pub use servers::{PostgresServer, RedisServer};
pub use wait::{eventually, poll_for, poll_for_blocking, POLL};

/// How many of a process's last log lines a failure message shows.
pub const RECENT_LINES: usize = 60;

/// How often [`run_bounded`] and [`NodeProcess::wait_exit`] look whether the
/// process has exited.
pub(crate) const EXIT_POLL: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    const SOON: Duration = Duration::from_secs(10);

    #[test]
    fn a_temp_dir_is_fresh_and_removed_on_drop() {
        let a = TempDir::new("testkit-unit");
        let b = TempDir::new("testkit-unit");
        assert_ne!(a.path(), b.path());
        std::fs::write(a.path().join("f"), "x").unwrap();
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
        assert!(b.path().is_dir());
    }

    #[test]
    fn node_dirs_isolate_a_command() {
        let dirs = NodeDirs::new("testkit-dirs");
        let mut cmd = dirs.command("env");
        cmd.env("KEEP", "1");
        let run = run_bounded(cmd, None, SOON);
        assert_eq!(run.code, Some(0), "{run:?}");
        let names = format!("{NAME_DIR_ENV}={}", dirs.names().display());
        let cookies = format!("{COOKIE_DIR_ENV}={}", dirs.cookies().display());
        assert!(run.stdout.lines().any(|l| l == names), "{run:?}");
        assert!(run.stdout.lines().any(|l| l == cookies), "{run:?}");
        assert!(run.stdout.lines().any(|l| l == "KEEP=1"), "{run:?}");
        for var in COOKIE_ENV_VARS {
            let set = format!("{var}=");
            assert!(!run.stdout.lines().any(|l| l.starts_with(&set)), "{run:?}");
        }
    }

    #[test]
    fn run_bounded_captures_code_output_and_stdin() {
        let run = run_bounded(sh("cat; echo oops >&2; exit 3"), Some("in\n"), SOON);
        assert_eq!(
            run,
            Run {
                code: Some(3),
                stdout: "in\n".into(),
                stderr: "oops\n".into()
            }
        );
        assert_eq!(run.output(), "in\noops\n");
    }

    #[test]
    #[should_panic(expected = "did not finish within")]
    fn run_bounded_kills_a_command_that_hangs() {
        run_bounded(sh("exec sleep 30"), None, Duration::from_millis(200));
    }

    #[test]
    fn a_node_process_is_waited_for_line_by_line() {
        let script = "echo 'Running at http://127.0.0.1:4321 ok'; echo UP b >&2; echo UP b; \
                      read cmd; echo \"GOT $cmd\"; exec sleep 30";
        let opts = Streams {
            piped_stdin: true,
            log_stderr: true,
        };
        let mut node = NodeProcess::try_spawn("n", sh(script), opts).unwrap();
        assert_eq!(
            node.wait_for_http(|l| l.contains("http://"), SOON),
            Some(4321)
        );
        assert_eq!(node.http_port(), Some(4321));
        // wait_for sees old lines again; next_line takes each line once.
        node.wait_for_count(|l| l == "UP b", 2, SOON);
        assert_eq!(node.next_line(|l| l == "UP b", SOON).1, "UP b");
        assert_eq!(node.next_line(|l| l == "UP b", SOON).1, "UP b");
        let err = node
            .try_next_line(|l| l == "UP b", Duration::from_millis(100))
            .unwrap_err();
        assert!(matches!(err, WaitError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("    UP b"), "{err}");
        assert!(node.wait_for(|l| l == "UP b", SOON) == "UP b");
        node.send("hello");
        node.wait_for(|l| l == "GOT hello", SOON);
        assert_eq!(node.count(|l| l.starts_with("UP")), 2);
        node.kill();
        assert!(matches!(
            node.try_wait_for(|l| l == "never", SOON),
            Err(WaitError::Exited { .. })
        ));
    }

    #[test]
    fn a_node_process_exit_is_awaited_and_its_log_drained() {
        let mut node = NodeProcess::spawn("short", sh("echo one; echo two; exit 0"));
        assert!(node.wait_exit(SOON).success());
        node.drain_log(SOON);
        assert_eq!(node.log(), ["one", "two"]);
        assert!(node.recent_log().contains("its log (2 lines):"));
    }

    #[test]
    fn the_http_port_is_read_from_a_url() {
        assert_eq!(http_port_in("at http://127.0.0.1:80/x"), Some(80));
        assert_eq!(http_port_in("at http://127.0.0.1:"), None);
        assert_eq!(http_port_in("at http://localhost:80"), None);
    }
}
