//! The well-behaved clients that stay connected through the attack: several
//! over WebSocket and one over long poll, all V2 JSON as phoenix.js sends it.
//! Each joins the plan's topics, pushes every few milliseconds and checks each
//! reply (`good_check.rs`); one of them, the broadcaster, makes the numbered
//! broadcasts every listener must receive. When the attack ends they stop
//! pushing and wait — bounded — until every reply and every broadcast has
//! come. The fuzzer's verdict "lost nothing" is theirs.
//!
//! They connect from 127.0.0.1 itself, apart from the attack's spread source
//! addresses, and stay far below the server's rate limit.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::dial::connect_from;
use super::good_check::{Checker, GoodReport, Pending, Received};
use super::good_longpoll;
use super::target::{Flavor, GoodPlan, Target};

/// How often each client pushes an echo.
pub const ECHO_EVERY: Duration = Duration::from_millis(20);
/// How often the broadcaster pushes (once its previous push was answered).
pub const CHANGE_EVERY: Duration = Duration::from_millis(40);
/// How often the WebSocket clients send a heartbeat, as phoenix.js does
/// (every 30 s; more often here, so that heartbeats are checked too).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// How long a client may take to connect and join.
const JOIN_LIMIT: Duration = Duration::from_secs(30);
/// How long after the attack the clients wait for what is still owed them.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// What the clients share: the broadcaster's count.
#[derive(Debug, Default)]
pub struct Shared {
    /// Broadcasting pushes answered `ok` (each made one broadcast).
    pub broadcasts_sent: AtomicU64,
    /// The broadcaster has stopped and has no push in flight.
    pub broadcaster_done: AtomicBool,
}

/// A client's part: the broadcaster pushes the numbered broadcasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Listens (and echoes).
    Listener,
    /// Broadcasts (and, on hello_sockets, hears its own broadcasts).
    Broadcaster,
}

impl Role {
    /// Whether a client of this role receives the numbered broadcasts.
    pub fn hears_broadcasts(self, flavor: &Flavor) -> bool {
        match self {
            Role::Listener => true,
            // `broadcast` reaches its sender; `broadcast_from` (the cart) does not.
            Role::Broadcaster => *flavor == Flavor::Bench,
        }
    }
}

/// Whether a stopping client has all it is owed.
pub fn settled(checker: &Checker, hears: bool, shared: &Shared) -> bool {
    checker.outstanding() == 0
        && (!hears
            || (shared.broadcaster_done.load(Ordering::Acquire)
                && checker.broadcasts_received >= shared.broadcasts_sent.load(Ordering::Acquire)))
}

/// The broadcasts a client should have received, once the broadcaster is done.
pub fn broadcasts_expected(hears: bool, shared: &Shared) -> u64 {
    if hears {
        shared.broadcasts_sent.load(Ordering::Acquire)
    } else {
        0
    }
}

/// The running clients.
pub struct GoodClients {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<GoodReport>>,
}

impl GoodClients {
    /// Connects `websockets` listening WebSocket clients, one long-poll
    /// client and the broadcaster, each joined before the next starts.
    pub async fn start(target: &Target, websockets: usize) -> Result<GoodClients, String> {
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared::default());
        let mut clients = GoodClients {
            stop,
            tasks: Vec::new(),
        };
        for i in 0..websockets {
            let (ready, joined) = oneshot::channel();
            clients.tasks.push(tokio::spawn(websocket_client(
                format!("ws-{i}"),
                target.good.clone(),
                target.server,
                Role::Listener,
                shared.clone(),
                stopped.clone(),
                ready,
            )));
            clients.joined(joined).await?;
        }
        let (ready, joined) = oneshot::channel();
        clients.tasks.push(tokio::spawn(good_longpoll::client(
            "longpoll".into(),
            target.good.clone(),
            target.server,
            shared.clone(),
            stopped.clone(),
            ready,
        )));
        clients.joined(joined).await?;
        let (ready, joined) = oneshot::channel();
        clients.tasks.push(tokio::spawn(websocket_client(
            "broadcaster".into(),
            target.good.clone(),
            target.server,
            Role::Broadcaster,
            shared,
            stopped,
            ready,
        )));
        clients.joined(joined).await?;
        Ok(clients)
    }

    async fn joined(
        &mut self,
        joined: oneshot::Receiver<Result<(), String>>,
    ) -> Result<(), String> {
        match joined.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err),
            Err(_) => Err("a good client ended before it joined".into()),
        }
    }

    /// Stops pushing, waits until every client has what it is owed (or
    /// [`DRAIN_LIMIT`] passed), and reports.
    pub async fn finish(self) -> GoodReport {
        let _ = self.stop.send(true);
        let mut report = GoodReport::default();
        for task in self.tasks {
            match task.await {
                Ok(client) => report.merge(client),
                Err(err) => {
                    let mut failed = GoodReport {
                        clients: 1,
                        ..GoodReport::default()
                    };
                    failed
                        .failures
                        .push(format!("a good client's task failed: {err}"));
                    report.merge(failed);
                }
            }
        }
        report
    }
}

/// One WebSocket client; `ready` says when it has joined.
async fn websocket_client(
    name: String,
    plan: GoodPlan,
    server: SocketAddr,
    role: Role,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), String>>,
) -> GoodReport {
    let hears = role.hears_broadcasts(&plan.flavor);
    let url = format!(
        "ws://{server}{}/websocket?vsn=2.0.0{}{}",
        plan.socket_path,
        if plan.params.is_empty() { "" } else { "&" },
        plan.params
    );
    let mut checker = Checker::new(name.clone(), plan);
    let connected = async {
        let stream = connect_from(server, None)
            .await
            .map_err(|e| e.to_string())?;
        tokio_tungstenite::client_async(url.as_str(), stream)
            .await
            .map_err(|e| e.to_string())
    };
    let ws = match tokio::time::timeout(JOIN_LIMIT, connected).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(err)) => {
            let _ = ready.send(Err(format!("{name}: cannot connect to {url}: {err}")));
            checker.fail("could not connect");
            return checker.into_report(0);
        }
        Err(_) => {
            let _ = ready.send(Err(format!("{name}: no connection within {JOIN_LIMIT:?}")));
            checker.fail("could not connect");
            return checker.into_report(0);
        }
    };
    let (mut sink, mut stream) = ws.split();

    // Join, and wait for the replies (and the store's cart push).
    let mut ready = Some(ready);
    for join in checker.joins() {
        if sink.send(Message::text(join)).await.is_err() {
            checker.fail("the join could not be sent");
        }
    }
    let join_deadline = Instant::now() + JOIN_LIMIT;
    while checker.outstanding() > 0 || checker.initial_push_due() {
        match tokio::time::timeout_at(join_deadline, stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                checker.receive(&text);
            }
            Ok(Some(Ok(_))) => {}
            _ => {
                checker.fail("no join reply");
                break;
            }
        }
        if checker.failed() {
            break;
        }
    }
    if checker.failed() {
        if let Some(ready) = ready.take() {
            let _ = ready.send(Err(checker.failures().join("; ")));
        }
        return checker.into_report(0);
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(Ok(()));
    }

    let mut echo = tokio::time::interval(ECHO_EVERY);
    let mut change = tokio::time::interval(CHANGE_EVERY);
    let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
    let mut check = tokio::time::interval(Duration::from_millis(50));
    for timer in [&mut echo, &mut change, &mut heartbeat, &mut check] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let broadcaster = role == Role::Broadcaster;
    let mut next_change = 0u64;
    let mut change_in_flight = false;
    let mut stopping_since: Option<Instant> = None;
    loop {
        let stopping = stopping_since.is_some();
        let out = tokio::select! {
            incoming = stream.next() => {
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Received::Reply(Pending::Change(_), ok) = checker.receive(&text) {
                            change_in_flight = false;
                            if ok {
                                shared.broadcasts_sent.fetch_add(1, Ordering::AcqRel);
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => checker.fail("a binary frame on a V2 JSON connection"),
                    Some(Ok(Message::Close(frame))) => {
                        checker.fail(format!("the server closed the connection: {frame:?}"));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        checker.fail(format!("the connection failed: {err}"));
                        break;
                    }
                    None => {
                        checker.fail("the connection ended");
                        break;
                    }
                }
                None
            }
            _ = echo.tick(), if !stopping => Some(checker.echo()),
            _ = change.tick(), if broadcaster && !stopping && !change_in_flight => {
                change_in_flight = true;
                next_change += 1;
                Some(checker.change(next_change - 1))
            }
            _ = heartbeat.tick(), if !stopping => Some(checker.heartbeat()),
            _ = stop.changed(), if !stopping => {
                stopping_since = Some(Instant::now());
                None
            }
            _ = check.tick(), if stopping => {
                if broadcaster && !change_in_flight {
                    shared.broadcaster_done.store(true, Ordering::Release);
                }
                if settled(&checker, hears, &shared) {
                    break;
                }
                if stopping_since.is_some_and(|at| at.elapsed() > DRAIN_LIMIT) {
                    checker.fail(format!(
                        "{} replies and {} broadcasts still missing {DRAIN_LIMIT:?} after the attack",
                        checker.outstanding(),
                        broadcasts_expected(hears, &shared).saturating_sub(checker.broadcasts_received)
                    ));
                    break;
                }
                None
            }
        };
        if let Some(frame) = out {
            if let Err(err) = sink.send(Message::text(frame)).await {
                checker.fail(format!("a push could not be sent: {err}"));
                break;
            }
        }
    }
    if broadcaster {
        // Even when it failed: the listeners must not wait for it.
        shared.broadcaster_done.store(true, Ordering::Release);
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), sink.close()).await;
    let expected = broadcasts_expected(hears, &shared);
    checker.into_report(expected)
}
