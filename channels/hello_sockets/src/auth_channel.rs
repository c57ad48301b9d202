//! `HelloSocketsWeb.AuthChannel`: `user:<id>` is joinable by that user only;
//! it intercepts the pipeline's `push_timed` to time its delivery.

use serde_json::json;

use channels::channel::{Channel, ChannelSocket, Continue, Join};
use channels::message::Payload;
use runtime::ProcessError;

use super::auth_socket::AuthAssigns;
use super::pipeline::unix_ms_now;

/// A user's private topic.
pub struct AuthChannel;

impl Channel<AuthAssigns> for AuthChannel {
    type State = ();
    type Info = ();

    async fn join(
        &self,
        topic: &str,
        _payload: Payload,
        socket: &ChannelSocket<AuthAssigns>,
    ) -> Result<Join<()>, ProcessError> {
        let requested = topic.strip_prefix("user:").unwrap_or_default();
        let user_id = socket.assigns().user_id;
        if requested == user_id.to_string() {
            Ok(Join::Ok(()))
        } else {
            tracing::error!("AuthChannel failed! {requested} != {user_id}");
            Ok(Join::Error(json!({"reason": "unauthorized"})))
        }
    }

    fn intercepts(&self) -> &'static [&'static str] {
        &["push_timed"]
    }

    /// Pushes the data and records how long it took since it was enqueued.
    async fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &ChannelSocket<AuthAssigns>,
        _state: &mut (),
    ) -> Result<Continue, ProcessError> {
        let payload = payload.as_json().cloned().unwrap_or_default();
        let at = payload
            .get("at")
            .and_then(|at| at.as_u64())
            .ok_or("push_timed without an enqueue time")?;
        socket.push(event, payload.get("data").cloned().unwrap_or_default());
        let elapsed = std::time::Duration::from_millis(unix_ms_now().saturating_sub(at));
        socket
            .metrics()
            .timing("pipeline.push_delivered", elapsed, &[]);
        Ok(Continue::NoReply)
    }
}
