//! Child specs: how a supervisor starts, restarts and stops one ractor child.
//!
//! OTP describes a child by a map — `id`, `start`, `restart`, `shutdown`,
//! `type` — and the supervisor calls `start` again on every restart. Here the
//! start function is an async factory that spawns a ractor actor linked under
//! the supervisor cell it is given (so that the supervisor receives the child's
//! exit as a [`SupervisionEvent`](ractor::SupervisionEvent)) and returns the
//! child's [`ActorCell`]. Factories are shared (`Arc`), so one spec serves every
//! restart. Constructors cover the usual children: GenServers, plain ractor
//! actors, nested [`Supervisor`]s and [`DynamicSupervisor`]s, and
//! [`ProcessSupervisor`]s.
//!
//! What the two supervisor kinds share beyond the spec — the answers of
//! `which_children` / `count_children`, their errors, and stopping a child within
//! its shutdown — lives here too.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use ractor::{Actor, ActorCell, ActorId, ActorRef};
use tokio::sync::oneshot;

use super::dynamic::{DynamicSupervisor, DynamicSupervisorOptions};
use super::restart::{Restart, Shutdown};
use super::static_sup::{Supervisor, SupervisorOptions};
use crate::exit::ExitReason;
use crate::gen_server::GenServer;
use crate::introspect::ChildKind;
use crate::process::{ProcessSupervisor, ProcessSupervisorOptions};
use crate::server::{self, StartError, StartOptions};

/// What a start factory returns: the new child, linked under the supervisor.
pub type StartFuture = BoxFuture<'static, Result<ActorCell, StartError>>;

/// Starts one incarnation of a child: called with the supervisor's cell (to link
/// the child under) and the child's registered name, if it has one.
pub type StartFn = Arc<dyn Fn(ActorCell, Option<String>) -> StartFuture + Send + Sync>;

/// How to start, restart and stop one supervised child (OTP's child spec).
#[derive(Clone)]
pub struct ChildSpec {
    /// Identifies the child within its supervisor (`which_children`, `terminate_child`).
    pub id: String,
    /// Registers each incarnation under this name, so that it can be found with
    /// `ractor::registry::where_is` (or [`crate::server::whereis`]) after a restart.
    pub name: Option<String>,
    /// Spawns the child linked under the given supervisor cell.
    pub start: StartFn,
    /// When the child is restarted.
    pub restart: Restart,
    /// How long the child gets to stop before it is killed.
    pub shutdown: Shutdown,
    /// Worker or supervisor; supervisors get [`Shutdown::Infinity`] by default.
    pub kind: ChildKind,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A permanent worker with OTP's 5 s shutdown, started by `start`. The factory
    /// must link the actor it spawns under the cell it is given, and register it
    /// under the name it is given.
    pub fn new<F, Fut>(id: impl Into<String>, start: F) -> Self
    where
        F: Fn(ActorCell, Option<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, StartError>> + Send + 'static,
    {
        ChildSpec {
            id: id.into(),
            name: None,
            start: Arc::new(move |supervisor, name| start(supervisor, name).boxed()),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            kind: ChildKind::Worker,
        }
    }

    /// A [`GenServer`] run as a ractor actor ([`crate::server::start_with`]);
    /// `handler` and `args` build a fresh handler and arguments for each start.
    pub fn gen_server<G, H, A>(id: impl Into<String>, handler: H, args: A) -> Self
    where
        G: GenServer,
        H: Fn() -> G + Send + Sync + 'static,
        A: Fn() -> G::Args + Send + Sync + 'static,
    {
        Self::new(id, move |supervisor, name| {
            let (handler, args) = (handler(), args());
            async move {
                let options = StartOptions {
                    name,
                    supervisor: Some(supervisor),
                };
                let pid = server::start_with(options, handler, args).await?;
                pid.actor()
                    .map(|actor| actor.get_cell())
                    .ok_or_else(|| StartError::InitFailed("not a ractor actor".into()))
            }
        })
    }

    /// Any ractor [`Actor`] whose handler and arguments can be cloned for each start.
    pub fn actor<A>(id: impl Into<String>, handler: A, args: A::Arguments) -> Self
    where
        A: Actor + Clone,
        A::Arguments: Clone,
    {
        // The lock makes the spec `Sync` for arguments that are only `Send`.
        let args = Mutex::new(args);
        Self::new(id, move |supervisor, name| {
            let (handler, args) = (handler.clone(), args.lock().clone());
            async move {
                let (actor, _) = Actor::spawn_linked(name, handler, args, supervisor).await?;
                Ok(actor.get_cell())
            }
        })
    }

    /// A nested [`Supervisor`]: a child of kind supervisor with an infinite
    /// shutdown, registered under `options.name`. Its children are started anew
    /// from `children` on every restart.
    pub fn supervisor(
        id: impl Into<String>,
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
    ) -> Self {
        let name = options.name.clone();
        let mut spec = Self::new(id, move |supervisor, name| {
            let options = SupervisorOptions {
                name,
                ..options.clone()
            };
            let children = children.clone();
            async move {
                let started = Supervisor::start_linked(options, children, supervisor).await?;
                Ok(started.actor())
            }
        });
        spec.name = name;
        spec.into_supervisor()
    }

    /// A nested [`DynamicSupervisor`], registered under `options.name`; it starts
    /// empty on every restart.
    pub fn dynamic_supervisor(id: impl Into<String>, options: DynamicSupervisorOptions) -> Self {
        let name = options.name.clone();
        let mut spec = Self::new(id, move |supervisor, name| {
            let options = DynamicSupervisorOptions {
                name,
                ..options.clone()
            };
            async move {
                let started = DynamicSupervisor::start_linked(options, supervisor).await?;
                Ok(started.actor())
            }
        });
        spec.name = name;
        spec.into_supervisor()
    }

    /// A [`ProcessSupervisor`] (the parent of lightweight processes), registered
    /// under `options.name` so that [`ProcessSupervisor::lookup`] finds the
    /// current incarnation; it starts empty on every restart.
    pub fn process_supervisor(id: impl Into<String>, options: ProcessSupervisorOptions) -> Self {
        let name = options.name.clone();
        let mut spec = Self::new(id, move |supervisor, name| {
            let options = ProcessSupervisorOptions {
                name,
                ..options.clone()
            };
            async move {
                let started = ProcessSupervisor::start_linked(options, supervisor).await?;
                Ok(started.actor())
            }
        });
        spec.name = name;
        spec.into_supervisor()
    }

    fn into_supervisor(mut self) -> Self {
        self.kind = ChildKind::Supervisor;
        self.shutdown = Shutdown::Infinity;
        self
    }

    /// Registers every incarnation of the child under `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the restart policy.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets the shutdown.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Sets the kind (for a hand-written [`ChildSpec::new`] that starts a supervisor).
    pub fn kind(mut self, kind: ChildKind) -> Self {
        self.kind = kind;
        self
    }
}

/// One child as `which_children` reports it.
#[derive(Debug, Clone)]
pub struct ChildStatus {
    /// The spec's id.
    pub id: String,
    /// The running incarnation; `None` when the child is not running (a static
    /// supervisor keeps the spec of a terminated or finished transient child).
    pub actor: Option<ActorCell>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// The child's restart policy.
    pub restart: Restart,
    /// How many times the supervisor restarted this child.
    pub restarts: u32,
}

impl ChildStatus {
    /// The running incarnation's id.
    pub fn actor_id(&self) -> Option<ActorId> {
        self.actor.as_ref().map(ActorCell::get_id)
    }
}

/// What `count_children` reports (OTP's `count_children/1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildCount {
    /// Child specs, running or not.
    pub specs: usize,
    /// Children running now.
    pub active: usize,
    /// Specs of kind supervisor.
    pub supervisors: usize,
    /// Specs of kind worker.
    pub workers: usize,
}

impl ChildCount {
    pub(crate) fn of<'a>(children: impl Iterator<Item = (&'a ChildSpec, bool)>) -> Self {
        children.fold(ChildCount::default(), |mut count, (spec, running)| {
            count.specs += 1;
            count.active += usize::from(running);
            match spec.kind {
                ChildKind::Supervisor => count.supervisors += 1,
                ChildKind::Worker => count.workers += 1,
            }
            count
        })
    }
}

/// Why a supervisor request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// No child has this id (or, for a dynamic supervisor, this actor).
    #[error("no child {0:?}")]
    NotFound(String),
    /// The child is running; terminate it first.
    #[error("child {0:?} is running")]
    Running(String),
    /// A child with this id already exists.
    #[error("a child {0:?} already exists")]
    AlreadyPresent(String),
    /// The dynamic supervisor already has `max_children` children.
    #[error("max_children reached")]
    MaxChildren,
    /// The child's start function failed.
    #[error("child failed to start: {0}")]
    StartFailed(String),
    /// The supervisor is not running (or stopped before it answered).
    #[error("supervisor is not running")]
    SupervisorDown,
}

/// Stops a child within its shutdown: asks it to stop with reason `shutdown`
/// and waits, killing it when the timeout passes first; kills at once for
/// `BrutalKill`. Returns once the actor is gone, so its name is free again.
pub(crate) async fn shut_down(child: &ActorCell, shutdown: Shutdown) {
    // `stop` then `wait` rather than `stop_and_wait`: ractor accepts one stop
    // request per actor, and a child already stopping itself refuses a second.
    match shutdown {
        Shutdown::BrutalKill => {
            let _ = child.kill_and_wait(None).await;
        }
        Shutdown::Timeout(limit) => {
            child.stop(Some(ExitReason::Shutdown.to_ractor()));
            if child.wait(Some(limit)).await.is_err() {
                tracing::warn!(child = %child.get_id(), ?limit, "child did not stop in time, killing it");
                let _ = child.kill_and_wait(None).await;
            }
        }
        Shutdown::Infinity => {
            child.stop(Some(ExitReason::Shutdown.to_ractor()));
            let _ = child.wait(None).await;
        }
    }
}

/// Sends a request carrying a reply channel to a supervisor and waits for the
/// answer, as long as it takes (OTP's supervisor calls are `infinity` too).
pub(crate) async fn call<M, T>(
    supervisor: &ActorRef<M>,
    request: impl FnOnce(oneshot::Sender<T>) -> M,
) -> Result<T, SupervisorError>
where
    M: ractor::Message,
{
    let (tx, rx) = oneshot::channel();
    supervisor
        .send_message(request(tx))
        .map_err(|_| SupervisorError::SupervisorDown)?;
    rx.await.map_err(|_| SupervisorError::SupervisorDown)
}

/// Stops a supervisor as its own parent would, and waits until it is gone.
pub(crate) async fn stop_supervisor(supervisor: &ActorCell) {
    shut_down(supervisor, Shutdown::Infinity).await;
}
