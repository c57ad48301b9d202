//! Metrics: StatsD (with DogStatsD tags) and a Prometheus text page, fed by
//! the same calls.
//!
//! The book measures with Statix: `socket_connect` and `channel_join` counters
//! tagged `status:` and `socket:`/`channel:`, and handler timings such as
//! `stats_channel.ping`. The endpoint emits the first two for every socket and
//! channel, keeps gauges of connected sockets and joined channels, and channels
//! time their own handlers with [`Metrics::measure`]. Datagrams go out through
//! `cadence`; every value is also kept here so that `GET /metrics` can render
//! it in Prometheus's text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use cadence::{StatsdClient, UdpMetricSink};
use parking_lot::Mutex;

/// A metric's identity: its name and its tags, sorted.
type Key = (String, Vec<(String, String)>);

#[derive(Default)]
struct Timing {
    count: u64,
    sum_ms: f64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<Key, u64>,
    gauges: BTreeMap<Key, i64>,
    timings: BTreeMap<Key, Timing>,
}

struct Inner {
    statsd: Option<StatsdClient>,
    registry: Mutex<Registry>,
}

/// A metrics handle. Cheap to clone; clones share their values.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::local()
    }
}

fn key(name: &str, tags: &[(&str, &str)]) -> Key {
    let mut tags: Vec<(String, String)> = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tags.sort();
    (name.to_string(), tags)
}

impl Metrics {
    /// Metrics kept for `/metrics` only; nothing is sent.
    pub fn local() -> Self {
        Metrics {
            inner: Arc::new(Inner {
                statsd: None,
                registry: Mutex::new(Registry::default()),
            }),
        }
    }

    /// Metrics also sent as StatsD datagrams to `address`.
    pub fn statsd(address: SocketAddr) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(if address.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })?;
        // A full socket buffer drops a metric instead of stalling a connection.
        socket.set_nonblocking(true)?;
        let sink = UdpMetricSink::from(address, socket)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let client = StatsdClient::builder("", sink)
            .with_error_handler(|err| tracing::debug!(%err, "StatsD metric not sent"))
            .build();
        Ok(Metrics {
            inner: Arc::new(Inner {
                statsd: Some(client),
                registry: Mutex::new(Registry::default()),
            }),
        })
    }

    /// Adds one to a counter (`Statix.increment(name, 1, tags: …)`).
    pub fn increment(&self, name: &str, tags: &[(&str, &str)]) {
        self.increment_by(name, 1, tags);
    }

    /// Adds `n` to a counter (`Statix.increment(name, n, tags: …)`).
    pub fn increment_by(&self, name: &str, n: u64, tags: &[(&str, &str)]) {
        *self
            .inner
            .registry
            .lock()
            .counters
            .entry(key(name, tags))
            .or_default() += n;
        if let Some(client) = &self.inner.statsd {
            let mut metric = client.count_with_tags(name, i64::try_from(n).unwrap_or(i64::MAX));
            for (k, v) in tags {
                metric = metric.with_tag(k, v);
            }
            metric.send();
        }
    }

    /// Records a duration (`Statix.histogram` / `measure` in milliseconds).
    pub fn timing(&self, name: &str, elapsed: Duration, tags: &[(&str, &str)]) {
        {
            let mut registry = self.inner.registry.lock();
            let timing = registry.timings.entry(key(name, tags)).or_default();
            timing.count += 1;
            timing.sum_ms += elapsed.as_secs_f64() * 1000.0;
        }
        if let Some(client) = &self.inner.statsd {
            let mut metric = client.time_with_tags(name, elapsed.as_millis() as u64);
            for (k, v) in tags {
                metric = metric.with_tag(k, v);
            }
            metric.send();
        }
    }

    /// Moves a gauge by `delta` and reports its new value.
    pub fn gauge_add(&self, name: &str, delta: i64, tags: &[(&str, &str)]) {
        let value = {
            let mut registry = self.inner.registry.lock();
            let gauge = registry.gauges.entry(key(name, tags)).or_default();
            *gauge += delta;
            *gauge
        };
        if let Some(client) = &self.inner.statsd {
            let mut metric = client.gauge_with_tags(name, value.max(0) as u64);
            for (k, v) in tags {
                metric = metric.with_tag(k, v);
            }
            metric.send();
        }
    }

    /// Runs `work` and records how long it took (`Statix.measure/2`).
    pub async fn measure<T>(&self, name: &str, work: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let output = work.await;
        self.timing(name, started.elapsed(), &[]);
        output
    }

    /// A counter's value, for tests and the console.
    pub fn counter(&self, name: &str, tags: &[(&str, &str)]) -> u64 {
        self.inner
            .registry
            .lock()
            .counters
            .get(&key(name, tags))
            .copied()
            .unwrap_or(0)
    }

    /// A gauge's value.
    pub fn gauge(&self, name: &str, tags: &[(&str, &str)]) -> i64 {
        self.inner
            .registry
            .lock()
            .gauges
            .get(&key(name, tags))
            .copied()
            .unwrap_or(0)
    }

    /// Everything in Prometheus's text exposition format.
    pub fn prometheus(&self) -> String {
        let registry = self.inner.registry.lock();
        let mut out = String::new();
        let mut typed = std::collections::HashSet::new();
        for ((name, tags), value) in &registry.counters {
            let name = format!("{}_total", sanitize(name));
            type_line(&mut out, &mut typed, &name, "counter");
            let _ = writeln!(out, "{name}{} {value}", labels(tags));
        }
        for ((name, tags), value) in &registry.gauges {
            let name = sanitize(name);
            type_line(&mut out, &mut typed, &name, "gauge");
            let _ = writeln!(out, "{name}{} {value}", labels(tags));
        }
        for ((name, tags), timing) in &registry.timings {
            let name = format!("{}_milliseconds", sanitize(name));
            type_line(&mut out, &mut typed, &name, "summary");
            let _ = writeln!(out, "{name}_sum{} {}", labels(tags), timing.sum_ms);
            let _ = writeln!(out, "{name}_count{} {}", labels(tags), timing.count);
        }
        out
    }
}

fn type_line(
    out: &mut String,
    typed: &mut std::collections::HashSet<String>,
    name: &str,
    kind: &str,
) {
    if typed.insert(name.to_string()) {
        let _ = writeln!(out, "# TYPE {name} {kind}");
    }
}

/// Prometheus names allow `[a-zA-Z0-9_:]`: `stats_channel.ping` → `stats_channel_ping`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn labels(tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = tags
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{}=\"{v}\"", sanitize(k))
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_timings_render_as_prometheus_text() {
        let metrics = Metrics::local();
        metrics.increment(
            "socket_connect",
            &[("status", "success"), ("socket", "UserSocket")],
        );
        metrics.increment(
            "socket_connect",
            &[("socket", "UserSocket"), ("status", "success")],
        );
        metrics.gauge_add("sockets_connected", 2, &[("socket", "UserSocket")]);
        metrics.gauge_add("sockets_connected", -1, &[("socket", "UserSocket")]);
        metrics.timing("stats_channel.ping", Duration::from_millis(5), &[]);
        let text = metrics.prometheus();
        assert!(text.contains("# TYPE socket_connect_total counter\n"));
        assert!(text.contains(r#"socket_connect_total{socket="UserSocket",status="success"} 2"#));
        assert!(text.contains(r#"sockets_connected{socket="UserSocket"} 1"#));
        assert!(text.contains("stats_channel_ping_milliseconds_count 1"));
        assert_eq!(
            metrics.counter(
                "socket_connect",
                &[("status", "success"), ("socket", "UserSocket")]
            ),
            2
        );
    }

    #[test]
    fn statsd_datagrams_carry_dogstatsd_tags() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let metrics = Metrics::statsd(receiver.local_addr().unwrap()).unwrap();
        metrics.increment(
            "channel_join",
            &[("status", "success"), ("channel", "StatsChannel")],
        );
        let mut buf = [0u8; 512];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "channel_join:1|c|#status:success,channel:StatsChannel"
        );
    }
}
