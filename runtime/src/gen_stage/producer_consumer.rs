//! Producer-consumers: the stages in the middle of a pipeline.
//!
//! A [`ProducerConsumer`] consumes like a consumer and emits like a producer:
//! `handle_events` turns a batch of input events into output events. Demand
//! flows back through it as in GenStage: received input is queued and only
//! handed to `handle_events` while its own consumers have unmet demand, and it
//! only asks its producers for more as it processes input. A producer-consumer
//! nobody consumes from therefore stops pulling, and its producer buffers.
//! Output emitted beyond current demand waits in its buffer (unbounded by
//! default, as GenStage's is for producer-consumers).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

use super::demand::SubscribeOptions;
use super::inbound::{self, Inbound, Subscription};
use super::lifecycle::{self, ExitCell};
use super::link::{Downstream, Downward, Source, SubId, Upstream, Upward};
use super::outbound::{Outbound, OutboundCounters};
use super::StageFlow;
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};
use crate::server::StartError;

/// A producer-consumer's callbacks (GenStage's `:producer_consumer`).
pub trait ProducerConsumer: Sized + Send + Sync + 'static {
    /// Passed to `init`.
    type Args: Send + 'static;
    /// The stage's own state.
    type State: Send + 'static;
    /// What it consumes.
    type In: Send + 'static;
    /// What it emits.
    type Out: Send + 'static;

    /// Builds the state; the stage subscribes afterwards. An error here means it
    /// never starts.
    fn init(
        &self,
        myself: &ProducerConsumerRef<Self>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::State, ProcessError>> + Send;

    /// Turns a batch of input events (from one producer, in order) into output
    /// events, emitted in the order returned.
    fn handle_events(
        &self,
        myself: &ProducerConsumerRef<Self>,
        events: Vec<Self::In>,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<StageFlow<Self::Out>, ProcessError>> + Send;

    /// Runs once when the stage stops for any reason but `Killed`.
    fn terminate(
        &self,
        _myself: &ProducerConsumerRef<Self>,
        _reason: &ExitReason,
        _state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Where and how to start a producer-consumer, and what it subscribes to.
pub struct ProducerConsumerOptions<In> {
    name: Option<String>,
    buffer_size: usize,
    subscriptions: Vec<Subscription<In>>,
}

impl<In> Default for ProducerConsumerOptions<In> {
    fn default() -> Self {
        ProducerConsumerOptions {
            name: None,
            buffer_size: usize::MAX,
            subscriptions: Vec::new(),
        }
    }
}

impl<In> ProducerConsumerOptions<In> {
    /// No name, unbounded buffer, no subscription yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same options with the actor registered under `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Output kept while nobody asks for it; beyond it the oldest is dropped.
    /// Default unbounded (`usize::MAX`), like GenStage's for producer-consumers.
    pub fn buffer_size(mut self, buffer_size: usize) -> Self {
        self.buffer_size = buffer_size;
        self
    }

    /// Adds a producer to subscribe to at start.
    pub fn subscribe_to(mut self, source: &impl Source<In>, options: SubscribeOptions) -> Self {
        self.subscriptions.push(Subscription::new(source, options));
        self
    }
}

pub(crate) enum PcMsg<PC: ProducerConsumer> {
    Up(Upward<PC::Out>),
    Down(Downward<PC::In>),
    Stop(ExitReason),
    Handle(oneshot::Sender<ProducerConsumerRef<PC>>),
}

impl<PC: ProducerConsumer> ractor::Message for PcMsg<PC> {}

/// A handle to a running producer-consumer. Cheap to clone.
pub struct ProducerConsumerRef<PC: ProducerConsumer> {
    actor: ActorRef<PcMsg<PC>>,
    counters: Arc<OutboundCounters>,
    exit: Arc<ExitCell>,
}

impl<PC: ProducerConsumer> Clone for ProducerConsumerRef<PC> {
    fn clone(&self) -> Self {
        ProducerConsumerRef {
            actor: self.actor.clone(),
            counters: self.counters.clone(),
            exit: self.exit.clone(),
        }
    }
}

impl<PC: ProducerConsumer> fmt::Debug for ProducerConsumerRef<PC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProducerConsumerRef({})", self.actor.get_id())
    }
}

impl<PC: ProducerConsumer> ProducerConsumerRef<PC> {
    /// Starts an unsupervised producer-consumer, waits for `init` and subscribes.
    pub async fn start(
        handler: PC,
        args: PC::Args,
        options: ProducerConsumerOptions<PC::In>,
    ) -> Result<Self, StartError> {
        Self::start_inner(handler, args, options, None).await
    }

    /// Starts a producer-consumer linked under `supervisor`.
    pub async fn start_linked(
        handler: PC,
        args: PC::Args,
        options: ProducerConsumerOptions<PC::In>,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(handler, args, options, Some(supervisor)).await
    }

    async fn start_inner(
        handler: PC,
        args: PC::Args,
        options: ProducerConsumerOptions<PC::In>,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        inbound::validate(&options.subscriptions).map_err(StartError::InitFailed)?;
        let counters = Arc::new(OutboundCounters::default());
        let exit = Arc::new(ExitCell::default());
        let start = PcArgs {
            args,
            buffer_size: options.buffer_size,
            subscriptions: options.subscriptions,
            counters: counters.clone(),
            exit: exit.clone(),
        };
        let actor = lifecycle::spawn(options.name, PcActor(handler), start, supervisor).await?;
        Ok(ProducerConsumerRef {
            actor,
            counters,
            exit,
        })
    }

    /// The running producer-consumer of this type registered under `name`.
    pub async fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        if !cell.is_message_type_of::<PcMsg<PC>>().unwrap_or(false) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        ActorRef::<PcMsg<PC>>::from(cell)
            .send_message(PcMsg::Handle(tx))
            .ok()?;
        rx.await.ok()
    }

    /// Output events discarded from the full buffer so far.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::SeqCst)
    }

    /// Output events waiting in the buffer for demand.
    pub fn buffered(&self) -> usize {
        self.counters.buffered.load(Ordering::SeqCst)
    }

    /// Output events sent to consumers so far (counted just before sending).
    pub fn dispatched(&self) -> u64 {
        self.counters.dispatched.load(Ordering::SeqCst)
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
        let _ = self.actor.send_message(PcMsg::Stop(reason));
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

impl<PC: ProducerConsumer> Source<PC::Out> for ProducerConsumerRef<PC> {
    fn upstream(&self) -> Upstream<PC::Out> {
        Upstream::new(self.actor.clone(), self.exit.clone(), PcMsg::Up)
    }
}

struct PcActor<PC>(PC);

struct PcArgs<PC: ProducerConsumer> {
    args: PC::Args,
    buffer_size: usize,
    subscriptions: Vec<Subscription<PC::In>>,
    counters: Arc<OutboundCounters>,
    exit: Arc<ExitCell>,
}

struct PcState<PC: ProducerConsumer> {
    state: PC::State,
    myself: ProducerConsumerRef<PC>,
    inbound: Inbound<PC::In>,
    out: Outbound<PC::Out>,
    /// Input received and not yet handled, waiting for downstream demand.
    queue: VecDeque<(SubId, Vec<PC::In>)>,
    finished: bool,
}

impl<PC: ProducerConsumer> PcState<PC> {
    /// Records the reason, then cancels both sides' subscriptions.
    fn finish(&mut self, reason: &ExitReason) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.myself.exit.set(reason);
        self.inbound.close();
        self.out.close();
    }
}

impl<PC: ProducerConsumer> Drop for PcState<PC> {
    fn drop(&mut self) {
        self.finish(&ExitReason::Killed);
    }
}

impl<PC: ProducerConsumer> PcActor<PC> {
    /// Handles queued input while downstream demand is unmet (GenStage's
    /// `take_pc_events`), asking upstream for more after each batch as due.
    async fn process(&self, st: &mut PcState<PC>) -> Option<ExitReason> {
        while st.out.demand() > 0 {
            let Some((id, events)) = st.queue.pop_front() else {
                break;
            };
            for (batch, ask) in st.inbound.split(id, events) {
                match catching(self.0.handle_events(&st.myself, batch, &mut st.state)).await {
                    Ok(StageFlow::Emit(output)) => {
                        st.out.emit(output);
                        st.inbound.ask(id, ask);
                    }
                    Ok(StageFlow::Stop(reason)) | Err(reason) => return Some(reason),
                }
            }
        }
        None
    }

    async fn exit(
        &self,
        st: &mut PcState<PC>,
        reason: ExitReason,
    ) -> Result<(), ActorProcessingErr> {
        let id = st.myself.id();
        lifecycle::terminate(id, self.0.terminate(&st.myself, &reason, &mut st.state)).await;
        if !reason.is_normal() {
            tracing::error!(stage = %id, %reason, "producer-consumer crashed");
        }
        st.finish(&reason);
        lifecycle::conclude(&st.myself.actor(), &reason)
    }
}

impl<PC: ProducerConsumer> Actor for PcActor<PC> {
    type Msg = PcMsg<PC>;
    type State = PcState<PC>;
    type Arguments = PcArgs<PC>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        start: PcArgs<PC>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let me = ProducerConsumerRef {
            actor: myself.clone(),
            counters: start.counters.clone(),
            exit: start.exit,
        };
        let state = match catching(self.0.init(&me, start.args)).await {
            Ok(state) => state,
            Err(reason) => {
                me.exit.set(&reason);
                return Err(reason.to_string().into());
            }
        };
        let mut st = PcState {
            state,
            myself: me,
            inbound: Inbound::new(),
            out: Outbound::new(myself.get_id(), start.buffer_size, start.counters),
            queue: VecDeque::new(),
            finished: false,
        };
        let downstream = Downstream::new(myself, PcMsg::Down);
        for subscription in start.subscriptions {
            if let Err(reason) = st.inbound.subscribe(subscription, &downstream) {
                st.finish(&reason);
                return Err(reason.to_string().into());
            }
        }
        Ok(st)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if st.finished {
            return Ok(());
        }
        let next = match message {
            PcMsg::Up(Upward::Subscribe(subscriber)) => {
                st.out.subscribe(subscriber);
                None
            }
            PcMsg::Up(Upward::Ask(id, n)) => {
                // Buffered output is served first; what is left is met from the queue.
                st.out.ask(id, n);
                self.process(st).await
            }
            PcMsg::Up(Upward::Cancel(id)) => {
                st.out.cancel(id);
                None
            }
            PcMsg::Down(Downward::Events(id, events)) => {
                st.queue.push_back((id, events));
                self.process(st).await
            }
            PcMsg::Down(Downward::Cancelled(id, reason)) => match st.inbound.cancelled(id) {
                Some(cancel) if cancel.stops_for(&reason) => Some(reason),
                _ => None,
            },
            PcMsg::Stop(reason) => Some(reason),
            PcMsg::Handle(reply) => {
                let _ = reply.send(st.myself.clone());
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
        _myself: ActorRef<Self::Msg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !st.finished {
            let reason = ExitReason::Shutdown;
            lifecycle::terminate(
                st.myself.id(),
                self.0.terminate(&st.myself, &reason, &mut st.state),
            )
            .await;
            st.finish(&reason);
        }
        Ok(())
    }
}
