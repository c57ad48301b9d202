//! One soak connection's life after its join: a heartbeat every period, as
//! phoenix.js sends them, and every `bcast` read, stamped and checked against
//! the index it expected next, until the run says stop or the server closes
//! the connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Shared;
use crate::client::{self, Ws};
use loadgen::stats::{wall_ns, Compact};

/// What one subscriber saw.
#[derive(Default)]
pub struct SubscriberReport {
    /// Per delivery: receipt − send time, in microseconds (4 bytes a
    /// delivery: a 76,000 × 600 run keeps 45 million of them in all).
    pub latencies_us: Vec<u32>,
    /// Broadcasts skipped over: an index arrived while an earlier one had not.
    pub gaps: u64,
    /// Broadcasts that arrived after a later one, or twice.
    pub late_or_repeated: u64,
}

/// Reads and heartbeats until `stop` changes or the connection ends.
pub async fn run(
    mut ws: Ws,
    topic: &str,
    heartbeat: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> SubscriberReport {
    let mut report = SubscriberReport::default();
    let mut beat = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let mut next_ref = 2u64;
    let mut awaited_reply: Option<String> = None;
    let mut expected_next = 0u32;
    loop {
        tokio::select! {
            biased;
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let at = wall_ns();
                    let Some(frame) = Compact::decode(text.as_str()) else { continue };
                    match frame.event() {
                        "bcast" => {
                            let payload = frame.payload();
                            let (Some(i), Some(t)) = (payload.i, payload.t) else { continue };
                            if !shared.tally.record(i as usize, t, at) {
                                continue;
                            }
                            let micros = at.saturating_sub(t) / 1000;
                            report.latencies_us.push(micros.min(u64::from(u32::MAX)) as u32);
                            if i >= expected_next {
                                report.gaps += u64::from(i - expected_next);
                                expected_next = i + 1;
                            } else {
                                report.late_or_repeated += 1;
                            }
                        }
                        "phx_reply" if frame.msg_ref().is_some()
                            && frame.msg_ref() == awaited_reply.as_deref() =>
                        {
                            awaited_reply = None;
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    shared.first_error.record(&shared.dropped, format!("{topic}: closed by the server"));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    shared.first_error.record(&shared.dropped, format!("{topic}: {err}"));
                    break;
                }
            },
            _ = beat.tick() => {
                if awaited_reply.is_some() {
                    // A whole period without the last heartbeat's reply.
                    shared.heartbeats_unanswered.fetch_add(1, Ordering::Relaxed);
                }
                if ws.send(client::heartbeat(next_ref)).await.is_err() {
                    shared.first_error.record(&shared.dropped, format!("{topic}: heartbeat not sent"));
                    break;
                }
                shared.heartbeats_sent.fetch_add(1, Ordering::Relaxed);
                awaited_reply = Some(next_ref.to_string());
                next_ref += 1;
            }
            _ = stop.changed() => break,
        }
    }
    // Dropped, not closed: the server sees the TCP close, and a close
    // handshake with tens of thousands of sockets would only slow the end.
    drop(ws);
    report
}
