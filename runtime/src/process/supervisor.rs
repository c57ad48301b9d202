//! `ProcessSupervisor`: the ractor-based parent of lightweight processes.
//!
//! It plays OTP's DynamicSupervisor for lightweight processes: children are
//! started on demand, each with a restart policy; a crashed child is restarted
//! (permanent, transient) or forgotten (temporary) within a restart intensity;
//! past the intensity the supervisor stops its children and fails, so its own
//! supervisor sees it. It is built on the supervisors' shared core
//! ([`SupervisorRef`]), so it sits in an ordinary supervision tree, is found by
//! name, and shows up, with its children, in introspection.
//!
//! Spawning does not go through the actor's mailbox: the child table
//! ([`ProcessChildren`]) is shared behind a lock, so a spawn costs one insert
//! and one `tokio::spawn`. The actor only handles what needs its sequential
//! state: restarts and intensity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use ractor::{ActorCell, ActorProcessingErr};
use tokio::sync::oneshot;

use super::mailbox::Mailbox;
use super::{launch, new_mailbox, Parent};
use crate::exit::ExitReason;
use crate::gen_server::GenServer;
use crate::pid::{Envelope, Pid, ProcessId};
use crate::supervisor::children::in_start_order;
use crate::supervisor::restart::{log_exit, log_gave_up, Intensity, Restart, Shutdown, GAVE_UP};
use crate::supervisor::{
    ChildCount, ChildStatus, Children, Core, Init, Registration, StartArgs, Starting, StartsEmpty,
    Supervision, SupervisorOptions, SupervisorRef,
};

/// How to start (and restart) one supervised lightweight process.
pub struct ProcessSpec<G: GenServer> {
    /// Shown in introspection; not a registered name.
    pub name: Option<String>,
    /// When to restart it.
    pub restart: Restart,
    /// How long to wait for it to stop when the supervisor terminates it.
    pub shutdown: Shutdown,
    /// Builds a fresh handler and arguments for each (re)start.
    pub start: Arc<dyn Fn() -> (G, G::Args) + Send + Sync>,
}

impl<G: GenServer> ProcessSpec<G> {
    /// A spec with the given restart policy and the default 5 s shutdown.
    pub fn new(restart: Restart, start: impl Fn() -> (G, G::Args) + Send + Sync + 'static) -> Self {
        ProcessSpec {
            name: None,
            restart,
            shutdown: Shutdown::default(),
            start: Arc::new(start),
        }
    }

    /// Names the child in introspection.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Why a child was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// The supervisor already has `max_children` children.
    #[error("max_children reached")]
    MaxChildren,
    /// The supervisor is not running.
    #[error("supervisor is not running")]
    SupervisorDown,
    /// The child's `init` failed.
    #[error("init failed: {0}")]
    InitFailed(ExitReason),
}

/// What the supervisor needs of a child whatever its GenServer type.
trait ChildHandle: Send + Sync {
    fn queue_len(&self) -> usize;
    fn stop(&self, reason: ExitReason);
    fn kill(&self);
    fn monitor(&self) -> oneshot::Receiver<ExitReason>;
}

impl<G: GenServer> ChildHandle for Mailbox<Envelope<G>> {
    fn queue_len(&self) -> usize {
        self.len()
    }
    fn stop(&self, reason: ExitReason) {
        let _ = self.push(Envelope::Stop(reason));
    }
    fn kill(&self) {
        Mailbox::kill(self)
    }
    fn monitor(&self) -> oneshot::Receiver<ExitReason> {
        let (tx, rx) = oneshot::channel();
        if let Err(reason) = Mailbox::monitor(self, tx) {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(reason);
            return rx;
        }
        rx
    }
}

/// The shared core of a process supervisor.
type ProcessCore = Core<ProcessChildren>;

/// Restarts a child from its spec; `restarts` is carried over to the new incarnation.
type Respawn = Arc<dyn Fn(&Arc<ProcessCore>, u32) -> Result<(), SpawnError> + Send + Sync>;

struct Child {
    name: Option<Arc<str>>,
    restart: Restart,
    shutdown: Shutdown,
    restarts: u32,
    started_at: Instant,
    handle: Arc<dyn ChildHandle>,
    respawn: Option<Respawn>,
}

impl Child {
    /// Stops the child within its shutdown; kills it if the time runs out.
    async fn shut_down(&self) {
        let exited = self.handle.monitor();
        match self.shutdown {
            Shutdown::BrutalKill => self.handle.kill(),
            _ => self.handle.stop(ExitReason::Shutdown),
        }
        let waited = match self.shutdown {
            Shutdown::Timeout(limit) => tokio::time::timeout(limit, exited).await.ok(),
            Shutdown::Infinity | Shutdown::BrutalKill => Some(exited.await),
        };
        if waited.is_none() {
            self.handle.kill();
        }
    }
}

/// How one child is to be run: everything of a [`Child`] but the running process.
struct Plan {
    name: Option<Arc<str>>,
    restart: Restart,
    shutdown: Shutdown,
    respawn: Option<Respawn>,
    restarts: u32,
}

impl Plan {
    /// A child started with `spawn`: never restarted, default shutdown.
    fn temporary() -> Self {
        Plan {
            name: None,
            restart: Restart::Temporary,
            shutdown: Shutdown::default(),
            respawn: None,
            restarts: 0,
        }
    }
}

/// A [`ProcessSupervisor`]'s children, by process id; shared by the actor, its
/// handles and the children themselves (which report their exit here).
pub struct ProcessChildren {
    max_children: Option<usize>,
    children: Mutex<HashMap<u64, Child>>,
}

impl ProcessChildren {
    /// Takes every child out of the table.
    fn drain(&self) -> Vec<Child> {
        self.children.lock().drain().map(|(_, c)| c).collect()
    }
}

impl Children for ProcessChildren {
    const KIND: &'static str = "ProcessSupervisor";

    fn which_children(&self) -> Vec<ChildStatus> {
        let children = self.children.lock();
        in_start_order(children.iter().map(|(&id, child)| {
            let name = child.name.as_deref();
            let id_text = name.map_or_else(|| format!("process {id}"), str::to_string);
            let row = ChildStatus::worker(
                id_text,
                ProcessId::Light(id),
                child.restart,
                child.restarts,
                child.started_at,
            );
            ChildStatus {
                queue_len: Some(child.handle.queue_len()),
                ..row
            }
        }))
    }

    fn count_children(&self) -> ChildCount {
        ChildCount::workers(self.children.lock().len())
    }

    fn kill_all(&self) {
        for child in self.drain() {
            child.handle.kill();
        }
    }
}

/// Starting children: what the handles and the restarting actor share.
trait Launch {
    fn start<G: GenServer>(
        &self,
        plan: Plan,
        start: (G, G::Args),
        init_done: Option<oneshot::Sender<Result<(), ExitReason>>>,
    ) -> Result<Pid<G>, SpawnError>;

    fn start_spec<G: GenServer>(
        &self,
        spec: &ProcessSpec<G>,
        restarts: u32,
    ) -> Result<Pid<G>, SpawnError>;
}

impl Launch for Arc<ProcessCore> {
    fn start<G: GenServer>(
        &self,
        plan: Plan,
        (handler, args): (G, G::Args),
        init_done: Option<oneshot::Sender<Result<(), ExitReason>>>,
    ) -> Result<Pid<G>, SpawnError> {
        let Plan {
            name,
            restart,
            shutdown,
            respawn,
            restarts,
        } = plan;
        let mailbox = new_mailbox::<G>();
        {
            let table = &self.children;
            let mut children = table.children.lock();
            if table.max_children.is_some_and(|max| children.len() >= max) {
                return Err(SpawnError::MaxChildren);
            }
            // Recorded before the task exists, so its exit always finds its entry.
            children.insert(
                mailbox.id(),
                Child {
                    name,
                    restart,
                    shutdown,
                    restarts,
                    started_at: Instant::now(),
                    handle: mailbox.clone(),
                    respawn,
                },
            );
        }
        let parent: Arc<dyn Parent> = self.clone();
        Ok(launch(mailbox, handler, args, Some(parent), init_done))
    }

    fn start_spec<G: GenServer>(
        &self,
        spec: &ProcessSpec<G>,
        restarts: u32,
    ) -> Result<Pid<G>, SpawnError> {
        let respawn: Option<Respawn> = (spec.restart != Restart::Temporary).then(|| {
            let spec = ProcessSpec {
                name: spec.name.clone(),
                restart: spec.restart,
                shutdown: spec.shutdown,
                start: spec.start.clone(),
            };
            Arc::new(move |core: &Arc<ProcessCore>, restarts: u32| {
                core.start_spec(&spec, restarts).map(|_| ())
            }) as Respawn
        });
        let plan = Plan {
            name: spec.name.as_deref().map(Arc::from),
            restart: spec.restart,
            shutdown: spec.shutdown,
            respawn,
            restarts,
        };
        self.start(plan, (spec.start)(), None)
    }
}

impl Parent for ProcessCore {
    fn child_exited(&self, child: u64, reason: &ExitReason) {
        let mut children = self.children.children.lock();
        let Some(entry) = children.get(&child) else {
            return; // terminated by the supervisor itself
        };
        log_exit(&self.name, &ProcessId::Light(child), reason);
        if entry.restart.restarts_after(reason) && entry.respawn.is_some() {
            drop(children);
            if self.actor.send_message(Msg::Restart(child)).is_err() {
                self.children.children.lock().remove(&child);
            }
        } else {
            children.remove(&child);
        }
    }
}

/// The supervisor actor's messages.
enum Msg {
    /// A restartable child exited: restart it, within the intensity.
    Restart(u64),
}
impl ractor::Message for Msg {}

struct State {
    registration: Registration<ProcessChildren>,
    intensity: Intensity,
}

impl Supervision for State {
    type Msg = Msg;
    type Args = StartArgs<ProcessChildren>;
    type Children = ProcessChildren;

    async fn init(myself: ActorCell, (options, ready): Self::Args) -> Init<Self> {
        let children = ProcessChildren {
            max_children: options.max_children,
            children: Mutex::new(HashMap::new()),
        };
        let core = Core::new(myself, options.name.clone(), children);
        Ok(State {
            registration: Registration::new(core, ready),
            intensity: options.restart_intensity(),
        })
    }

    fn registration(&self) -> &Registration<ProcessChildren> {
        &self.registration
    }

    async fn handle(&mut self, Msg::Restart(id): Msg) -> Result<(), ActorProcessingErr> {
        let core = self.registration.core();
        let Some(old) = core.children.children.lock().remove(&id) else {
            return Ok(());
        };
        if !self.intensity.allow_restart(Instant::now()) {
            log_gave_up(&core.name);
            self.stop_all().await;
            return Err(GAVE_UP.into());
        }
        if let Some(respawn) = &old.respawn {
            if let Err(err) = respawn(core, old.restarts + 1) {
                tracing::error!(supervisor = %core.name, %err, "restart failed");
            }
        }
        Ok(())
    }

    /// All are asked at once, then each gets its shutdown time.
    async fn stop_all(&mut self) {
        let children = self.registration.core().children.drain();
        futures::future::join_all(children.iter().map(Child::shut_down)).await;
    }
}

/// A handle to a running process supervisor. Cheap to clone.
pub type ProcessSupervisor = SupervisorRef<ProcessChildren>;

impl StartsEmpty for ProcessChildren {
    const SPAWN: fn(SupervisorOptions, Option<ActorCell>) -> Starting<Self> =
        |options, parent| ProcessSupervisor::start_empty::<State>(options, parent);
}

impl ProcessSupervisor {
    /// The shared core, once the supervisor is known to run.
    fn running(&self) -> Result<&Arc<ProcessCore>, SpawnError> {
        match self.is_alive() {
            true => Ok(self.core()),
            false => Err(SpawnError::SupervisorDown),
        }
    }

    /// Starts a temporary child and returns at once; `init` runs in the child.
    pub fn spawn<G: GenServer>(&self, handler: G, args: G::Args) -> Result<Pid<G>, SpawnError> {
        self.running()?
            .start(Plan::temporary(), (handler, args), None)
    }

    /// Like [`spawn`](Self::spawn), with a name shown in introspection.
    pub fn spawn_named<G: GenServer>(
        &self,
        name: &str,
        handler: G,
        args: G::Args,
    ) -> Result<Pid<G>, SpawnError> {
        let plan = Plan {
            name: Some(Arc::from(name)),
            ..Plan::temporary()
        };
        self.running()?.start(plan, (handler, args), None)
    }

    /// Starts a temporary child and waits for its `init`.
    pub async fn start_child<G: GenServer>(
        &self,
        handler: G,
        args: G::Args,
    ) -> Result<Pid<G>, SpawnError> {
        let (tx, rx) = oneshot::channel();
        let pid = self
            .running()?
            .start(Plan::temporary(), (handler, args), Some(tx))?;
        super::await_init(pid, rx)
            .await
            .map_err(SpawnError::InitFailed)
    }

    /// Starts a child from a spec, restarted according to its policy.
    pub fn spawn_spec<G: GenServer>(&self, spec: ProcessSpec<G>) -> Result<Pid<G>, SpawnError> {
        self.running()?.start_spec(&spec, 0)
    }

    /// Stops a child (giving it its shutdown time) without restarting it.
    /// `false` if it is not a child of this supervisor.
    pub async fn terminate_child(&self, child: ProcessId) -> bool {
        let ProcessId::Light(id) = child else {
            return false;
        };
        let Some(child) = self.core().children.children.lock().remove(&id) else {
            return false;
        };
        child.shut_down().await;
        true
    }
}
