//! What a supervisor reports about its children, whatever its kind.
//!
//! Every kind keeps its children in a table of its own — specs in start order,
//! a keyed table, lightweight processes, tasks, GenStage workers — behind the
//! [`Children`] trait. From it come the same answers everywhere:
//! [`ChildStatus`] rows for `which_children`, a [`ChildCount`] for
//! `count_children`, and the running children for
//! [`introspection`](crate::introspect).

use std::time::Instant;

use ractor::{ActorCell, ActorId};

use super::restart::Restart;
use crate::introspect::{ChildInfo, ChildKind};
use crate::pid::ProcessId;

/// One child as `which_children` reports it.
#[derive(Debug, Clone)]
pub struct ChildStatus {
    /// The spec's id, or the process's name.
    pub id: String,
    /// The child's restart policy.
    pub restart: Restart,
    /// The running incarnation; `None` when the child is not running (a
    /// [`Supervisor`](super::Supervisor) keeps the spec of a terminated or
    /// finished transient child).
    pub pid: Option<ProcessId>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// The running incarnation when it is a ractor actor.
    pub actor: Option<ActorCell>,
    /// How many times the supervisor restarted this child.
    pub restarts: u32,
    /// When the current (or last) incarnation started; `None` before the first start.
    pub started_at: Option<Instant>,
    /// Messages waiting, where the backend can tell.
    pub queue_len: Option<usize>,
}

impl ChildStatus {
    /// A running worker that is not a ractor actor: a lightweight process, a
    /// task, a GenStage worker.
    pub(crate) fn worker(
        id: String,
        pid: ProcessId,
        restart: Restart,
        restarts: u32,
        started_at: Instant,
    ) -> Self {
        ChildStatus {
            id,
            restart,
            pid: Some(pid),
            kind: ChildKind::Worker,
            actor: None,
            restarts,
            started_at: Some(started_at),
            queue_len: None,
        }
    }

    /// The running incarnation's actor id, when it is a ractor actor.
    pub fn actor_id(&self) -> Option<ActorId> {
        self.actor.as_ref().map(ActorCell::get_id)
    }

    /// Whether an incarnation runs now.
    pub fn is_running(&self) -> bool {
        self.pid.is_some()
    }

    /// The row introspection shows for a running child.
    fn info(self) -> Option<ChildInfo> {
        Some(ChildInfo {
            pid: self.pid?.to_string(),
            actor: self.actor_id(),
            id: self.id,
            kind: self.kind,
            restarts: self.restarts,
            started_at: self.started_at.unwrap_or_else(Instant::now),
            queue_len: self.queue_len,
        })
    }
}

/// `rows` in start order (for tables kept in hash maps).
pub(crate) fn in_start_order(rows: impl Iterator<Item = ChildStatus>) -> Vec<ChildStatus> {
    let mut rows: Vec<ChildStatus> = rows.collect();
    rows.sort_by_key(|row| row.started_at);
    rows
}

/// What `count_children` reports (OTP's `count_children/1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildCount {
    /// Children known, running or not.
    pub specs: usize,
    /// Children running now.
    pub active: usize,
    /// Children of kind supervisor.
    pub supervisors: usize,
    /// Children of kind worker.
    pub workers: usize,
}

impl ChildCount {
    /// Counts `children`.
    pub fn of(children: &[ChildStatus]) -> Self {
        children
            .iter()
            .fold(ChildCount::default(), |mut count, child| {
                count.specs += 1;
                count.active += usize::from(child.is_running());
                match child.kind {
                    ChildKind::Supervisor => count.supervisors += 1,
                    ChildKind::Worker => count.workers += 1,
                }
                count
            })
    }

    /// `n` running workers (what a supervisor of processes or tasks holds).
    pub fn workers(n: usize) -> Self {
        ChildCount {
            specs: n,
            active: n,
            supervisors: 0,
            workers: n,
        }
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
    /// The supervisor already has `max_children` children.
    #[error("max_children reached")]
    MaxChildren,
    /// The child's start function failed.
    #[error("child failed to start: {0}")]
    StartFailed(String),
    /// The supervisor is not running (or stopped before it answered).
    #[error("supervisor is not running")]
    SupervisorDown,
}

/// A kind of supervisor's children table: what the shared core needs of it.
///
/// Implemented by each kind (the types named in the `SupervisorRef<…>` of
/// [`Supervisor`](super::Supervisor), [`DynamicSupervisor`](super::DynamicSupervisor),
/// [`ProcessSupervisor`](crate::process::ProcessSupervisor),
/// [`TaskSupervisor`](crate::task::TaskSupervisor)) and by the
/// [`ConsumerSupervisor`](crate::gen_stage::ConsumerSupervisor)'s workers.
pub trait Children: Send + Sync + 'static {
    /// The kind's name, as in `Debug` output and default supervisor names.
    const KIND: &'static str;

    /// Every child the supervisor knows, in start order (`which_children/1`).
    fn which_children(&self) -> Vec<ChildStatus>;

    /// `count_children/1`; tables that can count without listing say so.
    fn count_children(&self) -> ChildCount {
        ChildCount::of(&self.which_children())
    }

    /// Kills every child at once, without waiting: the supervisor is gone
    /// (even by a failure, which skips ractor's `post_stop`), and no child may
    /// outlive it.
    fn kill_all(&self);

    /// The running children as introspection shows them, in start order.
    fn running(&self) -> Vec<ChildInfo> {
        self.which_children()
            .into_iter()
            .filter_map(ChildStatus::info)
            .collect()
    }
}
