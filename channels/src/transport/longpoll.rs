//! The long-poll transport, for clients that cannot keep a WebSocket open.
//!
//! As in Phoenix (every HTTP response is 200; the logical status is in the body):
//! - `GET` without a valid session token runs `connect` and starts a session:
//!   `{"status":410,"token":…,"messages":[]}`, or `{"status":403}` if refused.
//! - `GET` with a token waits up to the window (10 s) for frames:
//!   `{"status":200,"token":…,"messages":["<frame>",…]}` or `{"status":204,"token":…}`.
//! - `POST` with a token carries one frame, or an NDJSON batch; it is answered
//!   `{"status":200}` once every message was handled, `{"status":410}` for an
//!   unknown or expired session.
//! - A session nobody polls for the session timeout (20 s) closes, and its
//!   channels stop.
//!
//! A session is one task that owns the [`Session`] and the outbox, exactly as
//! a WebSocket connection task does; HTTP requests talk to it through a
//! command queue. The token is the session id signed with the endpoint's secret.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{connect, Body, Connected};
use crate::message::Message;
use crate::mount::Mount;
use crate::outbox::{Batch, CloseReason, Outbound, Outbox};
use crate::serializer::{Frame, Serializer};
use crate::session::Session;
use crate::socket::{ConnectInfo, Socket, Transport};

/// The salt of long-poll session tokens.
const TOKEN_SALT: &str = "phoenix.longpoll";

/// What an HTTP request asks of a session's task.
enum Command {
    /// Handle these messages, then answer.
    Dispatch(Vec<Message>, oneshot::Sender<()>),
    /// Answer with frames as soon as there are any, or with none after the window.
    Poll(oneshot::Sender<Vec<String>>),
}

/// The live long-poll sessions of one socket, by id.
#[derive(Default)]
pub struct LongPollSessions {
    sessions: Mutex<HashMap<u64, mpsc::UnboundedSender<Command>>>,
}

impl LongPollSessions {
    fn get(&self, id: u64) -> Option<mpsc::UnboundedSender<Command>> {
        self.sessions
            .lock()
            .get(&id)
            .filter(|tx| !tx.is_closed())
            .cloned()
    }

    /// Sessions open now.
    pub fn count(&self) -> usize {
        self.sessions.lock().len()
    }
}

fn json_response(body: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}

/// Answers a `GET` or `POST` on `{socket_path}/longpoll`.
pub(crate) async fn serve<S: Socket>(
    mount: Arc<Mount<S>>,
    request: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let signer = mount
        .services
        .signer
        .clone()
        .expect("long poll is mounted with a signer");
    let token = super::query_params(request.uri().query()).0.remove("token");
    let session = token
        .as_deref()
        .and_then(|t| {
            signer
                .verify::<u64>(
                    TOKEN_SALT,
                    Some(t),
                    Some(mount.config.longpoll_session_timeout * 3),
                )
                .ok()
        })
        .and_then(|id| Some((id, mount.longpoll_sessions.get(id)?)));

    match (request.method(), session) {
        (&Method::GET, Some((id, commands))) => {
            let (tx, rx) = oneshot::channel();
            if commands.send(Command::Poll(tx)).is_err() {
                return json_response(json!({"status": 410}));
            }
            let token = signer.sign(TOKEN_SALT, &id);
            match rx.await {
                Ok(messages) if !messages.is_empty() => {
                    json_response(json!({"status": 200, "token": token, "messages": messages}))
                }
                Ok(_) => json_response(json!({"status": 204, "token": token})),
                // The session closed while we waited: the client must start over.
                Err(_) => json_response(json!({"status": 410})),
            }
        }
        (&Method::GET, None) => new_session(mount, request, peer).await,
        (&Method::POST, Some((_, commands))) => {
            let serializer = mount_serializer(&request);
            let limit = mount.config.max_frame_bytes.saturating_mul(16);
            let body = match Limited::new(request.into_body(), limit).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return json_response(json!({"status": 413})),
            };
            let messages = match decode_batch(serializer, &body) {
                Ok(messages) => messages,
                Err(reason) => {
                    tracing::warn!(%reason, "long poll: malformed message");
                    return json_response(json!({"status": 400, "reason": reason}));
                }
            };
            let (tx, rx) = oneshot::channel();
            if commands.send(Command::Dispatch(messages, tx)).is_err() || rx.await.is_err() {
                return json_response(json!({"status": 410}));
            }
            json_response(json!({"status": 200}))
        }
        (&Method::POST, None) => json_response(json!({"status": 410})),
        _ => super::plain(StatusCode::METHOD_NOT_ALLOWED, ""),
    }
}

/// The serializer a request's `vsn` asks for (V2 when unknown: the session
/// already refused unknown versions when it was created).
fn mount_serializer(request: &Request<Incoming>) -> Serializer {
    let (_, vsn) = super::query_params(request.uri().query());
    Serializer::from_vsn(vsn.as_deref()).unwrap_or(Serializer::V2)
}

/// One frame, or NDJSON: one frame per line.
fn decode_batch(serializer: Serializer, body: &[u8]) -> Result<Vec<Message>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serializer
                .decode(&Frame::Text(line.to_string().into()))
                .map_err(|e| e.to_string())
        })
        .collect()
}

async fn new_session<S: Socket>(
    mount: Arc<Mount<S>>,
    request: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let info = ConnectInfo {
        peer,
        headers: request.headers().clone(),
        uri: request.uri().clone(),
        transport: Transport::LongPoll,
    };
    let (assigns, serializer) = match connect(&mount, &info).await {
        Connected::Accepted(assigns, serializer) => (assigns, serializer),
        Connected::Refused(_) => return json_response(json!({"status": 403})),
    };
    let id = loop {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        let id = u64::from_le_bytes(bytes);
        if mount.longpoll_sessions.get(id).is_none() {
            break id;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    mount.longpoll_sessions.sessions.lock().insert(id, tx);
    let signer = mount
        .services
        .signer
        .clone()
        .expect("long poll is mounted with a signer");
    tokio::spawn(run(mount, id, assigns, serializer, rx));
    json_response(json!({"status": 410, "token": signer.sign(TOKEN_SALT, &id), "messages": []}))
}

/// The session task: the long-poll counterpart of the WebSocket connection task.
async fn run<S: Socket>(
    mount: Arc<Mount<S>>,
    id: u64,
    assigns: S::Assigns,
    serializer: Serializer,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let outbox = Arc::new(Outbox::new(mount.config.max_outbound_bytes));
    let mut session = Session::new(mount.clone(), assigns, serializer, outbox.clone());
    let window = mount.config.longpoll_window;
    let idle_limit = mount.config.longpoll_session_timeout;
    let mut undelivered: VecDeque<String> = VecDeque::new();
    let mut undelivered_bytes = 0usize;
    let mut waiting: Option<(oneshot::Sender<Vec<String>>, Instant)> = None;
    let mut last_poll = Instant::now();
    loop {
        if let Some((poll, _)) = waiting.take_if(|_| !undelivered.is_empty()) {
            undelivered_bytes = 0;
            let _ = poll.send(undelivered.drain(..).collect());
        }
        let poll_deadline = waiting.as_ref().map(|(_, at)| *at);
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Dispatch(messages, done)) => {
                    for message in messages {
                        session.handle_message(message).await;
                    }
                    let _ = done.send(());
                }
                Some(Command::Poll(poll)) => {
                    last_poll = Instant::now();
                    // A newer poll replaces an older one, which answers 204.
                    if let Some((older, _)) = waiting.replace((poll, last_poll + window)) {
                        let _ = older.send(Vec::new());
                    }
                }
                None => break,
            },
            batch = outbox.next_batch() => match batch {
                Batch::Items(items) => {
                    for item in items {
                        match item {
                            Outbound::Frame(Frame::Text(text)) => {
                                undelivered_bytes += text.len();
                                undelivered.push_back(text.to_string());
                            }
                            Outbound::Frame(Frame::Binary(_)) => {
                                tracing::warn!("long poll: a binary frame cannot be delivered; dropped");
                            }
                            Outbound::ChannelExit { topic, join_ref, subscription, reason, } => {
                                session.channel_exited(&topic, &join_ref, subscription, &reason);
                            }
                        }
                    }
                    if undelivered_bytes > mount.config.max_outbound_bytes {
                        tracing::warn!("closing long-poll session: client does not poll for its messages");
                        break;
                    }
                }
                Batch::Close(reason) => {
                    tracing::info!(?reason, "closing long-poll session");
                    break;
                }
            },
            _ = sleep_until_opt(poll_deadline) => {
                if let Some((poll, _)) = waiting.take() {
                    let _ = poll.send(Vec::new());
                }
            }
            _ = tokio::time::sleep_until(last_poll + idle_limit), if waiting.is_none() => {
                tracing::info!("closing long-poll session: no poll for {idle_limit:?}");
                break;
            }
        }
    }
    mount.longpoll_sessions.sessions.lock().remove(&id);
    session.shutdown();
    outbox.close(CloseReason::ServerShutdown);
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
