//! `DynamicSupervisor`: children started on demand, a keyed table (Elixir's
//! `DynamicSupervisor`).
//!
//! A [`Supervisor`](super::Supervisor) knows its children up front; this one
//! starts with none and is handed child specs at run time — one actor per
//! session, per upload, per anything whose count is not known in advance. It is
//! always one_for_one: a child that exits is restarted (permanent, transient
//! after a crash) or forgotten (temporary, transient after a clean exit), within
//! the same restart intensity as a static supervisor; past it the supervisor
//! stops its children and fails, so its own parent sees it. Children are known
//! by their current actor id, as OTP's by pid; `max_children` bounds how many it
//! holds. When it stops, all children are stopped at once, each within its
//! shutdown.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use parking_lot::MutexGuard;
use ractor::{ActorCell, ActorId, ActorProcessingErr};
use tokio::sync::oneshot;

use super::actor::{Handled, Init, Supervision};
use super::child::{shut_down, ActorChildren, Child};
use super::child_spec::ChildSpec;
use super::children::SupervisorError;
use super::handle::{answer, Core, Registration, StartArgs, Starting, StartsEmpty, SupervisorRef};
use super::options::SupervisorOptions;
use super::restart::{log_exit, log_gave_up, Intensity, GAVE_UP};
use crate::exit::ExitReason;

/// A [`DynamicSupervisor`]'s children, keyed by a sequence number.
pub type KeyedChildren = ActorChildren<BTreeMap<u64, Child>>;

/// A handle to a running dynamic supervisor. Cheap to clone.
pub type DynamicSupervisor = SupervisorRef<KeyedChildren>;

impl StartsEmpty for KeyedChildren {
    const SPAWN: fn(SupervisorOptions, Option<ActorCell>) -> Starting<Self> =
        |options, parent| DynamicSupervisor::start_empty::<State>(options, parent);
}

/// The dynamic supervisor actor's messages (besides supervision events).
enum Msg {
    StartChild(
        ChildSpec,
        oneshot::Sender<Result<ActorCell, SupervisorError>>,
    ),
    TerminateChild(ActorId, oneshot::Sender<Result<(), SupervisorError>>),
    /// A restart failed to start this child: try again, within the intensity.
    RetryRestart(u64),
}
impl ractor::Message for Msg {}

struct State {
    registration: Registration<KeyedChildren>,
    max_children: Option<usize>,
    intensity: Intensity,
    /// Which child each running actor is.
    by_actor: HashMap<ActorId, u64>,
    next_seq: u64,
}

impl State {
    fn core(&self) -> &Core<KeyedChildren> {
        self.registration.core()
    }

    /// The table; held only between awaits (handles read it meanwhile).
    fn children(&self) -> MutexGuard<'_, BTreeMap<u64, Child>> {
        self.core().children.lock()
    }

    async fn start_child(&mut self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        if self
            .max_children
            .is_some_and(|max| self.children().len() >= max)
        {
            return Err(SupervisorError::MaxChildren);
        }
        let mut child = Child::new(spec);
        let actor = child
            .start(self.core().actor.clone())
            .await
            .map_err(|err| SupervisorError::StartFailed(err.to_string()))?;
        child.started(actor.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_actor.insert(actor.get_id(), seq);
        self.children().insert(seq, child);
        Ok(actor)
    }

    async fn terminate_child(&mut self, actor: ActorId) -> Result<(), SupervisorError> {
        let child = self
            .by_actor
            .remove(&actor)
            .and_then(|seq| self.children().remove(&seq))
            .ok_or_else(|| SupervisorError::NotFound(actor.to_string()))?;
        if let Some(actor) = &child.actor {
            shut_down(actor, child.spec.shutdown).await;
        }
        Ok(())
    }

    /// Applies the restart policy to the child `seq`, which exited.
    async fn exited(&mut self, seq: u64, reason: ExitReason) -> Result<(), ActorProcessingErr> {
        let restarts = {
            let mut children = self.children();
            let Some(child) = children.get_mut(&seq) else {
                return Ok(());
            };
            child.actor = None;
            log_exit(&self.core().name, &child.spec.id, &reason);
            let restarts = child.spec.restart.restarts_after(&reason);
            if !restarts {
                children.remove(&seq);
            }
            restarts
        };
        match restarts {
            true => self.restart(seq).await,
            false => Ok(()),
        }
    }

    /// Starts a child that is not running again; gives up past the intensity.
    async fn restart(&mut self, seq: u64) -> Result<(), ActorProcessingErr> {
        if !self.intensity.allow_restart(Instant::now()) {
            log_gave_up(&self.core().name);
            self.stop_all().await;
            return Err(GAVE_UP.into());
        }
        let Some(start) = self.children().get(&seq).map(|child| {
            (
                child.start(self.core().actor.clone()),
                child.spec.id.clone(),
            )
        }) else {
            return Ok(());
        };
        let (start, id) = start;
        match start.await {
            Ok(actor) => {
                self.by_actor.insert(actor.get_id(), seq);
                if let Some(child) = self.children().get_mut(&seq) {
                    child.started(actor);
                }
            }
            Err(err) => {
                tracing::error!(supervisor = %self.core().name, child = %id, %err, "restart failed");
                let _ = self.core().actor.send_message(Msg::RetryRestart(seq));
            }
        }
        Ok(())
    }
}

impl Supervision for State {
    type Msg = Msg;
    type Args = StartArgs<KeyedChildren>;
    type Children = KeyedChildren;

    fn registration(&self) -> &Registration<KeyedChildren> {
        &self.registration
    }

    async fn init(myself: ActorCell, (options, ready): Self::Args) -> Init<Self> {
        let core = Core::new(myself, options.name.clone(), KeyedChildren::default());
        Ok(State {
            registration: Registration::new(core, ready),
            max_children: options.max_children,
            intensity: options.restart_intensity(),
            by_actor: HashMap::new(),
            next_seq: 0,
        })
    }

    async fn handle(&mut self, message: Msg) -> Result<(), ActorProcessingErr> {
        match message {
            Msg::StartChild(spec, reply) => answer(reply, self.start_child(spec).await),
            Msg::TerminateChild(actor, reply) => answer(reply, self.terminate_child(actor).await),
            Msg::RetryRestart(seq) => {
                let stopped = self
                    .children()
                    .get(&seq)
                    .is_some_and(|child| child.actor.is_none());
                if stopped {
                    return self.restart(seq).await;
                }
            }
        }
        Ok(())
    }

    async fn child_exited(&mut self, actor: ActorId, reason: ExitReason) -> Handled {
        // Exits of actors that are no longer children (terminated by the
        // supervisor itself) need nothing.
        let Some(seq) = self.by_actor.remove(&actor) else {
            return Ok(());
        };
        self.exited(seq, reason).await
    }

    /// Stops every child at once, each within its shutdown.
    async fn stop_all(&mut self) {
        let children = std::mem::take(&mut *self.children());
        self.by_actor.clear();
        let stops = children.into_values().filter_map(|child| {
            let actor = child.actor?;
            Some(async move { shut_down(&actor, child.spec.shutdown).await })
        });
        futures::future::join_all(stops).await;
    }
}

impl DynamicSupervisor {
    /// Starts a child from `spec` and returns its actor; refused beyond `max_children`.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorCell, SupervisorError> {
        self.call(|reply| Msg::StartChild(spec, reply)).await?
    }

    /// Stops the child whose current actor is `child`, within its shutdown, and
    /// forgets it.
    pub async fn terminate_child(&self, child: ActorId) -> Result<(), SupervisorError> {
        self.call(|reply| Msg::TerminateChild(child, reply)).await?
    }
}
