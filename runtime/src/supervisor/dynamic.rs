//! `DynamicSupervisor`: children started on demand (Elixir's `DynamicSupervisor`).
//!
//! A static [`Supervisor`](super::Supervisor) knows its children up front; this
//! one starts with none and is handed child specs at run time — one actor per
//! session, per upload, per anything whose count is not known in advance. It is
//! always one_for_one: a child that exits is restarted (permanent, transient
//! after a crash) or forgotten (temporary, transient after a clean exit), within
//! the same restart intensity as a static supervisor; past it the supervisor
//! stops its children and fails, so its own parent sees it. Children are known
//! by their current actor id, as OTP's by pid; `max_children` bounds how many it
//! holds. When it stops, all children are stopped at once, each within its
//! shutdown.

use crate::log_text::bounded_reason;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::oneshot;

use super::child_spec::{
    call, shut_down, stop_supervisor, ChildCount, ChildSpec, ChildStatus, SupervisorError,
};
use super::restart::Intensity;
use super::static_sup::GAVE_UP;
use crate::exit::ExitReason;
use crate::introspect::{self, ChildInfo, Inspect};
use crate::pid::ProcessId;
use crate::server::StartError;

/// How a dynamic supervisor behaves.
#[derive(Debug, Clone)]
pub struct DynamicSupervisorOptions {
    /// Registered name of the supervisor actor; also its name in introspection.
    pub name: Option<String>,
    /// Refuse new children beyond this many (`max_children`).
    pub max_children: Option<usize>,
    /// At most this many restarts ...
    pub max_restarts: u32,
    /// ... within this many seconds, or the supervisor gives up.
    pub max_seconds: u64,
}

impl Default for DynamicSupervisorOptions {
    /// OTP's defaults: no limit on children, 3 restarts in 5 seconds.
    fn default() -> Self {
        DynamicSupervisorOptions {
            name: None,
            max_children: None,
            max_restarts: 3,
            max_seconds: 5,
        }
    }
}

impl DynamicSupervisorOptions {
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

    /// Limits the number of children.
    pub fn max_children(mut self, max_children: usize) -> Self {
        self.max_children = Some(max_children);
        self
    }
}

/// The dynamic supervisor actor's messages (besides supervision events).
enum Msg {
    StartChild(
        ChildSpec,
        oneshot::Sender<Result<ActorCell, SupervisorError>>,
    ),
    TerminateChild(ActorId, oneshot::Sender<Result<(), SupervisorError>>),
    WhichChildren(oneshot::Sender<Vec<ChildStatus>>),
    CountChildren(oneshot::Sender<ChildCount>),
    /// A restart failed to start this child: try again, within the intensity.
    RetryRestart(u64),
}
impl ractor::Message for Msg {}

struct Child {
    spec: ChildSpec,
    /// `None` between a failed restart and its retry.
    actor: Option<ActorCell>,
    restarts: u32,
    started_at: Instant,
}

/// What introspection reads: a snapshot of the running children, in start order.
#[derive(Default)]
struct View(Mutex<Vec<ChildInfo>>);

impl Inspect for View {
    fn children(&self) -> Vec<ChildInfo> {
        self.0.lock().clone()
    }
}

struct DynamicSupervisorActor;

struct State {
    myself: ActorRef<Msg>,
    name: String,
    max_children: Option<usize>,
    intensity: Intensity,
    /// Keyed by a sequence number, so in start order and stable across restarts.
    children: BTreeMap<u64, Child>,
    by_actor: HashMap<ActorId, u64>,
    next_seq: u64,
    view: Arc<View>,
}

impl Drop for State {
    /// However the actor ends — even by a failure, which skips `post_stop` — it
    /// leaves introspection and no child outlives it.
    fn drop(&mut self) {
        introspect::unregister_supervisor(self.myself.get_id());
        for child in self.children.values() {
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
            .values()
            .filter_map(|child| {
                let actor = child.actor.as_ref()?;
                Some(ChildInfo {
                    id: child.spec.id.clone(),
                    pid: ProcessId::Actor(actor.get_id()).to_string(),
                    actor: Some(actor.get_id()),
                    kind: child.spec.kind,
                    restarts: child.restarts,
                    started_at: child.started_at,
                    queue_len: None,
                })
            })
            .collect();
        *self.view.0.lock() = running;
    }

    async fn spawn(&self, spec: &ChildSpec) -> Result<ActorCell, StartError> {
        (spec.start)(self.myself.get_cell(), spec.name.clone()).await
    }

    async fn start_child(&mut self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        if self
            .max_children
            .is_some_and(|max| self.children.len() >= max)
        {
            return Err(SupervisorError::MaxChildren);
        }
        let actor = self
            .spawn(&spec)
            .await
            .map_err(|err| SupervisorError::StartFailed(err.to_string()))?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_actor.insert(actor.get_id(), seq);
        self.children.insert(
            seq,
            Child {
                spec,
                actor: Some(actor.clone()),
                restarts: 0,
                started_at: Instant::now(),
            },
        );
        self.publish();
        Ok(actor)
    }

    async fn terminate_child(&mut self, actor: ActorId) -> Result<(), SupervisorError> {
        let child = self
            .by_actor
            .remove(&actor)
            .and_then(|seq| self.children.remove(&seq))
            .ok_or_else(|| SupervisorError::NotFound(actor.to_string()))?;
        self.publish();
        if let Some(actor) = &child.actor {
            shut_down(actor, child.spec.shutdown).await;
        }
        Ok(())
    }

    /// Applies the restart policy to a child that exited.
    async fn child_exited(
        &mut self,
        seq: u64,
        reason: ExitReason,
    ) -> Result<(), ActorProcessingErr> {
        let Some(child) = self.children.get_mut(&seq) else {
            return Ok(());
        };
        child.actor = None;
        if !reason.is_normal() {
            tracing::error!(supervisor = %self.name, child = %child.spec.id, reason = %bounded_reason(&reason), "child crashed");
        }
        if child.spec.restart.restarts_after(&reason) {
            self.restart(seq).await
        } else {
            self.children.remove(&seq);
            self.publish();
            Ok(())
        }
    }

    /// Starts a child that is not running again; gives up past the intensity.
    async fn restart(&mut self, seq: u64) -> Result<(), ActorProcessingErr> {
        if !self.intensity.allow_restart(Instant::now()) {
            tracing::error!(supervisor = %self.name, "reached max restart intensity, shutting down");
            self.stop_all().await;
            return Err(GAVE_UP.into());
        }
        let Some(child) = self.children.get(&seq) else {
            return Ok(());
        };
        match self.spawn(&child.spec).await {
            Ok(actor) => {
                self.by_actor.insert(actor.get_id(), seq);
                if let Some(child) = self.children.get_mut(&seq) {
                    child.actor = Some(actor);
                    child.restarts += 1;
                    child.started_at = Instant::now();
                }
                self.publish();
            }
            Err(err) => {
                tracing::error!(supervisor = %self.name, child = %child.spec.id, %err, "restart failed");
                let _ = self.myself.send_message(Msg::RetryRestart(seq));
            }
        }
        Ok(())
    }

    /// Stops every child at once, each within its shutdown.
    async fn stop_all(&mut self) {
        let children = std::mem::take(&mut self.children);
        self.by_actor.clear();
        self.publish();
        let stops = children.into_values().filter_map(|child| {
            let actor = child.actor?;
            Some(async move { shut_down(&actor, child.spec.shutdown).await })
        });
        futures::future::join_all(stops).await;
    }

    fn which_children(&self) -> Vec<ChildStatus> {
        self.children
            .values()
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
                .values()
                .map(|child| (&child.spec, child.actor.is_some())),
        )
    }
}

impl Actor for DynamicSupervisorActor {
    type Msg = Msg;
    type State = State;
    type Arguments = DynamicSupervisorOptions;

    async fn pre_start(
        &self,
        myself: ActorRef<Msg>,
        options: DynamicSupervisorOptions,
    ) -> Result<State, ActorProcessingErr> {
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| format!("DynamicSupervisor {}", myself.get_id()));
        let view = Arc::new(View::default());
        introspect::register_supervisor(myself.get_id(), name.clone(), view.clone());
        Ok(State {
            myself,
            name,
            max_children: options.max_children,
            intensity: Intensity::new(options.max_restarts, options.max_seconds),
            children: BTreeMap::new(),
            by_actor: HashMap::new(),
            next_seq: 0,
            view,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Msg>,
        message: Msg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Msg::StartChild(spec, reply) => {
                let _ = reply.send(state.start_child(spec).await);
            }
            Msg::TerminateChild(actor, reply) => {
                let _ = reply.send(state.terminate_child(actor).await);
            }
            Msg::WhichChildren(reply) => {
                let _ = reply.send(state.which_children());
            }
            Msg::CountChildren(reply) => {
                let _ = reply.send(state.count_children());
            }
            Msg::RetryRestart(seq) => {
                if state
                    .children
                    .get(&seq)
                    .is_some_and(|child| child.actor.is_none())
                {
                    return state.restart(seq).await;
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
        // Exits of actors that are no longer children (terminated by the
        // supervisor itself) need nothing.
        match state.by_actor.remove(&actor.get_id()) {
            Some(seq) => state.child_exited(seq, reason).await,
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

/// A handle to a running [`DynamicSupervisor`]. Cheap to clone.
#[derive(Clone)]
pub struct DynamicSupervisor {
    actor: ActorRef<Msg>,
}

impl std::fmt::Debug for DynamicSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynamicSupervisor({})", self.actor.get_id())
    }
}

impl DynamicSupervisor {
    /// Starts an unsupervised dynamic supervisor with no children.
    pub async fn start(options: DynamicSupervisorOptions) -> Result<Self, StartError> {
        Self::start_inner(options, None).await
    }

    /// Starts a dynamic supervisor linked under `supervisor`, which then sees it
    /// fail when it gives up.
    pub async fn start_linked(
        options: DynamicSupervisorOptions,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(options, Some(supervisor)).await
    }

    async fn start_inner(
        options: DynamicSupervisorOptions,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        let name = options.name.clone();
        let (actor, _) = match supervisor {
            Some(sup) => Actor::spawn_linked(name, DynamicSupervisorActor, options, sup).await?,
            None => Actor::spawn(name, DynamicSupervisorActor, options).await?,
        };
        Ok(DynamicSupervisor { actor })
    }

    /// The running dynamic supervisor registered under `name`.
    pub fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        cell.is_message_type_of::<Msg>()
            .unwrap_or(false)
            .then(|| DynamicSupervisor {
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

    /// Starts a child from `spec` and returns its actor; refused beyond `max_children`.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        call(&self.actor, |reply| Msg::StartChild(spec, reply)).await?
    }

    /// Stops the child whose current actor is `child`, within its shutdown, and
    /// forgets it.
    pub async fn terminate_child(&self, child: ActorId) -> Result<(), SupervisorError> {
        call(&self.actor, |reply| Msg::TerminateChild(child, reply)).await?
    }

    /// The children in start order, with their current actors.
    pub async fn which_children(&self) -> Result<Vec<ChildStatus>, SupervisorError> {
        call(&self.actor, Msg::WhichChildren).await
    }

    /// Counts of children, running children, supervisors and workers.
    pub async fn count_children(&self) -> Result<ChildCount, SupervisorError> {
        call(&self.actor, Msg::CountChildren).await
    }

    /// Stops the supervisor and its children and waits until it is gone.
    pub async fn stop(&self) {
        stop_supervisor(&self.actor.get_cell()).await;
    }

    /// Waits until the supervisor has exited, however it exits.
    pub async fn wait(&self) {
        let _ = self.actor.wait(None).await;
    }
}
