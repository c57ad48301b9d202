//! Multi-process cluster tests: every node is its own OS process
//! (`cluster_test_node`), because ractor's registry and process groups are
//! process-wide and a one-process "cluster" shares them.
//!
//! Each test has its own temporary name directory and cookie directory, binds
//! port 0 only, waits boundedly, and kills its children on drop (also when an
//! assertion fails). The only timing assertions are the issue's own bounds:
//! nodedown within 2 s of a SIGKILL, within 15 s of a SIGSTOP.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cluster_test_node");
/// Bound for things that should take milliseconds (start, connect, mesh).
const SOON: Duration = Duration::from_secs(15);

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "node-cluster-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An isolated cluster environment: its own name directory and cookie file.
struct Env {
    tmp: TempDir,
}

impl Env {
    fn new(label: &str) -> Self {
        Env {
            tmp: TempDir::new(label),
        }
    }
    fn names(&self) -> PathBuf {
        self.tmp.path().join("names")
    }
    fn cookies(&self) -> PathBuf {
        self.tmp.path().join("cookie")
    }

    /// Starts `short@127.0.0.1` with this environment's directories.
    fn node(&self, short: &str, extra: &[&str]) -> NodeProc {
        let names = self.names();
        let cookies = self.cookies();
        let mut args = vec![
            "--dir",
            names.to_str().unwrap(),
            "--cookie-dir",
            cookies.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        NodeProc::start(short, &args, &[])
    }
}

struct NodeProc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    /// Every line received, for failure messages.
    history: Vec<String>,
    /// Lines not matched by an `expect` yet, oldest first.
    pending: Vec<(Instant, String)>,
    port: u16,
}

impl NodeProc {
    fn try_start(short: &str, args: &[&str], env: &[(&str, &str)]) -> Result<NodeProc, String> {
        let name = format!("{short}@127.0.0.1");
        let mut cmd = Command::new(BIN);
        cmd.arg("--name")
            .arg(&name)
            .args(args)
            .env_remove("RELEASE_COOKIE")
            .env_remove("NODE_COOKIE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn {BIN}: {e}"))?;
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut node = NodeProc {
            name,
            child,
            stdin,
            lines: rx,
            history: Vec::new(),
            pending: Vec::new(),
            port: 0,
        };
        let (_, line) = node.expect(
            |l| l.starts_with("LISTENING ") || l.starts_with("ERROR "),
            SOON,
        )?;
        match line.strip_prefix("LISTENING ") {
            Some(port) => {
                node.port = port.parse().unwrap();
                Ok(node)
            }
            None => Err(line),
        }
    }

    fn start(short: &str, args: &[&str], env: &[(&str, &str)]) -> NodeProc {
        Self::try_start(short, args, env).unwrap_or_else(|e| panic!("{short} did not start: {e}"))
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// The oldest not yet matched line satisfying `pred`, waiting for it if
    /// needed. Each line is matched at most once.
    fn expect(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<(Instant, String), String> {
        if let Some(i) = self.pending.iter().position(|(_, l)| pred(l)) {
            return Ok(self.pending.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.history.push(line.clone());
                    if pred(&line) {
                        return Ok((at, line));
                    }
                    self.pending.push((at, line));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{}: no matching line within {timeout:?}; output so far: {:?}",
                        self.name, self.history
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{}: exited; output: {:?}", self.name, self.history))
                }
            }
        }
    }

    fn must(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> (Instant, String) {
        self.expect(pred, timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends `command` and returns the first answer line starting with one of `answers`.
    fn ask(&mut self, command: &str, answers: &[&str]) -> String {
        self.send(command);
        self.must(|l| answers.iter().any(|a| l.starts_with(a)), SOON)
            .1
    }

    fn list(&mut self) -> Vec<String> {
        let line = self.ask("list", &["NODES"]);
        let rest = line.strip_prefix("NODES").unwrap().trim();
        rest.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Polls `list` until it equals `expected` (sorted names).
    fn wait_for_list(&mut self, expected: &[&str], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.list();
            if got == expected {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: list is {got:?}, expected {expected:?}; output: {:?}",
                    self.name, self.history
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `whereis NAME` until the answer is `expected`.
    fn wait_for_whereis(&mut self, service: &str, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let want = format!("WHEREIS {service} {expected}");
        loop {
            let got = self.ask(&format!("whereis {service}"), &["WHEREIS"]);
            if got == want {
                return;
            }
            if Instant::now() > deadline {
                panic!("{}: {got:?}, expected {want:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: sending a signal to our own child process.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// Asks the node to stop cleanly and waits for it to exit.
    fn quit(mut self) {
        self.send("quit");
        self.must(|l| l == "BYE", SOON);
        drop(self.stdin.take());
        let deadline = Instant::now() + SOON;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        // SIGKILL works on a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const A: &str = "a@127.0.0.1";
const B: &str = "b@127.0.0.1";
const C: &str = "c@127.0.0.1";

fn is_down(node: &'static str) -> impl Fn(&str) -> bool {
    move |l: &str| l.starts_with(&format!("NODEDOWN {node} "))
}

/// Starts a, b, c; connects b→a and c→b; waits until all three list each other.
fn three_nodes(env: &Env, extra: &[&str]) -> (NodeProc, NodeProc, NodeProc) {
    let mut a = env.node("a", extra);
    let mut b = env.node("b", extra);
    let mut c = env.node("c", extra);
    assert_eq!(
        b.ask(&format!("connect {A}"), &["CONNECT"]),
        format!("CONNECTED {A}")
    );
    assert_eq!(
        c.ask(&format!("connect {B}"), &["CONNECT"]),
        format!("CONNECTED {B}")
    );
    // Transitive: c, connected to b only, gets connected to a too.
    a.wait_for_list(&[B, C], SOON);
    b.wait_for_list(&[A, C], SOON);
    c.wait_for_list(&[A, B], SOON);
    (a, b, c)
}

#[test]
fn three_nodes_connect_transitively_and_a_killed_node_is_down_within_2s() {
    let env = Env::new("kill");
    let (mut a, mut b, c) = three_nodes(&env, &[]);
    a.must(|l| l == format!("NODEUP {C}"), SOON);
    b.must(|l| l == format!("NODEUP {C}"), SOON);

    // The cookie file was created on first start, private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let cookie = env.cookies().join(".node.cookie");
        let mode = std::fs::metadata(&cookie).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(env.names().join(C).exists());

    let killed_at = Instant::now();
    c.signal(libc::SIGKILL);
    for node in [&mut a, &mut b] {
        let (at, line) = node.must(is_down(C), Duration::from_secs(10));
        let took = at.duration_since(killed_at);
        eprintln!("SIGKILL: {line} after {took:?}");
        assert!(took < Duration::from_secs(2), "{line} after {took:?}");
        assert_eq!(line, format!("NODEDOWN {C} connection_closed"));
    }
    a.wait_for_list(&[B], SOON);
    b.wait_for_list(&[A], SOON);
    drop(c);

    // The killed node's directory entry is stale: a new `c` takes the name.
    let mut c2 = env.node("c", &[]);
    assert_eq!(
        c2.ask(&format!("connect {A}"), &["CONNECT"]),
        format!("CONNECTED {A}")
    );
    c2.wait_for_list(&[A, B], SOON);
    a.wait_for_list(&[B, C], SOON);
    b.wait_for_list(&[A, C], SOON);

    // A clean stop removes the entry and is a nodedown for the others.
    c2.quit();
    assert!(!env.names().join(C).exists());
    a.must(is_down(C), SOON);
    b.must(is_down(C), SOON);
    a.wait_for_list(&[B], SOON);
}

#[test]
fn a_hung_node_is_declared_down_within_15s_and_can_reconnect() {
    let env = Env::new("hang");
    let hb = [
        "--heartbeat-interval-ms",
        "1000",
        "--heartbeat-timeout-ms",
        "5000",
    ];
    let (mut a, mut b, mut c) = three_nodes(&env, &hb);

    let stopped_at = Instant::now();
    b.signal(libc::SIGSTOP);
    for node in [&mut a, &mut c] {
        let (at, line) = node.must(is_down(B), Duration::from_secs(30));
        let took = at.duration_since(stopped_at);
        eprintln!("SIGSTOP: {line} after {took:?}");
        assert!(took < Duration::from_secs(15), "{line} after {took:?}");
        assert_eq!(line, format!("NODEDOWN {B} heartbeat_timeout"));
    }
    // Everything b owned is gone on the others; a and c stay connected.
    a.wait_for_list(&[C], SOON);
    c.wait_for_list(&[A], SOON);

    b.signal(libc::SIGCONT);
    // b notices it lost both peers (closed connections, or its own heartbeat).
    b.must(is_down(A), SOON);
    b.must(is_down(C), SOON);
    b.wait_for_list(&[], SOON);
    assert_eq!(
        b.ask(&format!("connect {A}"), &["CONNECT"]),
        format!("CONNECTED {A}")
    );
    a.wait_for_list(&[B, C], SOON);
    b.wait_for_list(&[A, C], SOON);
    c.wait_for_list(&[A, B], SOON);
}

#[test]
fn a_wrong_cookie_is_refused_on_both_sides() {
    let env = Env::new("cookie");
    let mut a = env.node("a", &["--cookie", "alpha"]);
    let mut d = env.node("d", &["--cookie", "beta"]);
    let answer = d.ask(&format!("connect {A}"), &["CONNECT"]);
    assert!(
        answer.starts_with(&format!(
            "CONNECT_ERROR bad_cookie {A} refused the connection"
        )),
        "{answer}"
    );
    assert!(answer.contains("wrong cookie"), "{answer}");
    a.must(|l| l == "BADCOOKIE d@127.0.0.1 incoming", SOON);
    d.must(|l| l == format!("BADCOOKIE {A} outgoing"), SOON);
    assert!(a.list().is_empty());
    assert!(d.list().is_empty());

    // The same cookie from the environment is accepted.
    let names = env.names();
    let mut e = NodeProc::start(
        "e",
        &["--dir", names.to_str().unwrap()],
        &[("NODE_COOKIE", "alpha")],
    );
    assert_eq!(
        e.ask(&format!("connect {A}"), &["CONNECT"]),
        format!("CONNECTED {A}")
    );
    a.wait_for_list(&["e@127.0.0.1"], SOON);
}

#[test]
fn names_resolve_through_the_local_directory_or_an_explicit_port() {
    let env = Env::new("names");
    let mut a = env.node("a", &[]);
    // Another directory: `a` is unknown there by name alone.
    let other = Env::new("names-other");
    std::fs::create_dir_all(other.cookies()).unwrap();
    std::fs::copy(
        env.cookies().join(".node.cookie"),
        other.cookies().join(".node.cookie"),
    )
    .unwrap();
    let mut e = other.node("e", &[]);
    let answer = e.ask(&format!("connect {A}"), &["CONNECT"]);
    assert!(
        answer.starts_with("CONNECT_ERROR not_registered"),
        "{answer}"
    );
    let answer = e.ask(&format!("connect zz@127.0.0.1:{}", a.port), &["CONNECT"]);
    assert!(
        answer.starts_with("CONNECT_ERROR name_mismatch"),
        "{answer}"
    );
    let answer = e.ask(&format!("connect {A}:{}", a.port), &["CONNECT"]);
    assert_eq!(answer, format!("CONNECTED {A}"));
    a.wait_for_list(&["e@127.0.0.1"], SOON);
    let answer = e.ask("connect nonsense", &["CONNECT"]);
    assert!(answer.starts_with("CONNECT_ERROR invalid_name"), "{answer}");
    let answer = e.ask("connect e@127.0.0.1", &["CONNECT"]);
    assert!(answer.starts_with("CONNECT_ERROR self"), "{answer}");

    // A second live node cannot take a name in use on this host.
    let err = NodeProc::try_start(
        "a",
        &[
            "--dir",
            env.names().to_str().unwrap(),
            "--cookie-dir",
            env.cookies().to_str().unwrap(),
        ],
        &[],
    )
    .err()
    .expect("a second a@127.0.0.1 must not start");
    assert!(err.contains("already in use"), "{err}");

    // node.disconnect is a nodedown on both sides.
    assert_eq!(
        e.ask(&format!("disconnect {A}"), &["DISCONNECT"]),
        format!("DISCONNECTED {A}")
    );
    e.must(|l| l == format!("NODEDOWN {A} disconnected"), SOON);
    a.must(|l| l == "NODEDOWN e@127.0.0.1 connection_closed", SOON);
    assert!(e.list().is_empty());
}

#[test]
fn services_are_found_cluster_wide_and_cleaned_up() {
    let env = Env::new("services");
    let mut a = env.node("a", &[]);
    let mut b = env.node("b", &[]);
    assert_eq!(
        b.ask(&format!("connect {A}"), &["CONNECT"]),
        format!("CONNECTED {A}")
    );
    assert_eq!(a.ask("register db", &["REGISTER"]), "REGISTERED db");
    b.wait_for_whereis("db", A, SOON);
    a.wait_for_whereis("db", A, SOON);
    let answer = b.ask("register db", &["REGISTER"]);
    assert!(
        answer.contains(&format!("already registered on {A}")),
        "{answer}"
    );

    // The owner's actor stops: the name goes away everywhere.
    a.ask("stop_service db", &["STOPPED"]);
    b.wait_for_whereis("db", "none", SOON);
    a.wait_for_whereis("db", "none", SOON);
    assert_eq!(b.ask("register db", &["REGISTER"]), "REGISTERED db");
    a.wait_for_whereis("db", B, SOON);

    // The owner's node dies: the name goes away with it.
    b.signal(libc::SIGKILL);
    a.must(is_down(B), SOON);
    assert_eq!(a.ask("whereis db", &["WHEREIS"]), "WHEREIS db none");
}

#[test]
fn simultaneous_connects_converge_on_one_connection() {
    let env = Env::new("simultaneous");
    let mut a = env.node("a", &[]);
    let mut b = env.node("b", &[]);
    for round in 0..3 {
        // Both connect to each other at once: ractor_cluster elects one
        // connection; both `connect`s succeed and neither side flaps.
        a.send(&format!("connect {B}"));
        b.send(&format!("connect {A}"));
        let ra = a.must(|l| l.starts_with("CONNECT"), SOON).1;
        let rb = b.must(|l| l.starts_with("CONNECT"), SOON).1;
        assert_eq!(ra, format!("CONNECTED {B}"), "round {round}");
        assert_eq!(rb, format!("CONNECTED {A}"), "round {round}");
        a.wait_for_list(&[B], SOON);
        b.wait_for_list(&[A], SOON);
        a.must(|l| l == format!("NODEUP {B}"), SOON);
        b.must(|l| l == format!("NODEUP {A}"), SOON);
        assert_eq!(
            a.ask(&format!("disconnect {B}"), &["DISCONNECT"]),
            format!("DISCONNECTED {B}")
        );
        a.must(is_down(B), SOON);
        b.must(is_down(A), SOON);
        a.wait_for_list(&[], SOON);
        b.wait_for_list(&[], SOON);
    }
    // No extra nodeup/nodedown happened (one of each per round).
    let ups = a.history.iter().filter(|l| l.starts_with("NODEUP")).count();
    let downs = a
        .history
        .iter()
        .filter(|l| l.starts_with("NODEDOWN"))
        .count();
    assert_eq!((ups, downs), (3, 3), "{:?}", a.history);
}
