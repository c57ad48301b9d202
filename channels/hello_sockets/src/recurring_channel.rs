//! `HelloSocketsWeb.RecurringChannel`: pushes a fresh token every 5 seconds.

use std::time::Duration;

use serde_json::json;

use channels::channel::{Channel, ChannelSocket, Continue, Join};
use channels::message::Payload;
use channels::token::Signer;
use runtime::ProcessError;

use super::TOKEN_SALT;

/// Sockets whose connections may know a user.
pub trait UserId {
    /// The connection's user, if any.
    fn user_id(&self) -> Option<u64>;
}

/// How often a new token is pushed (`@send_after 5_000`).
pub const SEND_AFTER: Duration = Duration::from_secs(5);

/// The recurring-token channel.
pub struct RecurringChannel {
    signer: Signer,
}

impl RecurringChannel {
    /// Signs tokens with `signer`.
    pub fn new(signer: Signer) -> Self {
        RecurringChannel { signer }
    }
}

/// `:send_token`
#[derive(Debug)]
pub struct SendToken;

impl<A: UserId + Send + Sync + 'static> Channel<A> for RecurringChannel {
    type State = ();
    type Info = SendToken;

    async fn join(
        &self,
        _topic: &str,
        _payload: Payload,
        socket: &ChannelSocket<A, SendToken>,
    ) -> Result<Join<()>, ProcessError> {
        socket.send_after(SendToken, SEND_AFTER);
        Ok(Join::Ok(()))
    }

    async fn handle_info(
        &self,
        _message: SendToken,
        socket: &ChannelSocket<A, SendToken>,
        _state: &mut (),
    ) -> Result<Continue, ProcessError> {
        socket.send_after(SendToken, SEND_AFTER);
        let token = self.signer.sign(TOKEN_SALT, &socket.assigns().user_id());
        socket.push("new_token", json!({"token": token}));
        Ok(Continue::NoReply)
    }
}
