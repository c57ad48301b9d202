//! Attacks over long poll (`GET`/`POST {socket}/longpoll?vsn=…&token=…`, see
//! `channels/src/transport/longpoll.rs`), over hand-written HTTP/1.1 so that
//! requests can be wrong in every way: batches of generated and mutated
//! frames (each line one message, the way phoenix.js batches), bodies that
//! are not UTF-8, declared or sent past the size limit, cut off, badly
//! chunked; tokens that are garbage, forged or of a session long gone; wrong
//! methods, wrong content types, sockets that are not mounted.
//!
//! Each batch starts with a heartbeat, so the poll that follows it has a
//! reply to collect at once instead of waiting out the 10 s window. What the
//! server answers is checked against what the request calls for (its status
//! in the JSON body; HTTP 413 for a body too large) and noted with the
//! session's seed when it differs.

use std::time::Duration;

use super::dial::connect_spread;
use super::http::{HttpConn, Response};
use super::mutate::{predict_decodes, Frames, Vsn, Wire};
use super::report::Tally;
use super::session::{Budget, Session, CLOSE_WAIT};
use super::target::SocketSpec;

const TRANSPORT: &str = "longpoll";

/// A poll returns within the server's window (10 s) plus this.
const POLL_LIMIT: Duration = Duration::from_secs(20);

/// The most lines in one batch.
const MAX_BATCH: u64 = 32;

/// Content types a `POST` claims (the server reads the body whatever it says).
const CONTENT_TYPES: [&str; 7] = [
    "application/json",
    "text/plain",
    "application/x-ndjson",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "image/png",
    "\u{1}garbage",
];

/// A long-poll session on the server, as the attacker holds it.
struct LongPoll {
    conn: Option<HttpConn>,
    socket: std::sync::Arc<SocketSpec>,
    query: String,
    vsn: Vsn,
    token: Option<String>,
}

/// The status in a long-poll answer's JSON body.
fn body_status(response: &Response) -> Option<i64> {
    response.json()?.get("status")?.as_i64()
}

fn describe(response: &Response) -> String {
    match body_status(response) {
        Some(status) => format!("HTTP {} status {status}", response.status),
        None => format!("HTTP {}", response.status),
    }
}

/// Runs one long-poll session, drawing from `budget`; adds what happened to
/// `tally`.
pub async fn attack(mut session: Session, budget: &Budget, tally: &mut Tally) {
    let planned = session.rng.u64(8..=120);
    let granted = budget.take(planned);
    if granted == 0 {
        return;
    }
    let sent = run(&mut session, granted, tally).await;
    budget.give_back(granted.saturating_sub(sent));
}

async fn run(session: &mut Session, granted: u64, tally: &mut Tally) -> u64 {
    let socket = session.socket(true);
    let params = session.params(&socket);
    let (vsn_text, vsn) = session.vsn();
    let mut poll = LongPoll {
        conn: None,
        socket: socket.clone(),
        query: Session::query(&vsn_text, &params),
        vsn: vsn.unwrap_or(Vsn::V2),
        token: None,
    };
    let mut frames = Frames::new(
        session.seed,
        socket.clone(),
        poll.vsn,
        false,
        session.target.max_frame_bytes,
    );
    let mut sent = 0u64;
    // The first request opens the session (or is refused).
    if !open(session, &mut poll, vsn.is_some(), tally).await {
        return 1;
    }
    sent += 1;
    while sent < granted {
        let left = granted - sent;
        let roll = session.rng.u8(..100);
        let used = match roll {
            0..=69 => batch(session, &mut poll, &mut frames, left, tally).await,
            70..=77 => bad_token(session, &mut poll, tally).await,
            78..=81 => wrong_method(session, &mut poll, tally).await,
            82..=84 => declared_too_large(session, &mut poll, tally).await,
            85 => oversized_body(session, &mut poll, tally).await,
            86..=88 => truncated_body(session, &mut poll, tally).await,
            89..=91 => bad_chunked(session, &mut poll, tally).await,
            92..=94 => not_utf8(session, &mut poll, &mut frames, tally).await,
            _ => wrong_path(session, &mut poll, tally).await,
        };
        match used {
            Some(n) => sent += n,
            None => break,
        }
        if poll.token.is_none() {
            // The session ended (a limit): start another, as phoenix.js does.
            if sent >= granted || !open(session, &mut poll, true, tally).await {
                break;
            }
            sent += 1;
        }
    }
    sent
}

/// A connection for the next request (a new one if the last was closed).
async fn connection<'a>(
    session: &Session,
    poll: &'a mut LongPoll,
    tally: &mut Tally,
) -> Option<&'a mut HttpConn> {
    if poll.conn.is_none() {
        tally.connections += 1;
        match connect_spread(session.target.server).await {
            Ok(stream) => poll.conn = Some(HttpConn::new(stream, session.target.server)),
            Err(err) => {
                tally.error(format!("{TRANSPORT}: connect failed: {:?}", err.kind()));
                tally.note(format!("{}: connect failed: {err}", session.label()));
                return None;
            }
        }
    }
    poll.conn.as_mut()
}

/// One request to send.
struct Ask<'a> {
    method: &'a str,
    target: &'a str,
    headers: &'a [(&'a str, String)],
    body: &'a [u8],
    limit: Duration,
}

impl<'a> Ask<'a> {
    /// `method target` with `body`, no extra headers, answered within `limit`.
    fn new(method: &'a str, target: &'a str, body: &'a [u8], limit: Duration) -> Self {
        Ask {
            method,
            target,
            headers: &[],
            body,
            limit,
        }
    }

    /// … with these headers.
    fn headers(self, headers: &'a [(&'a str, String)]) -> Self {
        Ask { headers, ..self }
    }
}

/// Sends one request on the session's connection; `None` (after counting an
/// error) if no answer came. A connection the server closes is replaced on
/// the next request.
async fn send(
    session: &Session,
    poll: &mut LongPoll,
    ask: Ask<'_>,
    tally: &mut Tally,
) -> Option<Response> {
    let Ask {
        method,
        target,
        headers,
        body,
        limit,
    } = ask;
    let conn = connection(session, poll, tally).await?;
    let result = conn.request(method, target, headers, body, limit).await;
    match result {
        Ok(response) => {
            if response.closes() {
                poll.conn = None;
            }
            Some(response)
        }
        Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {
            poll.conn = None;
            tally.error(format!("{TRANSPORT}: no answer within {limit:?}"));
            tally.note(format!(
                "{}: {method} {} got no answer within {limit:?}",
                session.label(),
                target.split('?').next().unwrap_or("")
            ));
            None
        }
        Err(err) => {
            // Closed by the server between requests (keep-alive timeout, or
            // the end of a request it refused): once more on a new connection.
            poll.conn = None;
            tally.answer(TRANSPORT, format!("connection closed ({:?})", err.kind()));
            let conn = connection(session, poll, tally).await?;
            match conn.request(method, target, headers, body, limit).await {
                Ok(response) => Some(response),
                Err(err) => {
                    poll.conn = None;
                    tally.error(format!(
                        "{TRANSPORT}: request failed twice: {:?}",
                        err.kind()
                    ));
                    tally.note(format!("{}: {method} failed twice: {err}", session.label()));
                    None
                }
            }
        }
    }
}

fn base(poll: &LongPoll) -> String {
    format!("{}/longpoll", poll.socket.path)
}

fn with_token(poll: &LongPoll) -> String {
    let token = poll.token.as_deref().unwrap_or("");
    format!("{}?{}&token={token}", base(poll), poll.query)
}

/// `GET` without a token: a new session (`410` and a token) or a refusal
/// (`403`). `accepted`: whether the `vsn` is one the server takes.
async fn open(
    session: &mut Session,
    poll: &mut LongPoll,
    accepted: bool,
    tally: &mut Tally,
) -> bool {
    let target = format!("{}?{}", base(poll), poll.query);
    tally.frames(TRANSPORT, "connect", 1);
    let Some(response) = send(
        session,
        poll,
        Ask::new("GET", &target, b"", CLOSE_WAIT),
        tally,
    )
    .await
    else {
        return false;
    };
    tally.answer(TRANSPORT, format!("connect -> {}", describe(&response)));
    let token = response
        .json()
        .and_then(|v| v.get("token")?.as_str().map(str::to_string));
    match (body_status(&response), token) {
        (Some(410), Some(token)) if accepted => {
            poll.token = Some(token);
            true
        }
        // Refused: for its `vsn`, or for params the socket does not take.
        (Some(403), _) => false,
        _ => {
            tally.note(format!(
                "{}: a long-poll connect to {} was answered {}",
                session.label(),
                poll.socket.path,
                describe(&response)
            ));
            false
        }
    }
}

/// The status the server must answer a batch `body` with, by its rules
/// (`body_messages`): 400 if it is not UTF-8 or a non-blank line does not
/// decode, else 200.
fn expected_status(body: &[u8], vsn: Vsn) -> i64 {
    let Ok(text) = std::str::from_utf8(body) else {
        return 400;
    };
    let all_decode = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .all(|line| predict_decodes(&Wire::Text(line.as_bytes().to_vec()), vsn));
    if all_decode {
        200
    } else {
        400
    }
}

/// `POST` a batch: a heartbeat, then generated frames, ending at the first
/// one the server cannot decode; then a poll for the replies.
async fn batch(
    session: &mut Session,
    poll: &mut LongPoll,
    frames: &mut Frames,
    left: u64,
    tally: &mut Tally,
) -> Option<u64> {
    let n = session.rng.u64(1..=MAX_BATCH.min(left).max(1));
    let mut lines: Vec<Vec<u8>> = vec![br#"[null,"hb","phoenix","heartbeat",{}]"#.to_vec()];
    if poll.vsn == Vsn::V1 {
        lines[0] = br#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb"}"#.to_vec();
    }
    let mut kinds = vec!["valid"];
    let flood = session.rng.u8(..40) == 0;
    let generated = if flood {
        frames.join_flood(n.saturating_sub(1) as usize)
    } else {
        (1..n).map(|_| frames.any()).collect()
    };
    for frame in generated {
        // A binary frame's bytes go as a line (bodies are text).
        let ends = !frame.decodes;
        lines.push(frame.wire.bytes().to_vec());
        kinds.push(frame.kind);
        if ends {
            break;
        }
    }
    let body = lines.join(&b'\n');
    let utf8 = std::str::from_utf8(&body).is_ok();
    let too_large = body.len() > session.target.longpoll_max_body_bytes;
    let expected = expected_status(&body, poll.vsn);
    let content_type = CONTENT_TYPES[session.rng.usize(..CONTENT_TYPES.len())];
    let target = with_token(poll);
    let headers = [("Content-Type", content_type.to_string())];
    let ask = Ask::new("POST", &target, &body, POLL_LIMIT).headers(&headers);
    let response = send(session, poll, ask, tally).await?;
    for kind in &kinds {
        tally.frames(TRANSPORT, kind, 1);
    }
    tally.answer(TRANSPORT, format!("batch -> {}", describe(&response)));
    let status = body_status(&response);
    match status {
        Some(410) => poll.token = None,
        Some(200) | Some(400) => {
            if status != Some(expected) {
                tally.note(format!(
                    "{}: a batch of {:?} should be answered {expected}, got {}",
                    session.label(),
                    kinds,
                    describe(&response)
                ));
            }
            if utf8 {
                collect_replies(session, poll, tally).await?;
            }
        }
        // A header value with a control character: refused by the HTTP layer.
        None if response.status == 400 && content_type.contains('\u{1}') => {}
        Some(413) if too_large => {}
        _ => tally.note(format!(
            "{}: a batch was answered {}",
            session.label(),
            describe(&response)
        )),
    }
    Some(kinds.len() as u64)
}

/// `GET` with the token: the queued replies (the batch's heartbeat reply at
/// least), and the session's fresh token.
async fn collect_replies(session: &Session, poll: &mut LongPoll, tally: &mut Tally) -> Option<()> {
    let target = with_token(poll);
    let response = send(
        session,
        poll,
        Ask::new("GET", &target, b"", POLL_LIMIT),
        tally,
    )
    .await?;
    let json = response.json();
    match body_status(&response) {
        Some(200) => {
            if let Some(token) = json.as_ref().and_then(|v| v.get("token")?.as_str()) {
                poll.token = Some(token.to_string());
            }
            tally.answer(TRANSPORT, "poll -> status 200");
        }
        Some(410) => {
            poll.token = None;
            tally.answer(TRANSPORT, "poll -> status 410");
        }
        _ => {
            tally.answer(TRANSPORT, format!("poll -> {}", describe(&response)));
            tally.note(format!(
                "{}: a poll after a batch was answered {}",
                session.label(),
                describe(&response)
            ));
        }
    }
    Some(())
}

/// A request with a token that is not the session's: garbage, another
/// secret's, tampered; a `POST` with it must find no session (410); a `GET`
/// with it opens a new one (410 with a token), which is abandoned.
async fn bad_token(session: &mut Session, poll: &mut LongPoll, tally: &mut Tally) -> Option<u64> {
    let real = poll.token.clone().unwrap_or_default();
    let token = match session.rng.u8(..5) {
        0 => "garbage".to_string(),
        1 => "%ff%00".to_string(),
        2 => {
            let mut tampered = real.into_bytes();
            if let Some(last) = tampered.last_mut() {
                *last = if *last == b'A' { b'B' } else { b'A' };
            }
            String::from_utf8_lossy(&tampered).into_owned()
        }
        3 => "x".repeat(6000),
        _ => channels::token::Signer::new("netfuzz-other-secret-".repeat(4))
            .sign("phoenix.longpoll", &session.rng.u64(..)),
    };
    let method = if session.rng.bool() { "POST" } else { "GET" };
    let target = format!("{}?{}&token={token}", base(poll), poll.query);
    let body = br#"[null,"1","phoenix","heartbeat",{}]"#;
    let body: &[u8] = if method == "POST" { body } else { b"" };
    let response = send(
        session,
        poll,
        Ask::new(method, &target, body, CLOSE_WAIT),
        tally,
    )
    .await?;
    tally.frames(TRANSPORT, "bad_token", 1);
    tally.answer(
        TRANSPORT,
        format!("bad_token {method} -> {}", describe(&response)),
    );
    if body_status(&response) != Some(410) {
        tally.note(format!(
            "{}: {method} with a bad token was answered {}",
            session.label(),
            describe(&response)
        ));
    }
    Some(1)
}

/// A method long poll does not take: 405.
async fn wrong_method(
    session: &mut Session,
    poll: &mut LongPoll,
    tally: &mut Tally,
) -> Option<u64> {
    let method = ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"][session.rng.usize(..5)];
    let target = with_token(poll);
    let ask = Ask::new(method, &target, b"{}", CLOSE_WAIT);
    let response = send(session, poll, ask, tally).await?;
    tally.frames(TRANSPORT, "wrong_method", 1);
    tally.answer(
        TRANSPORT,
        format!("wrong_method -> {}", describe(&response)),
    );
    if response.status != 405 {
        tally.note(format!(
            "{}: {method} on long poll was answered {}",
            session.label(),
            describe(&response)
        ));
    }
    // A HEAD answer has no body but may say a length: start afresh.
    poll.conn = None;
    Some(1)
}

/// A `Content-Length` past the limit, with no body sent: 413 at once.
async fn declared_too_large(
    session: &mut Session,
    poll: &mut LongPoll,
    tally: &mut Tally,
) -> Option<u64> {
    let limit = session.target.longpoll_max_body_bytes as u64;
    let declared = match session.rng.u8(..3) {
        0 => limit + 1,
        1 => u64::from(u32::MAX),
        _ => u64::MAX,
    };
    let target = with_token(poll);
    let headers = [("Content-Length", declared.to_string())];
    let ask = Ask::new("POST", &target, b"", CLOSE_WAIT).headers(&headers);
    let response = send(session, poll, ask, tally).await?;
    tally.frames(TRANSPORT, "declared_too_large", 1);
    tally.answer(
        TRANSPORT,
        format!("declared_too_large -> {}", describe(&response)),
    );
    // A length hyper cannot take is refused by it (400, 431); the others are
    // the transport's to refuse (413).
    if response.status != 413 && !(declared == u64::MAX && matches!(response.status, 400 | 431)) {
        tally.note(format!(
            "{}: a declared body of {declared} bytes was answered {}",
            session.label(),
            describe(&response)
        ));
    }
    // The unread body leaves the connection unusable.
    poll.conn = None;
    Some(1)
}

/// A chunked body that grows past the limit: 413 once it passes.
async fn oversized_body(
    session: &mut Session,
    poll: &mut LongPoll,
    tally: &mut Tally,
) -> Option<u64> {
    let limit = session.target.longpoll_max_body_bytes;
    let target = with_token(poll);
    let conn = connection(session, poll, tally).await?;
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        conn.host()
    );
    let chunk = vec![b'['; 64 * 1024];
    let mut raw = head.into_bytes();
    let mut written = 0;
    while written <= limit {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(&chunk);
        raw.extend_from_slice(b"\r\n");
        written += chunk.len();
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before all of it is written.
    let _ = conn.send_raw(&raw).await;
    let response = conn.response(CLOSE_WAIT).await;
    poll.conn = None;
    tally.frames(TRANSPORT, "oversized_body", 1);
    match response {
        Ok(response) => {
            tally.answer(
                TRANSPORT,
                format!("oversized_body -> {}", describe(&response)),
            );
            if response.status != 413 {
                tally.note(format!(
                    "{}: a body over the limit was answered {}",
                    session.label(),
                    describe(&response)
                ));
            }
        }
        Err(err) => tally.answer(TRANSPORT, format!("oversized_body -> {:?}", err.kind())),
    }
    Some(1)
}

/// A body shorter than its `Content-Length`, then end of stream: the server
/// must answer (400) or close, never wait for ever.
async fn truncated_body(
    session: &mut Session,
    poll: &mut LongPoll,
    tally: &mut Tally,
) -> Option<u64> {
    let target = with_token(poll);
    let conn = connection(session, poll, tally).await?;
    let body = br#"[null,"1","phoenix","heartbeat",{}]"#;
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
        conn.host(),
        body.len() * 4
    );
    let mut raw = request.into_bytes();
    raw.extend_from_slice(body);
    let written = conn.send_raw(&raw).await.is_ok() && conn.shutdown_write().await.is_ok();
    let response = conn.response(CLOSE_WAIT).await;
    let closed = conn.wait_closed(CLOSE_WAIT).await;
    poll.conn = None;
    tally.frames(TRANSPORT, "truncated_body", 1);
    let answer = match &response {
        Ok(response) => describe(response),
        Err(err) => format!("{:?}", err.kind()),
    };
    tally.answer(TRANSPORT, format!("truncated_body -> {answer}"));
    if written && !closed {
        tally.error(format!(
            "{TRANSPORT}: connection kept after a truncated body"
        ));
        tally.note(format!(
            "{}: the server kept the connection {CLOSE_WAIT:?} after a truncated body",
            session.label()
        ));
    }
    Some(1)
}

/// A chunked body whose chunk sizes are not hexadecimal: 400.
async fn bad_chunked(session: &mut Session, poll: &mut LongPoll, tally: &mut Tally) -> Option<u64> {
    let target = with_token(poll);
    let conn = connection(session, poll, tally).await?;
    let chunks: &[u8] = match session.rng.u8(..3) {
        0 => b"zz\r\nhello\r\n0\r\n\r\n",
        1 => b"ffffffffffffffffffff\r\nx\r\n",
        _ => b"5\r\nhello world\r\n0\r\n\r\n",
    };
    let mut raw = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        conn.host()
    )
    .into_bytes();
    raw.extend_from_slice(chunks);
    let _ = conn.send_raw(&raw).await;
    let response = conn.response(CLOSE_WAIT).await;
    poll.conn = None;
    tally.frames(TRANSPORT, "bad_chunked", 1);
    match response {
        Ok(response) => tally.answer(TRANSPORT, format!("bad_chunked -> {}", describe(&response))),
        Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {
            tally.error(format!("{TRANSPORT}: no answer to a badly chunked body"));
            tally.note(format!(
                "{}: no answer within {CLOSE_WAIT:?} to a badly chunked body",
                session.label()
            ));
        }
        Err(err) => tally.answer(TRANSPORT, format!("bad_chunked -> {:?}", err.kind())),
    }
    Some(1)
}

/// A batch body that is not UTF-8: refused whole (400), nothing handled.
async fn not_utf8(
    session: &mut Session,
    poll: &mut LongPoll,
    frames: &mut Frames,
    tally: &mut Tally,
) -> Option<u64> {
    let frame = frames.invalid_utf8();
    let target = with_token(poll);
    let ask = Ask::new("POST", &target, frame.wire.bytes(), CLOSE_WAIT);
    let response = send(session, poll, ask, tally).await?;
    tally.frames(TRANSPORT, frame.kind, 1);
    tally.answer(
        TRANSPORT,
        format!("invalid_utf8 -> {}", describe(&response)),
    );
    match body_status(&response) {
        Some(400) => {}
        Some(410) => poll.token = None,
        _ => tally.note(format!(
            "{}: a body that is not UTF-8 was answered {}",
            session.label(),
            describe(&response)
        )),
    }
    Some(1)
}

/// Long poll on a path where no socket serves it: 404.
async fn wrong_path(session: &mut Session, poll: &mut LongPoll, tally: &mut Tally) -> Option<u64> {
    let unmounted: Vec<String> = session
        .target
        .sockets
        .iter()
        .filter(|s| !s.longpoll)
        .map(|s| s.path.clone())
        .chain([
            "/no_such_socket".to_string(),
            "/socket/../socket".to_string(),
        ])
        .collect();
    let path = unmounted[session.rng.usize(..unmounted.len())].clone();
    let target = format!("{path}/longpoll?vsn=2.0.0");
    let response = send(
        session,
        poll,
        Ask::new("GET", &target, b"", CLOSE_WAIT),
        tally,
    )
    .await?;
    tally.frames(TRANSPORT, "wrong_path", 1);
    tally.answer(TRANSPORT, format!("wrong_path -> {}", describe(&response)));
    if response.status != 404 && response.status != 400 {
        tally.note(format!(
            "{}: GET {target} was answered {}",
            session.label(),
            describe(&response)
        ));
    }
    Some(1)
}
