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

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::demand::SubscribeOptions;
use super::inbound::{self, Inbound, Subscription};
use super::lifecycle::{self, ExitCell};
use super::link::{Downstream, Downward, Source, SubId};
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};
use crate::introspect::{self, ChildInfo, ChildKind, Inspect};
use crate::server::StartError;
use crate::supervisor::restart::{Intensity, Restart, Shutdown};

/// The job a consumer supervisor runs for each event (the child spec's `start`).
pub type WorkerFn<E> = Arc<dyn Fn(E) -> BoxFuture<'static, Result<(), ProcessError>> + Send + Sync>;

/// How a consumer supervisor behaves and what it subscribes to.
pub struct ConsumerSupervisorOptions<E> {
    name: Option<String>,
    worker: WorkerFn<E>,
    restart: Restart,
    shutdown: Shutdown,
    max_restarts: u32,
    max_period: Duration,
    subscriptions: Vec<Subscription<E>>,
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
            name: None,
            worker,
            restart: Restart::Transient,
            shutdown: Shutdown::BrutalKill,
            max_restarts: 3,
            max_period: Duration::from_secs(5),
            subscriptions: Vec::new(),
        }
    }
}

impl<E> ConsumerSupervisorOptions<E> {
    /// The same options with the actor registered under `name` (also its name in
    /// introspection).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// When a finished worker is rerun: `Transient` (after a crash, the default)
    /// or `Temporary` (never). `Permanent` is refused at start: a job that
    /// succeeded would run again forever.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
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

    /// At most `max_restarts` reruns within `max_period`, or the supervisor fails.
    pub fn intensity(mut self, max_restarts: u32, max_period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.max_period = max_period;
        self
    }

    /// Adds a producer to subscribe to at start.
    pub fn subscribe_to(mut self, source: &impl Source<E>, options: SubscribeOptions) -> Self {
        self.subscriptions.push(Subscription::new(source, options));
        self
    }
}

pub(crate) enum CsMsg<E> {
    Down(Downward<E>),
    WorkerExited(u64, Result<(), ExitReason>),
    Stop(ExitReason),
    Handle(oneshot::Sender<ConsumerSupervisor<E>>),
}

impl<E: Send + 'static> ractor::Message for CsMsg<E> {}

/// One running worker.
struct Worker<E> {
    sub: SubId,
    /// Kept for a rerun; `None` when the policy never reruns.
    event: Option<E>,
    restarts: u32,
    started_at: Instant,
    task: JoinHandle<()>,
}

/// The running workers, shared by the supervisor, its handles and introspection.
struct Workers<E> {
    name: String,
    running: Mutex<HashMap<u64, Worker<E>>>,
}

impl<E> Workers<E> {
    fn abort_all(&self) {
        for (_, worker) in self.running.lock().drain() {
            worker.task.abort();
        }
    }
}

impl<E: Send> Inspect for Workers<E> {
    fn children(&self) -> Vec<ChildInfo> {
        let mut children: Vec<ChildInfo> = self
            .running
            .lock()
            .iter()
            .map(|(id, worker)| ChildInfo {
                id: format!("worker {id}"),
                pid: format!("<task {id}>"),
                actor: None,
                kind: ChildKind::Worker,
                restarts: worker.restarts,
                started_at: worker.started_at,
                queue_len: None,
            })
            .collect();
        children.sort_by_key(|c| c.started_at);
        children
    }
}

/// A handle to a running consumer supervisor. Cheap to clone.
pub struct ConsumerSupervisor<E> {
    actor: ActorRef<CsMsg<E>>,
    workers: Arc<Workers<E>>,
    exit: Arc<ExitCell>,
}

impl<E> Clone for ConsumerSupervisor<E> {
    fn clone(&self) -> Self {
        ConsumerSupervisor {
            actor: self.actor.clone(),
            workers: self.workers.clone(),
            exit: self.exit.clone(),
        }
    }
}

impl<E> fmt::Debug for ConsumerSupervisor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsumerSupervisor({})", self.actor.get_id())
    }
}

impl<E: Clone + Send + 'static> ConsumerSupervisor<E> {
    /// Starts an unsupervised consumer supervisor and subscribes.
    pub async fn start(options: ConsumerSupervisorOptions<E>) -> Result<Self, StartError> {
        Self::start_inner(options, None).await
    }

    /// Starts a consumer supervisor linked under `supervisor`.
    pub async fn start_linked(
        options: ConsumerSupervisorOptions<E>,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(options, Some(supervisor)).await
    }

    async fn start_inner(
        options: ConsumerSupervisorOptions<E>,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        if options.restart == Restart::Permanent {
            return Err(StartError::InitFailed(
                "a consumer supervisor's workers cannot be permanent".into(),
            ));
        }
        inbound::validate(&options.subscriptions).map_err(StartError::InitFailed)?;
        let (ready, handle) = oneshot::channel();
        let name = options.name.clone();
        lifecycle::spawn(name, CsActor(PhantomData), (options, ready), supervisor).await?;
        handle
            .await
            .map_err(|_| StartError::InitFailed("consumer supervisor stopped during start".into()))
    }

    /// The running consumer supervisor for `E` registered under `name`.
    pub async fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        if !cell.is_message_type_of::<CsMsg<E>>().unwrap_or(false) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        ActorRef::<CsMsg<E>>::from(cell)
            .send_message(CsMsg::Handle(tx))
            .ok()?;
        rx.await.ok()
    }
}

impl<E> ConsumerSupervisor<E> {
    /// Workers running now (including those being rerun after a crash).
    pub fn running(&self) -> usize {
        self.workers.running.lock().len()
    }

    /// The running workers as introspection sees them.
    pub fn which_children(&self) -> Vec<ChildInfo>
    where
        E: Send,
    {
        self.workers.children()
    }

    /// The supervisor's name in introspection.
    pub fn name(&self) -> &str {
        &self.workers.name
    }

    /// The supervisor's actor, for linking it under a supervisor.
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// The supervisor's actor id.
    pub fn id(&self) -> ActorId {
        self.actor.get_id()
    }

    /// Whether the supervisor still runs.
    pub fn is_alive(&self) -> bool {
        lifecycle::is_alive(&self.actor.get_cell())
    }

    /// Kills the supervisor at once; its workers are aborted.
    pub fn kill(&self) {
        self.actor.kill();
    }

    /// Resolves with the exit reason once the supervisor has stopped.
    pub fn monitor(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        lifecycle::monitor(self.actor.get_cell(), self.exit.clone())
    }
}

impl<E: Send + 'static> ConsumerSupervisor<E> {
    /// Asks the supervisor to stop once it has handled what is already queued;
    /// running workers are shut down as its `shutdown` option says.
    pub fn stop(&self, reason: ExitReason) {
        let _ = self.actor.send_message(CsMsg::Stop(reason));
    }

    /// Stops the supervisor and waits; kills it if `timeout` passes first.
    pub async fn stop_and_wait(&self, reason: ExitReason, timeout: Duration) -> ExitReason {
        lifecycle::stop_and_wait(
            &self.actor.get_cell(),
            &self.exit,
            || self.stop(reason),
            timeout,
        )
        .await
    }
}

struct CsActor<E>(PhantomData<fn() -> E>);

struct CsState<E> {
    myself: ConsumerSupervisor<E>,
    worker: WorkerFn<E>,
    restart: Restart,
    shutdown: Shutdown,
    intensity: Intensity,
    inbound: Inbound<E>,
    next_worker: u64,
    finished: bool,
}

/// Runs one worker as a task that reports its end to the supervisor.
fn launch<E: Send + 'static>(
    supervisor: ActorRef<CsMsg<E>>,
    worker: WorkerFn<E>,
    id: u64,
    event: E,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Calling the worker happens inside `catching` too, so a panic there is a crash.
        let result = catching(async move { worker(event).await }).await;
        let _ = supervisor.send_message(CsMsg::WorkerExited(id, result));
    })
}

impl<E: Clone + Send + 'static> CsState<E> {
    /// Starts a worker per event, in order.
    fn start_workers(&mut self, sub: SubId, events: Vec<E>) {
        self.inbound.received(sub, events.len());
        for event in events {
            let id = self.next_worker;
            self.next_worker += 1;
            let keep = (self.restart != Restart::Temporary).then(|| event.clone());
            let task = launch(self.myself.actor.clone(), self.worker.clone(), id, event);
            self.myself.workers.running.lock().insert(
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
    fn worker_exited(&mut self, id: u64, result: Result<(), ExitReason>) -> Option<ExitReason> {
        let reason = result.err().unwrap_or(ExitReason::Normal);
        let mut running = self.myself.workers.running.lock();
        let worker = running.get_mut(&id)?;
        if !reason.is_normal() {
            tracing::error!(supervisor = %self.myself.workers.name, worker = id, %reason, "worker crashed");
        }
        if let Some(event) = worker
            .event
            .as_ref()
            .filter(|_| self.restart.restarts_after(&reason))
        {
            if !self.intensity.allow_restart(Instant::now()) {
                tracing::error!(supervisor = %self.myself.workers.name, "reached max restart intensity, shutting down");
                return Some(ExitReason::Error("reached max restart intensity".into()));
            }
            worker.restarts += 1;
            worker.started_at = Instant::now();
            worker.task = launch(
                self.myself.actor.clone(),
                self.worker.clone(),
                id,
                event.clone(),
            );
            return None;
        }
        let sub = running.remove(&id).map(|worker| worker.sub);
        drop(running);
        if let Some(sub) = sub {
            self.inbound.finished(sub);
        }
        None
    }
}

impl<E> CsState<E> {
    /// Cancels the subscriptions (no new events), then takes the workers out of
    /// the table and shuts them down as configured; their exits are no longer
    /// handled (the supervisor is stopping).
    async fn shut_down_workers(&mut self) {
        self.inbound.close();
        let tasks: Vec<JoinHandle<()>> = self
            .myself
            .workers
            .running
            .lock()
            .drain()
            .map(|(_, worker)| worker.task)
            .collect();
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let finished = match self.shutdown {
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

    /// Records the reason, aborts the workers, cancels the subscriptions and
    /// leaves introspection.
    fn finish(&mut self, reason: &ExitReason) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.myself.exit.set(reason);
        self.myself.workers.abort_all();
        self.inbound.close();
        introspect::unregister_supervisor(self.myself.actor.get_id());
    }
}

impl<E> Drop for CsState<E> {
    fn drop(&mut self) {
        self.finish(&ExitReason::Killed);
    }
}

impl<E: Clone + Send + 'static> Actor for CsActor<E> {
    type Msg = CsMsg<E>;
    type State = CsState<E>;
    type Arguments = (
        ConsumerSupervisorOptions<E>,
        oneshot::Sender<ConsumerSupervisor<E>>,
    );

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (options, ready): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| format!("ConsumerSupervisor {}", myself.get_id()));
        let workers = Arc::new(Workers {
            name: name.clone(),
            running: Mutex::new(HashMap::new()),
        });
        introspect::register_supervisor(myself.get_id(), name, workers.clone());
        let mut st = CsState {
            myself: ConsumerSupervisor {
                actor: myself.clone(),
                workers,
                exit: Arc::new(ExitCell::default()),
            },
            worker: options.worker,
            restart: options.restart,
            shutdown: options.shutdown,
            intensity: Intensity::with_period(options.max_restarts, options.max_period),
            inbound: Inbound::new(),
            next_worker: 1,
            finished: false,
        };
        let downstream = Downstream::new(myself, CsMsg::Down);
        for subscription in options.subscriptions {
            if let Err(reason) = st.inbound.subscribe(subscription, &downstream) {
                st.finish(&reason);
                return Err(reason.to_string().into());
            }
        }
        let _ = ready.send(st.myself.clone());
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if st.finished {
            return Ok(());
        }
        let next = match message {
            CsMsg::Down(Downward::Events(sub, events)) => {
                st.start_workers(sub, events);
                None
            }
            CsMsg::Down(Downward::Cancelled(sub, reason)) => match st.inbound.cancelled(sub) {
                Some(cancel) if cancel.stops_for(&reason) => Some(reason),
                _ => None,
            },
            CsMsg::WorkerExited(id, result) => st.worker_exited(id, result),
            CsMsg::Stop(reason) => Some(reason),
            CsMsg::Handle(reply) => {
                let _ = reply.send(st.myself.clone());
                None
            }
        };
        match next {
            None => Ok(()),
            Some(reason) => {
                if !reason.is_normal() {
                    tracing::error!(supervisor = %st.myself.workers.name, %reason, "consumer supervisor crashed");
                }
                st.shut_down_workers().await;
                st.finish(&reason);
                lifecycle::conclude(&myself.get_cell(), &reason)
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !st.finished {
            // Stopped from outside through ractor (a supervisor shutting it down).
            st.shut_down_workers().await;
            st.finish(&ExitReason::Shutdown);
        }
        Ok(())
    }
}
