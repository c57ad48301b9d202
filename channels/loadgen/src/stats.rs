//! Timing helpers shared by the throughput and latency modes (and by
//! `store_bench`): the clock that stamps broadcasts, percentiles, and a
//! compact decoder for the frames the modes read on their hot path.
//!
//! Percentiles are nearest rank over every sample (sorted), in milliseconds to
//! the microsecond. A run keeps every sample (8 bytes each; a 10-second run at
//! 50,000 requests/s is 4 MB), so no histogram bucketing is involved.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch. The wall clock, not `Instant`: the
/// publisher stamps a broadcast with it and the subscribers compare against it,
/// so it must be one clock for every process on the machine.
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Nearest-rank percentiles of a sample, in milliseconds (3 decimals).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    /// Percentiles of `samples` (nanoseconds); sorts them. `None` if empty.
    pub fn of_ns(samples: &mut [u64]) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            ms(samples[rank - 1])
        };
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Some(Percentiles {
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: ms(samples[samples.len() - 1]),
            mean_ms: ms((sum / samples.len() as u128) as u64),
        })
    }
}

/// Nanoseconds to milliseconds, rounded to the microsecond.
pub fn ms(ns: u64) -> f64 {
    (ns as f64 / 1000.0).round() / 1000.0
}

/// Rounds to two decimals (rates in the summaries).
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The fields of a V2 frame the modes look at: `[join_ref, ref, topic,
/// event, payload]`, with only `t`, `i` and `status` read from the payload.
/// Borrowing and skipping the rest keeps decoding a 256-byte broadcast cheap.
#[derive(Deserialize)]
pub struct Compact<'a>(
    serde::de::IgnoredAny,
    #[serde(borrow)] pub Option<Cow<'a, str>>,
    serde::de::IgnoredAny,
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub CompactPayload<'a>,
);

/// See [`Compact`]; unknown payload fields are skipped.
#[derive(Deserialize, Default)]
pub struct CompactPayload<'a> {
    /// Send time of a broadcast, ns since the Unix epoch (`soak` reads it:
    /// its publisher is another process; `fanout`'s publisher knows it by `i`).
    #[serde(default)]
    pub t: Option<u64>,
    /// Index of a broadcast.
    #[serde(default)]
    pub i: Option<u32>,
    /// Status of a reply.
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
}

impl<'a> Compact<'a> {
    /// Decodes a text frame; `None` if it is not a V2 frame.
    pub fn decode(text: &'a str) -> Option<Compact<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The message ref.
    pub fn msg_ref(&self) -> Option<&str> {
        self.1.as_deref()
    }

    /// The event.
    pub fn event(&self) -> &str {
        &self.3
    }

    /// The payload's fields of interest.
    pub fn payload(&self) -> &CompactPayload<'a> {
        &self.4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).rev().map(|ms| ms * 1_000_000).collect();
        let p = Percentiles::of_ns(&mut samples).unwrap();
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p90_ms, 90.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 100.0);
        assert_eq!(p.mean_ms, 50.5);
        assert!(Percentiles::of_ns(&mut []).is_none());
    }

    #[test]
    fn compact_reads_broadcasts_and_replies() {
        let b = r#"[null,null,"bench:x","bcast",{"t":12,"i":3,"pad":"xx"}]"#;
        let f = Compact::decode(b).unwrap();
        assert_eq!(f.event(), "bcast");
        assert_eq!(f.payload().i, Some(3));
        assert_eq!(f.payload().t, Some(12));
        let r = r#"["1","7","bench:x","phx_reply",{"status":"ok","response":{"t":5}}]"#;
        let f = Compact::decode(r).unwrap();
        assert_eq!(f.msg_ref(), Some("7"));
        assert_eq!(f.payload().status.as_deref(), Some("ok"));
    }
}
