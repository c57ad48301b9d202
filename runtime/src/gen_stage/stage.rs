//! The core every GenStage stage runs on, and the one handle type.
//!
//! Producers, consumers, producer-consumers and consumer supervisors live the
//! same life: a ractor actor that builds its state, subscribes to its
//! producers, answers demand from its consumers, stops on request or when a
//! producer it cannot do without exits, records why it exited for its handles
//! and peers, and tells its peers. That life is written once here
//! ([`StageActor`] and [`Running`]); a kind of stage says what differs — what
//! it does with demand, with events, with its own messages, and as it stops —
//! by implementing [`StageKind`]. [`StageRef`] is the handle of every kind:
//! `ProducerRef<P>`, `ConsumerRef<C>`, `ProducerConsumerRef<PC>` and
//! `ConsumerSupervisor<E>` are its kinds.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

use super::inbound::{self, Inbound, Subscription};
use super::lifecycle::{self, ExitCell};
use super::link::{Downstream, Downward, Source, SubId, Upstream, Upward};
use super::options::StageOptions;
use super::outbound::{Outbound, OutboundCounters};
use super::StageFlow;
use crate::exit::ExitReason;
use crate::pid::NoProcess;
use crate::server::{self, StartError};

/// What differs between kinds of stage. Implemented by the kinds in this module
/// tree only (their types are not nameable outside it).
pub trait StageKind: Send + Sync + Sized + 'static {
    /// What the stage consumes (nothing, for a producer).
    type In: Send + 'static;
    /// What it emits (nothing, for a consumer).
    type Out: Send + 'static;
    /// Messages only this kind handles (a producer's push, cast and info; a
    /// consumer supervisor's worker exits).
    type Own: Send + 'static;
    /// What the kind's handles share with the running stage, besides its exit
    /// reason and output counters.
    type Shared: Send + Sync + 'static;
    /// The running stage's own state.
    type State: Send + 'static;
    /// What the stage is started with.
    type Args: Send + 'static;
    /// The handle's name, in `Debug` output.
    const HANDLE: &'static str;
    /// What logs call the stage.
    const LABEL: &'static str;
    /// Output kept while nobody asks for it, unless the options say otherwise
    /// (unbounded, GenStage's default for producer-consumers).
    const BUFFER_SIZE: usize = usize::MAX;

    /// Builds what the handles share, before anything else.
    fn shared(&self, myself: &ActorCell, name: Option<&str>) -> Self::Shared;

    /// Builds the state; the stage subscribes afterwards. `Err` means it never starts.
    fn init(
        &self,
        me: &StageRef<Self>,
        args: Self::Args,
    ) -> impl Future<Output = Init<Self>> + Send;

    /// Handles demand, events or one of the kind's own messages.
    fn handle(
        &self,
        st: &mut Running<Self>,
        input: Input<Self>,
    ) -> impl Future<Output = Next> + Send;

    /// The stage stops (not by a kill): its last words — a callback's
    /// `terminate`, a consumer supervisor's workers shut down.
    fn stopping(&self, st: &mut Running<Self>, why: &ExitReason)
        -> impl Future<Output = ()> + Send;

    /// The stage has finished, however it ended (a kill included).
    fn finished(st: &mut Running<Self>) {
        let _ = st;
    }
}

/// What a kind's `init` comes to.
pub type Init<K> = Result<<K as StageKind>::State, ExitReason>;

/// What a stage does next: keep running (`None`) or stop with a reason.
pub type Next = Option<ExitReason>;

/// What a kind of stage is asked to handle.
pub enum Input<K: StageKind> {
    /// Consumers asked for this many more events than the buffer could serve.
    Demand(usize),
    /// A producer sent events on this subscription.
    Events(SubId, Vec<K::In>),
    /// One of the kind's own messages.
    Own(K::Own),
}

/// A kind that emits events: a producer or a producer-consumer.
pub trait Produces: StageKind {}

/// A kind run from a callback module (`use GenStage`): a producer, a consumer
/// or a producer-consumer, started with a handler and its arguments.
pub trait Callbacks: StageKind {
    /// The callback module.
    type Handler: Send + Sync + 'static;

    /// The kind running `handler`.
    fn of(handler: Self::Handler) -> Self;
}

/// A stage actor's messages.
pub(crate) enum StageMsg<K: StageKind> {
    Up(Upward<K::Out>),
    Down(Downward<K::In>),
    Own(K::Own),
    Stop(ExitReason),
    Handle(oneshot::Sender<StageRef<K>>),
}

impl<K: StageKind> ractor::Message for StageMsg<K> {}

/// A handle to a running stage of kind `K`. Cheap to clone.
pub struct StageRef<K: StageKind> {
    actor: ActorRef<StageMsg<K>>,
    exit: Arc<ExitCell>,
    counters: Arc<OutboundCounters>,
    shared: Arc<K::Shared>,
}

impl<K: StageKind> Clone for StageRef<K> {
    fn clone(&self) -> Self {
        StageRef {
            actor: self.actor.clone(),
            exit: self.exit.clone(),
            counters: self.counters.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<K: StageKind> fmt::Debug for StageRef<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", K::HANDLE, self.actor.get_id())
    }
}

impl<K: StageKind> StageRef<K> {
    /// Starts a stage of kind `kind` (linked under `parent` if given) and waits
    /// until it has run `init` and subscribed.
    pub(crate) async fn start_kind(
        kind: K,
        args: K::Args,
        options: StageOptions<K::In>,
        parent: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        inbound::validate(&options.subscriptions).map_err(StartError::InitFailed)?;
        let (ready, started) = oneshot::channel();
        let start = StartArgs {
            args,
            name: options.name.clone(),
            buffer_size: options.buffer_size.unwrap_or(K::BUFFER_SIZE),
            subscriptions: options.subscriptions,
            ready,
        };
        server::spawn_actor(options.name, StageActor(kind), start, parent).await?;
        started
            .await
            .map_err(|_| StartError::InitFailed(format!("{} stopped during start", K::LABEL)))
    }

    /// The running stage of this kind registered under `name`. The request
    /// goes through the stage's mailbox, so it is answered after whatever was
    /// queued before it.
    pub async fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        if !cell.is_message_type_of::<StageMsg<K>>().unwrap_or(false) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        ActorRef::<StageMsg<K>>::from(cell)
            .send_message(StageMsg::Handle(tx))
            .ok()?;
        rx.await.ok()
    }

    pub(crate) fn send(&self, message: StageMsg<K>) -> Result<(), NoProcess> {
        self.actor.send_message(message).map_err(|_| NoProcess)
    }

    /// What the handles share with the running stage.
    pub(crate) fn shared(&self) -> &Arc<K::Shared> {
        &self.shared
    }

    /// The stage's actor, for linking it under a supervisor.
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// The stage's actor id.
    pub fn id(&self) -> ActorId {
        self.actor.get_id()
    }

    /// Whether the stage still runs.
    pub fn is_alive(&self) -> bool {
        lifecycle::is_alive(&self.actor.get_cell())
    }

    /// Asks the stage to stop once it has handled what is already queued.
    pub fn stop(&self, reason: ExitReason) {
        let _ = self.send(StageMsg::Stop(reason));
    }

    /// Kills the stage at once: `terminate` does not run.
    pub fn kill(&self) {
        self.actor.kill();
    }

    /// Resolves with the exit reason once the stage has stopped.
    pub fn monitor(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        lifecycle::monitor(self.actor.get_cell(), self.exit.clone())
    }

    /// Stops the stage and waits; kills it if `timeout` passes first.
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

impl<K: Callbacks> StageRef<K> {
    /// Starts an unsupervised stage running `handler`, waits for `init` and
    /// subscribes. Fails with `noproc` when a producer it cannot do without is
    /// not running.
    pub async fn start(
        handler: K::Handler,
        args: K::Args,
        options: StageOptions<K::In>,
    ) -> Result<Self, StartError> {
        Self::start_kind(K::of(handler), args, options, None).await
    }

    /// Starts a stage running `handler`, linked under `supervisor`.
    pub async fn start_linked(
        handler: K::Handler,
        args: K::Args,
        options: StageOptions<K::In>,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_kind(K::of(handler), args, options, Some(supervisor)).await
    }

    /// This stage as a supervised child (Elixir's `child_spec/1`): a permanent
    /// worker registered under `options.name`; `handler` and `args` build a
    /// fresh handler and arguments for each start.
    pub fn child_spec<H, A>(
        id: impl Into<String>,
        handler: H,
        args: A,
        options: StageOptions<K::In>,
    ) -> crate::supervisor::ChildSpec
    where
        H: Fn() -> K::Handler + Send + Sync + 'static,
        A: Fn() -> K::Args + Send + Sync + 'static,
    {
        let name = options.name.clone();
        let options = parking_lot::Mutex::new(options);
        let spec = crate::supervisor::ChildSpec::new(id, move |parent, name| {
            let options = StageOptions {
                name,
                ..options.lock().clone()
            };
            let started = Self::start_linked(handler(), args(), options, parent);
            async move { Ok(started.await?.actor()) }
        });
        crate::supervisor::ChildSpec { name, ..spec }
    }
}

impl<K: Produces> StageRef<K> {
    /// Events discarded from the full buffer so far.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::SeqCst)
    }

    /// Events waiting in the buffer for demand.
    pub fn buffered(&self) -> usize {
        self.counters.buffered.load(Ordering::SeqCst)
    }

    /// Events sent to consumers so far (counted just before sending).
    pub fn dispatched(&self) -> u64 {
        self.counters.dispatched.load(Ordering::SeqCst)
    }
}

impl<K: Produces> Source<K::Out> for StageRef<K> {
    fn upstream(&self) -> Upstream<K::Out> {
        Upstream::new(self.actor.clone(), self.exit.clone(), StageMsg::Up)
    }
}

/// What a stage actor is started with.
pub(crate) struct StartArgs<K: StageKind> {
    args: K::Args,
    name: Option<String>,
    buffer_size: usize,
    subscriptions: Vec<Subscription<K::In>>,
    ready: oneshot::Sender<StageRef<K>>,
}

/// A running stage: the kind's state and both halves of the stage.
pub struct Running<K: StageKind> {
    /// The kind's own state.
    pub(crate) state: K::State,
    /// The stage's own handle.
    pub(crate) me: StageRef<K>,
    /// Its subscriptions to producers.
    pub(crate) inbound: Inbound<K::In>,
    /// Its consumers, their demand and its buffer.
    pub(crate) out: Outbound<K::Out>,
    finished: bool,
}

impl<K: StageKind> Running<K> {
    /// Emits or stops, as a callback asked.
    pub(crate) fn apply(
        &mut self,
        flow: Result<StageFlow<K::Out>, ExitReason>,
    ) -> Option<ExitReason> {
        match flow {
            Ok(StageFlow::Emit(events)) => {
                self.out.emit(events);
                None
            }
            Ok(StageFlow::Stop(reason)) | Err(reason) => Some(reason),
        }
    }

    /// Records the reason, then cancels both sides' subscriptions.
    fn finish(&mut self, reason: &ExitReason) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.me.exit.set(reason);
        self.inbound.close();
        self.out.close();
        K::finished(self);
    }
}

impl<K: StageKind> Drop for Running<K> {
    fn drop(&mut self) {
        self.finish(&ExitReason::Killed);
    }
}

/// The ractor actor of a stage of kind `K`.
pub(crate) struct StageActor<K>(K);

impl<K: StageKind> StageActor<K> {
    /// The stage's last words, then its exit: a clean reason stops the actor
    /// normally, anything else fails it so that its supervisor sees a crash.
    async fn exit(
        &self,
        st: &mut Running<K>,
        reason: ExitReason,
    ) -> Result<(), ActorProcessingErr> {
        self.0.stopping(st, &reason).await;
        if !reason.is_normal() {
            tracing::error!(stage = %st.me.id(), %reason, "{} crashed", K::LABEL);
        }
        st.finish(&reason);
        lifecycle::conclude(&st.me.actor(), &reason)
    }
}

impl<K: StageKind> Actor for StageActor<K> {
    type Msg = StageMsg<K>;
    type State = Running<K>;
    type Arguments = StartArgs<K>;

    async fn pre_start(
        &self,
        myself: ActorRef<StageMsg<K>>,
        start: StartArgs<K>,
    ) -> Result<Running<K>, ActorProcessingErr> {
        let shared = self.0.shared(&myself.get_cell(), start.name.as_deref());
        let me = StageRef {
            actor: myself.clone(),
            exit: Arc::default(),
            counters: Arc::default(),
            shared: Arc::new(shared),
        };
        let state = match self.0.init(&me, start.args).await {
            Ok(state) => state,
            Err(reason) => {
                me.exit.set(&reason);
                return Err(reason.to_string().into());
            }
        };
        let out = Outbound::new(myself.get_id(), start.buffer_size, me.counters.clone());
        let mut st = Running {
            state,
            me,
            inbound: Inbound::new(),
            out,
            finished: false,
        };
        let downstream = Downstream::new(myself, StageMsg::Down);
        for subscription in start.subscriptions {
            if let Err(reason) = st.inbound.subscribe(subscription, &downstream) {
                st.finish(&reason);
                return Err(reason.to_string().into());
            }
        }
        let _ = start.ready.send(st.me.clone());
        Ok(st)
    }

    async fn handle(
        &self,
        _myself: ActorRef<StageMsg<K>>,
        message: StageMsg<K>,
        st: &mut Running<K>,
    ) -> Result<(), ActorProcessingErr> {
        if st.finished {
            // Stopping: ractor may still hand over messages queued before the stop.
            return Ok(());
        }
        let next = match message {
            StageMsg::Up(Upward::Subscribe(subscriber)) => {
                st.out.subscribe(subscriber);
                None
            }
            StageMsg::Up(Upward::Ask(id, n)) => {
                // Buffered output is served first; the kind meets what is left.
                let demand = st.out.ask(id, n);
                self.0.handle(st, Input::Demand(demand)).await
            }
            StageMsg::Up(Upward::Cancel(id)) => {
                st.out.cancel(id);
                None
            }
            StageMsg::Down(Downward::Events(id, events)) => {
                self.0.handle(st, Input::Events(id, events)).await
            }
            StageMsg::Down(Downward::Cancelled(id, reason)) => match st.inbound.cancelled(id) {
                Some(cancel) if cancel.stops_for(&reason) => Some(reason),
                _ => None,
            },
            StageMsg::Own(message) => self.0.handle(st, Input::Own(message)).await,
            StageMsg::Stop(reason) => Some(reason),
            StageMsg::Handle(reply) => {
                let _ = reply.send(st.me.clone());
                None
            }
        };
        match next {
            None => Ok(()),
            Some(reason) => self.exit(st, reason).await,
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<StageMsg<K>>,
        st: &mut Running<K>,
    ) -> Result<(), ActorProcessingErr> {
        if !st.finished {
            // Stopped from outside through ractor (a supervisor shutting it down).
            let reason = ExitReason::Shutdown;
            self.0.stopping(st, &reason).await;
            st.finish(&reason);
        }
        Ok(())
    }
}
