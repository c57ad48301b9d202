//! An Erlang/OTP-style runtime on [ractor].
//!
//! - [`gen_server`]: the GenServer behaviour, run as a ractor actor ([`server`])
//!   or as a lightweight process ([`process`]); [`Pid`] is the handle to either,
//!   and [`reply::ReplyTo`] types each request's answer.
//! - [`timer`]: `send_after` / `send_interval` with cancellable handles.
//! - [`supervisor`]: OTP supervisors (strategies, restart intensity), dynamic
//!   supervisors, and the core every kind of supervisor shares (options,
//!   handle, actor, children table).
//! - [`task`]: a task supervisor for async jobs whose results go back to the caller.
//! - [`registry`]: unique local names, dropped when their process exits.
//! - [`gen_stage`]: demand-driven producer / consumer pipelines.
//! - [`introspect`]: the live supervision tree.
//! - [`log_text`]: client-controlled text, bounded and escaped for log lines.
//! - [`node`]: Erlang-style distributed nodes on ractor_cluster.
//! - [`console`]: a node's console — commands, a REPL, a control socket —
//!   and [`release`], the `start` / `rpc` / `remote` / `stop` CLI built on it.
//! - [`testkit`]: helpers for tests that run nodes as OS processes (temporary
//!   directories, isolated node environments, bounded waits on their logs).
//!
//! ractor's `cluster` feature is on for the whole workspace (ractor_cluster needs
//! it), so every message type implements [`ractor::Message`] explicitly.

pub mod console;
pub(crate) mod dispatch;
pub mod exit;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod gen_server;
pub mod gen_stage;
pub(crate) mod handles;
pub mod introspect;
pub mod log_text;
pub mod memory;
pub mod node;
pub mod pid;
pub mod process;
pub mod registry;
pub mod release;
pub mod reply;
pub mod server;
pub mod supervisor;
pub mod task;
pub mod testkit;
pub mod timer;

pub use exit::{ExitReason, ProcessError};
pub use gen_server::{CallFlow, Flow, GenServer};
pub use pid::{CallError, NoProcess, Pid, ProcessId};
pub use registry::Registry;
pub use reply::ReplyTo;

/// Re-exported so that applications use the same ractor as the runtime.
pub use ractor;
