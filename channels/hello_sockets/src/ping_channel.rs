//! `HelloSocketsWeb.PingChannel`, as the book ends chapter 5 with it.

use runtime::log_text::bounded;
use serde_json::{json, Value};

use channels::channel::{Channel, ChannelSocket, Continue, HandleIn, Reply};
use channels::message::Payload;
use runtime::{ExitReason, ProcessError};

/// Answers pings; pushes `send_ping` when `request_ping` is broadcast.
pub struct PingChannel;

impl<A: Send + Sync + 'static> Channel<A> for PingChannel {
    type State = ();
    type Info = ();

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        _socket: &ChannelSocket<A>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        if event == "ping" {
            let ack = payload.as_json().and_then(|p| p.get("ack_phrase")).cloned();
            return Ok(HandleIn::Reply(Reply::ok(json!({
                "ping": ack.unwrap_or(Value::String("pong".into()))
            }))));
        }
        if let Some(phrase) = event.strip_prefix("ping_") {
            return Ok(HandleIn::Reply(Reply::ok(json!({"ping": phrase}))));
        }
        match event {
            "pong" => Ok(HandleIn::NoReply),
            "ding" => Ok(HandleIn::Stop(
                ExitReason::Shutdown,
                Some(Reply::ok(json!({"msg": "shutting down"}))),
            )),
            // No clause matches: the channel crashes, as in Elixir.
            other => Err(format!("no handle_in clause for \"{}\"", bounded(other)).into()),
        }
    }

    fn intercepts(&self) -> &'static [&'static str] {
        &["request_ping"]
    }

    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &ChannelSocket<A>,
        _state: &mut (),
    ) -> Result<Continue, ProcessError> {
        if event == "request_ping" {
            let mut payload = payload.as_json().cloned().unwrap_or_else(|| json!({}));
            if let Some(map) = payload.as_object_mut() {
                map.insert("from_node".into(), Value::String(socket.node_name()));
            }
            socket.push("send_ping", payload);
        }
        Ok(Continue::NoReply)
    }
}
