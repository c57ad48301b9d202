//! `Supervisor`: OTP's supervisor for ractor actors.
//!
//! Services are ractor actors ([`crate::server`]), and something has to start
//! them in order, restart them when they crash, and stop them in reverse order:
//! that is this supervisor. It is a ractor actor whose children are linked under
//! it, so a child's exit arrives as a [`SupervisionEvent`]; the child's restart
//! policy and the strategy decide what happens next:
//!
//! - `one_for_one` restarts the child that exited;
//! - `one_for_all` stops the other children (in reverse start order) and starts
//!   them all again (in order);
//! - `rest_for_one` stops the children started after it (in reverse order) and
//!   starts it and them again (in order).
//!
//! More than `max_restarts` restarts within `max_seconds` and the supervisor
//! gives up: it stops every child and fails (its handler returns an error), so its
//! own parent sees a crashed child. Nested supervisors escalate that way.
//!
//! The children are started in `pre_start`, so [`Supervisor::start`] returns
//! once all of them run — or fails, after stopping those already started. The
//! child list is the actor's own state; a snapshot is published for
//! [`introspection`](crate::introspect) after every change.

use crate::log_text::bounded_reason;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::oneshot;

use super::child_spec::{
    call, shut_down, stop_supervisor, ChildCount, ChildSpec, ChildStatus, SupervisorError,
};
use super::restart::{Intensity, Restart};
use crate::exit::ExitReason;
use crate::introspect::{self, ChildInfo, Inspect};
use crate::pid::ProcessId;
use crate::server::StartError;

/// Which children a supervisor restarts when one of them exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the child that exited (`:one_for_one`).
    #[default]
    OneForOne,
    /// Every child (`:one_for_all`).
    OneForAll,
    /// The child that exited and every child started after it (`:rest_for_one`).
    RestForOne,
}

/// How a supervisor behaves.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Registered name of the supervisor actor; also its name in introspection.
    pub name: Option<String>,
    /// Which children are restarted together.
    pub strategy: Strategy,
    /// At most this many restarts ...
    pub max_restarts: u32,
    /// ... within this many seconds, or the supervisor gives up.
    pub max_seconds: u64,
}

impl Default for SupervisorOptions {
    /// OTP's defaults: one_for_one, 3 restarts in 5 seconds.
    fn default() -> Self {
        SupervisorOptions {
            name: None,
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            max_seconds: 5,
        }
    }
}

impl SupervisorOptions {
    /// The defaults with this strategy.
    pub fn new(strategy: Strategy) -> Self {
        SupervisorOptions {
            strategy,
            ..Self::default()
        }
    }

    /// Registers the supervisor under `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the restart intensity.
    pub fn intensity(mut self, max_restarts: u32, max_seconds: u64) -> Self {
        self.max_restarts = max_restarts;
        self.max_seconds = max_seconds;
        self
    }
}

/// The error a supervisor fails with when it gives up.
pub(crate) const GAVE_UP: &str = "reached max restart intensity";

/// The supervisor actor's messages (besides supervision events).
enum Msg {
    WhichChildren(oneshot::Sender<Vec<ChildStatus>>),
    CountChildren(oneshot::Sender<ChildCount>),
    StartChild(
        ChildSpec,
        oneshot::Sender<Result<ActorCell, SupervisorError>>,
    ),
    TerminateChild(String, oneshot::Sender<Result<(), SupervisorError>>),
    RestartChild(String, oneshot::Sender<Result<ActorCell, SupervisorError>>),
    DeleteChild(String, oneshot::Sender<Result<(), SupervisorError>>),
    /// A restart failed to start this child: try again, within the intensity.
    RetryRestart(String),
}
impl ractor::Message for Msg {}

/// One child spec and its current incarnation.
struct Child {
    spec: ChildSpec,
    /// `None` while not running.
    actor: Option<ActorCell>,
    restarts: u32,
    /// When the current (or last) incarnation started; `None` before the first start.
    started_at: Option<Instant>,
}

/// What introspection reads: a snapshot of the running children, in start order.
#[derive(Default)]
struct View(Mutex<Vec<ChildInfo>>);

impl Inspect for View {
    fn children(&self) -> Vec<ChildInfo> {
        self.0.lock().clone()
    }
}

struct SupervisorActor;

struct State {
    myself: ActorRef<Msg>,
    name: String,
    strategy: Strategy,
    intensity: Intensity,
    /// In start order.
    children: Vec<Child>,
    view: Arc<View>,
}

impl Drop for State {
    /// However the actor ends — even by a failure, which skips `post_stop` — it
    /// leaves introspection and no child outlives it.
    fn drop(&mut self) {
        introspect::unregister_supervisor(self.myself.get_id());
        for child in &self.children {
            if let Some(actor) = &child.actor {
                actor.kill();
            }
        }
    }
}

impl State {
    fn publish(&self) {
        let running = self
            .children
            .iter()
            .filter_map(|child| {
                let actor = child.actor.as_ref()?;
                Some(ChildInfo {
                    id: child.spec.id.clone(),
                    pid: ProcessId::Actor(actor.get_id()).to_string(),
                    actor: Some(actor.get_id()),
                    kind: child.spec.kind,
                    restarts: child.restarts,
                    started_at: child.started_at.unwrap_or_else(Instant::now),
                    queue_len: None,
                })
            })
            .collect();
        *self.view.0.lock() = running;
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|child| child.spec.id == id)
    }

    fn index_of_actor(&self, actor: ActorId) -> Option<usize> {
        self.children
            .iter()
            .position(|child| child.actor.as_ref().map(ActorCell::get_id) == Some(actor))
    }

    /// Starts the child at `index`, which is not running.
    async fn start_at(&mut self, index: usize) -> Result<ActorCell, StartError> {
        let spec = &self.children[index].spec;
        let actor = (spec.start)(self.myself.get_cell(), spec.name.clone()).await?;
        let child = &mut self.children[index];
        if child.started_at.is_some() {
            child.restarts += 1;
        }
        child.started_at = Some(Instant::now());
        child.actor = Some(actor.clone());
        self.publish();
        Ok(actor)
    }

    /// Stops the child at `index` within its shutdown, if it runs. Its exit event
    /// arrives later and is ignored: the child no longer has that actor.
    async fn stop_at(&mut self, index: usize) {
        let child = &mut self.children[index];
        if let Some(actor) = child.actor.take() {
            shut_down(&actor, child.spec.shutdown).await;
            self.publish();
        }
    }

    /// Stops every child, last started first.
    async fn stop_all(&mut self) {
        for index in (0..self.children.len()).rev() {
            self.stop_at(index).await;
        }
    }

    /// Applies the restart policy to a child that exited.
    async fn child_exited(
        &mut self,
        index: usize,
        reason: ExitReason,
    ) -> Result<(), ActorProcessingErr> {
        let child = &mut self.children[index];
        child.actor = None;
        if !reason.is_normal() {
            tracing::error!(supervisor = %self.name, child = %child.spec.id, reason = %bounded_reason(&reason), "child crashed");
        }
        if child.spec.restart.restarts_after(&reason) {
            return self.restart(index).await;
        }
        // Not restarted: a temporary child is forgotten, others keep their spec
        // (OTP's `undefined` pid) for `restart_child` / `delete_child`.
        if child.spec.restart == Restart::Temporary {
            self.children.remove(index);
        }
        self.publish();
        Ok(())
    }

    /// Restarts the child at `index` (not running) and, by the strategy, its
    /// siblings; gives up past the restart intensity.
    async fn restart(&mut self, index: usize) -> Result<(), ActorProcessingErr> {
        if !self.intensity.allow_restart(Instant::now()) {
            tracing::error!(supervisor = %self.name, "reached max restart intensity, shutting down");
            self.stop_all().await;
            return Err(GAVE_UP.into());
        }
        let (first, last) = match self.strategy {
            Strategy::OneForOne => (index, index),
            Strategy::OneForAll => (0, self.children.len() - 1),
            Strategy::RestForOne => (index, self.children.len() - 1),
        };
        let scope: Vec<String> = self.children[first..=last]
            .iter()
            .map(|child| child.spec.id.clone())
            .collect();
        // Take the siblings down, last started first; temporary ones are then
        // forgotten rather than restarted.
        for i in (first..=last).rev() {
            self.stop_at(i).await;
        }
        self.children.retain(|child| {
            child.spec.restart != Restart::Temporary || !scope.contains(&child.spec.id)
        });
        self.publish();
        // Start them again, in order.
        for id in scope {
            let Some(at) = self.index_of(&id) else {
                continue;
            };
            if let Err(err) = self.start_at(at).await {
                tracing::error!(supervisor = %self.name, child = %id, %err, "restart failed");
                // Like OTP's `try_again_restart`: retried through the mailbox, and
                // each retry counts against the intensity.
                let _ = self.myself.send_message(Msg::RetryRestart(id));
                break;
            }
        }
        Ok(())
    }

    fn which_children(&self) -> Vec<ChildStatus> {
        self.children
            .iter()
            .map(|child| ChildStatus {
                id: child.spec.id.clone(),
                actor: child.actor.clone(),
                kind: child.spec.kind,
                restart: child.spec.restart,
                restarts: child.restarts,
            })
            .collect()
    }

    fn count_children(&self) -> ChildCount {
        ChildCount::of(
            self.children
                .iter()
                .map(|child| (&child.spec, child.actor.is_some())),
        )
    }

    async fn start_child(&mut self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        if self.index_of(&spec.id).is_some() {
            return Err(SupervisorError::AlreadyPresent(spec.id));
        }
        self.children.push(Child {
            spec,
            actor: None,
            restarts: 0,
            started_at: None,
        });
        let index = self.children.len() - 1;
        self.start_at(index).await.map_err(|err| {
            self.children.pop();
            SupervisorError::StartFailed(err.to_string())
        })
    }

    async fn terminate_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let index = self
            .index_of(id)
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))?;
        self.stop_at(index).await;
        if self.children[index].spec.restart == Restart::Temporary {
            self.children.remove(index);
            self.publish();
        }
        Ok(())
    }

    async fn restart_child(&mut self, id: &str) -> Result<ActorCell, SupervisorError> {
        let index = self
            .index_of(id)
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))?;
        if self.children[index].actor.is_some() {
            return Err(SupervisorError::Running(id.to_string()));
        }
        self.start_at(index)
            .await
            .map_err(|err| SupervisorError::StartFailed(err.to_string()))
    }

    fn delete_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let index = self
            .index_of(id)
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))?;
        if self.children[index].actor.is_some() {
            return Err(SupervisorError::Running(id.to_string()));
        }
        self.children.remove(index);
        Ok(())
    }
}

impl Actor for SupervisorActor {
    type Msg = Msg;
    type State = State;
    type Arguments = (SupervisorOptions, Vec<ChildSpec>);

    async fn pre_start(
        &self,
        myself: ActorRef<Msg>,
        (options, specs): (SupervisorOptions, Vec<ChildSpec>),
    ) -> Result<State, ActorProcessingErr> {
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| format!("Supervisor {}", myself.get_id()));
        for (i, spec) in specs.iter().enumerate() {
            if specs[..i].iter().any(|earlier| earlier.id == spec.id) {
                return Err(format!("duplicate child id {:?}", spec.id).into());
            }
        }
        let view = Arc::new(View::default());
        introspect::register_supervisor(myself.get_id(), name.clone(), view.clone());
        // From here on, dropping the state (on any error) unregisters and kills.
        let mut state = State {
            myself,
            name,
            strategy: options.strategy,
            intensity: Intensity::new(options.max_restarts, options.max_seconds),
            children: specs
                .into_iter()
                .map(|spec| Child {
                    spec,
                    actor: None,
                    restarts: 0,
                    started_at: None,
                })
                .collect(),
            view,
        };
        for index in 0..state.children.len() {
            if let Err(err) = state.start_at(index).await {
                let id = state.children[index].spec.id.clone();
                tracing::error!(supervisor = %state.name, child = %id, %err, "child failed to start");
                state.stop_all().await;
                return Err(format!("child {id:?} failed to start: {err}").into());
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Msg>,
        message: Msg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Msg::WhichChildren(reply) => {
                let _ = reply.send(state.which_children());
            }
            Msg::CountChildren(reply) => {
                let _ = reply.send(state.count_children());
            }
            Msg::StartChild(spec, reply) => {
                let _ = reply.send(state.start_child(spec).await);
            }
            Msg::TerminateChild(id, reply) => {
                let _ = reply.send(state.terminate_child(&id).await);
            }
            Msg::RestartChild(id, reply) => {
                let _ = reply.send(state.restart_child(&id).await);
            }
            Msg::DeleteChild(id, reply) => {
                let _ = reply.send(state.delete_child(&id));
            }
            Msg::RetryRestart(id) => {
                if let Some(index) = state.index_of(&id) {
                    if state.children[index].actor.is_none() {
                        return state.restart(index).await;
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Msg>,
        event: SupervisionEvent,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let (actor, reason) = match event {
            SupervisionEvent::ActorTerminated(actor, _, reason) => {
                (actor, ExitReason::from_ractor(reason.as_deref()))
            }
            SupervisionEvent::ActorFailed(actor, err) => {
                (actor, ExitReason::Error(err.to_string()))
            }
            _ => return Ok(()),
        };
        // Exits of actors that are no longer children (the supervisor stopped
        // them itself, or replaced them) need nothing.
        match state.index_of_actor(actor.get_id()) {
            Some(index) => state.child_exited(index, reason).await,
            None => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Msg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.stop_all().await;
        introspect::unregister_supervisor(myself.get_id());
        Ok(())
    }
}

/// A handle to a running [`Supervisor`]. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    actor: ActorRef<Msg>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Supervisor({})", self.actor.get_id())
    }
}

impl Supervisor {
    /// Starts an unsupervised supervisor and its children, in order. Fails if a
    /// child fails to start (the children already started are stopped first).
    pub async fn start(
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
    ) -> Result<Self, StartError> {
        Self::start_inner(options, children, None).await
    }

    /// Starts a supervisor linked under `supervisor`, which then sees it fail
    /// when it gives up.
    pub async fn start_linked(
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(options, children, Some(supervisor)).await
    }

    async fn start_inner(
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        let name = options.name.clone();
        let args = (options, children);
        let (actor, _) = match supervisor {
            Some(sup) => Actor::spawn_linked(name, SupervisorActor, args, sup).await?,
            None => Actor::spawn(name, SupervisorActor, args).await?,
        };
        Ok(Supervisor { actor })
    }

    /// The running supervisor registered under `name`.
    pub fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        cell.is_message_type_of::<Msg>()
            .unwrap_or(false)
            .then(|| Supervisor {
                actor: ActorRef::from(cell),
            })
    }

    /// The supervisor's actor, for linking and monitoring.
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// The supervisor's actor id.
    pub fn id(&self) -> ActorId {
        self.actor.get_id()
    }

    /// Whether the supervisor still runs.
    pub fn is_alive(&self) -> bool {
        crate::pid::actor_alive(&self.actor)
    }

    /// Every child spec in start order, with its current actor (`which_children/1`).
    pub async fn which_children(&self) -> Result<Vec<ChildStatus>, SupervisorError> {
        call(&self.actor, Msg::WhichChildren).await
    }

    /// Counts of specs, running children, supervisors and workers (`count_children/1`).
    pub async fn count_children(&self) -> Result<ChildCount, SupervisorError> {
        call(&self.actor, Msg::CountChildren).await
    }

    /// Adds a child after the existing ones and starts it (`start_child/2`).
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        call(&self.actor, |reply| Msg::StartChild(spec, reply)).await?
    }

    /// Stops a child within its shutdown and does not restart it; its spec stays
    /// (unless it is temporary) for [`Supervisor::restart_child`].
    pub async fn terminate_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id = id.to_string();
        call(&self.actor, |reply| Msg::TerminateChild(id, reply)).await?
    }

    /// Starts a terminated child again from its spec.
    pub async fn restart_child(&self, id: &str) -> Result<ActorCell, SupervisorError> {
        let id = id.to_string();
        call(&self.actor, |reply| Msg::RestartChild(id, reply)).await?
    }

    /// Forgets the spec of a terminated child.
    pub async fn delete_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id = id.to_string();
        call(&self.actor, |reply| Msg::DeleteChild(id, reply)).await?
    }

    /// Stops the supervisor — its children first, last started first — and
    /// waits until it is gone.
    pub async fn stop(&self) {
        stop_supervisor(&self.actor.get_cell()).await;
    }

    /// Waits until the supervisor has exited, however it exits.
    pub async fn wait(&self) {
        let _ = self.actor.wait(None).await;
    }
}
