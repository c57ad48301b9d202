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
use std::convert::Infallible;
use std::future::Future;

use ractor::ActorCell;

use super::lifecycle;
use super::link::SubId;
use super::stage::{Callbacks, Init, Input, Next, Produces, Running, StageKind, StageRef};
use super::StageFlow;
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};

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

/// A handle to a running producer-consumer. Cheap to clone.
pub type ProducerConsumerRef<PC> = StageRef<ProducerConsumerStage<PC>>;

/// The producer-consumer kind of stage, running the callbacks `PC`.
pub struct ProducerConsumerStage<PC>(PC);

/// A producer-consumer's state: the callbacks' own, and the input waiting for
/// downstream demand.
pub struct Queued<S, In> {
    state: S,
    /// Input received and not yet handled.
    queue: VecDeque<(SubId, Vec<In>)>,
}

impl<PC: ProducerConsumer> ProducerConsumerStage<PC> {
    /// Handles queued input while downstream demand is unmet (GenStage's
    /// `take_pc_events`), asking upstream for more after each batch as due.
    async fn process(&self, st: &mut Running<Self>) -> Next {
        while st.out.demand() > 0 {
            let Some((id, events)) = st.state.queue.pop_front() else {
                break;
            };
            for (batch, ask) in st.inbound.split(id, events) {
                let flow = self.0.handle_events(&st.me, batch, &mut st.state.state);
                match catching(flow).await {
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
}

impl<PC: ProducerConsumer> StageKind for ProducerConsumerStage<PC> {
    type In = PC::In;
    type Out = PC::Out;
    type Own = Infallible;
    type Shared = ();
    type State = Queued<PC::State, PC::In>;
    type Args = PC::Args;
    const HANDLE: &'static str = "ProducerConsumerRef";
    const LABEL: &'static str = "producer-consumer";

    fn shared(&self, _myself: &ActorCell, _name: Option<&str>) {}

    async fn init(&self, me: &ProducerConsumerRef<PC>, args: PC::Args) -> Init<Self> {
        let state = catching(self.0.init(me, args)).await?;
        let queue = VecDeque::new();
        Ok(Queued { state, queue })
    }

    /// Input waits in the queue; demand (buffered output was served first) is
    /// met from it.
    async fn handle(&self, st: &mut Running<Self>, input: Input<Self>) -> Next {
        if let Input::Events(sub, events) = input {
            st.state.queue.push_back((sub, events));
        }
        self.process(st).await
    }

    async fn stopping(&self, st: &mut Running<Self>, why: &ExitReason) {
        let id = st.me.id();
        let state = &mut st.state.state;
        lifecycle::terminate(id, self.0.terminate(&st.me, why, state)).await;
    }
}

impl<PC: ProducerConsumer> Produces for ProducerConsumerStage<PC> {}

impl<PC: ProducerConsumer> Callbacks for ProducerConsumerStage<PC> {
    type Handler = PC;

    fn of(handler: PC) -> Self {
        ProducerConsumerStage(handler)
    }
}
