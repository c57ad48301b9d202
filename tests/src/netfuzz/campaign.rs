//! The attack itself: sessions run by a fixed number of concurrent workers
//! until the run's frame budget is spent. Session `i` is always seeded the
//! same way from the run's seed, and picks its transport from its own seed:
//! 45 % well-framed WebSocket, 30 % raw framing, 25 % long poll (by frames
//! about half, 3 % and 45 %: a raw session sends a few legal frames and one
//! violation). So a session named in a note can be replayed alone
//! (`replay`), and one transport can be attacked alone (`only`) to tell
//! which one did something.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::report::Tally;
use super::session::{Budget, Session};
use super::target::Target;
use super::{longpoll, raw_websocket, websocket};

/// Sessions in a row that may send nothing (the server refusing every
/// connection) before the campaign gives up rather than spin.
const MAX_IDLE_SESSIONS: u64 = 500;

/// How the attack runs.
#[derive(Debug, Clone, Copy)]
pub struct CampaignOptions {
    /// Frames to send in all.
    pub frames: u64,
    /// The run's seed.
    pub seed: u64,
    /// Sessions running at once.
    pub concurrency: usize,
    /// Run only this session (with the whole budget), to replay it.
    pub replay: Option<u64>,
    /// Run only the sessions of this transport.
    pub only: Option<Transport>,
}

/// The three ways in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Well-framed WebSocket, bad messages (`websocket.rs`).
    WebSocket,
    /// Raw framing (`raw_websocket.rs`).
    RawWebSocket,
    /// Long poll (`longpoll.rs`).
    LongPoll,
}

impl Transport {
    /// The transport of the session seeded `seed`.
    pub fn of(seed: u64) -> Transport {
        match fastrand::Rng::with_seed(seed).u8(..100) {
            0..=44 => Transport::WebSocket,
            45..=74 => Transport::RawWebSocket,
            _ => Transport::LongPoll,
        }
    }
}

/// Runs one session, whichever its transport.
async fn run_session(session: Session, budget: &Budget, tally: &mut Tally) {
    match Transport::of(session.seed) {
        Transport::WebSocket => websocket::attack(session, budget, tally).await,
        Transport::RawWebSocket => raw_websocket::attack(session, budget, tally).await,
        Transport::LongPoll => longpoll::attack(session, budget, tally).await,
    }
}

/// Runs the attack on `target`; the sessions' counts together.
pub async fn run(target: Arc<Target>, options: CampaignOptions) -> Tally {
    let budget = Arc::new(Budget::new(options.frames));
    if let Some(index) = options.replay {
        let mut tally = Tally::default();
        let session = Session::new(target, options.seed, index);
        run_session(session, &budget, &mut tally).await;
        return tally;
    }
    let next = Arc::new(AtomicU64::new(0));
    let idle = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..options.concurrency.max(1))
        .map(|_| {
            let (target, budget, next, idle) =
                (target.clone(), budget.clone(), next.clone(), idle.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while budget.left() > 0 {
                    if idle.load(Ordering::Relaxed) >= MAX_IDLE_SESSIONS {
                        tally.note(format!(
                            "{MAX_IDLE_SESSIONS} sessions in a row sent nothing: the attack stopped with {} frames unsent",
                            budget.left()
                        ));
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let session = Session::new(target.clone(), options.seed, index);
                    if options.only.is_some_and(|only| only != Transport::of(session.seed)) {
                        continue;
                    }
                    let before = tally.frames_total();
                    run_session(session, &budget, &mut tally).await;
                    if tally.frames_total() == before {
                        idle.fetch_add(1, Ordering::Relaxed);
                    } else {
                        idle.store(0, Ordering::Relaxed);
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        match worker.await {
            Ok(part) => tally.merge(part),
            Err(err) => {
                tally.error("fuzzer: a worker panicked");
                tally.note(format!("a worker panicked: {err}"));
            }
        }
    }
    tally
}
