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

use std::convert::Infallible;
use std::future::Future;

use ractor::ActorCell;

use super::buffer::DEFAULT_BUFFER_SIZE;
use super::lifecycle;
use super::stage::{
    Callbacks, Init, Input, Next, Produces, Running, StageKind, StageMsg, StageRef,
};
use super::StageFlow;
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};
use crate::pid::NoProcess;

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

/// A handle to a running producer. Cheap to clone.
pub type ProducerRef<P> = StageRef<ProducerStage<P>>;

/// The producer kind of stage, running the callbacks `P`.
pub struct ProducerStage<P>(P);

/// What only a producer is sent.
pub enum ProducerMsg<P: Producer> {
    /// Events to emit, as a `handle_cast` returning them would.
    Push(Vec<P::Event>),
    /// For `handle_cast`.
    Cast(P::Cast),
    /// For `handle_info`.
    Info(P::Info),
}

impl<P: Producer> StageKind for ProducerStage<P> {
    type In = Infallible;
    type Out = P::Event;
    type Own = ProducerMsg<P>;
    type Shared = ();
    type State = P::State;
    type Args = P::Args;
    const HANDLE: &'static str = "ProducerRef";
    const LABEL: &'static str = "producer";
    const BUFFER_SIZE: usize = DEFAULT_BUFFER_SIZE;

    fn shared(&self, _myself: &ActorCell, _name: Option<&str>) {}

    async fn init(&self, me: &ProducerRef<P>, args: P::Args) -> Init<Self> {
        catching(self.0.init(me, args)).await
    }

    async fn handle(&self, st: &mut Running<Self>, input: Input<Self>) -> Next {
        let (me, state) = (&st.me, &mut st.state);
        let flow = match input {
            Input::Demand(0) => return None,
            Input::Demand(demand) => catching(self.0.handle_demand(me, demand, state)).await,
            Input::Own(ProducerMsg::Push(events)) => Ok(StageFlow::Emit(events)),
            Input::Own(ProducerMsg::Cast(message)) => {
                catching(self.0.handle_cast(me, message, state)).await
            }
            Input::Own(ProducerMsg::Info(message)) => {
                catching(self.0.handle_info(me, message, state)).await
            }
            Input::Events(..) => return None, // a producer subscribes to nothing
        };
        st.apply(flow)
    }

    async fn stopping(&self, st: &mut Running<Self>, why: &ExitReason) {
        let id = st.me.id();
        lifecycle::terminate(id, self.0.terminate(&st.me, why, &mut st.state)).await;
    }
}

impl<P: Producer> Produces for ProducerStage<P> {}

impl<P: Producer> Callbacks for ProducerStage<P> {
    type Handler = P;

    fn of(handler: P) -> Self {
        ProducerStage(handler)
    }
}

impl<P: Producer> ProducerRef<P> {
    fn own(&self, message: ProducerMsg<P>) -> Result<(), NoProcess> {
        self.send(StageMsg::Own(message))
    }

    /// Emits one event, as a `handle_cast` returning `[event]` would (the book's
    /// `Producer.push/1`): sent to a consumer with demand, or buffered.
    pub fn push(&self, event: P::Event) -> Result<(), NoProcess> {
        self.own(ProducerMsg::Push(vec![event]))
    }

    /// Emits several events, in order.
    pub fn push_all(&self, events: Vec<P::Event>) -> Result<(), NoProcess> {
        self.own(ProducerMsg::Push(events))
    }

    /// Sends a cast, handled by `handle_cast`.
    pub fn cast(&self, message: P::Cast) -> Result<(), NoProcess> {
        self.own(ProducerMsg::Cast(message))
    }

    /// Sends an out-of-band message, handled by `handle_info`.
    pub fn info(&self, message: P::Info) -> Result<(), NoProcess> {
        self.own(ProducerMsg::Info(message))
    }
}
