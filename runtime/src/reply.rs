//! `ReplyTo<T>`: where the answer to one request goes, typed by that request.
//!
//! A GenServer with one kind of answer declares it as `type Reply` and is
//! asked with [`Pid::call`](crate::Pid::call). A server asked several things
//! with different answers — the store's inventory answers a product list to
//! one request and a stock figure to another — would otherwise need one
//! `Reply` enum, and every caller would match it at run time for the one
//! variant its request can produce. Instead each request variant carries its
//! own `ReplyTo<T>` (as ractor's `RpcReplyPort<T>` does), the caller builds the
//! request around it with [`Pid::request`](crate::Pid::request), and a server
//! answering the wrong type does not compile:
//!
//! ```ignore
//! enum Ask {
//!     Count(ReplyTo<usize>),
//!     Name(u64, ReplyTo<Option<String>>),
//! }
//! let n: usize = pid.request(Ask::Count).await?;
//! let name = pid.request(|reply| Ask::Name(7, reply)).await?;
//! // in handle_call:  Ask::Count(reply) => reply.send(state.len()),
//! ```
//!
//! Such a server sets `type Reply = ()`. The port may also be kept in the
//! state and answered later (OTP's `{:noreply, state}` then `GenServer.reply`).
//! A port dropped unanswered — the request crashed its server, or the server
//! forgot it — reads as [`CallError::Exited`](crate::CallError::Exited).

use std::fmt;

use tokio::sync::oneshot;

/// The answer port of one request. Answer it once with [`ReplyTo::send`].
pub struct ReplyTo<T>(pub(crate) oneshot::Sender<T>);

impl<T> ReplyTo<T> {
    /// Answers the request. An answer to a caller that gave up (timeout) is
    /// dropped, as OTP drops a late reply.
    pub fn send(self, answer: T) {
        let _ = self.0.send(answer);
    }

    /// Whether the caller still waits for the answer.
    pub fn is_waiting(&self) -> bool {
        !self.0.is_closed()
    }
}

impl<T> fmt::Debug for ReplyTo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyTo<{}>", std::any::type_name::<T>())
    }
}
