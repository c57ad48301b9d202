//! `ProcessSupervisor`: the ractor-based parent of lightweight processes.
//!
//! It plays OTP's DynamicSupervisor for lightweight processes: children are
//! started on demand, each with a restart policy; a crashed child is restarted
//! (permanent, transient) or forgotten (temporary) within a restart intensity;
//! past the intensity the supervisor stops its children and fails, so its own
//! supervisor sees it. Because it is a ractor actor it sits in an ordinary
//! supervision tree and shows up, with its children, in introspection.
//!
//! Spawning does not go through the actor's mailbox: the child table is shared
//! behind a lock, so a spawn costs one insert and one `tokio::spawn`. The actor
//! only handles what needs its sequential state: restarts and intensity.

use crate::log_text::bounded_reason;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

use super::mailbox::Mailbox;
use super::{launch, new_mailbox, Parent};
use crate::exit::ExitReason;
use crate::gen_server::GenServer;
use crate::introspect::{self, ChildInfo, ChildKind, Inspect};
use crate::pid::{Envelope, Pid, ProcessId};
use crate::server::StartError;
use crate::supervisor::restart::{Intensity, Restart, Shutdown};

/// How a process supervisor behaves.
#[derive(Debug, Clone)]
pub struct ProcessSupervisorOptions {
    /// Registered name of the supervisor actor; also its name in introspection.
    pub name: Option<String>,
    /// Refuse new children beyond this many (`max_children`).
    pub max_children: Option<usize>,
    /// At most this many restarts ...
    pub max_restarts: u32,
    /// ... within this period, or the supervisor gives up.
    pub max_period: Duration,
}

impl Default for ProcessSupervisorOptions {
    fn default() -> Self {
        ProcessSupervisorOptions {
            name: None,
            max_children: None,
            max_restarts: 3,
            max_period: Duration::from_secs(5),
        }
    }
}

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

/// Restarts a child from its spec; `restarts` is carried over to the new incarnation.
type Respawn = Arc<dyn Fn(&Arc<Link>, u32) -> Result<(), SpawnError> + Send + Sync>;

struct Child {
    name: Option<Arc<str>>,
    restart: Restart,
    shutdown: Shutdown,
    restarts: u32,
    started_at: Instant,
    handle: Arc<dyn ChildHandle>,
    respawn: Option<Respawn>,
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

/// The state shared by the supervisor actor, its handles and its children.
struct Link {
    name: String,
    actor: ActorRef<Msg>,
    max_children: Option<usize>,
    children: Mutex<HashMap<u64, Child>>,
}

impl Link {
    fn start<G: GenServer>(
        self: &Arc<Self>,
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
            let mut children = self.children.lock();
            if self.max_children.is_some_and(|max| children.len() >= max) {
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
        self: &Arc<Self>,
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
            Arc::new(move |link: &Arc<Link>, restarts: u32| {
                link.start_spec(&spec, restarts).map(|_| ())
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

    /// Stops every child: all are asked at once, then each gets its shutdown time.
    async fn shutdown_all(&self) {
        let children: Vec<Child> = self.children.lock().drain().map(|(_, c)| c).collect();
        let waits: Vec<_> = children
            .iter()
            .map(|child| {
                let exited = child.handle.monitor();
                match child.shutdown {
                    Shutdown::BrutalKill => child.handle.kill(),
                    _ => child.handle.stop(ExitReason::Shutdown),
                }
                async move {
                    let waited = match child.shutdown {
                        Shutdown::Timeout(limit) => tokio::time::timeout(limit, exited).await.ok(),
                        Shutdown::Infinity | Shutdown::BrutalKill => Some(exited.await),
                    };
                    if waited.is_none() {
                        child.handle.kill();
                    }
                }
            })
            .collect();
        futures::future::join_all(waits).await;
    }
}

impl Parent for Link {
    fn child_exited(&self, child: u64, reason: &ExitReason) {
        let mut children = self.children.lock();
        let Some(entry) = children.get(&child) else {
            return; // terminated by the supervisor itself
        };
        if !reason.is_normal() {
            tracing::error!(supervisor = %self.name, child = %ProcessId::Light(child), reason = %bounded_reason(reason), "child crashed");
        }
        if entry.restart.restarts_after(reason) && entry.respawn.is_some() {
            drop(children);
            if self.actor.send_message(Msg::Restart(child)).is_err() {
                self.children.lock().remove(&child);
            }
        } else {
            children.remove(&child);
        }
    }
}

impl Inspect for Link {
    fn children(&self) -> Vec<ChildInfo> {
        let mut children: Vec<ChildInfo> = self
            .children
            .lock()
            .iter()
            .map(|(id, child)| ChildInfo {
                id: child
                    .name
                    .as_deref()
                    .map_or_else(|| format!("process {id}"), str::to_string),
                pid: ProcessId::Light(*id).to_string(),
                actor: None,
                kind: ChildKind::Worker,
                restarts: child.restarts,
                started_at: child.started_at,
                queue_len: Some(child.handle.queue_len()),
            })
            .collect();
        children.sort_by_key(|c| c.started_at);
        children
    }
}

/// The supervisor actor's messages.
enum Msg {
    /// A restartable child exited: restart it, within the intensity.
    Restart(u64),
    /// Hands out the shared state (for [`ProcessSupervisor::lookup`]).
    Link(oneshot::Sender<Arc<Link>>),
}
impl ractor::Message for Msg {}

struct SupervisorActor;

struct State {
    link: Arc<Link>,
    intensity: Intensity,
}

impl Drop for State {
    /// Whatever way the actor ends, no child outlives it.
    fn drop(&mut self) {
        introspect::unregister_supervisor(self.link.actor.get_id());
        let orphans: Vec<Child> = self.link.children.lock().drain().map(|(_, c)| c).collect();
        for child in orphans {
            child.handle.kill();
        }
    }
}

impl Actor for SupervisorActor {
    type Msg = Msg;
    type State = State;
    type Arguments = ProcessSupervisorOptions;

    async fn pre_start(
        &self,
        myself: ActorRef<Msg>,
        options: ProcessSupervisorOptions,
    ) -> Result<State, ActorProcessingErr> {
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| format!("ProcessSupervisor {}", myself.get_id()));
        let link = Arc::new(Link {
            name: name.clone(),
            actor: myself.clone(),
            max_children: options.max_children,
            children: Mutex::new(HashMap::new()),
        });
        introspect::register_supervisor(myself.get_id(), name, link.clone());
        Ok(State {
            link,
            intensity: Intensity::with_period(options.max_restarts, options.max_period),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Msg>,
        message: Msg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Msg::Link(reply) => {
                let _ = reply.send(state.link.clone());
                Ok(())
            }
            Msg::Restart(id) => {
                let Some(old) = state.link.children.lock().remove(&id) else {
                    return Ok(());
                };
                if !state.intensity.allow_restart(Instant::now()) {
                    tracing::error!(supervisor = %state.link.name, "reached max restart intensity, shutting down");
                    state.link.shutdown_all().await;
                    return Err("reached max restart intensity".into());
                }
                if let Some(respawn) = &old.respawn {
                    if let Err(err) = respawn(&state.link, old.restarts + 1) {
                        tracing::error!(supervisor = %state.link.name, %err, "restart failed");
                    }
                }
                Ok(())
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Msg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.link.shutdown_all().await;
        Ok(())
    }
}

/// A handle to a running process supervisor. Cheap to clone.
#[derive(Clone)]
pub struct ProcessSupervisor {
    link: Arc<Link>,
}

impl ProcessSupervisor {
    /// Starts an unsupervised process supervisor.
    pub async fn start(options: ProcessSupervisorOptions) -> Result<Self, StartError> {
        Self::start_inner(options, None).await
    }

    /// Starts a process supervisor linked under `supervisor`.
    pub async fn start_linked(
        options: ProcessSupervisorOptions,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(options, Some(supervisor)).await
    }

    async fn start_inner(
        options: ProcessSupervisorOptions,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        let name = options.name.clone();
        let (actor, _) = match supervisor {
            Some(sup) => Actor::spawn_linked(name, SupervisorActor, options, sup).await?,
            None => Actor::spawn(name, SupervisorActor, options).await?,
        };
        Self::from_actor(actor)
            .await
            .ok_or_else(|| StartError::InitFailed("process supervisor stopped during start".into()))
    }

    async fn from_actor(actor: ActorRef<Msg>) -> Option<Self> {
        let (tx, rx) = oneshot::channel();
        actor.send_message(Msg::Link(tx)).ok()?;
        rx.await.ok().map(|link| ProcessSupervisor { link })
    }

    /// The running process supervisor registered under `name`.
    pub async fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        if !cell.is_message_type_of::<Msg>().unwrap_or(false) {
            return None;
        }
        Self::from_actor(ActorRef::from(cell)).await
    }

    /// The supervisor's actor, for linking it under a `Supervisor`.
    pub fn actor(&self) -> ActorCell {
        self.link.actor.get_cell()
    }

    fn check_alive(&self) -> Result<(), SpawnError> {
        match crate::pid::actor_alive(&self.link.actor.get_cell()) {
            true => Ok(()),
            false => Err(SpawnError::SupervisorDown),
        }
    }

    /// Starts a temporary child and returns at once; `init` runs in the child.
    pub fn spawn<G: GenServer>(&self, handler: G, args: G::Args) -> Result<Pid<G>, SpawnError> {
        self.check_alive()?;
        self.link.start(Plan::temporary(), (handler, args), None)
    }

    /// Like [`spawn`](Self::spawn), with a name shown in introspection.
    pub fn spawn_named<G: GenServer>(
        &self,
        name: &str,
        handler: G,
        args: G::Args,
    ) -> Result<Pid<G>, SpawnError> {
        self.check_alive()?;
        let plan = Plan {
            name: Some(Arc::from(name)),
            ..Plan::temporary()
        };
        self.link.start(plan, (handler, args), None)
    }

    /// Starts a temporary child and waits for its `init`.
    pub async fn start_child<G: GenServer>(
        &self,
        handler: G,
        args: G::Args,
    ) -> Result<Pid<G>, SpawnError> {
        self.check_alive()?;
        let (tx, rx) = oneshot::channel();
        let pid = self
            .link
            .start(Plan::temporary(), (handler, args), Some(tx))?;
        super::await_init(pid, rx)
            .await
            .map_err(SpawnError::InitFailed)
    }

    /// Starts a child from a spec, restarted according to its policy.
    pub fn spawn_spec<G: GenServer>(&self, spec: ProcessSpec<G>) -> Result<Pid<G>, SpawnError> {
        self.check_alive()?;
        self.link.start_spec(&spec, 0)
    }

    /// Stops a child (giving it its shutdown time) without restarting it.
    /// `false` if it is not a child of this supervisor.
    pub async fn terminate_child(&self, child: ProcessId) -> bool {
        let ProcessId::Light(id) = child else {
            return false;
        };
        let Some(child) = self.link.children.lock().remove(&id) else {
            return false;
        };
        let exited = child.handle.monitor();
        child.handle.stop(ExitReason::Shutdown);
        let stopped = match child.shutdown {
            Shutdown::Timeout(limit) => tokio::time::timeout(limit, exited).await.is_ok(),
            Shutdown::Infinity => exited.await.is_ok(),
            Shutdown::BrutalKill => false,
        };
        if !stopped {
            child.handle.kill();
        }
        true
    }

    /// Children currently running.
    pub fn count_children(&self) -> usize {
        self.link.children.lock().len()
    }

    /// The children as introspection sees them.
    pub fn which_children(&self) -> Vec<ChildInfo> {
        self.link.children()
    }

    /// Stops the supervisor and all its children, waiting until they are gone.
    pub async fn stop(&self) {
        let _ = self
            .link
            .actor
            .stop_and_wait(Some("shutdown".into()), None)
            .await;
    }
}
