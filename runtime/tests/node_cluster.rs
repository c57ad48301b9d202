//! Multi-process cluster tests: every node is its own OS process
//! (`cluster_test_node`), because ractor's registry and process groups are
//! process-wide and a one-process "cluster" shares them.
//!
//! Each test has its own temporary name directory and cookie directory, binds
//! port 0 only, waits boundedly, and kills its children on drop (also when an
//! assertion fails). The only timing assertions are the issue's own bounds:
//! nodedown within 2 s of a SIGKILL, within 15 s of a SIGSTOP.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use runtime::testkit::{self, NodeDirs, NodeProcess, Streams};

const BIN: &str = env!("CARGO_BIN_EXE_cluster_test_node");
/// Bound for things that should take milliseconds (start, connect, mesh).
const SOON: Duration = Duration::from_secs(15);

/// An isolated cluster environment: its own name directory and cookie file.
struct Env {
    dirs: NodeDirs,
}

impl Env {
    fn new(label: &str) -> Self {
        Env {
            dirs: NodeDirs::new(&format!("node-cluster-{label}")),
        }
    }
    fn names(&self) -> PathBuf {
        self.dirs.names()
    }
    fn cookies(&self) -> PathBuf {
        self.dirs.cookies()
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

/// A `cluster_test_node`, driven over stdin; its stdout lines are events and
/// answers, each taken once ([`NodeProcess::next_line`]).
struct NodeProc {
    node: NodeProcess,
    port: u16,
}

impl Deref for NodeProc {
    type Target = NodeProcess;
    fn deref(&self) -> &NodeProcess {
        &self.node
    }
}

impl DerefMut for NodeProc {
    fn deref_mut(&mut self) -> &mut NodeProcess {
        &mut self.node
    }
}

impl NodeProc {
    fn try_start(short: &str, args: &[&str], env: &[(&str, &str)]) -> Result<NodeProc, String> {
        let name = format!("{short}@127.0.0.1");
        let mut cmd = Command::new(BIN);
        cmd.arg("--name").arg(&name).args(args);
        testkit::clear_cookie_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // stdin for commands; stderr (the node's tracing) shows as the test's.
        let streams = Streams {
            piped_stdin: true,
            log_stderr: false,
        };
        let node =
            NodeProcess::try_spawn(name, cmd, streams).map_err(|e| format!("spawn {BIN}: {e}"))?;
        let mut node = NodeProc { node, port: 0 };
        let (_, line) = node
            .try_next_line(
                |l| l.starts_with("LISTENING ") || l.starts_with("ERROR "),
                SOON,
            )
            .map_err(|e| e.to_string())?;
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

    /// Sends `command` and returns the first answer line starting with one of `answers`.
    fn ask(&mut self, command: &str, answers: &[&str]) -> String {
        self.send(command);
        self.next_line(|l| answers.iter().any(|a| l.starts_with(a)), SOON)
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
                    "{}: list is {got:?}, expected {expected:?}; {}",
                    self.name(),
                    self.recent_log()
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
                panic!("{}: {got:?}, expected {want:?}", self.name());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asks the node to stop cleanly and waits for it to exit.
    fn quit(mut self) {
        self.send("quit");
        self.next_line(|l| l == "BYE", SOON);
        self.close_stdin();
        self.wait_exit(SOON);
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
    a.next_line(|l| l == format!("NODEUP {C}"), SOON);
    b.next_line(|l| l == format!("NODEUP {C}"), SOON);

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
        let (at, line) = node.next_line(is_down(C), Duration::from_secs(10));
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
    a.next_line(is_down(C), SOON);
    b.next_line(is_down(C), SOON);
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
        let (at, line) = node.next_line(is_down(B), Duration::from_secs(30));
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
    b.next_line(is_down(A), SOON);
    b.next_line(is_down(C), SOON);
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
    a.next_line(|l| l == "BADCOOKIE d@127.0.0.1 incoming", SOON);
    d.next_line(|l| l == format!("BADCOOKIE {A} outgoing"), SOON);
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
    e.next_line(|l| l == format!("NODEDOWN {A} disconnected"), SOON);
    a.next_line(|l| l == "NODEDOWN e@127.0.0.1 connection_closed", SOON);
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
    a.next_line(is_down(B), SOON);
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
        let ra = a.next_line(|l| l.starts_with("CONNECT"), SOON).1;
        let rb = b.next_line(|l| l.starts_with("CONNECT"), SOON).1;
        assert_eq!(ra, format!("CONNECTED {B}"), "round {round}");
        assert_eq!(rb, format!("CONNECTED {A}"), "round {round}");
        a.wait_for_list(&[B], SOON);
        b.wait_for_list(&[A], SOON);
        a.next_line(|l| l == format!("NODEUP {B}"), SOON);
        b.next_line(|l| l == format!("NODEUP {A}"), SOON);
        assert_eq!(
            a.ask(&format!("disconnect {B}"), &["DISCONNECT"]),
            format!("DISCONNECTED {B}")
        );
        a.next_line(is_down(B), SOON);
        b.next_line(is_down(A), SOON);
        a.wait_for_list(&[], SOON);
        b.wait_for_list(&[], SOON);
    }
    // No extra nodeup/nodedown happened (one of each per round).
    let ups = a.log().iter().filter(|l| l.starts_with("NODEUP")).count();
    let downs = a.log().iter().filter(|l| l.starts_with("NODEDOWN")).count();
    assert_eq!((ups, downs), (3, 3), "{:?}", a.log());
}
