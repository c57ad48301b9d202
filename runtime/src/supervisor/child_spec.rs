//! Child specs: how a supervisor starts, restarts and stops one ractor child.
//!
//! OTP describes a child by a map — `id`, `start`, `restart`, `shutdown`,
//! `type` — and the supervisor calls `start` again on every restart. Here the
//! start function is an async factory that spawns a ractor actor linked under
//! the supervisor cell it is given (so that the supervisor receives the child's
//! exit as a [`SupervisionEvent`](ractor::SupervisionEvent)) and returns the
//! child's [`ActorCell`]. Factories are shared (`Arc`), so one spec serves every
//! restart.
//!
//! As in Elixir, where each module has its `child_spec/1`, everything that can
//! be supervised makes its own spec: [`ChildSpec::gen_server`] and
//! [`ChildSpec::actor`] for GenServers and plain actors, and each supervisor
//! kind's `child_spec` (`Supervisor::child_spec`,
//! `ProcessSupervisor::child_spec`, `TaskSupervisor::child_spec`, …).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use ractor::{Actor, ActorCell};

use super::restart::{Restart, Shutdown};
use crate::gen_server::GenServer;
use crate::introspect::ChildKind;
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

    /// A child of kind supervisor, registered under `name`, with an infinite
    /// shutdown; `start` gets the spec's name (which [`ChildSpec::named`] may
    /// change) and the parent to link under. What each supervisor kind's
    /// `child_spec` is made of.
    pub(crate) fn supervisor<F, Fut>(id: impl Into<String>, name: Option<String>, start: F) -> Self
    where
        F: Fn(Option<String>, ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, StartError>> + Send + 'static,
    {
        let mut spec = Self::new(id, move |parent, name| start(name, parent));
        spec.name = name;
        spec.kind = ChildKind::Supervisor;
        spec.shutdown = Shutdown::Infinity;
        spec
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
