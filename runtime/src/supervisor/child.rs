//! One ractor child of a [`Supervisor`](super::Supervisor) or a
//! [`DynamicSupervisor`](super::DynamicSupervisor): its spec, its current
//! incarnation, and how it is started, stopped and heard from.
//!
//! Both kinds start a child from its spec linked under themselves, learn of its
//! exit as a ractor supervision event, and stop it within its shutdown; they
//! differ only in how they keep their children (in order, or keyed) and whom
//! they restart.

use std::collections::BTreeMap;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};
use ractor::{ActorCell, ActorId, SupervisionEvent};

use super::child_spec::{ChildSpec, StartFuture};
use super::children::{ChildStatus, Children};
use super::restart::Shutdown;
use crate::exit::ExitReason;
use crate::pid::ProcessId;

/// How a kind keeps its ractor children: in start order (a [`Vec`], the
/// [`Supervisor`](super::Supervisor)'s) or keyed by a sequence number (a
/// [`BTreeMap`], the [`DynamicSupervisor`](super::DynamicSupervisor)'s, so in
/// start order too, and stable across restarts).
pub trait ChildList: Default + Send + 'static {
    /// The kind of supervisor that keeps its children so.
    const KIND: &'static str;

    /// Every child, in start order.
    fn each(&self) -> impl Iterator<Item = &Child>;
}

impl ChildList for Vec<Child> {
    const KIND: &'static str = "Supervisor";

    fn each(&self) -> impl Iterator<Item = &Child> {
        self.iter()
    }
}

impl ChildList for BTreeMap<u64, Child> {
    const KIND: &'static str = "DynamicSupervisor";

    fn each(&self) -> impl Iterator<Item = &Child> {
        self.values()
    }
}

/// The children table of a supervisor of ractor actors, shared with its
/// handles; only the supervisor actor changes it, and never holds the lock
/// across an await.
#[derive(Default)]
pub struct ActorChildren<L>(Mutex<L>);

impl<L> ActorChildren<L> {
    pub(crate) fn new(list: L) -> Self {
        ActorChildren(Mutex::new(list))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, L> {
        self.0.lock()
    }
}

impl<L: ChildList> Children for ActorChildren<L> {
    const KIND: &'static str = L::KIND;

    fn which_children(&self) -> Vec<ChildStatus> {
        self.0.lock().each().map(Child::status).collect()
    }

    fn kill_all(&self) {
        for actor in self
            .0
            .lock()
            .each()
            .filter_map(|child| child.actor.as_ref())
        {
            actor.kill();
        }
    }
}

/// One child spec and its current incarnation.
pub struct Child {
    pub(crate) spec: ChildSpec,
    /// `None` while not running.
    pub(crate) actor: Option<ActorCell>,
    pub(crate) restarts: u32,
    /// When the current (or last) incarnation started; `None` before the first start.
    pub(crate) started_at: Option<Instant>,
}

impl Child {
    /// A child that has not started yet.
    pub(crate) fn new(spec: ChildSpec) -> Self {
        Child {
            spec,
            actor: None,
            restarts: 0,
            started_at: None,
        }
    }

    /// Starts an incarnation linked under `supervisor` (not yet recorded: see
    /// [`Child::started`]).
    pub(crate) fn start(&self, supervisor: ActorCell) -> StartFuture {
        (self.spec.start)(supervisor, self.spec.name.clone())
    }

    /// Records a new incarnation; every start after the first is a restart.
    pub(crate) fn started(&mut self, actor: ActorCell) {
        if self.started_at.is_some() {
            self.restarts += 1;
        }
        self.started_at = Some(Instant::now());
        self.actor = Some(actor);
    }

    /// Whether `actor` is the current incarnation.
    pub(crate) fn runs_as(&self, actor: ActorId) -> bool {
        self.actor.as_ref().map(ActorCell::get_id) == Some(actor)
    }

    pub(crate) fn status(&self) -> ChildStatus {
        ChildStatus {
            id: self.spec.id.clone(),
            restart: self.spec.restart,
            pid: self.actor.as_ref().map(|a| ProcessId::Actor(a.get_id())),
            kind: self.spec.kind,
            actor: self.actor.clone(),
            restarts: self.restarts,
            started_at: self.started_at,
            queue_len: None,
        }
    }
}

/// The child and reason of a supervision event that reports an exit.
pub(crate) fn exit_of(event: SupervisionEvent) -> Option<(ActorId, ExitReason)> {
    match event {
        SupervisionEvent::ActorTerminated(actor, _, reason) => {
            Some((actor.get_id(), ExitReason::from_ractor(reason.as_deref())))
        }
        SupervisionEvent::ActorFailed(actor, err) => {
            Some((actor.get_id(), ExitReason::Error(err.to_string())))
        }
        _ => None,
    }
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
