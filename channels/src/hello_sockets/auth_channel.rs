//! `HelloSocketsWeb.AuthChannel`: `user:<id>` is joinable by that user only.

use serde_json::json;

use crate::channel::{Channel, ChannelSocket, Join};
use crate::message::Payload;
use runtime::ProcessError;

use super::auth_socket::AuthAssigns;

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
}
