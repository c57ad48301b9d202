//! `presence:<room>`: who is in a room, on every node — the Phoenix.Presence
//! example (`handle_info(:after_join, …)` tracks the user and pushes
//! `presence_state`; the tracker's diffs reach the clients as
//! `presence_diff`), for phoenix.js's `Presence` class.
//!
//! Join with `{"user": "alice"}` (1–64 characters). `status` `{status}`
//! updates the user's meta; leaving, closing or losing the connection
//! removes the user, on every node.

use channels::channel::{Channel, ChannelSocket, Continue, HandleIn, Join, Reply};
use channels::message::Payload;
use channels::presence::{Presence, PRESENCE_STATE};
use channels::tracker::TrackedProcess;
use runtime::ProcessError;
use serde_json::{json, Value};

/// The presence example's channel.
pub struct PresenceChannel {
    presence: Presence,
}

impl PresenceChannel {
    /// The channel, tracking in `presence`.
    pub fn new(presence: Presence) -> Self {
        PresenceChannel { presence }
    }
}

/// A joined room: the user, and the channel's identity with the tracker
/// once tracked (dropped with the state when the channel ends: its presence
/// leaves).
#[derive(Default)]
pub struct PresenceState {
    user: String,
    process: Option<TrackedProcess>,
}

/// Sent to itself right after the join, as the Phoenix example does.
pub struct AfterJoin;

impl<A: Send + Sync + 'static> Channel<A> for PresenceChannel {
    type State = PresenceState;
    type Info = AfterJoin;

    async fn join(
        &self,
        _topic: &str,
        payload: Payload,
        socket: &ChannelSocket<A, AfterJoin>,
    ) -> Result<Join<PresenceState>, ProcessError> {
        let user = payload
            .as_json()
            .and_then(|p| p.get("user"))
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if user.is_empty() || user.chars().count() > 64 {
            return Ok(Join::Error(
                json!({"reason": "join with {\"user\": \"name\"} (1 to 64 characters)"}),
            ));
        }
        socket.myself().send(AfterJoin);
        Ok(Join::Ok(PresenceState {
            user: user.to_string(),
            process: None,
        }))
    }

    async fn handle_info(
        &self,
        _message: AfterJoin,
        socket: &ChannelSocket<A, AfterJoin>,
        state: &mut PresenceState,
    ) -> Result<Continue, ProcessError> {
        let meta = json!({ "online_at": hello_sockets_now(), "node": socket.node_name() });
        let process = self
            .presence
            .track(socket, &state.user, meta)
            .await
            .map_err(|err| err.to_string())?;
        state.process = Some(process);
        let list = self
            .presence
            .list(socket.topic())
            .await
            .map_err(|err| err.to_string())?;
        socket.push(PRESENCE_STATE, list);
        Ok(Continue::NoReply)
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &ChannelSocket<A, AfterJoin>,
        state: &mut PresenceState,
    ) -> Result<HandleIn, ProcessError> {
        if event != "status" {
            return Ok(HandleIn::Reply(Reply::error(
                json!({"reason": format!("unknown event {event:?}")}),
            )));
        }
        let Some(status) = payload
            .as_json()
            .and_then(|p| p.get("status"))
            .and_then(Value::as_str)
        else {
            return Ok(HandleIn::Reply(Reply::error(
                json!({"reason": "status must be a string"}),
            )));
        };
        let Some(process) = state.process.as_ref() else {
            return Ok(HandleIn::Reply(Reply::error(
                json!({"reason": "not tracked yet"}),
            )));
        };
        let meta = json!({ "online_at": hello_sockets_now(), "node": socket.node_name(), "status": status });
        match self
            .presence
            .update(socket.topic(), process, &state.user, meta)
            .await
        {
            Ok(()) => Ok(HandleIn::Reply(Reply::ok(json!({})))),
            Err(err) => Ok(HandleIn::Reply(Reply::error(
                json!({"reason": err.to_string()}),
            ))),
        }
    }
}

fn hello_sockets_now() -> u64 {
    crate::unix_ms_now() / 1000
}
