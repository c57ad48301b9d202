#![allow(dead_code)] // each test binary that includes the kit uses part of it
//! A real hello_sockets server on a loopback port, and a raw WebSocket client
//! that sends and reads frames exactly as they are on the wire.
//!
//! Every wait is bounded: a frame that does not come within [`WAIT`] fails the
//! test with what was expected, so a broken server never hangs the suite.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use channels::endpoint::{Endpoint, EndpointOptions};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use futures::{SinkExt, StreamExt};
use hello_sockets::HelloSockets;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// How long to wait for a frame the test expects. Generous: only a failing
/// test waits this long.
pub const WAIT: Duration = Duration::from_secs(10);

/// A hello_sockets endpoint serving on `127.0.0.1:<free port>` until dropped
/// or [`Server::stop`]ped.
pub struct Server {
    pub addr: SocketAddr,
    pub endpoint: Arc<Endpoint>,
    /// Where its channel processes run.
    pub channels: ProcessSupervisor,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// A server with Phoenix's default socket settings.
    pub async fn start() -> Server {
        Server::with_config(SocketConfig::default()).await
    }

    /// A server whose sockets use `config`.
    pub async fn with_config(config: SocketConfig) -> Server {
        Server::with_options(config, EndpointOptions::default()).await
    }

    /// A server whose sockets use `config`, with these connection limits and
    /// drain settings.
    pub async fn with_options(config: SocketConfig, options: EndpointOptions) -> Server {
        let supervisor = ProcessSupervisor::start(SupervisorOptions::default())
            .await
            .expect("the channel supervisor starts");
        let endpoint = HelloSockets {
            pubsub: PubSub::new(),
            supervisor: supervisor.clone(),
            signer: Signer::new(secret::generate()),
            config,
            metrics: Metrics::local(),
            tasks: None,
            pipeline: None,
            options,
            presence: None,
        }
        .endpoint();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let addr = listener.local_addr().expect("the listener has an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(endpoint.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            endpoint,
            channels: supervisor,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Asks the endpoint to stop (it drains); returns at once.
    pub fn request_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the endpoint and waits until it has drained (bounded).
    pub async fn stop(&mut self) {
        self.request_stop();
        if let Some(served) = self.served.take() {
            tokio::time::timeout(Duration::from_secs(60), served)
                .await
                .expect("the endpoint drains within its deadline")
                .expect("the serving task does not panic")
                .expect("serving ends cleanly");
        }
    }

    /// The raw TCP stream of a fresh connection.
    pub async fn tcp(&self) -> TcpStream {
        TcpStream::connect(self.addr)
            .await
            .expect("the server accepts")
    }

    /// `ws://127.0.0.1:<port><path_and_query>`.
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }

    /// Connects to `path_and_query` (e.g. `/socket/websocket?vsn=2.0.0`); panics
    /// unless the server upgrades.
    pub async fn connect(&self, path_and_query: &str) -> Client {
        match self.try_connect(path_and_query, None).await {
            Ok(client) => client,
            Err(refused) => panic!(
                "connecting to {path_and_query} was refused with HTTP {}",
                refused.status
            ),
        }
    }

    /// A V2 connection to the `UserSocket`.
    pub async fn connect_v2(&self) -> Client {
        self.connect("/socket/websocket?vsn=2.0.0").await
    }

    /// Connects, sending `Origin: origin` if given: the client, or the HTTP
    /// response the server answered instead of 101.
    pub async fn try_connect(
        &self,
        path_and_query: &str,
        origin: Option<&str>,
    ) -> Result<Client, Refused> {
        let mut request = self
            .ws_url(path_and_query)
            .into_client_request()
            .expect("a valid WebSocket URL");
        if let Some(origin) = origin {
            request.headers_mut().insert(
                "origin",
                HeaderValue::from_str(origin).expect("a valid Origin header"),
            );
        }
        let connecting = tokio::time::timeout(WAIT, connect_async(request))
            .await
            .unwrap_or_else(|_| panic!("no handshake answer for {path_and_query} within {WAIT:?}"));
        match connecting {
            Ok((ws, response)) => {
                assert_eq!(response.status().as_u16(), 101);
                Ok(Client { ws })
            }
            Err(WsError::Http(response)) => Err(Refused {
                status: response.status().as_u16(),
                body: response.body().clone().unwrap_or_default(),
            }),
            Err(other) => panic!("connecting to {path_and_query} failed: {other}"),
        }
    }

    /// The status of a connection attempt that must be refused without an
    /// upgrade and with an empty body (as Phoenix answers a refused connect).
    pub async fn refused(&self, path_and_query: &str, origin: Option<&str>) -> u16 {
        match self.try_connect(path_and_query, origin).await {
            Ok(_) => {
                panic!("{path_and_query} (Origin {origin:?}) was upgraded, expected a refusal")
            }
            Err(refused) => {
                assert!(
                    refused.body.is_empty(),
                    "{path_and_query}: refusal {} with a body {:?}",
                    refused.status,
                    String::from_utf8_lossy(&refused.body)
                );
                refused.status
            }
        }
    }

    /// A plain HTTP GET: the status and the body.
    pub async fn get(&self, path_and_query: &str) -> (u16, String) {
        http_get(self.addr, path_and_query).await
    }

    /// A fresh AuthSocket token for `user_id`, from `GET /token?user_id=..`.
    pub async fn token(&self, user_id: u64) -> String {
        let (status, body) = self.get(&format!("/token?user_id={user_id}")).await;
        assert_eq!(status, 200, "GET /token answered {status}: {body}");
        assert!(body.starts_with("SFMyNTY."), "not a Phoenix token: {body}");
        body
    }

    /// A V2 connection to the `AuthSocket` as `user_id`.
    pub async fn connect_auth(&self, user_id: u64) -> Client {
        let token = self.token(user_id).await;
        self.connect(&format!("/auth_socket/websocket?vsn=2.0.0&token={token}"))
            .await
    }
}

/// The HTTP response to a WebSocket request that was not upgraded.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A plain HTTP GET over a fresh connection: the status and the body.
async fn http_get(addr: SocketAddr, path_and_query: &str) -> (u16, String) {
    let response = runtime::testkit::http_get_async(addr, path_and_query, WAIT).await;
    (response.status, response.body)
}

/// One raw WebSocket connection.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl From<WebSocketStream<MaybeTlsStream<TcpStream>>> for Client {
    fn from(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Client { ws }
    }
}

/// A frame as the client saw it.
#[derive(Debug)]
pub enum Received {
    Text(String),
    Binary(Bytes),
    Close(Option<(u16, String)>),
    /// The TCP connection ended (or failed) without a close frame; the error,
    /// if any, is shown in failure messages.
    Ended(#[allow(dead_code)] Option<String>),
}

impl Client {
    /// Starts the closing handshake with `code` and `reason`.
    pub async fn close(&mut self, code: u16, reason: &str) {
        self.ws
            .send(WsMessage::Close(Some(CloseFrame {
                code: code.into(),
                reason: reason.into(),
            })))
            .await
            .expect("close frame sent");
    }

    /// Sends a text frame exactly as given.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(WsMessage::text(text))
            .await
            .expect("text frame sent");
    }

    /// Sends a JSON value as a text frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws
            .send(WsMessage::binary(data))
            .await
            .expect("binary frame sent");
    }

    /// Sends a text frame whose bytes are not valid UTF-8 (wscat cannot; a
    /// broken client can).
    pub async fn send_invalid_utf8_text(&mut self, data: &'static [u8]) {
        let frame = Frame::message(Bytes::from_static(data), OpCode::Data(Data::Text), true);
        self.ws
            .send(WsMessage::Frame(frame))
            .await
            .expect("raw text frame sent");
    }

    /// The next data or close frame (WebSocket pings and pongs are skipped).
    pub async fn next(&mut self) -> Received {
        let read = async {
            loop {
                return match self.ws.next().await {
                    Some(Ok(WsMessage::Text(text))) => Received::Text(text.to_string()),
                    Some(Ok(WsMessage::Binary(data))) => Received::Binary(data),
                    Some(Ok(WsMessage::Close(frame))) => {
                        Received::Close(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => Received::Ended(Some(err.to_string())),
                    None => Received::Ended(None),
                };
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .unwrap_or_else(|_| panic!("no frame within {WAIT:?}"))
    }

    /// The next frame, which must be a JSON text frame.
    pub async fn recv(&mut self) -> Value {
        match self.next().await {
            Received::Text(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("server sent invalid JSON {text:?}: {e}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next frame, which must be a binary frame.
    pub async fn recv_binary(&mut self) -> Bytes {
        match self.next().await {
            Received::Binary(data) => data,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Asserts that the next frame is exactly `expected`.
    pub async fn expect(&mut self, expected: Value) {
        let got = self.recv().await;
        assert_eq!(got, expected, "unexpected frame");
    }

    /// Sends `frame` and asserts that the next frame is exactly `expected`.
    pub async fn exchange(&mut self, frame: Value, expected: Value) {
        self.send(frame).await;
        self.expect(expected).await;
    }

    /// Joins `topic` with join ref and ref "1", asserting the ok reply.
    pub async fn join(&mut self, topic: &str) {
        self.exchange(
            json!(["1", "1", topic, "phx_join", {}]),
            ok(json!("1"), json!("1"), topic, json!({})),
        )
        .await;
    }

    /// Sends a heartbeat with `msg_ref` and asserts that its reply is the next
    /// frame: everything the server queued before is already read.
    pub async fn heartbeat(&mut self, msg_ref: &str) {
        self.exchange(
            json!([null, msg_ref, "phoenix", "heartbeat", {}]),
            json!([null, msg_ref, "phoenix", "phx_reply", {"response": {}, "status": "ok"}]),
        )
        .await;
    }

    /// Asserts that the next frame is a close frame and returns its code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        match self.next().await {
            Received::Close(Some(close)) => close,
            other => panic!("expected a close frame with a code, got {other:?}"),
        }
    }
}

/// V2 `phx_reply` with status ok.
pub fn ok(join_ref: Value, msg_ref: Value, topic: &str, response: Value) -> Value {
    json!([join_ref, msg_ref, topic, "phx_reply", {"response": response, "status": "ok"}])
}

/// V2 `phx_reply` with status error.
pub fn error(join_ref: Value, msg_ref: Value, topic: &str, response: Value) -> Value {
    json!([join_ref, msg_ref, topic, "phx_reply", {"response": response, "status": "error"}])
}

/// A V2 client → server binary push frame.
pub fn binary_push(
    join_ref: &str,
    msg_ref: &str,
    topic: &str,
    event: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut frame = vec![
        0,
        join_ref.len() as u8,
        msg_ref.len() as u8,
        topic.len() as u8,
        event.len() as u8,
    ];
    for part in [join_ref, msg_ref, topic, event] {
        frame.extend_from_slice(part.as_bytes());
    }
    frame.extend_from_slice(payload);
    frame
}
