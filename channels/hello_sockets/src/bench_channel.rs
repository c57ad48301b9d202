//! `bench:*`: the load generator's channel. `broadcast` fans a payload out to
//! the topic as `bcast`; `ping` echoes its payload, answered in the
//! connection's task (`handle_in_now`) when the channel's process is idle.

use runtime::log_text::bounded;
use serde_json::json;

use channels::channel::{Channel, ChannelSocket, HandleIn, HandleNow, Reply};
use channels::message::Payload;
use runtime::ProcessError;

/// The benchmark channel.
pub struct BenchChannel;

impl<A: Send + Sync + 'static> Channel<A> for BenchChannel {
    type State = ();
    type Info = ();

    fn handle_in_now(&self, event: &str, payload: Payload) -> HandleNow {
        match event {
            "ping" => HandleNow::Reply(Reply::Ok(payload)),
            _ => HandleNow::Process(payload),
        }
    }

    async fn handle_in(
        &self,
        event: &str,
        payload: Payload,
        socket: &ChannelSocket<A>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        match event {
            "broadcast" => {
                socket.broadcast("bcast", payload);
                Ok(HandleIn::Reply(Reply::ok(json!({}))))
            }
            "ping" => Ok(HandleIn::Reply(Reply::Ok(payload))),
            other => Err(format!("no handle_in clause for \"{}\"", bounded(other)).into()),
        }
    }
}
