//! The book's console command: `broadcast ping request_ping {}` is
//! `HelloSocketsWeb.Endpoint.broadcast("ping", "request_ping", %{})`.

use channels::pubsub::PubSub;
use runtime::console::Console;

/// Registers `broadcast TOPIC EVENT [JSON]`.
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
}
