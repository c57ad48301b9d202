//! A cluster of real OS processes: `hello_sockets start` nodes driven with
//! `hello_sockets rpc / remote / stop`, as a person (or scripts/) would.
//!
//! Each test has its own name directory and cookie directory (through
//! `NODE_NAME_DIR` / `NODE_COOKIE_DIR`, with `RELEASE_COOKIE` / `NODE_COOKIE`
//! removed), binds port 0 only (the HTTP port is read from the node's log),
//! waits boundedly, and kills its nodes on drop — also when an assertion fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use channels::client::{Channel, Client, ClientOptions, Subscription};
use runtime::testkit::{poll_for_blocking, run_bounded, AppCluster, NodeProcess};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_hello_sockets");
/// Bound for anything that should take milliseconds to a few seconds.
const SOON: Duration = Duration::from_secs(20);
/// Bound for a client command (`rpc`, `remote`, `stop`) to finish: twice [`SOON`].
const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);

/// One isolated cluster environment: the kit's [`AppCluster`] of
/// `hello_sockets` nodes, started until they serve.
struct Env(AppCluster);

impl std::ops::Deref for Env {
    type Target = AppCluster;
    fn deref(&self) -> &AppCluster {
        &self.0
    }
}

impl Env {
    fn new(label: &str) -> Self {
        Env(AppCluster::new(
            BIN,
            &format!("cluster-console-{label}"),
            CLIENT_TIMEOUT,
        ))
    }

    fn names(&self) -> PathBuf {
        self.dirs().names()
    }

    /// Starts `short@127.0.0.1`; `extra` are more `start` flags (default: a web
    /// server on a free port).
    fn start(&self, short: &str, extra: &[&str]) -> NodeProcess {
        spawn(
            format!("{short}@127.0.0.1"),
            self.start_command(short, extra),
        )
    }

    /// Waits until `node` lists exactly `peers`.
    fn wait_for_peers(&self, node: &str, peers: &[&str]) {
        let mut expected: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
        expected.sort();
        poll_for_blocking(&format!("{node} to list {expected:?}"), SOON, || {
            (self.peers_of(node) == expected).then_some(())
        });
    }
}

/// Starts a `hello_sockets` server (a node or not) and waits until it serves
/// HTTP or says it serves none.
fn spawn(name: String, cmd: Command) -> NodeProcess {
    let mut node = NodeProcess::spawn(name, cmd);
    node.wait_for_http(
        |l| l.contains("http://127.0.0.1:") || l.contains("no web server"),
        SOON,
    );
    node
}

fn socket_url(node: &NodeProcess) -> String {
    let port = node.http_port().expect("this node serves HTTP");
    format!("ws://127.0.0.1:{port}/socket")
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A WebSocket client joined to `topic` on `node`, listening for `events`.
struct Listener {
    _client: Client,
    // Dropping a channel's last handle leaves it.
    _channel: Channel,
    subs: Vec<Subscription>,
}

fn listen(
    rt: &tokio::runtime::Runtime,
    node: &NodeProcess,
    topic: &str,
    events: &[&str],
) -> Listener {
    rt.block_on(async {
        let client = tokio::time::timeout(
            SOON,
            Client::connect(&socket_url(node), &[], ClientOptions::default()),
        )
        .await
        .expect("connect in time")
        .expect("the client connects");
        let channel = client.channel(topic, json!({}));
        let subs = events.iter().map(|e| channel.on(e)).collect();
        tokio::time::timeout(SOON, channel.join())
            .await
            .expect("join in time")
            .expect("the join succeeds");
        Listener {
            _client: client,
            _channel: channel,
            subs,
        }
    })
}

/// The next payload of subscription `index`, waiting at most `timeout`.
fn next(
    rt: &tokio::runtime::Runtime,
    l: &mut Listener,
    index: usize,
    timeout: Duration,
) -> Option<Value> {
    rt.block_on(async {
        tokio::time::timeout(timeout, l.subs[index].recv())
            .await
            .ok()
            .flatten()
    })
}

/// Broadcasts with `command` (given a sequence number) from `from` until
/// `listener` receives one, to ride out the moment when the cluster PubSub's
/// process group is still being shared after a connect. Returns what arrived.
fn broadcast_until_received(
    env: &Env,
    rt: &tokio::runtime::Runtime,
    from: &str,
    command: impl Fn(u32) -> String,
    listener: &mut Listener,
) -> Value {
    let deadline = Instant::now() + SOON;
    for n in 0.. {
        env.rpc_ok(from, &command(n));
        if let Some(payload) = next(rt, listener, 0, Duration::from_millis(500)) {
            return payload;
        }
        assert!(
            Instant::now() < deadline,
            "no broadcast from {from} arrived"
        );
    }
    unreachable!()
}

#[test]
fn three_nodes_connect_list_each_other_and_broadcast_across() {
    let env = Env::new("mesh");
    let a = env.start("a", &[]);
    let _b = env.start("b", &["--no-http"]);
    let _c = env.start("c", &["--no-http"]);
    assert_eq!(env.rpc_ok("a@127.0.0.1", "node.self").trim(), "a@127.0.0.1");

    // B → A, then C → B: transitive connections make the mesh.
    assert_eq!(
        env.rpc_ok("b@127.0.0.1", "node.connect a@127.0.0.1").trim(),
        "connected to a@127.0.0.1"
    );
    assert_eq!(
        env.rpc_ok("c@127.0.0.1", "node.connect b@127.0.0.1").trim(),
        "connected to b@127.0.0.1"
    );
    env.wait_for_peers("a@127.0.0.1", &["b@127.0.0.1", "c@127.0.0.1"]);
    env.wait_for_peers("b@127.0.0.1", &["a@127.0.0.1", "c@127.0.0.1"]);
    env.wait_for_peers("c@127.0.0.1", &["a@127.0.0.1", "b@127.0.0.1"]);

    // A WebSocket client on A gets the book's ping request issued on C; the
    // PingChannel on A answers it with A's node name.
    let rt = tokio_rt();
    let mut on_a = listen(&rt, &a, "ping", &["send_ping", "hello"]);
    let ping = broadcast_until_received(
        &env,
        &rt,
        "c@127.0.0.1",
        |_| "broadcast ping request_ping {}".to_string(),
        &mut on_a,
    );
    assert_eq!(ping, json!({"from_node": "a@127.0.0.1"}));
    // pubsub.broadcast with a JSON payload written as is.
    env.rpc_ok(
        "c@127.0.0.1",
        r#"pubsub.broadcast ping hello {"text": "from c", "n": [1, 2]}"#,
    );
    let hello = next(&rt, &mut on_a, 1, SOON).expect("hello arrives on A");
    assert_eq!(hello, json!({"text": "from c", "n": [1, 2]}));
    // The subscriber is A's, not C's.
    assert_eq!(
        env.rpc_ok("a@127.0.0.1", "pubsub.subscribers ping").trim(),
        "1"
    );
    assert_eq!(
        env.rpc_ok("c@127.0.0.1", "pubsub.subscribers ping").trim(),
        "0"
    );

    // node.disconnect, then the peer is gone from the list (for a moment at
    // least: transitive connections may bring it back, as in Erlang).
    let out = env.rpc_ok("a@127.0.0.1", "node.disconnect c@127.0.0.1");
    assert_eq!(out.trim(), "disconnected from c@127.0.0.1");
}

#[test]
fn direct_broadcast_reaches_only_its_node() {
    let env = Env::new("direct");
    let a = env.start("a", &[]);
    let b = env.start("b", &[]);
    let _c = env.start("c", &["--no-http"]);
    env.rpc_ok("b@127.0.0.1", "node.connect a@127.0.0.1");
    env.rpc_ok("c@127.0.0.1", "node.connect b@127.0.0.1");
    env.wait_for_peers("c@127.0.0.1", &["a@127.0.0.1", "b@127.0.0.1"]);

    let rt = tokio_rt();
    let mut on_a = listen(&rt, &a, "ping:room", &["warmup", "direct"]);
    let mut on_b = listen(&rt, &b, "ping:room", &["warmup", "direct"]);
    // Both nodes are reachable from C for broadcasts.
    broadcast_until_received(
        &env,
        &rt,
        "c@127.0.0.1",
        |n| format!("pubsub.broadcast ping:room warmup {{\"n\": {n}}}"),
        &mut on_a,
    );
    broadcast_until_received(
        &env,
        &rt,
        "c@127.0.0.1",
        |n| format!("pubsub.broadcast ping:room warmup {{\"n\": {n}}}"),
        &mut on_b,
    );

    let out = env.rpc_ok(
        "c@127.0.0.1",
        r#"pubsub.direct_broadcast a@127.0.0.1 ping:room direct {"to": "a"}"#,
    );
    assert_eq!(out.trim(), "broadcast direct to ping:room on a@127.0.0.1");
    env.rpc_ok(
        "c@127.0.0.1",
        r#"pubsub.direct_broadcast b@127.0.0.1 ping:room direct {"to": "b"}"#,
    );
    // C → B is one ordered connection: B's first `direct` is its own.
    assert_eq!(next(&rt, &mut on_a, 1, SOON), Some(json!({"to": "a"})));
    assert_eq!(next(&rt, &mut on_b, 1, SOON), Some(json!({"to": "b"})));
    assert_eq!(next(&rt, &mut on_a, 1, Duration::from_millis(500)), None);
    assert_eq!(next(&rt, &mut on_b, 1, Duration::from_millis(500)), None);
    // A node can be its own target; an unknown node is an error.
    env.rpc_ok(
        "a@127.0.0.1",
        r#"pubsub.direct_broadcast a@127.0.0.1 ping:room direct {"to": "self"}"#,
    );
    assert_eq!(next(&rt, &mut on_a, 1, SOON), Some(json!({"to": "self"})));
    let run = env.rpc(
        "c@127.0.0.1",
        "pubsub.direct_broadcast z@127.0.0.1 ping:room direct {}",
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("node z@127.0.0.1 is not connected"),
        "{run:?}"
    );
}

#[test]
fn cookies_guard_the_cluster_and_the_control_socket() {
    let env = Env::new("cookie");
    let _a = env.start("a", &["--no-http"]);
    let _d = env.start("d", &["--no-http", "--cookie", "ANOTHERCOOKIE"]);

    // Node to node: a wrong cookie is refused.
    let run = env.rpc("a@127.0.0.1", "node.connect d@127.0.0.1");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("wrong cookie"), "{run:?}");
    assert!(env
        .rpc_ok("a@127.0.0.1", "node.list")
        .contains("no connected nodes"));

    // rpc with a wrong cookie: refused, nothing ran.
    let run = env.client(
        &["rpc", "a@127.0.0.1", "node.stop", "--cookie", "WRONGCOOKIE"],
        |_| {},
        "",
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("refused"), "{run:?}");
    // rpc without any cookie: nothing to present, nothing sent.
    let empty = env.dirs().root().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = env.client(
        &["rpc", "a@127.0.0.1", "node.stop"],
        |cmd| {
            cmd.env("NODE_COOKIE_DIR", &empty);
        },
        "",
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("no cookie"), "{run:?}");
    assert!(
        !empty.join(".node.cookie").exists(),
        "a client creates no cookie"
    );
    // A (wrong) cookie from the environment is used, and refused.
    let run = env.client(
        &["rpc", "a@127.0.0.1", "node.self"],
        |cmd| {
            cmd.env("RELEASE_COOKIE", "ANOTHERCOOKIE");
        },
        "",
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    // ... while it is D's cookie.
    let run = env.client(
        &["rpc", "d@127.0.0.1", "node.self"],
        |cmd| {
            cmd.env("RELEASE_COOKIE", "ANOTHERCOOKIE");
        },
        "",
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "d@127.0.0.1");
    // Both nodes still run.
    assert_eq!(env.rpc_ok("a@127.0.0.1", "node.self").trim(), "a@127.0.0.1");

    // The control socket is private.
    use std::os::unix::fs::PermissionsExt;
    let socket = env.names().join("control").join("a@127.0.0.1.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn rpc_reports_errors_and_remote_reads_commands_from_stdin() {
    let env = Env::new("errors");
    let _a = env.start("a", &["--no-http"]);
    let _b = env.start("b", &["--no-http"]);

    let run = env.rpc("a@127.0.0.1", "node.conect b@127.0.0.1");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("did you mean \"node.connect\""),
        "{run:?}"
    );
    let run = env.rpc("a@127.0.0.1", "node.connect");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("usage: node.connect NODE"), "{run:?}");
    let run = env.rpc("a@127.0.0.1", "pubsub.broadcast t e {not json}");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("not valid JSON"), "{run:?}");
    let run = env.rpc("nobody@127.0.0.1", "node.self");
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("nobody@127.0.0.1 is not running"),
        "{run:?}"
    );
    // The tree, with queue lengths and restart counts.
    let tree = env.rpc_ok("a@127.0.0.1", "processes");
    assert!(tree.contains("QUEUE  RESTARTS"), "{tree}");
    assert!(tree.contains("HelloSockets.Supervisor"), "{tree}");

    // A second node with a taken name does not start.
    let mut dup = env.command();
    dup.args(["start", "--name", "a@127.0.0.1", "--no-http"]);
    let run = run_bounded(dup, Some(""), CLIENT_TIMEOUT);
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(run.output().contains("already in use"), "{run:?}");

    // remote with stdin that is not a terminal: one command per line.
    let script = "node.self\n\
                  node.connect b@127.0.0.1\n\
                  node.list\n\
                  bogus\n\
                  # a comment\n\
                  broadcast ping request_ping\n";
    let run = env.client(&["remote", "a@127.0.0.1"], |_| {}, script);
    assert_eq!(run.code, Some(1), "one command failed: {run:?}");
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [
            "a@127.0.0.1",
            "connected to b@127.0.0.1",
            "b@127.0.0.1",
            "broadcast request_ping to ping"
        ],
        "{run:?}"
    );
    assert!(
        run.stderr.contains("error: unknown command \"bogus\""),
        "{run:?}"
    );
    let run = env.client(
        &["remote", "b@127.0.0.1"],
        |_| {},
        "node.list\nquit\nnode.stop\n",
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "a@127.0.0.1");
    assert_eq!(
        env.rpc_ok("b@127.0.0.1", "node.self").trim(),
        "b@127.0.0.1",
        "quit only detached"
    );
}

#[test]
fn stop_shuts_a_node_down_in_order() {
    let env = Env::new("stop");
    let mut a = env.start("a", &[]);
    let _b = env.start("b", &["--no-http"]);
    env.rpc_ok("b@127.0.0.1", "node.connect a@127.0.0.1");
    env.wait_for_peers("b@127.0.0.1", &["a@127.0.0.1"]);

    let run = env.client(&["stop", "a@127.0.0.1"], |_| {}, "");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        ["stopping a@127.0.0.1", "a@127.0.0.1 stopped"]
    );
    let status = a.wait_exit(SOON);
    assert!(status.success(), "{status:?}");
    a.drain_log(Duration::from_secs(5));
    let position = |needle: &str| {
        a.log()
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in the log: {:#?}", a.log()))
    };
    let steps = [
        position("stop requested"),
        position("web server stopped"),
        position("supervision tree stopped"),
        position("node stopped"),
    ];
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "{steps:?}: {:#?}",
        a.log()
    );
    assert!(!env.names().join("a@127.0.0.1").exists());
    assert!(!env
        .names()
        .join("control")
        .join("a@127.0.0.1.sock")
        .exists());
    env.wait_for_peers("b@127.0.0.1", &[]);
    let run = env.rpc("a@127.0.0.1", "node.self");
    assert_eq!(run.code, Some(2), "{run:?}");

    // SIGTERM is a clean stop too.
    let mut c = env.start("c", &["--no-http"]);
    let killed = Command::new("kill")
        .args(["-TERM", &c.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(c.wait_exit(SOON).success());
    assert!(!env
        .names()
        .join("control")
        .join("c@127.0.0.1.sock")
        .exists());
}

#[test]
fn the_unnamed_server_and_gen_secret_still_work() {
    let env = Env::new("plain");
    let mut cmd = env.command();
    cmd.args(["--host", "127.0.0.1", "--port", "0"]);
    let mut plain = spawn("plain".into(), cmd);
    assert!(plain.http_port().is_some());
    let rt = tokio_rt();
    let _ping = listen(&rt, &plain, "ping", &["send_ping"]);
    // Not a node: nothing registered, no control socket.
    assert!(!env.names().join("control").exists());
    let killed = Command::new("kill")
        .args(["-INT", &plain.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(plain.wait_exit(SOON).success());

    let run = env.client(&["gen-secret"], |_| {}, "");
    assert_eq!(run.code, Some(0));
    assert_eq!(run.stdout.trim().len(), 64);
}

#[test]
fn local_broadcasts_stay_local_and_nodes_that_join_or_leave_change_who_receives() {
    let env = Env::new("membership");
    let a = env.start("a", &[]);
    let b = env.start("b", &[]);
    env.rpc_ok("b@127.0.0.1", "node.connect a@127.0.0.1");
    env.wait_for_peers("a@127.0.0.1", &["b@127.0.0.1"]);

    let rt = tokio_rt();
    let mut on_a = listen(&rt, &a, "ping:lobby", &["warmup", "local", "after"]);
    let mut on_b = listen(&rt, &b, "ping:lobby", &["warmup", "local", "after"]);
    broadcast_until_received(
        &env,
        &rt,
        "b@127.0.0.1",
        |n| format!("pubsub.broadcast ping:lobby warmup {{\"n\": {n}}}"),
        &mut on_a,
    );

    // A local broadcast on B reaches B's client only.
    env.rpc_ok(
        "b@127.0.0.1",
        r#"pubsub.local_broadcast ping:lobby local {"on": "b"}"#,
    );
    assert_eq!(next(&rt, &mut on_b, 1, SOON), Some(json!({"on": "b"})));
    assert_eq!(next(&rt, &mut on_a, 1, Duration::from_millis(500)), None);

    // C joins later and its broadcasts reach both.
    let c = env.start("c", &["--no-http"]);
    env.rpc_ok("c@127.0.0.1", "node.connect b@127.0.0.1");
    env.wait_for_peers("c@127.0.0.1", &["a@127.0.0.1", "b@127.0.0.1"]);
    broadcast_until_received(
        &env,
        &rt,
        "c@127.0.0.1",
        |n| format!("pubsub.broadcast ping:lobby warmup {{\"late\": {n}}}"),
        &mut on_b,
    );
    broadcast_until_received(
        &env,
        &rt,
        "c@127.0.0.1",
        |n| format!("pubsub.broadcast ping:lobby warmup {{\"late\": {n}}}"),
        &mut on_a,
    );

    // C leaves (killed): broadcasts among the others go on without errors.
    drop(c);
    env.wait_for_peers("a@127.0.0.1", &["b@127.0.0.1"]);
    env.rpc_ok(
        "a@127.0.0.1",
        r#"pubsub.broadcast ping:lobby after {"from": "a"}"#,
    );
    assert_eq!(next(&rt, &mut on_b, 2, SOON), Some(json!({"from": "a"})));
    assert_eq!(next(&rt, &mut on_a, 2, SOON), Some(json!({"from": "a"})));
}
