//! What a run counted and found, and its one-line JSON summary.
//!
//! The attack sessions each keep a [`Tally`] and merge it when they end, so
//! counting costs no locks: frames sent by kind (`transport.kind`), how the
//! server answered (close codes, HTTP and long-poll statuses — expected for bad
//! frames), and errors: what a healthy server should never cause (a connect
//! refused, an answer that never came). Notes name the session and seed of
//! anything unexpected, so it can be replayed.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::good_check::GoodReport;

/// Most notes kept (the first ones; the count of the rest is kept).
const MAX_NOTES: usize = 40;

/// Counters of one or more attack sessions.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Frames (messages, requests) sent, by `transport.kind`.
    pub frames: BTreeMap<String, u64>,
    /// Connections opened (WebSocket handshakes tried, HTTP connections).
    pub connections: u64,
    /// How the server ended or answered, by `transport: answer`.
    pub answers: BTreeMap<String, u64>,
    /// What a healthy server should never cause, by kind.
    pub errors: BTreeMap<String, u64>,
    /// The first unexpected things seen, each with its session and seed.
    pub notes: Vec<String>,
    /// Notes not kept.
    pub notes_dropped: u64,
}

impl Tally {
    /// Counts `n` frames of `kind` sent over `transport`.
    pub fn frames(&mut self, transport: &str, kind: &str, n: u64) {
        *self
            .frames
            .entry(format!("{transport}.{kind}"))
            .or_default() += n;
    }

    /// Counts one server answer (a close code, a status).
    pub fn answer(&mut self, transport: &str, answer: impl std::fmt::Display) {
        *self
            .answers
            .entry(format!("{transport}: {answer}"))
            .or_default() += 1;
    }

    /// Counts one error of `kind`.
    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    /// Keeps a note (up to `MAX_NOTES`).
    pub fn note(&mut self, note: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note);
        } else {
            self.notes_dropped += 1;
        }
    }

    /// Frames sent in all.
    pub fn frames_total(&self) -> u64 {
        self.frames.values().sum()
    }

    /// Errors in all.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Tally) {
        for (k, v) in other.frames {
            *self.frames.entry(k).or_default() += v;
        }
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.connections += other.connections;
        for note in other.notes {
            self.note(note);
        }
        self.notes_dropped += other.notes_dropped;
    }
}

/// The server's memory over the run, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RssFigures {
    /// Before any client connected.
    pub cold_kib: u64,
    /// After the warm-up, once it stopped moving: what "after" is held to.
    pub baseline_kib: u64,
    /// The highest reading during the attack.
    pub peak_kib: u64,
    /// Once every client had gone and the reading stopped falling.
    pub after_kib: u64,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Which server was attacked.
    pub target: String,
    /// The seed every session's own seed derives from.
    pub seed: u64,
    /// Frames of the warm-up attack (not in `tally`).
    pub warmup_frames: u64,
    /// The attack sessions' counts.
    pub tally: Tally,
    /// What the well-behaved clients saw.
    pub good: GoodReport,
    /// The server's memory.
    pub rss: RssFigures,
    /// How long the settle wait after the attack took, in seconds.
    pub settle_secs: f64,
    /// Whether the server process was alive at the end.
    pub server_alive: bool,
    /// The health path asked at the end, and its status (`None`: no answer).
    pub health: (String, Option<u16>),
    /// Gauges the server reported at the end (`sockets_connected`, …), when
    /// it has a `/metrics` page.
    pub gauges_after: BTreeMap<String, i64>,
    /// The processes still supervised below the app's supervisors at the
    /// end (channels, tasks), when the server has a processes page.
    pub processes_after: Option<Vec<String>>,
    /// How long the attack took, in seconds.
    pub attack_secs: f64,
    /// How long the whole run took, in seconds.
    pub duration_secs: f64,
}

impl Summary {
    /// The summary as one JSON object.
    pub fn to_json(&self) -> Value {
        let t = &self.tally;
        json!({
            "target": self.target,
            "seed": self.seed,
            "frames": t.frames_total(),
            "frames_by_kind": t.frames,
            "connections": t.connections,
            "server_answers": t.answers,
            "errors": t.errors,
            "notes": t.notes,
            "notes_dropped": t.notes_dropped,
            "good_clients": self.good.to_json(),
            "warmup_frames": self.warmup_frames,
            "rss_kib": {
                "cold": self.rss.cold_kib,
                "baseline": self.rss.baseline_kib,
                "peak": self.rss.peak_kib,
                "after": self.rss.after_kib,
            },
            "settle_secs": round(self.settle_secs),
            "server_alive": self.server_alive,
            "health": {"path": self.health.0, "status": self.health.1},
            "gauges_after": self.gauges_after,
            "processes_after": self.processes_after,
            "attack_secs": round(self.attack_secs),
            "duration_secs": round(self.duration_secs),
        })
    }
}

fn round(secs: f64) -> f64 {
    (secs * 10.0).round() / 10.0
}
