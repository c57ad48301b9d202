//! The GenServer behaviour: one trait, two ways to run it.
//!
//! A `GenServer` is written once and started either as a ractor actor
//! ([`crate::server::start`], for services such as the inventory or PubSub) or
//! as a lightweight process ([`crate::process::spawn`], for high-cardinality work
//! such as one process per joined channel). The callbacks mirror OTP's:
//! `init`, `handle_call`, `handle_cast`, `handle_info`, `terminate`. As in
//! ractor, the handler is `&self` and the state is passed explicitly.
//!
//! Callbacks return `Result`; an `Err` — or a panic — crashes the process,
//! `terminate` still runs, and the process's supervisor sees the crash.

use std::future::Future;

use crate::exit::{ExitReason, ProcessError};
use crate::pid::Pid;

/// What a `handle_cast` / `handle_info` asks for next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Keep running (`{:noreply, state}`).
    Continue,
    /// Stop with this reason (`{:stop, reason, state}`); `terminate` runs.
    Stop(ExitReason),
}

/// What a `handle_call` answers.
#[derive(Debug)]
pub enum CallFlow<R> {
    /// Reply and keep running (`{:reply, reply, state}`).
    Reply(R),
    /// Reply, then stop (`{:stop, reason, reply, state}`).
    Stop(ExitReason, R),
}

/// A GenServer's callbacks. Every associated type may be `()` when unused
/// (`Call = ()` and `Reply = ()` for a server that takes no calls).
pub trait GenServer: Sized + Send + Sync + 'static {
    /// Passed to `init`.
    type Args: Send + 'static;
    /// The server's state, owned by its process.
    type State: Send + 'static;
    /// Synchronous requests.
    type Call: Send + 'static;
    /// Answers to `Call`.
    type Reply: Send + 'static;
    /// Asynchronous requests sent through [`Pid::cast`].
    type Cast: Send + 'static;
    /// Out-of-band messages: timers, PubSub deliveries, anything sent with [`Pid::info`].
    type Info: Send + 'static;

    /// Builds the state. An error here means the process never starts.
    fn init(
        &self,
        myself: &Pid<Self>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::State, ProcessError>> + Send;

    /// Answers a call. The default crashes: a server that receives calls must say how.
    fn handle_call(
        &self,
        _myself: &Pid<Self>,
        _request: Self::Call,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<CallFlow<Self::Reply>, ProcessError>> + Send {
        async { Err(format!("{} has no handle_call", std::any::type_name::<Self>()).into()) }
    }

    /// Handles a cast. The default crashes, as OTP's does for an unexpected cast.
    fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        _message: Self::Cast,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<Flow, ProcessError>> + Send {
        async { Err(format!("{} has no handle_cast", std::any::type_name::<Self>()).into()) }
    }

    /// Handles an info message. The default ignores it, as OTP's logs and drops it.
    fn handle_info(
        &self,
        _myself: &Pid<Self>,
        _message: Self::Info,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<Flow, ProcessError>> + Send {
        async { Ok(Flow::Continue) }
    }

    /// Runs once when the process stops for any reason but `Killed`, including a crash.
    fn terminate(
        &self,
        _myself: &Pid<Self>,
        _reason: &ExitReason,
        _state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}
