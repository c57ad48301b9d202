//! Attacks over well-framed WebSockets (tokio-tungstenite): the framing is
//! right, the Phoenix messages inside are not — wrong types, huge numbers,
//! deep nesting, mutated and random bytes, bad binary pushes, control
//! messages at the wrong time, frames over the size limit, floods of joins.
//!
//! A session is one connection in one of four shapes: a *survivor* sends
//! only frames the server decodes (hundreds, reaching the channels), a
//! *breaker* sends a few and then frames of any kind until one the server
//! cannot decode, an *oversized* one ends with a frame over the limit, a
//! *flood* sends joins as fast as it can. What the server answers is checked
//! against what the frames call for: close 1007 after a frame that does not
//! decode, 1009 after one that is too large, nothing before — and noted with
//! the session's seed when it is not.

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::dial::connect_spread;
use super::mutate::{Frame, Frames, Vsn, Wire};
use super::report::Tally;
use super::session::{Budget, Session, CLOSE_WAIT};

const TRANSPORT: &str = "ws";

/// How the server ended (or did not end) a connection, as the reader saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A close frame with this code (`None`: without a code).
    Close(Option<u16>),
    /// The connection ended without a close frame.
    Eof,
    /// A read failed (a reset, usually).
    Failed(String),
    /// Nothing within the wait.
    StillOpen,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Close(Some(code)) => write!(f, "close {code}"),
            Ending::Close(None) => write!(f, "close without code"),
            Ending::Eof => write!(f, "closed without a close frame"),
            Ending::Failed(kind) => write!(f, "read failed: {kind}"),
            Ending::StillOpen => write!(f, "still open"),
        }
    }
}

/// The four shapes of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Survivor,
    Breaker,
    Oversized,
    Flood,
}

/// Runs one session over a tokio-tungstenite WebSocket, drawing frames from
/// `budget`; adds what happened to `tally`.
pub async fn attack(mut session: Session, budget: &Budget, tally: &mut Tally) {
    let shape = match session.rng.u8(..100) {
        0..=40 => Shape::Survivor,
        41..=96 => Shape::Breaker,
        97..=98 => Shape::Oversized,
        _ => Shape::Flood,
    };
    let planned = match shape {
        Shape::Survivor => session.rng.u64(10..=120),
        Shape::Breaker => session.rng.u64(1..=12),
        Shape::Oversized => session.rng.u64(1..=6),
        Shape::Flood => session.rng.u64(150..=2600),
    };
    let granted = budget.take(planned);
    if granted == 0 {
        return;
    }
    let sent = run(&mut session, shape, granted, tally).await;
    budget.give_back(granted - sent);
}

async fn run(session: &mut Session, shape: Shape, granted: u64, tally: &mut Tally) -> u64 {
    let socket = session.socket(false);
    let params = session.params(&socket);
    let (vsn_text, vsn) = session.vsn();
    let target = session.target.clone();
    let url = format!(
        "ws://{}{}/websocket?{}",
        target.server,
        socket.path,
        Session::query(&vsn_text, &params)
    );
    tally.connections += 1;
    let stream = match connect_spread(target.server).await {
        Ok(stream) => stream,
        Err(err) => {
            tally.error(format!("{TRANSPORT}: connect failed: {}", err.kind()));
            tally.note(format!("{}: connect failed: {err}", session.label()));
            return 0;
        }
    };
    let handshake = tokio::time::timeout(
        CLOSE_WAIT,
        tokio_tungstenite::client_async(url.as_str(), stream),
    )
    .await;
    let ws = match handshake {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(WsError::Http(response))) => {
            tally.frames(TRANSPORT, "handshake", 1);
            tally.answer(
                TRANSPORT,
                format!("handshake {}", response.status().as_u16()),
            );
            // A refusal (403: the vsn, the params) is the only answer but 101.
            if response.status().as_u16() != 403 {
                tally.note(format!(
                    "{}: handshake to {} answered {}",
                    session.label(),
                    socket.path,
                    response.status()
                ));
            }
            return 1;
        }
        Ok(Err(err)) => {
            tally.error(format!("{TRANSPORT}: handshake failed"));
            tally.note(format!("{}: handshake failed: {err}", session.label()));
            return 0;
        }
        Err(_) => {
            tally.error(format!("{TRANSPORT}: handshake timed out"));
            tally.note(format!(
                "{}: no handshake answer within {CLOSE_WAIT:?}",
                session.label()
            ));
            return 0;
        }
    };
    let Some(vsn) = vsn else {
        tally.frames(TRANSPORT, "handshake", 1);
        tally.note(format!(
            "{}: vsn={vsn_text:?} was accepted (101), it should be refused",
            session.label()
        ));
        return 1;
    };
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        let mut ending = Ending::Eof;
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Close(frame)) => {
                    ending = Ending::Close(frame.map(|f| u16::from(f.code)));
                }
                Ok(_) => {}
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => break,
                Err(WsError::Io(err)) => {
                    if ending == Ending::Eof {
                        ending = Ending::Failed(format!("{:?}", err.kind()));
                    }
                    break;
                }
                Err(err) => {
                    if ending == Ending::Eof {
                        ending = Ending::Failed(err.to_string());
                    }
                    break;
                }
            }
        }
        ending
    });

    let mut frames = Frames::new(
        session.seed,
        socket.clone(),
        vsn,
        true,
        target.max_frame_bytes,
    );
    let mut sent = 0u64;
    // What the last frame sent calls for: the close code it must cause.
    let mut expected_close: Option<u16> = None;
    let mut last_kind = "";
    let plan = plan_frames(&mut frames, shape, granted);
    for frame in plan {
        // What the frame calls for: a frame over the limit is refused from
        // its header (1009), one that does not decode closes 1007.
        let too_large = frame.wire.bytes().len() > target.max_frame_bytes;
        let ends = too_large || !frame.decodes;
        let message = match frame.wire {
            // Always UTF-8: the generator was made for a WebSocket library.
            Wire::Text(bytes) => Message::text(String::from_utf8_lossy(&bytes).into_owned()),
            Wire::Binary(bytes) => Message::binary(bytes),
        };
        // The server refuses a frame over the limit as soon as it has read
        // its header, and may close while the rest is still being written.
        if sink.send(message).await.is_err() && !too_large {
            break;
        }
        sent += 1;
        tally.frames(TRANSPORT, frame.kind, 1);
        last_kind = frame.kind;
        if ends {
            expected_close = Some(if too_large { 1009 } else { 1007 });
            break;
        }
        if reader.is_finished() {
            break;
        }
    }
    let clean_end = expected_close.is_none() && !reader.is_finished();
    if clean_end {
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(bye))).await;
    }
    let ending = match tokio::time::timeout(CLOSE_WAIT, reader).await {
        Ok(Ok(ending)) => ending,
        Ok(Err(_)) => Ending::Failed("reader panicked".into()),
        Err(_) => Ending::StillOpen,
    };
    tally.answer(TRANSPORT, &ending);
    judge(
        session,
        tally,
        shape,
        vsn,
        expected_close,
        clean_end,
        last_kind,
        &ending,
    );
    sent
}

/// The frames of a session of `shape`, at most `granted`.
fn plan_frames(frames: &mut Frames, shape: Shape, granted: u64) -> Vec<Frame> {
    let n = granted as usize;
    let mut plan = Vec::with_capacity(n.min(64));
    match shape {
        Shape::Survivor => {
            for _ in 0..frames.rng().usize(1..=3).min(n) {
                plan.push(frames.join());
            }
            while plan.len() < n {
                plan.push(frames.decodable());
            }
        }
        Shape::Breaker => {
            let before = frames.rng().usize(0..n);
            for _ in 0..before {
                plan.push(frames.decodable());
            }
            while plan.len() < n {
                let frame = frames.any();
                let ends = !frame.decodes;
                plan.push(frame);
                if ends {
                    break;
                }
            }
        }
        Shape::Oversized => {
            for _ in 0..n - 1 {
                plan.push(frames.decodable());
            }
            plan.push(frames.oversized());
        }
        Shape::Flood => plan = frames.join_flood(n),
    }
    plan
}

/// Notes what the server did that the frames did not call for: the close
/// a frame that does not decode (1007) or is too large (1009) must cause, the
/// echo of the session's own close (1000), the rate limit's close of a flood
/// (1008) — anything else is noted with the session's seed.
#[allow(clippy::too_many_arguments)]
fn judge(
    session: &Session,
    tally: &mut Tally,
    shape: Shape,
    vsn: Vsn,
    expected_close: Option<u16>,
    clean_end: bool,
    last_kind: &str,
    ending: &Ending,
) {
    let expected = match expected_close {
        Some(code) => Ending::Close(Some(code)),
        None if clean_end => Ending::Close(Some(1000)),
        None if shape == Shape::Flood => Ending::Close(Some(1008)),
        None => Ending::Close(None),
    };
    // Whether a flood trips the rate limit depends on how fast the server
    // reads it: either answer is right. A server that closes with the rest
    // of the flood unread resets the connection (TCP sends RST when unread
    // data is discarded), which may overtake its close frame.
    let flood_answer = shape == Shape::Flood
        && matches!(ending, Ending::Close(Some(1000 | 1008)) | Ending::Failed(_));
    if *ending == expected || flood_answer {
        return;
    }
    if *ending == Ending::StillOpen {
        tally.error(format!(
            "{TRANSPORT}: connection not closed within {CLOSE_WAIT:?}"
        ));
    }
    tally.note(format!(
        "{}: after a {last_kind} frame ({shape:?}, {vsn:?}) the server {ending}, expected {expected}",
        session.label()
    ));
}
