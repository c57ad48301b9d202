//! PubSub commands for a node's console ([`runtime::console`]).
//!
//! | command | does |
//! |---|---|
//! | `pubsub.broadcast TOPIC EVENT JSON` | to every subscriber on every connected node |
//! | `pubsub.local_broadcast TOPIC EVENT JSON` | to this node's subscribers only |
//! | `pubsub.direct_broadcast NODE TOPIC EVENT JSON` | to one node's subscribers only |
//! | `pubsub.subscribers TOPIC` | how many local subscribers `TOPIC` has |
//! | `pubsub.topics` | the topics with local subscribers, with their counts |
//!
//! `TOPIC` completes from this node's topics. A JSON argument is written as is:
//! `pubsub.broadcast ping request_ping {"from": "ops"}`.

use std::sync::Arc;

use runtime::console::{Args, CommandError, Console};
use serde_json::Value;

use crate::pubsub::PubSub;

/// Registers the `pubsub.*` commands for `pubsub`.
pub fn register(console: &Console, pubsub: &PubSub) {
    console.register_with(
        "pubsub.broadcast",
        "TOPIC EVENT JSON",
        "broadcasts to every subscriber of TOPIC on every connected node",
        pubsub,
        |p, args| async move {
            let (topic, event, payload) = message(&args, 0)?;
            p.broadcast(&topic, &event, payload);
            Ok(format!("broadcast {event} to {topic}"))
        },
    );
    console.register_with(
        "pubsub.local_broadcast",
        "TOPIC EVENT JSON",
        "broadcasts to the subscribers of TOPIC on this node only",
        pubsub,
        |p, args| async move {
            let (topic, event, payload) = message(&args, 0)?;
            p.local_broadcast(&topic, &event, payload);
            Ok(format!("broadcast {event} to {topic} on {}", p.node_name()))
        },
    );
    console.register_with(
        "pubsub.direct_broadcast",
        "NODE TOPIC EVENT JSON",
        "broadcasts to the subscribers of TOPIC on one node only",
        pubsub,
        |p, args| async move {
            let node = args.required(0, "NODE")?.to_string();
            let (topic, event, payload) = message(&args, 1)?;
            p.direct_broadcast(&node, &topic, &event, payload)
                .map_err(CommandError::failed)?;
            Ok(format!("broadcast {event} to {topic} on {node}"))
        },
    );
    console.register_with(
        "pubsub.subscribers",
        "TOPIC",
        "how many subscribers TOPIC has on this node",
        pubsub,
        |p, args| async move {
            let topic = args.required(0, "TOPIC")?;
            Ok(p.subscriber_count(topic).to_string())
        },
    );
    console.register_with(
        "pubsub.topics",
        "",
        "the topics with subscribers on this node, and how many",
        pubsub,
        |p, _| async move {
            let topics = p.topics();
            if topics.is_empty() {
                return Ok("(no topics)".to_string());
            }
            Ok(topics
                .iter()
                .map(|t| format!("{t} {}", p.subscriber_count(t)))
                .collect::<Vec<_>>()
                .join("\n"))
        },
    );
    let p = pubsub.clone();
    console.complete_param("TOPIC", Arc::new(move || p.topics()));
}

/// `TOPIC EVENT JSON` starting at argument `first`; the JSON defaults to `{}`
/// when the usage makes it optional.
pub fn message(args: &Args, first: usize) -> Result<(String, String, Value), CommandError> {
    let topic = args.required(first, "TOPIC")?.to_string();
    let event = args.required(first + 1, "EVENT")?.to_string();
    let payload = args.json(first + 2, "JSON", Some(Value::Object(Default::default())))?;
    Ok((topic, event, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::console::Outcome;

    async fn run(console: &Console, line: &str) -> Result<String, CommandError> {
        console.run(line).await.map(|o| match o {
            Outcome::Output(s) => s,
            Outcome::Quit => "quit".into(),
        })
    }

    #[tokio::test]
    async fn pubsub_commands() {
        let pubsub = PubSub::new();
        let console = Console::new("test");
        register(&console, &pubsub);
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let s = seen.clone();
        pubsub.subscribe("ping", move |b| {
            s.lock().push((b.event.clone(), b.json().clone()));
            true
        });
        assert_eq!(run(&console, "pubsub.subscribers ping").await.unwrap(), "1");
        assert_eq!(run(&console, "pubsub.topics").await.unwrap(), "ping 1");
        assert_eq!(
            run(
                &console,
                r#"pubsub.broadcast ping request_ping {"a": "b c"}"#
            )
            .await
            .unwrap(),
            "broadcast request_ping to ping"
        );
        run(&console, "pubsub.local_broadcast ping local {}")
            .await
            .unwrap();
        run(
            &console,
            "pubsub.direct_broadcast nonode@nohost ping direct {}",
        )
        .await
        .unwrap();
        let err = run(&console, "pubsub.direct_broadcast b@127.0.0.1 ping x {}")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not connected"), "{err}");
        let err = run(&console, "pubsub.broadcast ping x {oops}")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = run(&console, "pubsub.broadcast ping").await.unwrap_err();
        assert!(err.to_string().contains("missing EVENT JSON"), "{err}");
        assert_eq!(
            *seen.lock(),
            vec![
                ("request_ping".to_string(), serde_json::json!({"a": "b c"})),
                ("local".to_string(), serde_json::json!({})),
                ("direct".to_string(), serde_json::json!({})),
            ]
        );
        assert_eq!(console.complete("pubsub.subscribers p", 20).1, ["ping"]);
    }
}
