//! Producers: the stages events come from.
//!
//! A [`Producer`] is written like a GenServer — `&self` handlers, state passed
//! explicitly — but its callbacks answer with events to emit. Demand from
//! consumers reaches `handle_demand`; events emitted from any callback (or
//! pushed through [`ProducerRef::push`]) go to the consumers that asked for
//! them, and the rest wait in a bounded buffer (`buffer_size`, default 10 000)
//! that drops its oldest events when full and counts them. The book's producer
//! never produces on demand: `handle_demand` returns nothing and every event
//! comes from `push`.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

use super::buffer::DEFAULT_BUFFER_SIZE;
use super::lifecycle::{self, ExitCell};
use super::link::{Source, Upstream, Upward};
use super::outbound::{Outbound, OutboundCounters};
use super::StageFlow;
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};
use crate::pid::NoProcess;
use crate::server::StartError;

/// A producer's callbacks (GenStage's `:producer`).
pub trait Producer: Sized + Send + Sync + 'static {
    /// Passed to `init`.
    type Args: Send + 'static;
    /// The producer's own state.
    type State: Send + 'static;
    /// What it emits.
    type Event: Send + 'static;
    /// Requests sent with [`ProducerRef::cast`]; `()` when unused.
    type Cast: Send + 'static;
    /// Out-of-band messages sent with [`ProducerRef::info`]; `()` when unused.
    type Info: Send + 'static;

    /// Builds the state. An error here means the producer never starts.
    fn init(
        &self,
        myself: &ProducerRef<Self>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::State, ProcessError>> + Send;

    /// Consumers want `demand` more events than buffered ones can serve. The
    /// default emits nothing: a producer fed through `push` or `handle_cast`
    /// need not implement it.
    fn handle_demand(
        &self,
        _myself: &ProducerRef<Self>,
        _demand: usize,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<StageFlow<Self::Event>, ProcessError>> + Send {
        async { Ok(StageFlow::none()) }
    }

    /// Handles a cast. The default crashes, as OTP's does for an unexpected cast.
    fn handle_cast(
        &self,
        _myself: &ProducerRef<Self>,
        _message: Self::Cast,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<StageFlow<Self::Event>, ProcessError>> + Send {
        async { Err(format!("{} has no handle_cast", std::any::type_name::<Self>()).into()) }
    }

    /// Handles an info message. The default ignores it.
    fn handle_info(
        &self,
        _myself: &ProducerRef<Self>,
        _message: Self::Info,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<StageFlow<Self::Event>, ProcessError>> + Send {
        async { Ok(StageFlow::none()) }
    }

    /// Runs once when the producer stops for any reason but `Killed`.
    fn terminate(
        &self,
        _myself: &ProducerRef<Self>,
        _reason: &ExitReason,
        _state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Where and how to start a producer.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Registers the actor under this name (see [`ProducerRef::lookup`]).
    pub name: Option<String>,
    /// Events kept while nobody asks for them; beyond it the oldest are dropped.
    /// Default 10 000, like GenStage's.
    pub buffer_size: usize,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            name: None,
            buffer_size: DEFAULT_BUFFER_SIZE,
        }
    }
}

impl ProducerOptions {
    /// The same options with the actor registered under `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same options with another buffer size (the book's `buffer_size: 10_000`).
    pub fn buffer_size(mut self, buffer_size: usize) -> Self {
        self.buffer_size = buffer_size;
        self
    }
}

pub(crate) enum ProducerMsg<P: Producer> {
    Up(Upward<P::Event>),
    Push(Vec<P::Event>),
    Cast(P::Cast),
    Info(P::Info),
    Stop(ExitReason),
    Handle(oneshot::Sender<ProducerRef<P>>),
}

impl<P: Producer> ractor::Message for ProducerMsg<P> {}

/// A handle to a running producer. Cheap to clone.
pub struct ProducerRef<P: Producer> {
    actor: ActorRef<ProducerMsg<P>>,
    counters: Arc<OutboundCounters>,
    exit: Arc<ExitCell>,
}

impl<P: Producer> Clone for ProducerRef<P> {
    fn clone(&self) -> Self {
        ProducerRef {
            actor: self.actor.clone(),
            counters: self.counters.clone(),
            exit: self.exit.clone(),
        }
    }
}

impl<P: Producer> fmt::Debug for ProducerRef<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProducerRef({})", self.actor.get_id())
    }
}

impl<P: Producer> ProducerRef<P> {
    /// Starts an unsupervised producer and waits for `init`.
    pub async fn start(
        handler: P,
        args: P::Args,
        options: ProducerOptions,
    ) -> Result<Self, StartError> {
        Self::start_inner(handler, args, options, None).await
    }

    /// Starts a producer linked under `supervisor` and waits for `init`.
    pub async fn start_linked(
        handler: P,
        args: P::Args,
        options: ProducerOptions,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(handler, args, options, Some(supervisor)).await
    }

    async fn start_inner(
        handler: P,
        args: P::Args,
        options: ProducerOptions,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        let counters = Arc::new(OutboundCounters::default());
        let exit = Arc::new(ExitCell::default());
        let start = ProducerArgs {
            args,
            buffer_size: options.buffer_size,
            counters: counters.clone(),
            exit: exit.clone(),
        };
        let actor =
            lifecycle::spawn(options.name, ProducerActor(handler), start, supervisor).await?;
        Ok(ProducerRef {
            actor,
            counters,
            exit,
        })
    }

    /// The running producer of this type registered under `name`.
    pub async fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        if !cell.is_message_type_of::<ProducerMsg<P>>().unwrap_or(false) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        ActorRef::<ProducerMsg<P>>::from(cell)
            .send_message(ProducerMsg::Handle(tx))
            .ok()?;
        rx.await.ok()
    }

    fn send(&self, message: ProducerMsg<P>) -> Result<(), NoProcess> {
        self.actor.send_message(message).map_err(|_| NoProcess)
    }

    /// Emits one event, as a `handle_cast` returning `[event]` would (the book's
    /// `Producer.push/1`): sent to a consumer with demand, or buffered.
    pub fn push(&self, event: P::Event) -> Result<(), NoProcess> {
        self.send(ProducerMsg::Push(vec![event]))
    }

    /// Emits several events, in order.
    pub fn push_all(&self, events: Vec<P::Event>) -> Result<(), NoProcess> {
        self.send(ProducerMsg::Push(events))
    }

    /// Sends a cast, handled by `handle_cast`.
    pub fn cast(&self, message: P::Cast) -> Result<(), NoProcess> {
        self.send(ProducerMsg::Cast(message))
    }

    /// Sends an out-of-band message, handled by `handle_info`.
    pub fn info(&self, message: P::Info) -> Result<(), NoProcess> {
        self.send(ProducerMsg::Info(message))
    }

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

    /// The producer's actor, for linking it under a supervisor.
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// The producer's actor id.
    pub fn id(&self) -> ActorId {
        self.actor.get_id()
    }

    /// Whether the producer still runs.
    pub fn is_alive(&self) -> bool {
        lifecycle::is_alive(&self.actor.get_cell())
    }

    /// Asks the producer to stop once it has handled what is already queued.
    pub fn stop(&self, reason: ExitReason) {
        let _ = self.send(ProducerMsg::Stop(reason));
    }

    /// Kills the producer at once: `terminate` does not run.
    pub fn kill(&self) {
        self.actor.kill();
    }

    /// Resolves with the exit reason once the producer has stopped.
    pub fn monitor(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        lifecycle::monitor(self.actor.get_cell(), self.exit.clone())
    }

    /// Stops the producer and waits; kills it if `timeout` passes first.
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

impl<P: Producer> Source<P::Event> for ProducerRef<P> {
    fn upstream(&self) -> Upstream<P::Event> {
        Upstream::new(self.actor.clone(), self.exit.clone(), ProducerMsg::Up)
    }
}

struct ProducerActor<P>(P);

struct ProducerArgs<P: Producer> {
    args: P::Args,
    buffer_size: usize,
    counters: Arc<OutboundCounters>,
    exit: Arc<ExitCell>,
}

struct ProducerState<P: Producer> {
    state: P::State,
    myself: ProducerRef<P>,
    out: Outbound<P::Event>,
    finished: bool,
}

impl<P: Producer> ProducerState<P> {
    /// Emits or stops, as a callback asked.
    fn apply(&mut self, flow: Result<StageFlow<P::Event>, ExitReason>) -> Option<ExitReason> {
        match flow {
            Ok(StageFlow::Emit(events)) => {
                self.out.emit(events);
                None
            }
            Ok(StageFlow::Stop(reason)) | Err(reason) => Some(reason),
        }
    }

    /// Records the reason and cancels every consumer's subscription with it.
    fn finish(&mut self, reason: &ExitReason) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.myself.exit.set(reason);
        self.out.close();
    }
}

impl<P: Producer> Drop for ProducerState<P> {
    fn drop(&mut self) {
        self.finish(&ExitReason::Killed);
    }
}

impl<P: Producer> ProducerActor<P> {
    async fn exit(
        &self,
        st: &mut ProducerState<P>,
        reason: ExitReason,
    ) -> Result<(), ActorProcessingErr> {
        let id = st.myself.id();
        lifecycle::terminate(id, self.0.terminate(&st.myself, &reason, &mut st.state)).await;
        if !reason.is_normal() {
            tracing::error!(stage = %id, %reason, "producer crashed");
        }
        st.finish(&reason);
        lifecycle::conclude(&st.myself.actor(), &reason)
    }
}

impl<P: Producer> Actor for ProducerActor<P> {
    type Msg = ProducerMsg<P>;
    type State = ProducerState<P>;
    type Arguments = ProducerArgs<P>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        start: ProducerArgs<P>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let me = ProducerRef {
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
        Ok(ProducerState {
            state,
            out: Outbound::new(myself.get_id(), start.buffer_size, start.counters),
            myself: me,
            finished: false,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if st.finished {
            // Stopping: ractor may still hand over messages queued before the stop.
            return Ok(());
        }
        let next = match message {
            ProducerMsg::Up(Upward::Subscribe(subscriber)) => {
                st.out.subscribe(subscriber);
                None
            }
            ProducerMsg::Up(Upward::Ask(id, n)) => match st.out.ask(id, n) {
                0 => None,
                demand => {
                    let flow =
                        catching(self.0.handle_demand(&st.myself, demand, &mut st.state)).await;
                    st.apply(flow)
                }
            },
            ProducerMsg::Up(Upward::Cancel(id)) => {
                st.out.cancel(id);
                None
            }
            ProducerMsg::Push(events) => {
                st.out.emit(events);
                None
            }
            ProducerMsg::Cast(message) => {
                let flow = catching(self.0.handle_cast(&st.myself, message, &mut st.state)).await;
                st.apply(flow)
            }
            ProducerMsg::Info(message) => {
                let flow = catching(self.0.handle_info(&st.myself, message, &mut st.state)).await;
                st.apply(flow)
            }
            ProducerMsg::Stop(reason) => Some(reason),
            ProducerMsg::Handle(reply) => {
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
            // Stopped from outside through ractor (a supervisor shutting it down).
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
