//! A node's console: named commands, a REPL, and a control socket that lets
//! `rpc` / `remote` / `stop` drive a running node — an Elixir release's
//! `bin/app` and its remote shell, for this runtime.
//!
//! ```no_run
//! # async fn demo(node: runtime::node::Node) {
//! use runtime::console::{builtins, Console, CommandError};
//! let console = Console::new("hello_sockets");
//! builtins::register_node(&console, &node);           // node.*, processes
//! console.register("greet", "WHO", "says hello", |args| async move {
//!     let who = args.required(0, "WHO")?;
//!     if who == "nobody" {
//!         return Err(CommandError::failed("nobody to greet"));
//!     }
//!     Ok(format!("hello, {who}"))
//! });
//! let out = console.run("greet world").await;
//! # }
//! ```
//!
//! | file | one job |
//! |---|---|
//! | [`parse`] | a line → words: quotes, and JSON values written as is (`{"a": "b c"}` is one word) |
//! | [`registry`] | [`Console`]: register commands with a usage line (`TOPIC EVENT [JSON]`), check arguments, `help`, "did you mean", completion by parameter name, the shutdown request |
//! | [`builtins`] | `node.connect`/`list`/`self`/`disconnect`/`names`/`stop`, `processes` |
//! | [`repl`] | rustyline on a terminal (history, Tab), one command per line otherwise; runs commands here ([`repl::Local`]) or on another node ([`repl::Remote`]) |
//! | [`control`] | the control socket: a `0600` Unix socket per node, line-delimited JSON, the cookie checked in constant time, other users refused by their credentials |
//!
//! Applications add their own commands (channels adds `pubsub.*`); the same
//! registry answers the local REPL and the control socket, so `rpc` runs
//! exactly what a person types. [`crate::release`] puts it together into
//! `start` / `rpc` / `remote` / `stop`.

pub mod builtins;
pub mod control;
pub mod parse;
pub mod registry;
pub mod repl;

pub use control::{ControlClient, ControlServer};
pub use registry::{
    Args, CommandError, CommandResult, CompletionSource, Console, Outcome, ShutdownRequests,
};
