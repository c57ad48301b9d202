//! The ractor actor that every kind of supervisor runs as.
//!
//! What makes a supervisor a ractor actor is the same for every kind: build
//! the state (and register it) in `pre_start`, hand the kind its own requests,
//! turn a linked child's supervision event into an exit reason, and stop the
//! children in `post_stop`. [`SupervisorActor`] does that once; a kind says
//! what differs by implementing [`Supervision`] on its state.

use std::future::Future;
use std::marker::PhantomData;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::child::exit_of;
use super::children::Children;
use super::handle::Registration;
use crate::exit::ExitReason;

/// What handling a message or an event comes to: `Err` fails the supervisor.
pub(crate) type Handled = Result<(), ActorProcessingErr>;

/// What a kind's `init` comes to: its state, or why the start failed.
pub(crate) type Init<S> = Result<S, ActorProcessingErr>;

/// What a kind of supervisor does with its actor's life: implemented by the
/// state of each kind's actor.
pub(crate) trait Supervision: Sized + Send + 'static {
    /// The kind's own requests (start a child, restart one, …).
    type Msg: ractor::Message;
    /// What the kind is started with.
    type Args: Send + 'static;
    /// The kind's children table.
    type Children: Children;

    /// Builds the state, registers it, and starts any initial children;
    /// `Err` fails the start.
    fn init(myself: ActorCell, args: Self::Args) -> impl Future<Output = Init<Self>> + Send;

    /// The registration the state holds.
    fn registration(&self) -> &Registration<Self::Children>;

    /// Handles one of the kind's requests; `Err` fails the supervisor.
    fn handle(
        &mut self,
        message: Self::Msg,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = message;
        async { Ok(()) }
    }

    /// A linked ractor child exited; `Err` fails the supervisor (it gave up).
    fn child_exited(
        &mut self,
        actor: ActorId,
        reason: ExitReason,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (actor, reason);
        async { Ok(()) }
    }

    /// Stops every child, each within its shutdown (the supervisor is stopping).
    fn stop_all(&mut self) -> impl Future<Output = ()> + Send;
}

/// The supervisor actor of the kind whose state is `S`.
pub(crate) struct SupervisorActor<S>(PhantomData<fn() -> S>);

impl<S> SupervisorActor<S> {
    pub(crate) fn new() -> Self {
        SupervisorActor(PhantomData)
    }
}

impl<S: Supervision> Actor for SupervisorActor<S> {
    type Msg = S::Msg;
    type State = S;
    type Arguments = S::Args;

    async fn pre_start(
        &self,
        myself: ActorRef<S::Msg>,
        args: S::Args,
    ) -> Result<S, ActorProcessingErr> {
        S::init(myself.get_cell(), args).await
    }

    async fn handle(
        &self,
        _myself: ActorRef<S::Msg>,
        message: S::Msg,
        state: &mut S,
    ) -> Result<(), ActorProcessingErr> {
        state.handle(message).await
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<S::Msg>,
        event: SupervisionEvent,
        state: &mut S,
    ) -> Result<(), ActorProcessingErr> {
        match exit_of(event) {
            Some((actor, reason)) => state.child_exited(actor, reason).await,
            None => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<S::Msg>,
        state: &mut S,
    ) -> Result<(), ActorProcessingErr> {
        state.stop_all().await;
        state.registration().withdraw();
        Ok(())
    }
}
