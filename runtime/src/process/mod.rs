//! Lightweight processes: a GenServer run as one tokio task with one mailbox.
//!
//! Services are ractor actors, but a ractor actor costs 8–11 KB idle and its
//! spawn goes through several channels and a registry. Work with one process per
//! connection, per joined channel or per shopper needs something closer to the
//! BEAM's 2.6 KB process: this is it. It runs the same [`GenServer`] callbacks,
//! catches panics (a crash stops this process only), runs `terminate`, tells its
//! monitors, and reports its exit to its parent — a ractor
//! [`ProcessSupervisor`] — which restarts it or
//! forgets it according to its restart policy.

pub(crate) mod mailbox;
pub mod supervisor;

use crate::log_text::bounded_reason;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::dispatch::{catching, dispatch, terminate};
use crate::exit::ExitReason;
use crate::gen_server::{Flow, GenServer};
use crate::pid::{Envelope, Pid};
use mailbox::Mailbox;

pub use mailbox::park_waker;
pub use supervisor::{ProcessChildren, ProcessSpec, ProcessSupervisor, SpawnError};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Whoever must hear of a process's exit: its supervisor.
pub(crate) trait Parent: Send + Sync + 'static {
    /// Called exactly once, from the exiting process's task (or its drop, on a kill).
    fn child_exited(&self, child: u64, reason: &ExitReason);
}

/// Starts `handler` as an unsupervised lightweight process and returns at once;
/// `init` runs inside the new process, and messages sent meanwhile wait for it.
pub fn spawn<G: GenServer>(handler: G, args: G::Args) -> Pid<G> {
    spawn_inner(handler, args, None, None)
}

/// Starts `handler` as an unsupervised lightweight process and waits for `init`:
/// `Err` carries the reason `init` failed.
pub async fn start<G: GenServer>(handler: G, args: G::Args) -> Result<Pid<G>, ExitReason> {
    let (tx, rx) = oneshot::channel();
    let pid = spawn_inner(handler, args, None, Some(tx));
    await_init(pid, rx).await
}

pub(crate) async fn await_init<G: GenServer>(
    pid: Pid<G>,
    init: oneshot::Receiver<Result<(), ExitReason>>,
) -> Result<Pid<G>, ExitReason> {
    match init.await {
        Ok(Ok(())) => Ok(pid),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err(ExitReason::Killed),
    }
}

pub(crate) fn spawn_inner<G: GenServer>(
    handler: G,
    args: G::Args,
    parent: Option<Arc<dyn Parent>>,
    init_done: Option<oneshot::Sender<Result<(), ExitReason>>>,
) -> Pid<G> {
    launch(new_mailbox(), handler, args, parent, init_done)
}

/// A mailbox with a fresh process id, so that a supervisor can record the child
/// before it runs (and so before it can exit).
pub(crate) fn new_mailbox<G: GenServer>() -> Arc<Mailbox<Envelope<G>>> {
    Arc::new(Mailbox::new(NEXT_ID.fetch_add(1, Ordering::Relaxed)))
}

/// Starts the process's task on an existing mailbox.
pub(crate) fn launch<G: GenServer>(
    mailbox: Arc<Mailbox<Envelope<G>>>,
    handler: G,
    args: G::Args,
    parent: Option<Arc<dyn Parent>>,
    init_done: Option<oneshot::Sender<Result<(), ExitReason>>>,
) -> Pid<G> {
    let pid = Pid::from_mailbox(mailbox.clone());
    let guard = ExitGuard {
        mailbox: mailbox.clone(),
        parent,
        reason: None,
    };
    let task = tokio::spawn(run(handler, args, pid.clone(), guard, init_done));
    mailbox.set_abort(task.abort_handle());
    pid
}

/// Closes the mailbox and tells the parent when the task ends — also when the
/// task is aborted (a kill), which is why this is a `Drop` and not a last line.
struct ExitGuard<M> {
    mailbox: Arc<Mailbox<M>>,
    parent: Option<Arc<dyn Parent>>,
    reason: Option<ExitReason>,
}

impl<M> Drop for ExitGuard<M> {
    fn drop(&mut self) {
        let reason = self.reason.take().unwrap_or(ExitReason::Killed);
        self.mailbox.close(&reason);
        if let Some(parent) = self.parent.take() {
            parent.child_exited(self.mailbox.id(), &reason);
        }
    }
}

async fn run<G: GenServer>(
    handler: G,
    args: G::Args,
    myself: Pid<G>,
    mut guard: ExitGuard<Envelope<G>>,
    init_done: Option<oneshot::Sender<Result<(), ExitReason>>>,
) {
    let mut state = match catching(handler.init(&myself, args)).await {
        Ok(state) => state,
        Err(reason) => {
            if let Some(tx) = init_done {
                let _ = tx.send(Err(reason.clone()));
            }
            guard.reason = Some(reason);
            return;
        }
    };
    if let Some(tx) = init_done {
        let _ = tx.send(Ok(()));
    }
    let mailbox = guard.mailbox.clone();
    let reason = loop {
        let envelope = mailbox.recv().await;
        let next = dispatch(&handler, &myself, envelope, &mut state, |tx| {
            if let Err(reason) = mailbox.monitor(tx) {
                // Unreachable while we run, but never lose a monitor.
                tracing::warn!(%reason, "monitor registered on a closed mailbox");
            }
        })
        .await;
        if let Flow::Stop(reason) = next {
            break reason;
        }
    };
    // A supervised process's crash is logged by its supervisor.
    if !reason.is_normal() && guard.parent.is_none() {
        tracing::error!(process = %myself.id(), reason = %bounded_reason(&reason), "process crashed");
    }
    terminate(&handler, &myself, &reason, &mut state).await;
    guard.reason = Some(reason);
}
