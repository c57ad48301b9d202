//! Test servers and helpers shared by the runtime's integration tests: each
//! test file includes this module and uses what it needs.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use runtime::gen_stage::{Producer, ProducerRef, StageFlow};
use runtime::ractor::{self, Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use runtime::server;
use runtime::supervisor::{ChildCount, ChildSpec, ChildStatus, Children, SupervisorRef};
use runtime::{CallFlow, ExitReason, Flow, GenServer, Pid, ProcessError};

#[allow(unused_imports)] // not every test file polls
pub use runtime::testkit::eventually;

mod idle;
#[allow(unused_imports)] // not every test file needs it
pub use idle::Idle;

/// A shared log that servers write their lifecycle events into.
#[derive(Clone, Default)]
pub struct Journal(pub Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().push(entry.into());
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

/// A counter with every kind of message and every way to die.
pub struct Counter {
    pub journal: Journal,
}

#[derive(Debug)]
pub enum CounterCall {
    Get,
    Sleep(Duration),
    StopWith(i64),
}

#[derive(Debug)]
pub enum CounterCast {
    Add(i64),
    Crash,
    Panic,
    Stop,
}

#[derive(Debug, Clone)]
pub enum CounterInfo {
    Tick,
}

impl GenServer for Counter {
    type Args = i64;
    type State = i64;
    type Call = CounterCall;
    type Reply = i64;
    type Cast = CounterCast;
    type Info = CounterInfo;

    async fn init(&self, _myself: &Pid<Self>, start: i64) -> Result<i64, ProcessError> {
        if start < 0 {
            return Err("negative start".into());
        }
        self.journal.push(format!("init {start}"));
        Ok(start)
    }

    async fn handle_call(
        &self,
        _myself: &Pid<Self>,
        request: CounterCall,
        state: &mut i64,
    ) -> Result<CallFlow<i64>, ProcessError> {
        match request {
            CounterCall::Get => Ok(CallFlow::Reply(*state)),
            CounterCall::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(CallFlow::Reply(*state))
            }
            CounterCall::StopWith(n) => Ok(CallFlow::Stop(ExitReason::Normal, n)),
        }
    }

    async fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        message: CounterCast,
        state: &mut i64,
    ) -> Result<Flow, ProcessError> {
        match message {
            CounterCast::Add(n) => {
                *state += n;
                Ok(Flow::Continue)
            }
            CounterCast::Crash => Err("crash requested".into()),
            CounterCast::Panic => panic!("panic requested"),
            CounterCast::Stop => Ok(Flow::Stop(ExitReason::Normal)),
        }
    }

    async fn handle_info(
        &self,
        _myself: &Pid<Self>,
        message: CounterInfo,
        state: &mut i64,
    ) -> Result<Flow, ProcessError> {
        match message {
            CounterInfo::Tick => *state += 1,
        }
        Ok(Flow::Continue)
    }

    async fn terminate(&self, _myself: &Pid<Self>, reason: &ExitReason, state: &mut i64) {
        self.journal.push(format!("terminate {reason} at {state}"));
    }
}

/// Children running under `supervisor` now; 0 once it is down.
pub fn active<T: Children>(supervisor: &SupervisorRef<T>) -> usize {
    supervisor.count_children().map_or(0, |count| count.active)
}

/// Polls the async `check` until it yields a value; fails the test after 5 s.
pub async fn poll<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    runtime::testkit::poll_for(what, Duration::from_secs(5), check).await
}

/// A supervised test server: records `start <name>` from `init` and
/// `stop <name>` from `terminate`, and crashes, panics or stops normally on
/// request.
#[derive(Clone)]
pub struct Worker {
    pub name: String,
    pub log: Journal,
    /// `terminate` sleeps this long after logging (then logs `stopped <name>`).
    pub terminate_delay: Option<Duration>,
    /// `init` fails.
    pub fail_init: bool,
}

pub enum Cmd {
    Crash,
    Panic,
    StopNormal,
}

impl GenServer for Worker {
    type Args = ();
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = Cmd;
    type Info = ();

    async fn init(&self, _myself: &Pid<Self>, _args: ()) -> Result<(), ProcessError> {
        if self.fail_init {
            return Err(format!("{} refuses to start", self.name).into());
        }
        self.log.push(format!("start {}", self.name));
        Ok(())
    }

    async fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        message: Cmd,
        _state: &mut (),
    ) -> Result<Flow, ProcessError> {
        match message {
            Cmd::Crash => Err("crash on request".into()),
            Cmd::Panic => panic!("panic on request"),
            Cmd::StopNormal => Ok(Flow::Stop(ExitReason::Normal)),
        }
    }

    async fn terminate(&self, _myself: &Pid<Self>, _reason: &ExitReason, _state: &mut ()) {
        self.log.push(format!("stop {}", self.name));
        if let Some(delay) = self.terminate_delay {
            tokio::time::sleep(delay).await;
            self.log.push(format!("stopped {}", self.name));
        }
    }
}

/// A worker named `name` writing into `log`.
pub fn worker_handler(name: &str, log: &Journal) -> Worker {
    Worker {
        name: name.to_string(),
        log: log.clone(),
        terminate_delay: None,
        fail_init: false,
    }
}

/// A permanent worker with child id = registered name = `name`.
pub fn worker(name: &str, log: &Journal) -> ChildSpec {
    spec_of(name, worker_handler(name, log))
}

/// `handler` as a permanent child with id = registered name = `name`.
pub fn spec_of(name: &str, handler: Worker) -> ChildSpec {
    ChildSpec::gen_server(name, move || handler.clone(), || ()).named(name)
}

/// Sends a command to the worker currently registered under `name`.
pub fn send(name: &str, cmd: Cmd) {
    server::whereis::<Worker>(name)
        .unwrap_or_else(|| panic!("no worker named {name}"))
        .cast(cmd)
        .unwrap();
}

/// The actor registered under `name` now.
pub fn registered(name: &str) -> Option<ActorId> {
    ractor::registry::where_is(name).map(|cell| cell.get_id())
}

/// The children's current actors, in order.
pub fn ids(children: &[ChildStatus]) -> Vec<Option<ActorId>> {
    children.iter().map(ChildStatus::actor_id).collect()
}

/// The children's ids, in order.
pub fn names(children: &[ChildStatus]) -> Vec<&str> {
    children.iter().map(|c| c.id.as_str()).collect()
}

/// What `count_children` should say: `ChildCount { specs, active,
/// supervisors, workers }`, in that order.
pub fn count(specs: usize, active: usize, supervisors: usize, workers: usize) -> ChildCount {
    ChildCount {
        specs,
        active,
        supervisors,
        workers,
    }
}

/// The children's restart counts, in order.
pub fn restarts(children: &[ChildStatus]) -> Vec<u32> {
    children.iter().map(|child| child.restarts).collect()
}

/// A plain ractor actor that records the supervision events of its children
/// (`failed <id>: <error>`, `terminated <id>: <reason>`), to observe how a
/// supervisor linked under it exits.
pub struct Watcher;

impl Watcher {
    /// Starts a watcher writing into `log`.
    pub async fn start(log: &Journal) -> ActorRef<()> {
        let (watcher, _) = Actor::spawn(None, Watcher, log.clone()).await.unwrap();
        watcher
    }
}

impl Actor for Watcher {
    type Msg = ();
    type State = Journal;
    type Arguments = Journal;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        log: Journal,
    ) -> Result<Journal, ActorProcessingErr> {
        Ok(log)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        log: &mut Journal,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(who, err) => {
                log.push(format!("failed {}: {err}", who.get_id()));
            }
            SupervisionEvent::ActorTerminated(who, _, reason) => {
                log.push(format!("terminated {}: {reason:?}", who.get_id()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a test tells the [`Queue`] producer through `cast`.
pub enum QueueCmd {
    Emit(Vec<u64>),
    Crash,
}

/// The book's producer: produces nothing on demand; events come from `push`
/// (or from a cast).
pub struct Queue;

impl Producer for Queue {
    type Args = ();
    type State = ();
    type Event = u64;
    type Cast = QueueCmd;
    type Info = ();

    async fn init(&self, _: &ProducerRef<Self>, _: ()) -> Result<(), ProcessError> {
        Ok(())
    }

    async fn handle_cast(
        &self,
        _: &ProducerRef<Self>,
        message: QueueCmd,
        _: &mut (),
    ) -> Result<StageFlow<u64>, ProcessError> {
        match message {
            QueueCmd::Emit(events) => Ok(StageFlow::Emit(events)),
            QueueCmd::Crash => Err("boom".into()),
        }
    }
}
