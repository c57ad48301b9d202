//! Percentiles, as `channels`' loadgen computes them: nearest rank over every
//! sample (sorted), in milliseconds to the microsecond. A run keeps every
//! sample (8 bytes each; a 10-second page run at 50,000 requests/s is
//! 4 MB), so no histogram bucketing is involved.

use serde::Serialize;

/// Nearest-rank percentiles of a sample, in milliseconds (3 decimals).
#[derive(Debug, Clone, Copy, Default, Serialize)]
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

/// Rounds to two decimals.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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
}
