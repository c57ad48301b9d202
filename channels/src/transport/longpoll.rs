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
//! A `POST` body is bounded (`SocketConfig::longpoll_max_body_bytes`): a larger
//! one is answered HTTP 413 and nothing of it is decoded; one that does not
//! arrive within the poll window, 408. A batch is decoded a slice at a time,
//! each slice handled by the session before the next is decoded, so the
//! session's message-rate limit stops a flood after twice the limit instead of
//! after the whole body, and a large batch never holds a worker thread for
//! long. A session that is closing (a limit, a drain) handles nothing more.
//!
//! The session is registered with the endpoint, so a drain closes it: its
//! pending poll is answered `{"status":410}` ("session gone"), which makes
//! phoenix.js reconnect and rejoin its channels.
//!
//! A session is one task that owns the [`Session`] and the outbox, exactly as
//! a WebSocket connection task does; HTTP requests talk to it through a
//! command queue. The token is the session id signed with the endpoint's secret.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use parking_lot::Mutex;
use runtime::log_text::bounded;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{connect, Body, Connected};
use crate::message::Message;
use crate::mount::Mount;
use crate::outbox::{Batch, CloseReason, Outbox};
use crate::serializer::{DecodeError, Frame, Serializer};
use crate::session::Session;
use crate::socket::{ConnectInfo, Socket, Transport};

/// The salt of long-poll session tokens.
const TOKEN_SALT: &str = "phoenix.longpoll";

/// Messages of a `POST` handed to the session at a time: small enough that
/// the rate limit stops a flood soon and no batch holds a worker for long.
const DISPATCH_SLICE: usize = 64;

/// What an HTTP request asks of a session's task.
enum Command {
    /// Handle these messages, then answer whether the session is still open.
    Dispatch(Vec<Message>, oneshot::Sender<bool>),
    /// Answer with frames as soon as there are any, or with none after the window.
    Poll(oneshot::Sender<Vec<String>>),
}

/// The live long-poll sessions of one mounted socket, by id: the transport's
/// own state, kept beside the mount by the endpoint.
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
    sessions: Arc<LongPollSessions>,
    request: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let signer = mount
        .services
        .signer
        .clone()
        .expect("long poll is mounted with a signer");
    // Every request, not only the one that opens the session (as Phoenix's
    // LongPoll checks each): answered like a refused connect.
    if !super::origin_allowed(&mount, request.headers()) {
        return json_response(json!({"status": 403}));
    }
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
        .and_then(|id| Some((id, sessions.get(id)?)));

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
        (&Method::GET, None) => new_session(mount, sessions, request, peer).await,
        (&Method::POST, Some((_, commands))) => publish(&mount, request, commands).await,
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

/// Answers a `POST`: reads the bounded body, then hands its messages to the
/// session a slice at a time.
async fn publish<S: Socket>(
    mount: &Mount<S>,
    request: Request<Incoming>,
    commands: mpsc::UnboundedSender<Command>,
) -> Response<Body> {
    let serializer = mount_serializer(&request);
    let limit = mount.config.longpoll_max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(limit);
    }
    let collected = tokio::time::timeout(
        mount.config.longpoll_window,
        Limited::new(request.into_body(), limit).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(err)) if err.is::<LengthLimitError>() => return too_large(limit),
        Ok(Err(err)) => {
            tracing::debug!(%err, "long poll: the request body could not be read");
            return status_response(StatusCode::BAD_REQUEST, json!({"status": 400}));
        }
        Err(_) => {
            return status_response(
                StatusCode::REQUEST_TIMEOUT,
                json!({"status": 408, "reason": "request body not received in time"}),
            )
        }
    };
    let mut decoded = match body_messages(serializer, &body) {
        Ok(decoded) => decoded,
        Err(err) => return malformed(err.to_string()),
    };
    loop {
        let mut messages = Vec::with_capacity(DISPATCH_SLICE);
        for message in decoded.by_ref().take(DISPATCH_SLICE) {
            match message {
                Ok(message) => messages.push(message),
                Err(err) => {
                    // The messages before it were handled, as a WebSocket
                    // handles the frames before a malformed one.
                    dispatch(&commands, messages).await;
                    return malformed(err.to_string());
                }
            }
        }
        if messages.is_empty() {
            return json_response(json!({"status": 200}));
        }
        if !dispatch(&commands, messages).await {
            // The session closed (a limit, a drain): the rest is not read.
            return json_response(json!({"status": 410}));
        }
    }
}

/// A `POST` body that is not text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body is not UTF-8")]
pub struct BodyNotUtf8;

/// The messages of a long-poll `POST` body, decoded lazily in order: one
/// message per non-blank line (phoenix.js batches with `\n`), each decoded as
/// a WebSocket text frame would be. The caller stops at the first error.
pub fn body_messages(
    serializer: Serializer,
    body: &[u8],
) -> Result<impl Iterator<Item = Result<Message, DecodeError>> + '_, BodyNotUtf8> {
    let text = std::str::from_utf8(body).map_err(|_| BodyNotUtf8)?;
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(move |line| serializer.decode(&Frame::Text(line.to_string().into()))))
}

/// Hands messages to the session; `false` once it is closed or closing.
async fn dispatch(commands: &mpsc::UnboundedSender<Command>, messages: Vec<Message>) -> bool {
    if messages.is_empty() {
        return true;
    }
    let (tx, rx) = oneshot::channel();
    commands.send(Command::Dispatch(messages, tx)).is_ok() && rx.await.unwrap_or(false)
}

fn status_response(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = json_response(body);
    *response.status_mut() = status;
    response
}

fn too_large(limit: usize) -> Response<Body> {
    status_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"status": 413, "reason": format!("request body larger than {limit} bytes")}),
    )
}

fn malformed(reason: String) -> Response<Body> {
    tracing::warn!(reason = %bounded(&reason), "long poll: malformed message");
    json_response(json!({"status": 400, "reason": bounded(&reason).to_string()}))
}

async fn new_session<S: Socket>(
    mount: Arc<Mount<S>>,
    sessions: Arc<LongPollSessions>,
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
        if sessions.get(id).is_none() {
            break id;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    sessions.sessions.lock().insert(id, tx);
    let signer = mount
        .services
        .signer
        .clone()
        .expect("long poll is mounted with a signer");
    tokio::spawn(run(mount, sessions, id, assigns, serializer, rx));
    json_response(json!({"status": 410, "token": signer.sign(TOKEN_SALT, &id), "messages": []}))
}

/// The session task: the long-poll counterpart of the WebSocket connection task.
async fn run<S: Socket>(
    mount: Arc<Mount<S>>,
    sessions: Arc<LongPollSessions>,
    id: u64,
    assigns: S::Assigns,
    serializer: Serializer,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let outbox = Arc::new(Outbox::new(mount.config.max_outbound_bytes));
    // Held until the connection is closed.
    let registration = mount.register(&outbox);
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
                    let _ = done.send(!outbox.is_closing());
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
                        match session.outbound(item) {
                            Some(Frame::Text(text)) => {
                                undelivered_bytes += text.len();
                                undelivered.push_back(text.to_string());
                            }
                            Some(Frame::Binary(_)) => {
                                tracing::warn!("long poll: a binary frame cannot be delivered; dropped");
                            }
                            None => {}
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
    sessions.sessions.lock().remove(&id);
    session.shutdown();
    outbox.close(CloseReason::ServerShutdown);
    drop(registration);
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
