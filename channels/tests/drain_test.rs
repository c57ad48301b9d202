//! A stopping endpoint drains, as Phoenix's socket drainer does: every open
//! socket is closed with 1012 ("service restart"), in batches, and no channel
//! is ever sent `phx_close` because its socket is going away — phoenix.js
//! would take that as the channel's end and never rejoin. Channels'
//! `terminate` still runs. The same holds when the node's supervision tree
//! stops the channels: `phx_error`, never `phx_close`.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use channels::channel::{Channel, ChannelSocket, HandleIn, Reply};
use channels::drain::{DrainConfig, SOCKETS_DRAINED};
use channels::endpoint::{Endpoint, EndpointOptions};
use channels::message::Payload;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use channels::token::Signer;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use runtime::{ExitReason, ProcessError};
use serde_json::{json, Value};
use support::{Received, Server, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// `room:*`, whose `terminate` reports the topic and reason to the test.
struct RoomSocket {
    terminated: mpsc::UnboundedSender<(String, ExitReason)>,
}

struct RoomChannel {
    terminated: mpsc::UnboundedSender<(String, ExitReason)>,
}

impl Socket for RoomSocket {
    type Assigns = ();

    async fn connect(&self, _params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        Ok(())
    }

    fn channels(&self, routes: &mut Routes<()>) {
        routes.channel(
            "room:*",
            RoomChannel {
                terminated: self.terminated.clone(),
            },
        );
    }
}

impl Channel<()> for RoomChannel {
    type State = ();
    type Info = ();

    async fn handle_in(
        &self,
        event: &str,
        _payload: Payload,
        _socket: &ChannelSocket<()>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        match event {
            "ping" => Ok(HandleIn::Reply(Reply::ok(json!({"ping": "pong"})))),
            // The channel's own choice: this one is a phx_close.
            "done" => Ok(HandleIn::Stop(ExitReason::Normal, None)),
            other => Err(format!("unexpected {other}").into()),
        }
    }

    async fn terminate(&self, reason: &ExitReason, socket: &ChannelSocket<()>, _state: &mut ()) {
        let _ = self
            .terminated
            .send((socket.topic().to_string(), reason.clone()));
    }
}

/// An endpoint with `RoomSocket` at `/socket` (WebSocket and long poll).
struct Rooms {
    addr: SocketAddr,
    endpoint: Arc<Endpoint>,
    terminated: mpsc::UnboundedReceiver<(String, ExitReason)>,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Rooms {
    async fn start(drain: DrainConfig) -> Rooms {
        let channels = ProcessSupervisor::start(SupervisorOptions::default())
            .await
            .unwrap();
        let (tx, terminated) = mpsc::unbounded_channel();
        let endpoint = Endpoint::builder(PubSub::new(), channels)
            .signer(Signer::new(secret::generate()))
            .options(EndpointOptions {
                drain,
                ..Default::default()
            })
            .socket(
                "/socket",
                RoomSocket { terminated: tx },
                SocketConfig {
                    longpoll: true,
                    longpoll_window: Duration::from_secs(30),
                    ..Default::default()
                },
            )
            .build();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(endpoint.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        Rooms {
            addr,
            endpoint,
            terminated,
            stop: Some(stop),
            served,
        }
    }

    fn request_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn connect_joined(&self, topic: &str) -> support::Client {
        let url = format!("ws://{}/socket/websocket?vsn=2.0.0", self.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = support::Client::from(ws);
        client.join(topic).await;
        client
    }

    /// Waits for the drain to finish; the sockets it counted.
    async fn drained(&mut self) -> u64 {
        tokio::time::timeout(WAIT, &mut self.served)
            .await
            .expect("the drain finishes once everything is closed")
            .unwrap()
            .unwrap();
        self.endpoint
            .metrics()
            .counter(SOCKETS_DRAINED, &[("socket", "RoomSocket")])
    }

    async fn terminated(&mut self) -> (String, ExitReason) {
        tokio::time::timeout(WAIT, self.terminated.recv())
            .await
            .expect("a channel's terminate ran")
            .expect("the channel reports")
    }
}

/// What the client received up to the end of its connection, text frames as
/// JSON, the last entry being the close (or the bare end).
async fn rest_of(client: &mut support::Client) -> (Vec<Value>, Received) {
    let mut frames = Vec::new();
    loop {
        match client.next().await {
            Received::Text(text) => frames.push(serde_json::from_str(&text).unwrap()),
            Received::Binary(_) => panic!("no binary frames here"),
            end => return (frames, end),
        }
    }
}

fn events(frames: &[Value]) -> Vec<&str> {
    frames.iter().filter_map(|f| f[3].as_str()).collect()
}

#[tokio::test]
async fn a_stop_closes_sockets_with_1012_without_phx_close_and_runs_terminate() {
    let mut rooms = Rooms::start(DrainConfig::default()).await;
    let mut first = rooms.connect_joined("room:1").await;
    let mut second = rooms.connect_joined("room:2").await;

    rooms.request_stop();
    for client in [&mut first, &mut second] {
        let (frames, end) = rest_of(client).await;
        assert!(
            !events(&frames).contains(&"phx_close"),
            "a drained socket's channels are not closed on the client: {frames:?}"
        );
        match end {
            Received::Close(Some((code, reason))) => {
                assert_eq!(code, 1012);
                assert_eq!(reason, "service restart");
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    let mut ended = vec![rooms.terminated().await, rooms.terminated().await];
    ended.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ended,
        vec![
            ("room:1".to_string(), ExitReason::Shutdown),
            ("room:2".to_string(), ExitReason::Shutdown)
        ]
    );
    assert_eq!(rooms.drained().await, 2);
    // The listener is gone: nobody connects to a stopped node.
    assert!(tokio::net::TcpStream::connect(rooms.addr).await.is_err());
}

#[tokio::test]
async fn a_channel_that_stops_itself_is_still_closed_on_the_client() {
    let rooms = Rooms::start(DrainConfig::default()).await;
    let mut client = rooms.connect_joined("room:1").await;
    client.send(json!(["1", "2", "room:1", "done", {}])).await;
    client
        .expect(json!(["1", "1", "room:1", "phx_close", {}]))
        .await;
}

#[tokio::test]
async fn sockets_are_drained_in_batches_and_a_second_request_closes_the_rest() {
    let mut rooms = Rooms::start(DrainConfig {
        batch_size: 2,
        batch_interval: Duration::from_secs(120),
        deadline: Duration::from_secs(600),
    })
    .await;
    let mut clients = Vec::new();
    for n in 0..5 {
        clients.push(rooms.connect_joined(&format!("room:{n}")).await);
    }
    rooms.request_stop();
    // The first batch: the two oldest connections.
    for client in &mut clients[..2] {
        assert!(matches!(
            client.next().await,
            Received::Close(Some((1012, _)))
        ));
    }
    // The next batch is two minutes away: the others are still served.
    for client in &mut clients[2..] {
        client.heartbeat("hb").await;
    }
    assert_eq!(rooms.endpoint.connections().count(), 3);
    // A second stop request: the rest at once.
    rooms.endpoint.finish_drain_now();
    for client in &mut clients[2..] {
        let (frames, end) = rest_of(client).await;
        assert!(!events(&frames).contains(&"phx_close"), "{frames:?}");
        assert!(matches!(end, Received::Close(Some((1012, _)))), "{end:?}");
    }
    assert_eq!(rooms.drained().await, 5);
}

/// A raw HTTP request on a fresh connection: the status and the body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut raw))
        .await
        .expect("an answer")
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[tokio::test]
async fn a_pending_long_poll_is_answered_session_gone_so_the_client_rejoins() {
    let mut rooms = Rooms::start(DrainConfig::default()).await;
    let path = "/socket/longpoll?vsn=2.0.0";
    let (_, created) = http(rooms.addr, "GET", path, "").await;
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["status"], 410);
    let token = created["token"].as_str().unwrap().to_string();
    let session = format!("{path}&token={token}");
    let join = json!(["1", "1", "room:lp", "phx_join", {}]).to_string();
    let (status, body) = http(rooms.addr, "POST", &session, &join).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":200}"#));
    let (_, joined) = http(rooms.addr, "GET", &session, "").await;
    assert!(joined.contains("phx_reply"), "{joined}");

    // A poll waits (the window is 30 s here) while the node stops.
    let pending = tokio::spawn({
        let addr = rooms.addr;
        let session = session.clone();
        async move { http(addr, "GET", &session, "").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    rooms.request_stop();
    let (status, body) = pending.await.unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": 410}),
        "phoenix.js answers 410 on a session it had by reconnecting and rejoining"
    );
    assert_eq!(rooms.terminated().await.0, "room:lp");
}

#[tokio::test]
async fn channels_stopped_by_their_supervisor_are_errored_never_closed() {
    let mut server = Server::start().await;
    let mut client = server.connect_v2().await;
    client.join("ping").await;
    // The node's supervision tree goes down around a live connection.
    server.channels.stop().await;
    client
        .expect(json!(["1", "1", "ping", "phx_error", {}]))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn channels_killed_with_their_crashed_supervisor_are_errored_too() {
    let mut server = Server::start().await;
    let mut client = server.connect_v2().await;
    client.join("ping").await;
    // A crash, not a stop: the children are killed without their terminate.
    server.channels.actor().kill();
    client
        .expect(json!(["1", "1", "ping", "phx_error", {}]))
        .await;
    server.stop().await;
}
