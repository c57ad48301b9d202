//! A cluster of one application's nodes, each a real OS process started
//! from the app's release binary (`app start --name …`), driven with
//! `app rpc` — the environment every multi-process test of an app needs.
//!
//! It isolates the cluster ([`NodeDirs`]: its own name and cookie
//! directories, the user's cookie variables removed) and clears the
//! variables the app reads that a developer's shell may have set (`PORT`,
//! `HOST`, and whatever the app adds, e.g. a data directory), so a test
//! never depends on, or touches, what else runs on the machine.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{run_bounded, NodeDirs, Run};

/// How often [`AppCluster::rpc_until`] asks again: each ask starts a process.
const RPC_POLL: Duration = Duration::from_millis(50);

/// One isolated cluster of `bin`'s nodes, all on `127.0.0.1`.
pub struct AppCluster {
    dirs: NodeDirs,
    bin: PathBuf,
    cleared: Vec<String>,
    limit: Duration,
}

impl AppCluster {
    /// A cluster of `bin`'s nodes whose directories are named after `label`;
    /// `limit` bounds every client command and wait.
    pub fn new(bin: impl Into<PathBuf>, label: &str, limit: Duration) -> Self {
        let dirs = NodeDirs::new(label);
        std::fs::create_dir_all(dirs.cookies()).expect("the cookie directory can be made");
        AppCluster {
            dirs,
            bin: bin.into(),
            cleared: vec!["PORT".into(), "HOST".into()],
            limit,
        }
    }

    /// Also clears these variables for every command (the app's own settings).
    pub fn clearing(mut self, vars: &[&str]) -> Self {
        self.cleared.extend(vars.iter().map(|v| v.to_string()));
        self
    }

    /// The cluster's directories.
    pub fn dirs(&self) -> &NodeDirs {
        &self.dirs
    }

    /// The binary, isolated, with the cleared variables removed.
    pub fn command(&self) -> Command {
        let mut cmd = self.dirs.command(&self.bin);
        for var in &self.cleared {
            cmd.env_remove(var);
        }
        cmd
    }

    /// `start --name SHORT@127.0.0.1 --host 127.0.0.1`, a web server on a
    /// free port unless `extra` holds `--no-http` or its own `--http-port`,
    /// then `extra`.
    pub fn start_command(&self, short: &str, extra: &[&str]) -> Command {
        let name = format!("{short}@127.0.0.1");
        let mut cmd = self.command();
        cmd.args(["start", "--name", &name, "--host", "127.0.0.1"]);
        // A free port, unless the test chose one (a node restarted on the
        // port its pages reconnect to) or wants no web server.
        if !extra.contains(&"--no-http") && !extra.contains(&"--http-port") {
            cmd.args(["--http-port", "0"]);
        }
        cmd.args(extra);
        cmd
    }

    /// Runs a client subcommand (`rpc`, `remote`, `stop`, …) to completion,
    /// its command changed by `tweak` first (a cookie, a directory), with
    /// `stdin` as its input.
    pub fn client(&self, args: &[&str], tweak: impl FnOnce(&mut Command), stdin: &str) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        tweak(&mut cmd);
        run_bounded(cmd, Some(stdin), self.limit)
    }

    /// `rpc NODE COMMAND`.
    pub fn rpc(&self, node: &str, command: &str) -> Run {
        self.client(&["rpc", node, command], |_| {}, "")
    }

    /// `rpc` that must succeed; its output.
    pub fn rpc_ok(&self, node: &str, command: &str) -> String {
        let run = self.rpc(node, command);
        assert_eq!(run.code, Some(0), "rpc {node} {command:?}: {run:?}");
        run.stdout
    }

    /// Polls `rpc NODE COMMAND` until it succeeds with an output `holds`
    /// accepts; that output.
    pub fn rpc_until(&self, node: &str, command: &str, holds: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + self.limit;
        loop {
            let run = self.rpc(node, command);
            if run.code == Some(0) && holds(&run.stdout) {
                return run.stdout;
            }
            assert!(
                Instant::now() < deadline,
                "rpc {node} {command:?} did not satisfy the test within {:?}; last: {run:?}",
                self.limit
            );
            std::thread::sleep(RPC_POLL);
        }
    }

    /// The nodes `node` lists as connected (`node.list`), sorted.
    pub fn peers_of(&self, node: &str) -> Vec<String> {
        let mut listed: Vec<String> = self
            .rpc_ok(node, "node.list")
            .lines()
            .filter(|l| l.contains('@'))
            .map(|l| l.trim().to_string())
            .collect();
        listed.sort();
        listed
    }
}
