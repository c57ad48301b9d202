//! `TaskSupervisor`: async jobs under supervision, results back to the caller.
//!
//! Elixir's `Task.Supervisor.async_nolink`: the caller hands over a future,
//! gets a [`Task`] to await, and a crash (panic) in the job comes back as an
//! error instead of taking the caller down. A cap on concurrent tasks
//! (`max_children`) refuses new work when full rather than queueing it, so a
//! flood of slow requests cannot pile up unbounded — channels use this for
//! async replies. The supervisor is a ractor actor so that it sits in a
//! supervision tree; when it stops, its running tasks are aborted. Starting a
//! task does not message the actor: the table of running tasks is shared.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use parking_lot::Mutex;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::exit::ExitReason;
use crate::introspect::{self, ChildInfo, ChildKind, Inspect};
use crate::server::StartError;

/// How a task supervisor behaves.
#[derive(Debug, Clone, Default)]
pub struct TaskSupervisorOptions {
    /// Registered name; also its name in introspection.
    pub name: Option<String>,
    /// At most this many tasks at once; more are refused.
    pub max_children: Option<usize>,
}

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

struct Shared {
    name: String,
    actor: ActorCell,
    max_children: Option<usize>,
    next_id: AtomicU64,
    running: Mutex<HashMap<u64, Running>>,
}

impl Shared {
    fn abort_all(&self) {
        let running: Vec<Running> = self.running.lock().drain().map(|(_, t)| t).collect();
        for task in running.into_iter().filter_map(|t| t.abort) {
            task.abort();
        }
    }
}

impl Inspect for Shared {
    fn children(&self) -> Vec<ChildInfo> {
        let mut tasks: Vec<ChildInfo> = self
            .running
            .lock()
            .iter()
            .map(|(id, task)| ChildInfo {
                id: task.name.clone(),
                pid: format!("<task {id}>"),
                actor: None,
                kind: ChildKind::Worker,
                restarts: 0,
                started_at: task.started_at,
                queue_len: None,
            })
            .collect();
        tasks.sort_by_key(|t| t.started_at);
        tasks
    }
}

/// Removes the task's entry however the task ends, including an abort.
struct Slot {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.running.lock().remove(&self.id);
    }
}

/// A handle to a running task supervisor. Cheap to clone.
#[derive(Clone)]
pub struct TaskSupervisor {
    shared: Arc<Shared>,
}

impl TaskSupervisor {
    /// Starts an unsupervised task supervisor.
    pub async fn start(options: TaskSupervisorOptions) -> Result<Self, StartError> {
        Self::start_inner(options, None).await
    }

    /// Starts a task supervisor linked under `supervisor`.
    pub async fn start_linked(
        options: TaskSupervisorOptions,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(options, Some(supervisor)).await
    }

    async fn start_inner(
        options: TaskSupervisorOptions,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        let (tx, rx) = oneshot::channel();
        let name = options.name.clone();
        let args = (options, tx);
        match supervisor {
            Some(sup) => Actor::spawn_linked(name, TaskSupervisorActor, args, sup).await?,
            None => Actor::spawn(name, TaskSupervisorActor, args).await?,
        };
        let shared = rx
            .await
            .map_err(|_| StartError::InitFailed("task supervisor stopped during start".into()))?;
        Ok(TaskSupervisor { shared })
    }

    /// The supervisor's actor, for linking it under a `Supervisor`.
    pub fn actor(&self) -> ActorCell {
        self.shared.actor.clone()
    }

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
        let abort = self.spawn(name, async move {
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
        let name = self.shared.name.clone();
        self.spawn("task", async move {
            if let Err(panic) = AssertUnwindSafe(job).catch_unwind().await {
                let reason = ExitReason::from_panic(panic);
                tracing::error!(supervisor = %name, %reason, "task crashed");
            }
        })
        .map(|_| ())
    }

    fn spawn(
        &self,
        name: &str,
        job: impl Future<Output = ()> + Send + 'static,
    ) -> Result<AbortHandle, TaskError> {
        if !crate::pid::actor_alive(&self.shared.actor) {
            return Err(TaskError::SupervisorDown);
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        {
            // Recorded before the task exists, so that its end always finds its entry.
            let mut running = self.shared.running.lock();
            if self
                .shared
                .max_children
                .is_some_and(|max| running.len() >= max)
            {
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
            shared: self.shared.clone(),
            id,
        };
        let abort = tokio::spawn(async move {
            let _slot = slot;
            job.await;
        })
        .abort_handle();
        if let Some(task) = self.shared.running.lock().get_mut(&id) {
            task.abort = Some(abort.clone());
        }
        Ok(abort)
    }

    /// Tasks running now.
    pub fn count_children(&self) -> usize {
        self.shared.running.lock().len()
    }

    /// Stops the supervisor, aborting its tasks, and waits until it is gone.
    pub async fn stop(&self) {
        let _ = self
            .shared
            .actor
            .stop_and_wait(Some("shutdown".into()), None)
            .await;
    }
}

struct TaskSupervisorActor;

/// The actor's state; dropping it (on any exit) aborts the tasks.
struct State {
    shared: Arc<Shared>,
}

impl Drop for State {
    fn drop(&mut self) {
        introspect::unregister_supervisor(self.shared.actor.get_id());
        self.shared.abort_all();
    }
}

/// Never sent: the actor only exists to hold the supervisor's place in the tree.
enum Msg {}
impl ractor::Message for Msg {}

impl Actor for TaskSupervisorActor {
    type Msg = Msg;
    type State = State;
    type Arguments = (TaskSupervisorOptions, oneshot::Sender<Arc<Shared>>);

    async fn pre_start(
        &self,
        myself: ActorRef<Msg>,
        (options, ready): Self::Arguments,
    ) -> Result<State, ActorProcessingErr> {
        let name = options
            .name
            .unwrap_or_else(|| format!("TaskSupervisor {}", myself.get_id()));
        let shared = Arc::new(Shared {
            name: name.clone(),
            actor: myself.get_cell(),
            max_children: options.max_children,
            next_id: AtomicU64::new(1),
            running: Mutex::new(HashMap::new()),
        });
        introspect::register_supervisor(myself.get_id(), name, shared.clone());
        let _ = ready.send(shared.clone());
        Ok(State { shared })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Msg>,
        message: Msg,
        _state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match message {}
    }
}
