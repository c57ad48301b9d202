//! `HelloSocketsWeb.WildcardChannel`: `wild:a:b` joins only when b = 2a.

use runtime::log_text::bounded;
use serde_json::json;

use channels::channel::{Channel, ChannelSocket, HandleIn, Join, Reply};
use channels::message::Payload;
use runtime::ProcessError;

/// Joins `wild:a:b` when `b == 2 * a`; a topic that is not numbers crashes the join.
pub struct WildcardChannel;

impl<A: Send + Sync + 'static> Channel<A> for WildcardChannel {
    type State = ();
    type Info = ();

    async fn join(
        &self,
        topic: &str,
        _payload: Payload,
        _socket: &ChannelSocket<A>,
    ) -> Result<Join<()>, ProcessError> {
        let numbers = topic.strip_prefix("wild:").unwrap_or(topic);
        // `String.to_integer/1` raises on anything but an integer: so does this join.
        let parsed = numbers
            .split(':')
            .map(str::parse::<i64>)
            .collect::<Result<Vec<_>, _>>()?;
        // Elixir's integers do not overflow: a doubling past i64 is simply
        // not equal to the second number (found by the network fuzzer).
        match parsed.as_slice() {
            [a, b] if a.checked_mul(2) == Some(*b) => Ok(Join::Ok(())),
            _ => Ok(Join::Error(json!({}))),
        }
    }

    async fn handle_in(
        &self,
        event: &str,
        _payload: Payload,
        _socket: &ChannelSocket<A>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        match event {
            "ping" => Ok(HandleIn::Reply(Reply::ok(json!({"ping": "pong"})))),
            other => Err(format!("no handle_in clause for \"{}\"", bounded(other)).into()),
        }
    }
}
