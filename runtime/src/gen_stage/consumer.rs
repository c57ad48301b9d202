//! Consumers: the stages events end up in.
//!
//! A [`Consumer`] subscribes to one or more producers when it starts and
//! handles what they send in batches through `handle_events`. It never has more
//! than `max_demand` events outstanding per subscription; after each batch it
//! asks for more when its outstanding demand has fallen to `min_demand`. When a
//! producer exits, the consumer exits with the same reason (unless subscribed
//! with another [`Cancel`](super::Cancel) policy), and when the consumer exits
//! its producers forget it.

use std::convert::Infallible;
use std::future::Future;

use ractor::ActorCell;

use super::lifecycle;
use super::stage::{Callbacks, Init, Input, Next, Running, StageKind, StageRef};
use crate::dispatch::catching;
use crate::exit::{ExitReason, ProcessError};
use crate::gen_server::Flow;

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

/// A handle to a running consumer. Cheap to clone.
pub type ConsumerRef<C> = StageRef<ConsumerStage<C>>;

/// The consumer kind of stage, running the callbacks `C`.
pub struct ConsumerStage<C>(C);

impl<C: Consumer> StageKind for ConsumerStage<C> {
    type In = C::Event;
    type Out = Infallible;
    type Own = Infallible;
    type Shared = ();
    type State = C::State;
    type Args = C::Args;
    const HANDLE: &'static str = "ConsumerRef";
    const LABEL: &'static str = "consumer";

    fn shared(&self, _myself: &ActorCell, _name: Option<&str>) {}

    async fn init(&self, me: &ConsumerRef<C>, args: C::Args) -> Init<Self> {
        catching(self.0.init(me, args)).await
    }

    /// Hands the batches to `handle_events`, asking for more after each as due.
    async fn handle(&self, st: &mut Running<Self>, input: Input<Self>) -> Next {
        let Input::Events(sub, events) = input else {
            return None; // nothing else reaches a consumer
        };
        for (batch, ask) in st.inbound.split(sub, events) {
            match catching(self.0.handle_events(&st.me, batch, &mut st.state)).await {
                Ok(Flow::Continue) => st.inbound.ask(sub, ask),
                Ok(Flow::Stop(reason)) | Err(reason) => return Some(reason),
            }
        }
        None
    }

    async fn stopping(&self, st: &mut Running<Self>, why: &ExitReason) {
        let id = st.me.id();
        lifecycle::terminate(id, self.0.terminate(&st.me, why, &mut st.state)).await;
    }
}

impl<C: Consumer> Callbacks for ConsumerStage<C> {
    type Handler = C;

    fn of(handler: C) -> Self {
        ConsumerStage(handler)
    }
}
