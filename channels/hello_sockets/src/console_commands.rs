//! The node's own console commands.
//!
//! - `broadcast TOPIC EVENT [JSON]`, the book's: `broadcast ping request_ping
//!   {}` is `HelloSocketsWeb.Endpoint.broadcast("ping", "request_ping", %{})`.
//! - `bench.broadcast TOPIC COUNT INTERVAL_MS [PAYLOAD_BYTES]`: the soak and
//!   scale runs' publisher (scripts/soak.sh). Run on the cluster's back node,
//!   it broadcasts `bcast` to TOPIC on every node COUNT times, one every
//!   INTERVAL_MS, each payload `{"t": <send time, ns since the Unix epoch>,
//!   "i": <index>, "pad": "xx…"}` as `loadgen fanout`'s publisher sends it, so
//!   that `loadgen soak` on every web node can tell each delivery's latency and
//!   every gap. The command answers at once; the broadcasts go on in a task of
//!   their own, on a fixed schedule (a late tick does not shift later ones).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use channels::pubsub::PubSub;
use runtime::console::Console;
use serde_json::json;

/// Longest interval and largest payload `bench.broadcast` accepts: a typo
/// should not start an hour-long or a 1 GB broadcast.
const MAX_INTERVAL_MS: u64 = 60_000;
const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// Registers `broadcast` and `bench.broadcast`.
pub fn register(console: &Console, pubsub: &PubSub) {
    console.register_with(
        "broadcast",
        "TOPIC EVENT [JSON]",
        "Endpoint.broadcast: to every subscriber of TOPIC on every node (JSON defaults to {}), \
         e.g. broadcast ping request_ping",
        pubsub,
        |pubsub, args| async move {
            let (topic, event, payload) = channels::console_commands::message(&args, 0)?;
            pubsub.broadcast(&topic, &event, payload);
            Ok(format!("broadcast {event} to {topic}"))
        },
    );
    console.register_with(
        "bench.broadcast",
        "TOPIC COUNT INTERVAL_MS [PAYLOAD_BYTES]",
        "broadcasts bcast {t, i, pad} to TOPIC on every node COUNT times, one every \
         INTERVAL_MS (the publisher of loadgen soak; answers at once)",
        pubsub,
        |pubsub, args| async move {
            let topic = args.required(0, "TOPIC")?.to_string();
            let count: u32 = args.parse(1, "COUNT")?;
            let interval_ms: u64 = args.parse(2, "INTERVAL_MS")?;
            let payload_bytes: usize = match args.get(3) {
                Some(_) => args.parse(3, "PAYLOAD_BYTES")?,
                None => 256,
            };
            if interval_ms > MAX_INTERVAL_MS || payload_bytes > MAX_PAYLOAD_BYTES {
                return Err(args.bad(format!(
                    "INTERVAL_MS is at most {MAX_INTERVAL_MS}, PAYLOAD_BYTES at most {MAX_PAYLOAD_BYTES}"
                )));
            }
            let interval = Duration::from_millis(interval_ms);
            tokio::spawn(broadcast_series(
                pubsub,
                topic.clone(),
                count,
                interval,
                payload_bytes,
            ));
            Ok(format!(
                "broadcasting bcast to {topic}: {count} times, every {interval_ms} ms, \
                 {payload_bytes}-byte payloads"
            ))
        },
    );
}

/// Broadcasts `count` timed `bcast` payloads to `topic`, one every `interval`.
async fn broadcast_series(
    pubsub: PubSub,
    topic: String,
    count: u32,
    interval: Duration,
    payload_bytes: usize,
) {
    let pad = padding(payload_bytes);
    let started = tokio::time::Instant::now();
    for i in 0..count {
        tokio::time::sleep_until(started + interval * i).await;
        pubsub.broadcast(&topic, "bcast", json!({"t": wall_ns(), "i": i, "pad": pad}));
    }
    tracing::info!(%topic, count, "bench.broadcast: done");
}

/// Nanoseconds since the Unix epoch: one clock for every process on the
/// machine, so a subscriber in another process can subtract it.
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The `pad` string that makes `{"t":…,"i":…,"pad":"…"}` about
/// `payload_bytes` long (with a 19-digit `t` and a 3-digit `i`).
fn padding(payload_bytes: usize) -> String {
    let skeleton = json!({"t": 1_000_000_000_000_000_000u64, "i": 100, "pad": ""})
        .to_string()
        .len();
    "x".repeat(payload_bytes.saturating_sub(skeleton))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::console::{CommandError, Outcome};
    use std::sync::Arc;

    async fn run(console: &Console, line: &str) -> Result<String, CommandError> {
        console.run(line).await.map(|o| match o {
            Outcome::Output(s) => s,
            Outcome::Quit => "quit".into(),
        })
    }

    #[tokio::test]
    async fn bench_broadcast_sends_indexed_timed_payloads_in_order() {
        let pubsub = PubSub::new();
        let console = Console::new("test");
        register(&console, &pubsub);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        pubsub.subscribe("bench:soak", move |b| {
            s.lock().unwrap().push((b.event.clone(), b.json().clone()));
            true
        });
        let answer = run(&console, "bench.broadcast bench:soak 5 1 300")
            .await
            .unwrap();
        assert!(answer.starts_with("broadcasting bcast to bench:soak: 5 times"));
        for _ in 0..500 {
            if seen.lock().unwrap().len() == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 5, "every broadcast arrives");
        for (i, (event, payload)) in seen.iter().enumerate() {
            assert_eq!(event, "bcast");
            assert_eq!(payload["i"], i);
            assert!(payload["t"].as_u64().unwrap() > 0);
            let size = payload.to_string().len();
            assert!((290..=310).contains(&size), "payload of {size} bytes");
        }
    }

    #[tokio::test]
    async fn bench_broadcast_refuses_bad_arguments() {
        let pubsub = PubSub::new();
        let console = Console::new("test");
        register(&console, &pubsub);
        for line in [
            "bench.broadcast bench:soak",
            "bench.broadcast bench:soak many 10",
            "bench.broadcast bench:soak 10 -1",
            "bench.broadcast bench:soak 10 100000000",
            "bench.broadcast bench:soak 10 10 99999999999",
        ] {
            assert!(run(&console, line).await.is_err(), "{line} is refused");
        }
    }
}
