//! `Supervisor`: OTP's supervisor for ractor actors, a strategy over ordered children.
//!
//! Services are ractor actors ([`crate::server`]), and something has to start
//! them in order, restart them when they crash, and stop them in reverse order:
//! that is this supervisor. It is a ractor actor whose children are linked under
//! it, so a child's exit arrives as a [`SupervisionEvent`](ractor::SupervisionEvent); the child's restart
//! policy and the strategy decide what happens next:
//!
//! - `one_for_one` restarts the child that exited;
//! - `one_for_all` stops the other children (in reverse start order) and starts
//!   them all again (in order);
//! - `rest_for_one` stops the children started after it (in reverse order) and
//!   starts it and them again (in order).
//!
//! More than `max_restarts` restarts within `max_period` and the supervisor
//! gives up: it stops every child and fails (its handler returns an error), so its
//! own parent sees a crashed child. Nested supervisors escalate that way.
//!
//! The children are started in `pre_start`, so [`Supervisor::start`] returns
//! once all of them run — or fails, after stopping those already started. The
//! children table ([`OrderedChildren`]) is shared with the handles, which read
//! it without messaging the actor; only the actor changes it.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::MutexGuard;
use ractor::{ActorCell, ActorId, ActorProcessingErr};
use tokio::sync::oneshot;

use super::actor::{Handled, Init, Supervision};
use super::child::{shut_down, ActorChildren, Child};
use super::child_spec::ChildSpec;
use super::children::SupervisorError;
use super::handle::{answer, Core, Registration, SupervisorRef};
use super::options::{Strategy, SupervisorOptions};
use super::restart::{log_exit, log_gave_up, Intensity, Restart, GAVE_UP};
use crate::exit::ExitReason;
use crate::server::StartError;

/// A [`Supervisor`]'s children: specs in start order, each with its current
/// incarnation.
pub type OrderedChildren = ActorChildren<Vec<Child>>;

/// A handle to a running OTP supervisor. Cheap to clone.
pub type Supervisor = SupervisorRef<OrderedChildren>;

/// The supervisor actor's messages (besides supervision events).
enum Msg {
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

struct State {
    registration: Registration<OrderedChildren>,
    strategy: Strategy,
    intensity: Intensity,
}

impl State {
    fn core(&self) -> &Core<OrderedChildren> {
        self.registration.core()
    }

    /// The table; held only between awaits (handles read it meanwhile).
    fn children(&self) -> MutexGuard<'_, Vec<Child>> {
        self.core().children.lock()
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.children().iter().position(|child| child.spec.id == id)
    }

    fn index_of_actor(&self, actor: ActorId) -> Option<usize> {
        self.children()
            .iter()
            .position(|child| child.runs_as(actor))
    }

    /// Starts the child at `index`, which is not running.
    async fn start_at(&mut self, index: usize) -> Result<ActorCell, StartError> {
        let start = self.children()[index].start(self.core().actor.clone());
        let actor = start.await?;
        self.children()[index].started(actor.clone());
        Ok(actor)
    }

    /// Stops the child at `index` within its shutdown, if it runs (children
    /// stop last started first: see [`Supervision::stop_all`]). Its exit event
    /// arrives later and is ignored: the child no longer has that actor.
    async fn stop_at(&mut self, index: usize) {
        let running = {
            let mut children = self.children();
            let child = &mut children[index];
            child.actor.take().map(|actor| (actor, child.spec.shutdown))
        };
        if let Some((actor, shutdown)) = running {
            shut_down(&actor, shutdown).await;
        }
    }

    /// Applies the restart policy to the child at `index`, which exited.
    async fn exited_at(
        &mut self,
        index: usize,
        reason: ExitReason,
    ) -> Result<(), ActorProcessingErr> {
        let restart = {
            let mut children = self.children();
            let child = &mut children[index];
            child.actor = None;
            log_exit(&self.core().name, &child.spec.id, &reason);
            child.spec.restart
        };
        if restart.restarts_after(&reason) {
            return self.restart(index).await;
        }
        // Not restarted: a temporary child is forgotten, others keep their spec
        // (OTP's `undefined` pid) for `restart_child` / `delete_child`.
        if restart == Restart::Temporary {
            self.children().remove(index);
        }
        Ok(())
    }

    /// Restarts the child at `index` (not running) and, by the strategy, its
    /// siblings; gives up past the restart intensity.
    async fn restart(&mut self, index: usize) -> Result<(), ActorProcessingErr> {
        if !self.intensity.allow_restart(Instant::now()) {
            log_gave_up(&self.core().name);
            self.stop_all().await;
            return Err(GAVE_UP.into());
        }
        let last = self.children().len() - 1;
        let (first, last) = match self.strategy {
            Strategy::OneForOne => (index, index),
            Strategy::OneForAll => (0, last),
            Strategy::RestForOne => (index, last),
        };
        let scope: Vec<String> = self.children()[first..=last]
            .iter()
            .map(|child| child.spec.id.clone())
            .collect();
        // Take the siblings down, last started first; temporary ones are then
        // forgotten rather than restarted.
        for i in (first..=last).rev() {
            self.stop_at(i).await;
        }
        self.children().retain(|child| {
            child.spec.restart != Restart::Temporary || !scope.contains(&child.spec.id)
        });
        // Start them again, in order.
        for id in scope {
            let Some(at) = self.index_of(&id) else {
                continue;
            };
            if let Err(err) = self.start_at(at).await {
                tracing::error!(supervisor = %self.core().name, child = %id, %err, "restart failed");
                // Like OTP's `try_again_restart`: retried through the mailbox, and
                // each retry counts against the intensity.
                let _ = self.core().actor.send_message(Msg::RetryRestart(id));
                break;
            }
        }
        Ok(())
    }

    fn find(&self, id: &str) -> Result<usize, SupervisorError> {
        self.index_of(id)
            .ok_or_else(|| SupervisorError::NotFound(id.to_string()))
    }

    /// The index of the child `id`, which must not be running.
    fn find_stopped(&self, id: &str) -> Result<usize, SupervisorError> {
        let index = self.find(id)?;
        match self.children()[index].actor {
            Some(_) => Err(SupervisorError::Running(id.to_string())),
            None => Ok(index),
        }
    }

    async fn start_child(&mut self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        if self.index_of(&spec.id).is_some() {
            return Err(SupervisorError::AlreadyPresent(spec.id));
        }
        let index = {
            let mut children = self.children();
            children.push(Child::new(spec));
            children.len() - 1
        };
        self.start_at(index).await.map_err(|err| {
            self.children().pop();
            SupervisorError::StartFailed(err.to_string())
        })
    }

    async fn terminate_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let index = self.find(id)?;
        self.stop_at(index).await;
        let mut children = self.children();
        if children[index].spec.restart == Restart::Temporary {
            children.remove(index);
        }
        Ok(())
    }

    async fn restart_child(&mut self, id: &str) -> Result<ActorCell, SupervisorError> {
        let index = self.find_stopped(id)?;
        self.start_at(index)
            .await
            .map_err(|err| SupervisorError::StartFailed(err.to_string()))
    }

    fn delete_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let index = self.find_stopped(id)?;
        self.children().remove(index);
        Ok(())
    }
}

type Args = (
    SupervisorOptions,
    Vec<ChildSpec>,
    oneshot::Sender<Arc<Core<OrderedChildren>>>,
);

impl Supervision for State {
    type Msg = Msg;
    type Args = Args;
    type Children = OrderedChildren;

    async fn init(myself: ActorCell, (options, specs, ready): Self::Args) -> Init<Self> {
        for (i, spec) in specs.iter().enumerate() {
            if specs[..i].iter().any(|earlier| earlier.id == spec.id) {
                return Err(format!("duplicate child id {:?}", spec.id).into());
            }
        }
        let children = ActorChildren::new(specs.into_iter().map(Child::new).collect());
        let core = Core::new(myself, options.name.clone(), children);
        // From here on, dropping the state (on any error) withdraws it and kills.
        let mut state = State {
            registration: Registration::new(core, ready),
            strategy: options.strategy,
            intensity: options.restart_intensity(),
        };
        let count = state.children().len();
        for index in 0..count {
            if let Err(err) = state.start_at(index).await {
                let id = state.children()[index].spec.id.clone();
                tracing::error!(supervisor = %state.core().name, child = %id, %err, "child failed to start");
                state.stop_all().await;
                return Err(format!("child {id:?} failed to start: {err}").into());
            }
        }
        Ok(state)
    }

    fn registration(&self) -> &Registration<OrderedChildren> {
        &self.registration
    }

    async fn handle(&mut self, message: Msg) -> Result<(), ActorProcessingErr> {
        match message {
            Msg::StartChild(spec, reply) => answer(reply, self.start_child(spec).await),
            Msg::TerminateChild(id, reply) => answer(reply, self.terminate_child(&id).await),
            Msg::RestartChild(id, reply) => answer(reply, self.restart_child(&id).await),
            Msg::DeleteChild(id, reply) => answer(reply, self.delete_child(&id)),
            Msg::RetryRestart(id) => {
                if let Ok(index) = self.find_stopped(&id) {
                    return self.restart(index).await;
                }
            }
        }
        Ok(())
    }

    async fn child_exited(&mut self, actor: ActorId, reason: ExitReason) -> Handled {
        // Exits of actors that are no longer children (the supervisor stopped
        // them itself, or replaced them) need nothing.
        match self.index_of_actor(actor) {
            Some(index) => self.exited_at(index, reason).await,
            None => Ok(()),
        }
    }

    async fn stop_all(&mut self) {
        let count = self.children().len();
        for index in (0..count).rev() {
            self.stop_at(index).await;
        }
    }
}

impl Supervisor {
    /// Starts an unsupervised supervisor and its children, in order. Fails if a
    /// child fails to start (the children already started are stopped first).
    pub async fn start(
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
    ) -> Result<Self, StartError> {
        Self::start_under(options, children, None).await
    }

    /// Starts a supervisor linked under `supervisor`, which then sees it fail
    /// when it gives up.
    pub async fn start_linked(
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_under(options, children, Some(supervisor)).await
    }

    async fn start_under(
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
        parent: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        options.check_static()?;
        Self::start_actor::<State>(options, parent, |options, ready| (options, children, ready))
            .await
    }

    /// A nested supervisor as a child of another: kind supervisor, infinite
    /// shutdown, registered under `options.name`. Its children are started anew
    /// from `children` on every restart.
    pub fn child_spec(
        id: impl Into<String>,
        options: SupervisorOptions,
        children: Vec<ChildSpec>,
    ) -> ChildSpec {
        let name = options.name.clone();
        ChildSpec::supervisor(id, name, move |name, parent| {
            let started = Self::start_linked(options.renamed(name), children.clone(), parent);
            async move { Ok(started.await?.actor()) }
        })
    }

    /// Adds a child after the existing ones and starts it (`start_child/2`).
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        self.call(|reply| Msg::StartChild(spec, reply)).await?
    }

    /// Stops a child within its shutdown and does not restart it; its spec stays
    /// (unless it is temporary) for [`Supervisor::restart_child`].
    pub async fn terminate_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id = id.to_string();
        self.call(|reply| Msg::TerminateChild(id, reply)).await?
    }

    /// Starts a terminated child again from its spec.
    pub async fn restart_child(&self, id: &str) -> Result<ActorCell, SupervisorError> {
        let id = id.to_string();
        self.call(|reply| Msg::RestartChild(id, reply)).await?
    }

    /// Forgets the spec of a terminated child.
    pub async fn delete_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id = id.to_string();
        self.call(|reply| Msg::DeleteChild(id, reply)).await?
    }
}
