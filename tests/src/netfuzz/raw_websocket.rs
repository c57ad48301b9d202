//! Attacks on the WebSocket framing itself, over raw TCP with frames written
//! by hand (`ws_wire.rs`): reserved bits, unknown opcodes, unmasked client
//! frames, fragmented and oversized control frames, close frames with codes
//! no one may send, text that is not UTF-8, frames cut off half-way, lengths
//! far over the limit, continuations with nothing to continue, data frames
//! inside a fragmented message, data after the close — and upgrade requests
//! that are not quite upgrades.
//!
//! A session completes the upgrade (or a broken one), sends a few legal
//! frames — messages the server decodes, some fragmented with a ping between
//! the fragments, pings and pongs — then one violation, and reads how the
//! server ends the connection. RFC 6455 and the transport say what it must
//! answer (1002 for a protocol violation, 1007 for bad UTF-8, 1009 for too
//! large); anything else is noted with the session's seed.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

use super::dial::connect_spread;
use super::mutate::{Frames, Vsn, Wire};
use super::report::Tally;
use super::session::{Budget, Session, CLOSE_WAIT};
use super::ws_wire::{opcode, upgrade_request, RawFrame, ServerFrames};

const TRANSPORT: &str = "raw_ws";

/// The one rule a session breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    ReservedBits,
    BadOpcode,
    Unmasked,
    FragmentedControl,
    BigPing,
    BadClose,
    InvalidUtf8,
    Truncated,
    HugeLength,
    ContinuationWithoutStart,
    DataInsideFragmented,
    DataAfterClose,
    OversizedFragments,
    NonMinimalLength,
}

const VIOLATIONS: [Violation; 14] = [
    Violation::ReservedBits,
    Violation::BadOpcode,
    Violation::Unmasked,
    Violation::FragmentedControl,
    Violation::BigPing,
    Violation::BadClose,
    Violation::InvalidUtf8,
    Violation::Truncated,
    Violation::HugeLength,
    Violation::ContinuationWithoutStart,
    Violation::DataInsideFragmented,
    Violation::DataAfterClose,
    Violation::OversizedFragments,
    Violation::NonMinimalLength,
];

/// How the server must end the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Close(u16),
    AnyClose,
    /// It drops the connection without a close frame (or with one).
    Ends,
}

impl Violation {
    fn name(self) -> &'static str {
        match self {
            Violation::ReservedBits => "reserved_bits",
            Violation::BadOpcode => "bad_opcode",
            Violation::Unmasked => "unmasked",
            Violation::FragmentedControl => "fragmented_control",
            Violation::BigPing => "big_ping",
            Violation::BadClose => "bad_close",
            Violation::InvalidUtf8 => "invalid_utf8_text",
            Violation::Truncated => "truncated",
            Violation::HugeLength => "huge_length",
            Violation::ContinuationWithoutStart => "continuation_without_start",
            Violation::DataInsideFragmented => "data_inside_fragmented",
            Violation::DataAfterClose => "data_after_close",
            Violation::OversizedFragments => "oversized_fragments",
            Violation::NonMinimalLength => "non_minimal_length",
        }
    }

    fn expect(self) -> Expect {
        match self {
            Violation::ReservedBits
            | Violation::BadOpcode
            | Violation::Unmasked
            | Violation::FragmentedControl
            | Violation::BigPing
            | Violation::ContinuationWithoutStart
            | Violation::DataInsideFragmented => Expect::Close(1002),
            Violation::InvalidUtf8 => Expect::Close(1007),
            Violation::HugeLength | Violation::OversizedFragments => Expect::Close(1009),
            Violation::DataAfterClose => Expect::Close(1000),
            Violation::BadClose => Expect::AnyClose,
            Violation::Truncated | Violation::NonMinimalLength => Expect::Ends,
        }
    }
}

/// Upgrade requests that break a rule of the handshake.
const BAD_HANDSHAKES: usize = 9;

/// Whether `status` is a right answer to upgrade request `which` of
/// [`bad_handshake`]: refused (400 for a broken request, 403 for a refused
/// `vsn` or connect, 404/405 off the socket's route), or accepted (101)
/// where servers are lenient — cowboy, under Phoenix, takes versions 7, 8
/// and 13 and does not decode the key.
fn bad_handshake_answered_right(which: usize, status: u16) -> bool {
    match which {
        0 | 1 | 5 | 8 => status == 400,
        2 | 7 => matches!(status, 101 | 403),
        3 => status == 403,
        _ => matches!(status, 404 | 405),
    }
}

fn bad_handshake(which: usize, host: &str, path: &str, key: &str) -> Vec<u8> {
    let target = format!("{path}/websocket?vsn=2.0.0");
    match which {
        0 => format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        1 => format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        2 => upgrade_request(host, &target, key, "Sec-WebSocket-Version: 8\r\n"),
        3 => upgrade_request(host, &format!("{path}/websocket?vsn=7.7.7"), key, ""),
        4 => format!("POST {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nContent-Length: 0\r\n\r\n"),
        5 => "GARBAGE \x01\x02 NOT HTTP\r\n\r\n".to_string(),
        6 => upgrade_request(host, "/no_such_socket/websocket?vsn=2.0.0", key, ""),
        7 => upgrade_request(host, &target, "not base64 at all !!", ""),
        _ => format!("GET {target} HTTP/1.0\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\r\n"),
    }
    .into_bytes()
}

/// Runs one session of raw frames, drawing from `budget`; adds what happened
/// to `tally`.
pub async fn attack(mut session: Session, budget: &Budget, tally: &mut Tally) {
    let planned = session.rng.u64(1..=10);
    let granted = budget.take(planned);
    if granted == 0 {
        return;
    }
    let sent = run(&mut session, granted, tally).await;
    budget.give_back(granted.saturating_sub(sent));
}

fn mask(session: &mut Session) -> [u8; 4] {
    session.rng.u32(..).to_be_bytes()
}

async fn run(session: &mut Session, granted: u64, tally: &mut Tally) -> u64 {
    let target = session.target.clone();
    let socket = session.socket(false);
    let host = target.server.to_string();
    let key = tokio_tungstenite::tungstenite::handshake::client::generate_key();
    tally.connections += 1;
    let stream = match connect_spread(target.server).await {
        Ok(stream) => stream,
        Err(err) => {
            tally.error(format!("{TRANSPORT}: connect failed: {:?}", err.kind()));
            tally.note(format!("{}: connect failed: {err}", session.label()));
            return 0;
        }
    };
    let (mut read, mut write) = stream.into_split();
    let broken = (session.rng.u8(..10) == 0).then(|| session.rng.usize(..BAD_HANDSHAKES));
    let (vsn, request) = if let Some(which) = broken {
        (Vsn::V2, bad_handshake(which, &host, &socket.path, &key))
    } else {
        let (text, vsn) = if session.rng.u8(..8) == 0 {
            ("1.0.0", Vsn::V1)
        } else {
            ("2.0.0", Vsn::V2)
        };
        let params = session.params(&socket);
        let target = format!(
            "{}/websocket?{}",
            socket.path,
            Session::query(text, &params)
        );
        (vsn, upgrade_request(&host, &target, &key, "").into_bytes())
    };
    if write.write_all(&request).await.is_err() {
        tally.error(format!("{TRANSPORT}: upgrade request not written"));
        return 0;
    }
    // The answer's head, and whatever frames came right behind it.
    let mut answer = Vec::new();
    let head = tokio::time::timeout(CLOSE_WAIT, async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                return Some(end + 4);
            }
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let status = match head {
        Ok(Some(end)) => {
            let status = String::from_utf8_lossy(&answer[..end])
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
                .unwrap_or(0);
            answer.drain(..end);
            status
        }
        Ok(None) => 0,
        Err(_) => {
            tally.error(format!("{TRANSPORT}: no upgrade answer"));
            tally.note(format!(
                "{}: no answer to the upgrade within {CLOSE_WAIT:?}",
                session.label()
            ));
            return 0;
        }
    };
    if broken.is_some() || status != 101 {
        tally.frames(TRANSPORT, "handshake", 1);
        tally.answer(TRANSPORT, format!("handshake {status}"));
        // A valid upgrade may be refused for its params (403).
        let right = match broken {
            Some(which) => bad_handshake_answered_right(which, status),
            None => status == 403,
        };
        if !right {
            tally.note(format!(
                "{}: upgrade request {broken:?} to {} was answered {status}",
                session.label(),
                socket.path
            ));
        }
        if status != 101 {
            return 1;
        }
    }
    // Reads until the server ends the connection; says when its close frame
    // came, so that it is answered as a client answers it.
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut closed_tx = Some(closed_tx);
        let mut frames = ServerFrames::default();
        frames.feed(&answer);
        let mut chunk = vec![0u8; 16 * 1024];
        let failed = loop {
            if frames.close.is_some() {
                if let Some(tx) = closed_tx.take() {
                    let _ = tx.send(());
                }
            }
            match read.read(&mut chunk).await {
                Ok(0) => break None,
                Ok(n) => frames.feed(&chunk[..n]),
                Err(err) => break Some(format!("{:?}", err.kind())),
            }
        };
        (frames, failed)
    });
    let stop_reader = reader.abort_handle();

    let mut frames = Frames::new(
        session.seed,
        socket.clone(),
        vsn,
        false,
        target.max_frame_bytes,
    );
    let mut sent = 0u64;
    let legal = frames.rng().u64(0..granted);
    for _ in 0..legal {
        if send_legal(session, &mut frames, &mut write, tally)
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    let violation = VIOLATIONS[session.rng.usize(..VIOLATIONS.len())];
    if !reader.is_finished()
        && send_violation(session, violation, &mut frames, &mut write)
            .await
            .is_ok()
    {
        sent += 1;
        tally.frames(TRANSPORT, violation.name(), 1);
    }
    if violation == Violation::NonMinimalLength {
        // Legal enough to be read; end the connection as a client would.
        let _ = write
            .write_all(&RawFrame::close(1000, b"", mask(session)).encode())
            .await;
    }
    let reply_key = mask(session);
    let ending = tokio::time::timeout(CLOSE_WAIT, async {
        if closed_rx.await.is_ok() {
            let _ = write
                .write_all(&RawFrame::close(1000, b"", reply_key).encode())
                .await;
        }
        reader.await
    })
    .await;
    let (close, failed) = match ending {
        Ok(Ok((frames, failed))) => (frames.close, failed),
        Ok(Err(_)) => (None, Some("reader panicked".into())),
        Err(_) => {
            stop_reader.abort();
            tally.error(format!(
                "{TRANSPORT}: connection not closed within {CLOSE_WAIT:?}"
            ));
            tally.note(format!(
                "{}: the server kept the connection {CLOSE_WAIT:?} after a {} violation",
                session.label(),
                violation.name()
            ));
            return sent;
        }
    };
    let seen = match (close, &failed) {
        (Some(Some(code)), _) => format!("close {code}"),
        (Some(None), _) => "close without code".into(),
        (None, None) => "closed without a close frame".into(),
        (None, Some(kind)) => format!("read failed: {kind}"),
    };
    tally.answer(TRANSPORT, format!("{} -> {seen}", violation.name()));
    let as_expected = match violation.expect() {
        Expect::Close(code) => close == Some(Some(code)),
        Expect::AnyClose => close.is_some(),
        Expect::Ends => true,
    };
    if !as_expected {
        tally.note(format!(
            "{}: a {} violation ({vsn:?}) should end {:?}, the server: {seen}",
            session.label(),
            violation.name(),
            violation.expect()
        ));
    }
    sent
}

/// One legal frame (or fragmented message): a message the server decodes,
/// sometimes split in fragments with a ping between them; or a ping or pong.
async fn send_legal(
    session: &mut Session,
    frames: &mut Frames,
    write: &mut OwnedWriteHalf,
    tally: &mut Tally,
) -> std::io::Result<()> {
    let roll = session.rng.u8(..10);
    if roll == 0 {
        let op = if session.rng.bool() {
            opcode::PING
        } else {
            opcode::PONG
        };
        let payload: Vec<u8> = (0..session.rng.usize(0..=125))
            .map(|_| session.rng.u8(..))
            .collect();
        tally.frames(TRANSPORT, "legal_control", 1);
        return write
            .write_all(&RawFrame::new(op, payload, mask(session)).encode())
            .await;
    }
    let frame = frames.decodable();
    let (op, bytes) = match frame.wire {
        Wire::Text(bytes) => (opcode::TEXT, bytes),
        Wire::Binary(bytes) => (opcode::BINARY, bytes),
    };
    tally.frames(TRANSPORT, frame.kind, 1);
    if roll < 4 && bytes.len() > 2 {
        // Fragmented, with a ping between the fragments (allowed).
        let cut = session.rng.usize(1..bytes.len());
        let mut first = RawFrame::new(op, bytes[..cut].to_vec(), mask(session));
        first.fin = false;
        let ping = RawFrame::new(opcode::PING, b"mid".to_vec(), mask(session));
        let last = RawFrame::new(opcode::CONTINUATION, bytes[cut..].to_vec(), mask(session));
        let mut out = first.encode();
        out.extend(ping.encode());
        out.extend(last.encode());
        return write.write_all(&out).await;
    }
    write
        .write_all(&RawFrame::new(op, bytes, mask(session)).encode())
        .await
}

async fn send_violation(
    session: &mut Session,
    violation: Violation,
    frames: &mut Frames,
    write: &mut OwnedWriteHalf,
) -> std::io::Result<()> {
    let message = frames.decodable().wire.bytes().to_vec();
    let key = mask(session);
    let bytes = match violation {
        Violation::ReservedBits => {
            let mut frame = RawFrame::new(opcode::TEXT, message, key);
            frame.rsv = session.rng.u8(1..8);
            frame.encode()
        }
        Violation::BadOpcode => {
            let op = [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF][session.rng.usize(..10)];
            RawFrame::new(op, message, key).encode()
        }
        Violation::Unmasked => {
            let mut frame = RawFrame::new(opcode::TEXT, message, key);
            frame.mask = None;
            frame.encode()
        }
        Violation::FragmentedControl => {
            let mut frame = RawFrame::new(opcode::PING, b"frag".to_vec(), key);
            frame.fin = false;
            frame.encode()
        }
        Violation::BigPing => {
            let size = session.rng.usize(126..=70_000);
            RawFrame::new(opcode::PING, vec![b'p'; size], key).encode()
        }
        Violation::BadClose => match session.rng.u8(..4) {
            0 => {
                let code = [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]
                    [session.rng.usize(..10)];
                RawFrame::close(code, b"bad code", key).encode()
            }
            1 => RawFrame::new(opcode::CLOSE, vec![0x03], key).encode(),
            2 => RawFrame::close(1000, b"\xff\xfe not utf-8", key).encode(),
            _ => RawFrame::close(1000, &[b'r'; 124], key).encode(),
        },
        Violation::InvalidUtf8 => {
            let mut text = message;
            let at = session.rng.usize(..=text.len());
            text.splice(at..at, [0xC0u8, 0x80, 0xFF]);
            RawFrame::new(opcode::TEXT, text, key).encode()
        }
        Violation::Truncated => {
            let mut bytes = RawFrame::new(opcode::TEXT, message, key).encode();
            let keep = session.rng.usize(1..bytes.len());
            bytes.truncate(keep);
            write.write_all(&bytes).await?;
            // End of stream in the middle of the frame.
            return write.shutdown().await;
        }
        Violation::HugeLength => {
            let mut frame = RawFrame::new(opcode::BINARY, b"tiny".to_vec(), key);
            frame.declared_len = Some(match session.rng.u8(..3) {
                0 => (1 << 63) - 1,
                1 => u64::from(u32::MAX) + 1,
                _ => (session.target.max_frame_bytes + 1) as u64,
            });
            frame.encode()
        }
        Violation::ContinuationWithoutStart => {
            RawFrame::new(opcode::CONTINUATION, message, key).encode()
        }
        Violation::DataInsideFragmented => {
            let mut first = RawFrame::new(opcode::TEXT, b"[\"1\",".to_vec(), key);
            first.fin = false;
            let mut out = first.encode();
            out.extend(RawFrame::new(opcode::TEXT, message, key).encode());
            out
        }
        Violation::DataAfterClose => {
            let mut out = RawFrame::close(1000, b"bye", key).encode();
            out.extend(RawFrame::new(opcode::TEXT, message, key).encode());
            out
        }
        Violation::OversizedFragments => {
            let piece = 256 * 1024;
            let count = session.target.max_frame_bytes / piece + 2;
            let mut out = Vec::with_capacity(count * (piece + 14));
            for i in 0..count {
                let op = if i == 0 {
                    opcode::TEXT
                } else {
                    opcode::CONTINUATION
                };
                let mut frame = RawFrame::new(op, vec![b' '; piece], key);
                frame.fin = i + 1 == count;
                out.extend(frame.encode());
            }
            out
        }
        Violation::NonMinimalLength => {
            let mut frame = RawFrame::new(opcode::TEXT, message, key);
            frame.long_length_form = true;
            frame.encode()
        }
    };
    write.write_all(&bytes).await
}
