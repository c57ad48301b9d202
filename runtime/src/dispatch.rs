//! Turning one envelope into one callback, shared by both GenServer backends.
//!
//! The ractor adapter (`server.rs`) and the lightweight process (`process/`)
//! differ in how they receive messages and where monitors live, but not in what
//! a call, cast or info does. That part lives here, once, together with the
//! panic catching that turns a panicking callback into a crash of its process.

use crate::log_text::bounded_reason;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::oneshot;

use crate::exit::{ExitReason, ProcessError};
use crate::gen_server::{CallFlow, Flow, GenServer};
use crate::pid::{Envelope, Pid};

/// Runs a callback future, turning both an `Err` and a panic into an exit reason.
///
/// A combinator, not an `async fn`: an `async fn` would keep its `future`
/// argument besides the `CatchUnwind` made from it, storing every callback's
/// future twice in the process's task.
pub(crate) fn catching<T>(
    future: impl Future<Output = Result<T, ProcessError>>,
) -> impl Future<Output = Result<T, ExitReason>> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .map(|result| match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(ExitReason::from(err)),
            Err(panic) => Err(ExitReason::from_panic(panic)),
        })
}

fn flow(result: Result<Flow, ExitReason>) -> Flow {
    result.unwrap_or_else(Flow::Stop)
}

/// Sends a call's `G::Reply` to its caller, if it waits for one (a typed
/// request answers on its own `ReplyTo` instead).
fn answer<R>(reply_to: Option<oneshot::Sender<R>>, reply: R) {
    if let Some(reply_to) = reply_to {
        let _ = reply_to.send(reply);
    }
}

/// Handles one envelope. Monitor registration is the backend's business, so it
/// is handed back through `on_monitor`.
pub(crate) async fn dispatch<G: GenServer>(
    handler: &G,
    myself: &Pid<G>,
    envelope: Envelope<G>,
    state: &mut G::State,
    on_monitor: impl FnOnce(oneshot::Sender<ExitReason>),
) -> Flow {
    match envelope {
        Envelope::Call(request, reply_to) => {
            match catching(handler.handle_call(myself, request, state)).await {
                Ok(CallFlow::Reply(reply)) => {
                    answer(reply_to, reply);
                    Flow::Continue
                }
                Ok(CallFlow::Stop(reason, reply)) => {
                    answer(reply_to, reply);
                    Flow::Stop(reason)
                }
                // The caller's sender is dropped with the crash: it sees `Exited`.
                Err(reason) => Flow::Stop(reason),
            }
        }
        Envelope::Cast(message) => {
            flow(catching(handler.handle_cast(myself, message, state)).await)
        }
        Envelope::Info(message) => {
            flow(catching(handler.handle_info(myself, message, state)).await)
        }
        Envelope::Peek(peek) => {
            // A panicking peek is the tester's bug, not the process's: keep running.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| peek(state)));
            Flow::Continue
        }
        Envelope::Stop(reason) => Flow::Stop(reason),
        Envelope::Monitor(tx) => {
            on_monitor(tx);
            Flow::Continue
        }
    }
}

/// Runs `terminate`, swallowing its own crash: the process is exiting anyway.
pub(crate) async fn terminate<G: GenServer>(
    handler: &G,
    myself: &Pid<G>,
    reason: &ExitReason,
    state: &mut G::State,
) {
    let result = catching(async {
        handler.terminate(myself, reason, state).await;
        Ok(())
    })
    .await;
    if let Err(crash) = result {
        tracing::error!(process = %myself.id(), crash = %bounded_reason(&crash), "terminate crashed");
    }
}
