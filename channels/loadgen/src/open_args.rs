//! How the modes that hold connections (`hold`, `soak`) open them: from
//! which source addresses, how fast, how many at once, with what heartbeat,
//! and how long one connect or join may take. One set of flags, so that both
//! modes read and pace the same.

use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// `--sources`, `--rate`, `--concurrency`, `--heartbeat-secs`, `--timeout-secs`.
#[derive(clap::Args, Debug, Clone)]
pub struct OpenArgs {
    /// Source addresses to bind, round-robin (default 127.0.0.2-127.0.0.5 for
    /// a loopback server). Give each load generator process its own.
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<IpAddr>,
    /// New connections per second (default: as fast as --concurrency allows).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Connections being opened and joined at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Heartbeat period of each joined connection (phoenix.js: 30 s).
    #[arg(long, default_value_t = 30)]
    pub heartbeat_secs: u64,
    /// Give up on one connect, or one join, after this long.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
}

impl OpenArgs {
    /// Refuses a zero concurrency or a rate that is not a positive number.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 || self.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
            return Err("--concurrency and --rate must be positive".into());
        }
        Ok(())
    }

    /// One connect's or join's limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The heartbeat period (at least a second).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.max(1))
    }

    /// Waits for connection `index`'s turn under `--rate`, counted from
    /// `started` (at once without a rate).
    pub async fn pace(&self, index: usize, started: Instant) {
        if let Some(rate) = self.rate {
            tokio::time::sleep_until(started + Duration::from_secs_f64(index as f64 / rate)).await;
        }
    }
}
