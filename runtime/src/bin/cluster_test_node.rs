//! A node in a test cluster: one OS process per node, driven over stdin/stdout.
//!
//! Used by the multi-process tests (`runtime/tests/node_*.rs`) — ractor's
//! registry and process groups are process-wide, so a real cluster needs real
//! processes. It starts a [`runtime::node::Node`] and speaks a line protocol.
//!
//! ```text
//! cluster_test_node --name a@127.0.0.1 [--cookie C] [--cookie-dir DIR]
//!     [--dir DIR | --no-dir] [--port P]
//!     [--heartbeat-interval-ms N] [--heartbeat-timeout-ms N] [--connect-timeout-ms N]
//! ```
//!
//! Output (stdout, one event per line):
//! `LISTENING <port>`, `NODEUP <node>`, `NODEDOWN <node> <reason>`,
//! `BADCOOKIE <peer> incoming|outgoing`, `ERROR <message>` (start failed).
//!
//! Commands (stdin) and their answers:
//! `connect NODE` → `CONNECTED <node>` | `CONNECT_ERROR <kind> <message>`;
//! `disconnect NODE` → `DISCONNECTED <node>` | `DISCONNECT_ERROR <message>`;
//! `list` → `NODES a,b`; `self` → `SELF <node>`;
//! `register NAME` (a local actor) → `REGISTERED NAME` | `REGISTER_ERROR <message>`;
//! `stop_service NAME` → `STOPPED NAME`; `whereis NAME` → `WHEREIS NAME <node>|none`;
//! `services` → `SERVICES name=node,...`;
//! `spawn_remotable N` → `SPAWNED N` (N remote-capable actors, for measuring);
//! `rss` → `RSS <kB>`; `quit` (or end of input) → `BYE`, after a clean stop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use runtime::node::{
    ConnectError, DirectoryOption, HeartbeatConfig, Node, NodeEvent, NodeName, NodeOptions,
};
use runtime::ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::io::{AsyncBufReadExt, BufReader};

fn say(line: impl AsRef<str>) {
    // println! flushes at each newline (stdout is line buffered).
    println!("{}", line.as_ref());
}

/// A local actor to register as a service.
struct Dummy;
struct Noop;
impl runtime::ractor::Message for Noop {}

impl Actor for Dummy {
    type Msg = Noop;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Noop>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A remote-capable actor (its messages are `u64`, which ractor can serialize).
struct Remotable;

impl Actor for Remotable {
    type Msg = u64;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<u64>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

fn parse_args() -> Result<NodeOptions, String> {
    let mut args = std::env::args().skip(1);
    let mut name: Option<NodeName> = None;
    let mut cookie = None;
    let mut cookie_dir = None;
    let mut directory = DirectoryOption::Default;
    let mut port = 0u16;
    let mut heartbeat = HeartbeatConfig::default();
    let mut connect_timeout = None;
    let ms = |v: String| -> Result<Duration, String> {
        v.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| format!("{v}: {e}"))
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--name" => name = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--cookie" => cookie = Some(value()?),
            "--cookie-dir" => cookie_dir = Some(PathBuf::from(value()?)),
            "--dir" => directory = DirectoryOption::At(PathBuf::from(value()?)),
            "--no-dir" => directory = DirectoryOption::Disabled,
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--heartbeat-interval-ms" => heartbeat.interval = ms(value()?)?,
            "--heartbeat-timeout-ms" => heartbeat.timeout = ms(value()?)?,
            "--connect-timeout-ms" => connect_timeout = Some(ms(value()?)?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let mut options = NodeOptions::new(name.ok_or("--name is required")?);
    options.cookie = cookie;
    options.cookie_dir = cookie_dir;
    options.directory = directory;
    options.port = port;
    options.heartbeat = heartbeat;
    if let Some(t) = connect_timeout {
        options.connect_timeout = t;
    }
    Ok(options)
}

fn error_kind(e: &ConnectError) -> &'static str {
    match e {
        ConnectError::InvalidName(_) => "invalid_name",
        ConnectError::SelfConnect(_) => "self",
        ConnectError::NotRegistered(_) => "not_registered",
        ConnectError::Directory(_) => "directory",
        ConnectError::Unreachable { .. } => "unreachable",
        ConnectError::BadCookie { .. } => "bad_cookie",
        ConnectError::HandshakeFailed { .. } => "handshake_failed",
        ConnectError::NameMismatch { .. } => "name_mismatch",
        ConnectError::Timeout { .. } => "timeout",
        ConnectError::Stopped => "stopped",
    }
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            say(format!("ERROR {e}"));
            std::process::exit(2);
        }
    };
    let node = match Node::start(options).await {
        Ok(n) => n,
        Err(e) => {
            say(format!("ERROR {e}"));
            std::process::exit(1);
        }
    };
    let mut events = node.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Up { node }) => say(format!("NODEUP {node}")),
                Ok(NodeEvent::Down { node, reason }) => say(format!("NODEDOWN {node} {reason}")),
                Ok(NodeEvent::BadCookie { peer, incoming, .. }) => say(format!(
                    "BADCOOKIE {peer} {}",
                    if incoming { "incoming" } else { "outgoing" }
                )),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    say(format!("LAGGED {n}"))
                }
                Err(_) => break,
            }
        }
    });
    say(format!("LISTENING {}", node.port()));

    let mut services: HashMap<String, ActorRef<Noop>> = HashMap::new();
    let mut remotables: Vec<ActorRef<u64>> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        let (cmd, arg) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        match cmd {
            "" => {}
            "connect" => match node.connect(arg).await {
                Ok(n) => say(format!("CONNECTED {n}")),
                Err(e) => say(format!("CONNECT_ERROR {} {e}", error_kind(&e))),
            },
            "disconnect" => match arg.parse::<NodeName>() {
                Ok(n) => match node.disconnect(&n) {
                    Ok(()) => say(format!("DISCONNECTED {n}")),
                    Err(e) => say(format!("DISCONNECT_ERROR {e}")),
                },
                Err(e) => say(format!("DISCONNECT_ERROR {e}")),
            },
            "list" => {
                let names: Vec<String> = node.list().iter().map(|n| n.to_string()).collect();
                say(format!("NODES {}", names.join(",")));
            }
            "self" => say(format!("SELF {}", node.self_name())),
            "register" => {
                let result = match Actor::spawn(None, Dummy, ()).await {
                    Ok((actor, _)) => node
                        .register_service(arg, actor.get_cell())
                        .map(|()| actor)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match result {
                    Ok(actor) => {
                        services.insert(arg.to_string(), actor);
                        say(format!("REGISTERED {arg}"));
                    }
                    Err(e) => say(format!("REGISTER_ERROR {e}")),
                }
            }
            "stop_service" => {
                if let Some(actor) = services.remove(arg) {
                    let _ = actor.stop_and_wait(None, None).await;
                }
                say(format!("STOPPED {arg}"));
            }
            "whereis" => match node.whereis_service(arg) {
                Some(s) => say(format!("WHEREIS {arg} {}", s.node)),
                None => say(format!("WHEREIS {arg} none")),
            },
            "services" => {
                let all: Vec<String> = node
                    .services()
                    .into_iter()
                    .map(|(name, n)| format!("{name}={n}"))
                    .collect();
                say(format!("SERVICES {}", all.join(",")));
            }
            "spawn_remotable" => {
                let n: usize = arg.parse().unwrap_or(0);
                for _ in 0..n {
                    if let Ok((a, _)) = Actor::spawn(None, Remotable, ()).await {
                        remotables.push(a);
                    }
                }
                say(format!("SPAWNED {n}"));
            }
            "rss" => say(format!("RSS {}", rss_kb().unwrap_or(0))),
            "quit" => break,
            other => say(format!("UNKNOWN {other}")),
        }
    }
    node.stop().await;
    say("BYE");
}
