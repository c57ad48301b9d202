//! `Pid<G>`: the one handle to a running GenServer, whatever runs it.
//!
//! Callers should not care whether a server is a ractor actor or a lightweight
//! process, so both backends hide behind this type. Everything a caller can do
//! to a process — call with a timeout, cast, send an info message, monitor it,
//! stop it, peek at its state in a test — is a method here. Timers are in
//! `timer.rs` and also hang off `Pid`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use tokio::sync::oneshot;

use crate::exit::ExitReason;
use crate::gen_server::GenServer;
use crate::process::mailbox::Mailbox;
use crate::reply::ReplyTo;

/// OTP's default call timeout.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A closure run against a process's state from outside (see [`Pid::inspect`]).
pub type Peek<S> = Box<dyn FnOnce(&S) + Send>;

/// Everything a GenServer's mailbox can hold.
pub enum Envelope<G: GenServer> {
    /// A call and where its `G::Reply` goes: nowhere for a request that
    /// carries its own typed [`ReplyTo`] (see [`Pid::request`]).
    Call(G::Call, Option<oneshot::Sender<G::Reply>>),
    /// A cast.
    Cast(G::Cast),
    /// An out-of-band message.
    Info(G::Info),
    /// Runs a closure against the state (`:sys.get_state`); used by tests and introspection.
    Peek(Peek<G::State>),
    /// Asks the process to stop after the messages before this one.
    Stop(ExitReason),
    /// Registers a monitor; the sender receives the exit reason.
    Monitor(oneshot::Sender<ExitReason>),
}

// ractor's `cluster` feature removes the blanket `Message` impl: say it explicitly.
impl<G: GenServer> ractor::Message for Envelope<G> {}

/// Identifies a process for as long as it lives; a restarted child gets a new one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ProcessId {
    /// A ractor actor.
    Actor(ActorId),
    /// A lightweight process.
    Light(u64),
    /// A supervised task: a `TaskSupervisor` job or a `ConsumerSupervisor` worker.
    Task(u64),
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessId::Actor(id) => write!(f, "<actor {id}>"),
            ProcessId::Light(id) => write!(f, "<proc {id}>"),
            ProcessId::Task(id) => write!(f, "<task {id}>"),
        }
    }
}

/// Why a call produced no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No reply within the timeout; the request may still be processed later.
    #[error("call timed out after {0:?}")]
    Timeout(Duration),
    /// The process was not running when the call was made.
    #[error("no process")]
    NoProcess,
    /// The process stopped before it replied (or dropped a request's
    /// [`ReplyTo`] unanswered).
    #[error("process exited before replying")]
    Exited,
}

/// The process is not running, so the message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no process")]
pub struct NoProcess;

pub(crate) enum PidInner<G: GenServer> {
    Actor(ActorRef<Envelope<G>>),
    Light(Arc<Mailbox<Envelope<G>>>),
}

/// A handle to a running GenServer. Cheap to clone.
pub struct Pid<G: GenServer> {
    pub(crate) inner: PidInner<G>,
}

impl<G: GenServer> Clone for Pid<G> {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            PidInner::Actor(a) => PidInner::Actor(a.clone()),
            PidInner::Light(m) => PidInner::Light(m.clone()),
        };
        Pid { inner }
    }
}

impl<G: GenServer> PartialEq for Pid<G> {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}
impl<G: GenServer> Eq for Pid<G> {}

impl<G: GenServer> fmt::Debug for Pid<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pid({})", self.id())
    }
}

impl<G: GenServer> Pid<G> {
    pub(crate) fn from_actor(actor: ActorRef<Envelope<G>>) -> Self {
        Pid {
            inner: PidInner::Actor(actor),
        }
    }

    pub(crate) fn from_mailbox(mailbox: Arc<Mailbox<Envelope<G>>>) -> Self {
        Pid {
            inner: PidInner::Light(mailbox),
        }
    }

    /// This process's identity.
    pub fn id(&self) -> ProcessId {
        match &self.inner {
            PidInner::Actor(a) => ProcessId::Actor(a.get_id()),
            PidInner::Light(m) => ProcessId::Light(m.id()),
        }
    }

    /// The ractor actor behind this pid, when it is one (to link it under a supervisor).
    pub fn actor(&self) -> Option<&ActorRef<Envelope<G>>> {
        match &self.inner {
            PidInner::Actor(a) => Some(a),
            PidInner::Light(_) => None,
        }
    }

    /// Whether the process is still running.
    pub fn is_alive(&self) -> bool {
        match &self.inner {
            PidInner::Actor(a) => actor_alive(&a.get_cell()),
            PidInner::Light(m) => !m.is_closed(),
        }
    }

    /// Whether the process waits for a message with an empty mailbox, so that
    /// work done for it elsewhere right now cannot overtake a message sent
    /// before. Only lightweight processes can tell; an actor is never idle here.
    pub fn is_idle(&self) -> bool {
        match &self.inner {
            PidInner::Actor(_) => false,
            PidInner::Light(m) => m.is_idle(),
        }
    }

    /// Messages waiting in the mailbox, where the backend can tell (lightweight processes).
    pub fn queue_len(&self) -> Option<usize> {
        match &self.inner {
            PidInner::Actor(_) => None,
            PidInner::Light(m) => Some(m.len()),
        }
    }

    /// Delivers an envelope; `false` when the process is gone.
    fn send(&self, envelope: Envelope<G>) -> bool {
        match &self.inner {
            PidInner::Actor(a) => a.send_message(envelope).is_ok(),
            PidInner::Light(m) => m.push(envelope).is_ok(),
        }
    }

    /// A call with OTP's default 5 s timeout.
    pub async fn call(&self, request: G::Call) -> Result<G::Reply, CallError> {
        self.call_timeout(request, DEFAULT_CALL_TIMEOUT).await
    }

    /// Sends `request` and waits at most `timeout` for the reply. Never hangs:
    /// a dead process or a process that dies mid-call is an error at once.
    pub async fn call_timeout(
        &self,
        request: G::Call,
        timeout: Duration,
    ) -> Result<G::Reply, CallError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Envelope::Call(request, Some(tx))) {
            return Err(CallError::NoProcess);
        }
        answer(rx, timeout).await
    }

    /// A request whose answer type follows from it, with OTP's default 5 s
    /// timeout: `make` wraps a fresh [`ReplyTo<T>`] in the server's `Call`
    /// (`pid.request(Ask::Count)`, `pid.request(|r| Ask::Name(7, r))`), and
    /// the server answers on it. See [`crate::reply`].
    pub async fn request<T: Send + 'static>(
        &self,
        make: impl FnOnce(ReplyTo<T>) -> G::Call,
    ) -> Result<T, CallError> {
        self.request_timeout(make, DEFAULT_CALL_TIMEOUT).await
    }

    /// [`Pid::request`] waiting at most `timeout`. Never hangs, as
    /// [`Pid::call_timeout`].
    pub async fn request_timeout<T: Send + 'static>(
        &self,
        make: impl FnOnce(ReplyTo<T>) -> G::Call,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Envelope::Call(make(ReplyTo(tx)), None)) {
            return Err(CallError::NoProcess);
        }
        answer(rx, timeout).await
    }

    /// Sends a cast. Like OTP's, it does not wait; unlike OTP's, it tells you
    /// when the process is already gone.
    pub fn cast(&self, message: G::Cast) -> Result<(), NoProcess> {
        self.send(Envelope::Cast(message))
            .then_some(())
            .ok_or(NoProcess)
    }

    /// Sends an out-of-band message, handled by `handle_info`.
    pub fn info(&self, message: G::Info) -> Result<(), NoProcess> {
        self.send(Envelope::Info(message))
            .then_some(())
            .ok_or(NoProcess)
    }

    /// Asks the process to stop once it has handled what is already queued.
    pub fn stop(&self, reason: ExitReason) {
        // ractor's own stop signal jumps the queue; ours goes through the mailbox
        // so that earlier messages are handled first, as in OTP.
        self.send(Envelope::Stop(reason));
    }

    /// Kills the process at once: `terminate` does not run.
    pub fn kill(&self) {
        match &self.inner {
            PidInner::Actor(a) => a.kill(),
            PidInner::Light(m) => m.kill(),
        }
    }

    /// Stops the process and waits for it to be gone; kills it if `timeout` passes
    /// first (OTP's shutdown timeout, then `:brutal_kill`). Returns the exit reason.
    pub async fn stop_and_wait(&self, reason: ExitReason, timeout: Duration) -> ExitReason {
        let monitor = self.monitor();
        self.stop(reason);
        match tokio::time::timeout(timeout, monitor).await {
            Ok(reason) => reason,
            Err(_) => {
                let monitor = self.monitor();
                self.kill();
                monitor.await
            }
        }
    }

    /// Resolves with the exit reason once the process stops (`Process.monitor`).
    /// A process that is already gone resolves at once with its reason, or `NoProc`.
    pub fn monitor(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let early = match &self.inner {
            PidInner::Actor(_) => (!self.send(Envelope::Monitor(tx))).then_some(ExitReason::NoProc),
            PidInner::Light(m) => m.monitor(tx).err(),
        };
        async move {
            match early {
                Some(reason) => reason,
                // A dropped sender means the process died without running its exit
                // path, which only a kill does.
                None => rx.await.unwrap_or(ExitReason::Killed),
            }
        }
    }

    /// Runs `f` against the state inside the process and returns its result:
    /// `:sys.get_state` with a projection. For tests and introspection.
    pub async fn inspect<T, F>(&self, f: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: FnOnce(&G::State) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let peek: Peek<G::State> = Box::new(move |state| {
            let _ = tx.send(f(state));
        });
        if !self.send(Envelope::Peek(peek)) {
            return Err(CallError::NoProcess);
        }
        answer(rx, DEFAULT_CALL_TIMEOUT).await
    }

    /// A copy of the state (`:sys.get_state`). Meant for tests.
    pub async fn get_state(&self) -> Result<G::State, CallError>
    where
        G::State: Clone,
    {
        self.inspect(|state| state.clone()).await
    }
}

/// Waits at most `timeout` for the answer on `rx`; a dropped sender means the
/// process exited (or dropped the request) before answering.
async fn answer<T>(rx: oneshot::Receiver<T>, timeout: Duration) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(CallError::Exited),
        Err(_) => Err(CallError::Timeout(timeout)),
    }
}

/// Whether a ractor actor is starting or running (not draining, stopping or stopped).
pub(crate) fn actor_alive(actor: &ractor::ActorCell) -> bool {
    matches!(
        actor.get_status(),
        ractor::ActorStatus::Starting
            | ractor::ActorStatus::Running
            | ractor::ActorStatus::Upgrading
    )
}
