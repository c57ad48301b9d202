//! Consumers: the stages events end up in.
//!
//! A [`Consumer`] subscribes to one or more producers when it starts and
//! handles what they send in batches through `handle_events`. It never has more
//! than `max_demand` events outstanding per subscription; after each batch it
//! asks for more when its outstanding demand has fallen to `min_demand`. When a
//! producer exits, the consumer exits with the same reason (unless subscribed
//! with another [`Cancel`](super::Cancel) policy), and when the consumer exits
//! its producers forget it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

use super::demand::SubscribeOptions;
use super::inbound::{self, Inbound, Subscription};
use super::lifecycle::{self, ExitCell};
use super::link::{Downstream, Downward, Source, SubId};
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};
use crate::gen_server::Flow;
use crate::server::StartError;

/// A consumer's callbacks (GenStage's `:consumer`).
pub trait Consumer: Sized + Send + Sync + 'static {
    /// Passed to `init`.
    type Args: Send + 'static;
    /// The consumer's own state.
    type State: Send + 'static;
    /// What it consumes.
    type Event: Send + 'static;

    /// Builds the state; the consumer subscribes afterwards. An error here means
    /// the consumer never starts.
    fn init(
        &self,
        myself: &ConsumerRef<Self>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::State, ProcessError>> + Send;

    /// Handles a batch of events from one producer, in the order it emitted them.
    /// A batch holds at most `max_demand - min_demand` events.
    fn handle_events(
        &self,
        myself: &ConsumerRef<Self>,
        events: Vec<Self::Event>,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<Flow, ProcessError>> + Send;

    /// Runs once when the consumer stops for any reason but `Killed`.
    fn terminate(
        &self,
        _myself: &ConsumerRef<Self>,
        _reason: &ExitReason,
        _state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Where and how to start a consumer, and what it subscribes to.
pub struct ConsumerOptions<E> {
    name: Option<String>,
    subscriptions: Vec<Subscription<E>>,
}

impl<E> Default for ConsumerOptions<E> {
    fn default() -> Self {
        ConsumerOptions {
            name: None,
            subscriptions: Vec::new(),
        }
    }
}

impl<E> ConsumerOptions<E> {
    /// No name, no subscription yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same options with the actor registered under `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a producer to subscribe to at start (`subscribe_to: [{producer, opts}]`).
    pub fn subscribe_to(mut self, source: &impl Source<E>, options: SubscribeOptions) -> Self {
        self.subscriptions.push(Subscription::new(source, options));
        self
    }
}

pub(crate) enum ConsumerMsg<C: Consumer> {
    Down(Downward<C::Event>),
    Stop(ExitReason),
    Handle(oneshot::Sender<ConsumerRef<C>>),
}

impl<C: Consumer> ractor::Message for ConsumerMsg<C> {}

/// A handle to a running consumer. Cheap to clone.
pub struct ConsumerRef<C: Consumer> {
    actor: ActorRef<ConsumerMsg<C>>,
    exit: Arc<ExitCell>,
}

impl<C: Consumer> Clone for ConsumerRef<C> {
    fn clone(&self) -> Self {
        ConsumerRef {
            actor: self.actor.clone(),
            exit: self.exit.clone(),
        }
    }
}

impl<C: Consumer> fmt::Debug for ConsumerRef<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsumerRef({})", self.actor.get_id())
    }
}

impl<C: Consumer> ConsumerRef<C> {
    /// Starts an unsupervised consumer, waits for `init` and subscribes. Fails
    /// with `noproc` when a producer it cannot do without is not running.
    pub async fn start(
        handler: C,
        args: C::Args,
        options: ConsumerOptions<C::Event>,
    ) -> Result<Self, StartError> {
        Self::start_inner(handler, args, options, None).await
    }

    /// Starts a consumer linked under `supervisor`.
    pub async fn start_linked(
        handler: C,
        args: C::Args,
        options: ConsumerOptions<C::Event>,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_inner(handler, args, options, Some(supervisor)).await
    }

    async fn start_inner(
        handler: C,
        args: C::Args,
        options: ConsumerOptions<C::Event>,
        supervisor: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        inbound::validate(&options.subscriptions).map_err(StartError::InitFailed)?;
        let exit = Arc::new(ExitCell::default());
        let start = ConsumerArgs {
            args,
            subscriptions: options.subscriptions,
            exit: exit.clone(),
        };
        let actor =
            lifecycle::spawn(options.name, ConsumerActor(handler), start, supervisor).await?;
        Ok(ConsumerRef { actor, exit })
    }

    /// The running consumer of this type registered under `name`.
    pub async fn lookup(name: &str) -> Option<Self> {
        let cell = ractor::registry::where_is(name)?;
        if !cell.is_message_type_of::<ConsumerMsg<C>>().unwrap_or(false) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        ActorRef::<ConsumerMsg<C>>::from(cell)
            .send_message(ConsumerMsg::Handle(tx))
            .ok()?;
        rx.await.ok()
    }

    /// The consumer's actor, for linking it under a supervisor.
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// The consumer's actor id.
    pub fn id(&self) -> ActorId {
        self.actor.get_id()
    }

    /// Whether the consumer still runs.
    pub fn is_alive(&self) -> bool {
        lifecycle::is_alive(&self.actor.get_cell())
    }

    /// Asks the consumer to stop once it has handled what is already queued.
    pub fn stop(&self, reason: ExitReason) {
        let _ = self.actor.send_message(ConsumerMsg::Stop(reason));
    }

    /// Kills the consumer at once: `terminate` does not run.
    pub fn kill(&self) {
        self.actor.kill();
    }

    /// Resolves with the exit reason once the consumer has stopped.
    pub fn monitor(&self) -> impl Future<Output = ExitReason> + Send + 'static {
        lifecycle::monitor(self.actor.get_cell(), self.exit.clone())
    }

    /// Stops the consumer and waits; kills it if `timeout` passes first.
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

struct ConsumerActor<C>(C);

struct ConsumerArgs<C: Consumer> {
    args: C::Args,
    subscriptions: Vec<Subscription<C::Event>>,
    exit: Arc<ExitCell>,
}

struct ConsumerState<C: Consumer> {
    state: C::State,
    myself: ConsumerRef<C>,
    inbound: Inbound<C::Event>,
    finished: bool,
}

impl<C: Consumer> ConsumerState<C> {
    /// Records the reason and cancels every subscription.
    fn finish(&mut self, reason: &ExitReason) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.myself.exit.set(reason);
        self.inbound.close();
    }
}

impl<C: Consumer> Drop for ConsumerState<C> {
    fn drop(&mut self) {
        self.finish(&ExitReason::Killed);
    }
}

impl<C: Consumer> ConsumerActor<C> {
    /// Hands the batches to `handle_events`, asking for more after each as due.
    async fn consume(
        &self,
        st: &mut ConsumerState<C>,
        id: SubId,
        batches: Vec<(Vec<C::Event>, usize)>,
    ) -> Option<ExitReason> {
        for (batch, ask) in batches {
            match catching(self.0.handle_events(&st.myself, batch, &mut st.state)).await {
                Ok(Flow::Continue) => st.inbound.ask(id, ask),
                Ok(Flow::Stop(reason)) | Err(reason) => return Some(reason),
            }
        }
        None
    }

    async fn exit(
        &self,
        st: &mut ConsumerState<C>,
        reason: ExitReason,
    ) -> Result<(), ActorProcessingErr> {
        let id = st.myself.id();
        lifecycle::terminate(id, self.0.terminate(&st.myself, &reason, &mut st.state)).await;
        if !reason.is_normal() {
            tracing::error!(stage = %id, %reason, "consumer crashed");
        }
        st.finish(&reason);
        lifecycle::conclude(&st.myself.actor(), &reason)
    }
}

impl<C: Consumer> Actor for ConsumerActor<C> {
    type Msg = ConsumerMsg<C>;
    type State = ConsumerState<C>;
    type Arguments = ConsumerArgs<C>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        start: ConsumerArgs<C>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let me = ConsumerRef {
            actor: myself.clone(),
            exit: start.exit,
        };
        let state = match catching(self.0.init(&me, start.args)).await {
            Ok(state) => state,
            Err(reason) => {
                me.exit.set(&reason);
                return Err(reason.to_string().into());
            }
        };
        let mut st = ConsumerState {
            state,
            myself: me,
            inbound: Inbound::new(),
            finished: false,
        };
        let downstream = Downstream::new(myself, ConsumerMsg::Down);
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
            ConsumerMsg::Down(Downward::Events(id, events)) => {
                let batches = st.inbound.split(id, events);
                self.consume(st, id, batches).await
            }
            ConsumerMsg::Down(Downward::Cancelled(id, reason)) => match st.inbound.cancelled(id) {
                Some(cancel) if cancel.stops_for(&reason) => Some(reason),
                _ => None,
            },
            ConsumerMsg::Stop(reason) => Some(reason),
            ConsumerMsg::Handle(reply) => {
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
