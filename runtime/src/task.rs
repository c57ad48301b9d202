//! `TaskSupervisor`: async jobs under supervision, results back to the caller.
//!
//! Elixir's `Task.Supervisor.async_nolink`: the caller hands over a future,
//! gets a [`Task`] to await, and a crash (panic) in the job comes back as an
//! error instead of taking the caller down. A cap on concurrent tasks
//! (`max_children`) refuses new work when full rather than queueing it, so a
//! flood of slow requests cannot pile up unbounded — channels use this for
//! async replies. It is built on the supervisors' shared core
//! ([`SupervisorRef`]): a ractor actor that sits in a supervision tree
//! ([`TaskSupervisor::child_spec`]), is found by name and shows its tasks in
//! introspection; when it stops, its running tasks are aborted. Starting a task
//! does not message the actor: the table of running tasks ([`TaskChildren`]) is
//! shared.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use parking_lot::Mutex;
use ractor::ActorCell;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::exit::ExitReason;
use crate::pid::ProcessId;
use crate::supervisor::children::in_start_order;
use crate::supervisor::{
    ChildCount, ChildStatus, Children, Core, Init, Registration, Restart, StartArgs, Starting,
    StartsEmpty, Supervision, SupervisorOptions, SupervisorRef,
};

/// Why a task produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The supervisor already runs `max_children` tasks.
    #[error("too many tasks running")]
    MaxChildren,
    /// The supervisor is not running.
    #[error("task supervisor is not running")]
    SupervisorDown,
    /// The job panicked.
    #[error("task crashed: {0}")]
    Crashed(ExitReason),
    /// The job was aborted (its supervisor stopped, or it was shut down).
    #[error("task was shut down")]
    Shutdown,
    /// No result within the awaited time; the task keeps running.
    #[error("task timed out after {0:?}")]
    Timeout(Duration),
}

/// A running job's result, to be awaited by the caller (`Task.await`).
pub struct Task<T> {
    result: oneshot::Receiver<Result<T, ExitReason>>,
    abort: AbortHandle,
}

impl<T> Task<T> {
    /// Waits for the result.
    pub async fn join(self) -> Result<T, TaskError> {
        match self.result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(reason)) => Err(TaskError::Crashed(reason)),
            Err(_) => Err(TaskError::Shutdown),
        }
    }

    /// Waits at most `timeout` (`Task.await(task, timeout)`); on timeout the task is
    /// shut down, as `Task.await` would exit the caller.
    pub async fn join_timeout(self, timeout: Duration) -> Result<T, TaskError> {
        let abort = self.abort.clone();
        match tokio::time::timeout(timeout, self.join()).await {
            Ok(result) => result,
            Err(_) => {
                abort.abort();
                Err(TaskError::Timeout(timeout))
            }
        }
    }

    /// Stops the job (`Task.shutdown(task, :brutal_kill)`).
    pub fn shutdown(&self) {
        self.abort.abort();
    }
}

struct Running {
    name: String,
    started_at: Instant,
    /// Set right after the spawn; `None` only for that instant.
    abort: Option<AbortHandle>,
}

/// A [`TaskSupervisor`]'s running tasks, by task id; shared by the actor, its
/// handles and the tasks themselves (which remove their entry as they end).
pub struct TaskChildren {
    max_children: Option<usize>,
    next_id: AtomicU64,
    running: Mutex<HashMap<u64, Running>>,
}

impl Children for TaskChildren {
    const KIND: &'static str = "TaskSupervisor";

    fn which_children(&self) -> Vec<ChildStatus> {
        let running = self.running.lock();
        in_start_order(running.iter().map(|(&id, task)| {
            let pid = ProcessId::Task(id);
            let (name, started_at) = (task.name.clone(), task.started_at);
            ChildStatus::worker(name, pid, Restart::Temporary, 0, started_at)
        }))
    }

    fn count_children(&self) -> ChildCount {
        ChildCount::workers(self.running.lock().len())
    }

    fn kill_all(&self) {
        let running: Vec<Running> = self.running.lock().drain().map(|(_, t)| t).collect();
        for task in running.into_iter().filter_map(|t| t.abort) {
            task.abort();
        }
    }
}

/// The shared core of a task supervisor.
type TaskCore = Core<TaskChildren>;

/// Removes the task's entry however the task ends, including an abort.
struct Slot {
    core: Arc<TaskCore>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.core.children.running.lock().remove(&self.id);
    }
}

/// A handle to a running task supervisor. Cheap to clone.
pub type TaskSupervisor = SupervisorRef<TaskChildren>;

impl StartsEmpty for TaskChildren {
    const SPAWN: fn(SupervisorOptions, Option<ActorCell>) -> Starting<Self> =
        |options, parent| TaskSupervisor::start_empty::<State>(options, parent);
}

impl TaskSupervisor {
    /// Runs `job` and returns a [`Task`] to await (`Task.Supervisor.async_nolink`).
    pub fn async_nolink<F, T>(&self, job: F) -> Result<Task<T>, TaskError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.async_named("task", job)
    }

    /// Like [`async_nolink`](Self::async_nolink), with a name for introspection.
    pub fn async_named<F, T>(&self, name: &str, job: F) -> Result<Task<T>, TaskError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let abort = self.spawn_task(name, async move {
            let result = AssertUnwindSafe(job)
                .catch_unwind()
                .await
                .map_err(ExitReason::from_panic);
            let _ = tx.send(result);
        })?;
        Ok(Task { result: rx, abort })
    }

    /// Runs `job` without a result for anyone (`Task.Supervisor.start_child`).
    /// A panic is logged.
    pub fn start_child<F>(&self, job: F) -> Result<(), TaskError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = self.name().to_string();
        self.spawn_task("task", async move {
            if let Err(panic) = AssertUnwindSafe(job).catch_unwind().await {
                let reason = ExitReason::from_panic(panic);
                tracing::error!(supervisor = %name, %reason, "task crashed");
            }
        })
        .map(|_| ())
    }

    fn spawn_task(
        &self,
        name: &str,
        job: impl Future<Output = ()> + Send + 'static,
    ) -> Result<AbortHandle, TaskError> {
        if !self.is_alive() {
            return Err(TaskError::SupervisorDown);
        }
        let core = self.core();
        let tasks = &core.children;
        let id = tasks.next_id.fetch_add(1, Ordering::Relaxed);
        {
            // Recorded before the task exists, so that its end always finds its entry.
            let mut running = tasks.running.lock();
            if tasks.max_children.is_some_and(|max| running.len() >= max) {
                return Err(TaskError::MaxChildren);
            }
            running.insert(
                id,
                Running {
                    name: name.to_string(),
                    started_at: Instant::now(),
                    abort: None,
                },
            );
        }
        let slot = Slot {
            core: core.clone(),
            id,
        };
        let abort = tokio::spawn(async move {
            let _slot = slot;
            job.await;
        })
        .abort_handle();
        if let Some(task) = tasks.running.lock().get_mut(&id) {
            task.abort = Some(abort.clone());
        }
        Ok(abort)
    }
}

/// The actor's state; the registration's drop (on any exit) aborts the tasks.
struct State {
    registration: Registration<TaskChildren>,
}

/// Never sent: the actor only exists to hold the supervisor's place in the tree.
enum Msg {}
impl ractor::Message for Msg {}

impl Supervision for State {
    type Msg = Msg;
    type Args = StartArgs<TaskChildren>;
    type Children = TaskChildren;

    /// Tasks do not trap exits: they are aborted at once.
    async fn stop_all(&mut self) {
        self.registration.core().children.kill_all();
    }

    async fn init(myself: ActorCell, (options, ready): Self::Args) -> Init<Self> {
        let tasks = TaskChildren {
            max_children: options.max_children,
            next_id: AtomicU64::new(1),
            running: Mutex::new(HashMap::new()),
        };
        let core = Core::new(myself, options.name, tasks);
        Ok(State {
            registration: Registration::new(core, ready),
        })
    }

    fn registration(&self) -> &Registration<TaskChildren> {
        &self.registration
    }
}
