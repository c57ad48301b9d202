//! The protocol between stages, whatever their behaviour types.
//!
//! A consumer must be able to subscribe to any stage that produces its event
//! type without knowing that stage's behaviour, and a producer must be able to
//! send to consumers of several kinds (consumers, producer-consumers, consumer
//! supervisors). So the messages that flow between stages — subscribe, ask,
//! cancel upward; events and cancellation downward — are generic over the event
//! type only, and each side reaches the other through a type-erased sender
//! ([`Upstream`], [`Downstream`]).
//!
//! GenStage monitors both ways; ractor's monitors are not enabled here, so exit
//! notification is done by ownership instead. The producer's record of a
//! consumer, [`Subscriber`], tells that consumer its subscription is cancelled
//! when it is dropped — when the producer finishes, when the producer's mailbox
//! is dropped with the subscribe request still in it, or when the request could
//! not be delivered at all — with the producer's exit reason (`Killed` if it
//! never recorded one: only a kill skips that). The consumer, in turn, cancels
//! its subscriptions when it finishes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ractor::{ActorCell, ActorRef};

use super::lifecycle::ExitCell;
use crate::exit::ExitReason;

/// Identifies one subscription (GenStage's subscription reference).
pub(crate) type SubId = u64;

static NEXT_SUB: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_sub_id() -> SubId {
    NEXT_SUB.fetch_add(1, Ordering::Relaxed)
}

/// What a consumer sends its producer.
pub(crate) enum Upward<E> {
    /// Records a new consumer (with no demand yet).
    Subscribe(Subscriber<E>),
    /// The consumer wants this many more events.
    Ask(SubId, usize),
    /// The consumer is leaving.
    Cancel(SubId),
}

/// What a producer sends its consumers.
pub(crate) enum Downward<E> {
    /// Events, never more than the subscription has asked for.
    Events(SubId, Vec<E>),
    /// The subscription is over: the producer exited with this reason.
    Cancelled(SubId, ExitReason),
}

type SendUp<E> = Arc<dyn Fn(Upward<E>) -> bool + Send + Sync>;
type SendDown<E> = Arc<dyn Fn(Downward<E>) -> bool + Send + Sync>;

/// A handle to the producing side of a stage (a producer or a producer-consumer),
/// whatever its behaviour: what a consumer subscribes to. Get one from
/// [`Source::upstream`].
pub struct Upstream<E> {
    send: SendUp<E>,
    exit: Arc<ExitCell>,
    actor: ActorCell,
}

impl<E> Clone for Upstream<E> {
    fn clone(&self) -> Self {
        Upstream {
            send: self.send.clone(),
            exit: self.exit.clone(),
            actor: self.actor.clone(),
        }
    }
}

impl<E> std::fmt::Debug for Upstream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Upstream({})", self.actor.get_id())
    }
}

impl<E: Send + 'static> Upstream<E> {
    /// An upstream that wraps each message with `wrap` for `actor`'s mailbox.
    pub(crate) fn new<M: ractor::Message>(
        actor: ActorRef<M>,
        exit: Arc<ExitCell>,
        wrap: fn(Upward<E>) -> M,
    ) -> Self {
        let cell = actor.get_cell();
        Upstream {
            send: Arc::new(move |message| actor.send_message(wrap(message)).is_ok()),
            exit,
            actor: cell,
        }
    }
}

impl<E> Upstream<E> {
    /// `false` when the stage is gone.
    pub(crate) fn send(&self, message: Upward<E>) -> bool {
        (self.send)(message)
    }

    pub(crate) fn exit_cell(&self) -> Arc<ExitCell> {
        self.exit.clone()
    }

    /// The producing stage's actor.
    pub fn actor(&self) -> ActorCell {
        self.actor.clone()
    }
}

/// A stage that others can subscribe to: a producer or a producer-consumer
/// (GenStage's `subscribe_to: [producer]`).
pub trait Source<E> {
    /// The stage's producing side.
    fn upstream(&self) -> Upstream<E>;
}

impl<E> Source<E> for Upstream<E> {
    fn upstream(&self) -> Upstream<E> {
        self.clone()
    }
}

/// How a producer reaches one consumer, whatever its kind.
pub(crate) struct Downstream<E> {
    send: SendDown<E>,
}

impl<E> Clone for Downstream<E> {
    fn clone(&self) -> Self {
        Downstream {
            send: self.send.clone(),
        }
    }
}

impl<E: Send + 'static> Downstream<E> {
    /// A downstream that wraps each message with `wrap` for `actor`'s mailbox.
    pub(crate) fn new<M: ractor::Message>(actor: ActorRef<M>, wrap: fn(Downward<E>) -> M) -> Self {
        Downstream {
            send: Arc::new(move |message| actor.send_message(wrap(message)).is_ok()),
        }
    }
}

impl<E> Downstream<E> {
    fn send(&self, message: Downward<E>) -> bool {
        (self.send)(message)
    }
}

/// A producer's record of one consumer. Dropping it while armed tells the
/// consumer that the subscription is over, with the producer's exit reason.
pub(crate) struct Subscriber<E> {
    pub(crate) id: SubId,
    downstream: Downstream<E>,
    producer_exit: Arc<ExitCell>,
    armed: bool,
}

impl<E> Subscriber<E> {
    pub(crate) fn new(id: SubId, downstream: Downstream<E>, producer_exit: Arc<ExitCell>) -> Self {
        Subscriber {
            id,
            downstream,
            producer_exit,
            armed: true,
        }
    }

    /// Sends events; `false` when the consumer is gone.
    pub(crate) fn send_events(&self, events: Vec<E>) -> bool {
        self.downstream.send(Downward::Events(self.id, events))
    }

    /// Drops the record without telling the consumer (it cancelled itself).
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl<E> Drop for Subscriber<E> {
    fn drop(&mut self) {
        if self.armed {
            // A producer records its reason before its mailbox can be dropped on
            // every path it controls; only a kill leaves nothing recorded.
            let reason = self.producer_exit.get().unwrap_or(ExitReason::Killed);
            self.downstream.send(Downward::Cancelled(self.id, reason));
        }
    }
}
