//! `ConsumerSupervisor`: one supervised worker per event.
//!
//! GenStage's ConsumerSupervisor subscribes like a consumer but, instead of
//! handling events itself, starts a child per event (the book's pipeline runs
//! a `Task` per item). Here a worker is an async job given the event, run as a
//! tokio task with its panics caught. Back-pressure is the supervisor's job:
//! it asks for `max_demand` events, so at most that many workers run per
//! subscription, and asks again only as workers finish — once `min_demand` of
//! them have. A worker that crashes is rerun with the same event when the
//! restart policy says so (`transient`, the default: after a crash only),
//! within a restart intensity; past it the supervisor stops its workers and
//! fails, so that its own supervisor sees it. Running workers are visible to
//! [`introspect`](crate::introspect) while the supervisor lives.
//!
//! It is a stage (built on the stage core: stopped with a reason, monitored,
//! found by name through its mailbox) and a supervisor: it takes the same
//! [`SupervisorOptions`] as the other kinds, answers `which_children` and
//! `count_children` with the same types, and makes its own child spec.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use ractor::{ActorCell, ActorRef};
use tokio::task::JoinHandle;

use super::demand::SubscribeOptions;
use super::inbound::Subscription;
use super::link::{Source, SubId};
use super::options::StageOptions;
use super::stage::{Init, Input, Next, Running, StageKind, StageMsg, StageRef};
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};
use crate::introspect;
use crate::pid::ProcessId;
use crate::server::StartError;
use crate::supervisor::children::in_start_order;
use crate::supervisor::restart::{log_gave_up, Intensity, Restart, Shutdown, GAVE_UP};
use crate::supervisor::{
    ChildCount, ChildSpec, ChildStatus, Children, Core, SupervisorError, SupervisorOptions,
};

/// The job a consumer supervisor runs for each event (the child spec's `start`).
pub type WorkerFn<E> = Arc<dyn Fn(E) -> BoxFuture<'static, Result<(), ProcessError>> + Send + Sync>;

/// How a consumer supervisor behaves and what it subscribes to.
pub struct ConsumerSupervisorOptions<E> {
    supervisor: SupervisorOptions,
    worker: WorkerFn<E>,
    restart: Restart,
    shutdown: Shutdown,
    subscriptions: Vec<Subscription<E>>,
}

impl<E> Clone for ConsumerSupervisorOptions<E> {
    fn clone(&self) -> Self {
        ConsumerSupervisorOptions {
            supervisor: self.supervisor.clone(),
            worker: self.worker.clone(),
            restart: self.restart,
            shutdown: self.shutdown,
            subscriptions: self.subscriptions.clone(),
        }
    }
}

impl<E: Send + 'static> ConsumerSupervisorOptions<E> {
    /// Runs `worker(event)` for each event; `transient` restarts, OTP's default
    /// intensity of 3 restarts in 5 seconds.
    pub fn new<F, Fut>(worker: F) -> Self
    where
        F: Fn(E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ProcessError>> + Send + 'static,
    {
        Self::with_worker(Arc::new(move |event| worker(event).boxed()))
    }

    /// The same from an already boxed worker.
    pub fn with_worker(worker: WorkerFn<E>) -> Self {
        ConsumerSupervisorOptions {
            supervisor: SupervisorOptions::default(),
            worker,
            restart: Restart::Transient,
            shutdown: Shutdown::BrutalKill,
            subscriptions: Vec::new(),
        }
    }
}

impl<E> ConsumerSupervisorOptions<E> {
    /// The supervisor flags: name, restart intensity. A consumer supervisor
    /// is one_for_one, and `max_demand` bounds its workers, not `max_children`.
    pub fn supervisor(mut self, supervisor: SupervisorOptions) -> Self {
        self.supervisor = supervisor;
        self
    }

    /// At most `max_restarts` reruns within `max_period`, or the supervisor fails.
    pub fn intensity(mut self, max_restarts: u32, max_period: std::time::Duration) -> Self {
        self.supervisor = self.supervisor.intensity(max_restarts, max_period);
        self
    }

    /// When a finished worker is rerun: `Transient` (after a crash, the default)
    /// or `Temporary` (never). `Permanent` is refused at start: a job that
    /// succeeded would run again forever.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The same options with the actor registered under `name` (also its name in
    /// introspection).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.supervisor.name = Some(name.into());
        self
    }

    /// What happens to running workers when the supervisor stops. `BrutalKill`
    /// (the default) aborts them at once — what OTP does to `Task` children,
    /// which do not trap exits; `Timeout(d)` lets them finish for up to `d`, then
    /// aborts the rest; `Infinity` waits for all of them. A kill, or a crash of
    /// the supervisor's own code, always aborts them at once.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Adds a producer to subscribe to at start.
    pub fn subscribe_to(mut self, source: &impl Source<E>, options: SubscribeOptions) -> Self {
        self.subscriptions.push(Subscription::new(source, options));
        self
    }

    /// Refuses what a consumer supervisor cannot honour.
    fn check(&self) -> Result<(), StartError> {
        self.supervisor.check_dynamic("ConsumerSupervisor")?;
        match (self.restart, self.supervisor.max_children) {
            (Restart::Permanent, _) => Err(StartError::InitFailed(
                "a consumer supervisor's workers cannot be permanent".into(),
            )),
            (_, Some(_)) => Err(StartError::InitFailed(
                "a consumer supervisor's workers are bounded by max_demand, not max_children"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}

/// One running worker.
struct Worker<E> {
    sub: SubId,
    /// Kept for a rerun; `None` when the policy never reruns.
    event: Option<E>,
    restarts: u32,
    started_at: Instant,
    task: JoinHandle<()>,
}

/// A [`ConsumerSupervisor`]'s running workers, by worker id; shared by the
/// supervisor, its handles and introspection.
pub struct WorkerChildren<E> {
    restart: Restart,
    running: Mutex<HashMap<u64, Worker<E>>>,
}

impl<E: Send + 'static> Children for WorkerChildren<E> {
    const KIND: &'static str = "ConsumerSupervisor";

    fn which_children(&self) -> Vec<ChildStatus> {
        let running = self.running.lock();
        in_start_order(running.iter().map(|(&id, worker)| {
            let (restarts, started_at) = (worker.restarts, worker.started_at);
            ChildStatus::worker(
                format!("worker {id}"),
                ProcessId::Task(id),
                self.restart,
                restarts,
                started_at,
            )
        }))
    }

    fn count_children(&self) -> ChildCount {
        ChildCount::workers(self.running.lock().len())
    }

    fn kill_all(&self) {
        for (_, worker) in self.running.lock().drain() {
            worker.task.abort();
        }
    }
}

/// The shared core of a consumer supervisor.
type WorkerCore<E> = Core<WorkerChildren<E>>;

/// A handle to a running consumer supervisor. Cheap to clone.
pub type ConsumerSupervisor<E> = StageRef<WorkerStage<E>>;

/// The consumer-supervisor kind of stage, for events `E`.
pub struct WorkerStage<E> {
    /// The workers' restart policy, for `which_children` rows.
    restart: Restart,
    _events: PhantomData<fn() -> E>,
}

/// A consumer supervisor's state.
pub struct Workers<E> {
    worker: WorkerFn<E>,
    restart: Restart,
    shutdown: Shutdown,
    intensity: Intensity,
    next_worker: u64,
}

/// What a worker's task tells its supervisor as it ends.
pub struct WorkerExited(u64, Result<(), ExitReason>);

/// Runs one worker as a task that reports its end to the supervisor.
fn launch<E: Clone + Send + 'static>(
    supervisor: ActorRef<StageMsg<WorkerStage<E>>>,
    worker: WorkerFn<E>,
    id: u64,
    event: E,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Calling the worker happens inside `catching` too, so a panic there is a crash.
        let result = catching(async move { worker(event).await }).await;
        let _ = supervisor.send_message(StageMsg::Own(WorkerExited(id, result)));
    })
}

impl<E: Clone + Send + 'static> WorkerStage<E> {
    /// Starts a worker per event, in order.
    fn start_workers(st: &mut Running<Self>, sub: SubId, events: Vec<E>) {
        st.inbound.received(sub, events.len());
        for event in events {
            let id = st.state.next_worker;
            st.state.next_worker += 1;
            let keep = (st.state.restart != Restart::Temporary).then(|| event.clone());
            let actor = ActorRef::from(st.me.actor());
            let task = launch(actor, st.state.worker.clone(), id, event);
            st.me.shared().children.running.lock().insert(
                id,
                Worker {
                    sub,
                    event: keep,
                    restarts: 0,
                    started_at: Instant::now(),
                    task,
                },
            );
        }
    }

    /// Reruns a crashed worker or lets it go (asking for more events as due).
    /// `Some` when the restart intensity is exceeded.
    fn worker_exited(st: &mut Running<Self>, WorkerExited(id, result): WorkerExited) -> Next {
        let reason = result.err().unwrap_or(ExitReason::Normal);
        let core = st.me.shared().clone();
        let mut running = core.children.running.lock();
        let worker = running.get_mut(&id)?;
        if !reason.is_normal() {
            tracing::error!(supervisor = %core.name, worker = id, %reason, "worker crashed");
        }
        let rerun = worker
            .event
            .as_ref()
            .filter(|_| st.state.restart.restarts_after(&reason));
        if let Some(event) = rerun {
            if !st.state.intensity.allow_restart(Instant::now()) {
                log_gave_up(&core.name);
                return Some(ExitReason::Error(GAVE_UP.into()));
            }
            worker.restarts += 1;
            worker.started_at = Instant::now();
            let actor = ActorRef::from(st.me.actor());
            worker.task = launch(actor, st.state.worker.clone(), id, event.clone());
            return None;
        }
        let sub = running.remove(&id).map(|worker| worker.sub);
        drop(running);
        if let Some(sub) = sub {
            st.inbound.finished(sub);
        }
        None
    }
}

impl<E: Clone + Send + 'static> StageKind for WorkerStage<E> {
    type In = E;
    type Out = std::convert::Infallible;
    type Own = WorkerExited;
    type Shared = WorkerCore<E>;
    type State = Workers<E>;
    type Args = ConsumerSupervisorOptions<E>;
    const HANDLE: &'static str = "ConsumerSupervisor";
    const LABEL: &'static str = "consumer supervisor";

    fn shared(&self, myself: &ActorCell, name: Option<&str>) -> WorkerCore<E> {
        let children = WorkerChildren {
            restart: self.restart,
            running: Mutex::new(HashMap::new()),
        };
        Core::new(myself.clone(), name.map(str::to_string), children)
    }

    async fn init(&self, me: &ConsumerSupervisor<E>, options: Self::Args) -> Init<Self> {
        let core = me.shared();
        introspect::register_supervisor(me.id(), core.name.clone(), core.clone());
        Ok(Workers {
            intensity: options.supervisor.restart_intensity(),
            worker: options.worker,
            restart: options.restart,
            shutdown: options.shutdown,
            next_worker: 1,
        })
    }

    async fn handle(&self, st: &mut Running<Self>, input: Input<Self>) -> Next {
        match input {
            Input::Events(sub, events) => {
                Self::start_workers(st, sub, events);
                None
            }
            Input::Own(exited) => Self::worker_exited(st, exited),
            Input::Demand(_) => None, // nobody subscribes to a consumer supervisor
        }
    }

    /// Cancels the subscriptions (no new events), then takes the workers out of
    /// the table and shuts them down as configured; their exits are no longer
    /// handled (the supervisor is stopping).
    async fn stopping(&self, st: &mut Running<Self>, _why: &ExitReason) {
        st.inbound.close();
        let tasks: Vec<JoinHandle<()>> = st
            .me
            .shared()
            .children
            .running
            .lock()
            .drain()
            .map(|(_, worker)| worker.task)
            .collect();
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let finished = match st.state.shutdown {
            Shutdown::BrutalKill => false,
            Shutdown::Timeout(limit) => {
                tokio::time::timeout(limit, futures::future::join_all(tasks))
                    .await
                    .is_ok()
            }
            Shutdown::Infinity => {
                futures::future::join_all(tasks).await;
                true
            }
        };
        if !finished {
            aborts.iter().for_each(|task| task.abort());
        }
    }

    /// Aborts any worker left and leaves introspection.
    fn finished(st: &mut Running<Self>) {
        st.me.shared().children.kill_all();
        introspect::unregister_supervisor(st.me.id());
    }
}

impl<E: Clone + Send + 'static> ConsumerSupervisor<E> {
    /// Starts an unsupervised consumer supervisor and subscribes.
    pub async fn start(options: ConsumerSupervisorOptions<E>) -> Result<Self, StartError> {
        Self::start_under(options, None).await
    }

    /// Starts a consumer supervisor linked under `supervisor`.
    pub async fn start_linked(
        options: ConsumerSupervisorOptions<E>,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_under(options, Some(supervisor)).await
    }

    async fn start_under(
        mut options: ConsumerSupervisorOptions<E>,
        parent: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        options.check()?;
        let stage = StageOptions {
            name: options.supervisor.name.clone(),
            buffer_size: None,
            subscriptions: std::mem::take(&mut options.subscriptions),
        };
        let kind = WorkerStage {
            restart: options.restart,
            _events: PhantomData,
        };
        Self::start_kind(kind, options, stage, parent).await
    }

    /// A consumer supervisor as a child of a [`Supervisor`](crate::supervisor::Supervisor)
    /// (Elixir's `child_spec/1`), registered under the options' name; it
    /// subscribes anew on every restart.
    pub fn child_spec(id: impl Into<String>, options: ConsumerSupervisorOptions<E>) -> ChildSpec {
        let name = options.supervisor.name.clone();
        let options = Mutex::new(options);
        ChildSpec::supervisor(id, name, move |name, parent| {
            let mut options = options.lock().clone();
            options.supervisor.name = name;
            let started = Self::start_linked(options, parent);
            async move { Ok(started.await?.actor()) }
        })
    }
}

impl<E: Clone + Send + 'static> ConsumerSupervisor<E> {
    /// Workers running now (including those being rerun after a crash).
    pub fn running(&self) -> usize {
        self.shared().children.running.lock().len()
    }

    /// The supervisor's name in introspection.
    pub fn name(&self) -> &str {
        &self.shared().name
    }

    /// The running workers, in start order (`which_children/1`).
    pub fn which_children(&self) -> Result<Vec<ChildStatus>, SupervisorError> {
        self.alive()?;
        Ok(self.shared().children.which_children())
    }

    /// Counts of running workers (`count_children/1`).
    pub fn count_children(&self) -> Result<ChildCount, SupervisorError> {
        self.alive()?;
        Ok(self.shared().children.count_children())
    }

    fn alive(&self) -> Result<(), SupervisorError> {
        match self.is_alive() {
            true => Ok(()),
            false => Err(SupervisorError::SupervisorDown),
        }
    }
}
