//! GenStage: demand-driven pipelines (book chapter 6).
//!
//! Stages exchange events under back-pressure: a consumer asks its producer
//! for at most `max_demand` events, the producer sends no more than asked, and
//! the consumer asks again as it works through them. Every stage is a ractor
//! actor, so stages sit in supervision trees like any service.
//!
//! - [`Producer`] ([`ProducerRef`]): emits events on demand or when pushed,
//!   buffering (bounded, oldest dropped) what nobody asked for yet.
//! - [`Consumer`] ([`ConsumerRef`]): handles events in batches.
//! - [`ProducerConsumer`] ([`ProducerConsumerRef`]): transforms events, passing
//!   demand from its consumers back to its producers.
//! - [`ConsumerSupervisor`]: starts one supervised worker per event, at most
//!   `max_demand` at a time.
//!
//! All four run on one stage core (`stage.rs`): [`StageRef`] is the handle of
//! every kind, [`StageOptions`] their options (name, buffer size,
//! subscriptions).
//!
//! The book's pipeline:
//!
//! ```ignore
//! let producer = ProducerRef::start(Queue, (), ProducerOptions::default().named("producer")).await?;
//! let workers = ConsumerSupervisor::start(
//!     ConsumerSupervisorOptions::new(|item| async move { process(item).await })
//!         .subscribe_to(&producer, SubscribeOptions::new(10, 5)),
//! )
//! .await?;
//! producer.push(item)?;
//! ```
//!
//! A stage that exits cancels its subscriptions: its producers forget it, and
//! its consumers exit with the same reason unless subscribed with another
//! [`Cancel`] policy.

mod buffer;
mod consumer;
mod consumer_supervisor;
mod demand;
mod dispatcher;
mod inbound;
mod lifecycle;
mod link;
mod options;
mod outbound;
mod producer;
mod producer_consumer;
mod stage;

pub use buffer::DEFAULT_BUFFER_SIZE;
pub use consumer::{Consumer, ConsumerRef};
pub use consumer_supervisor::{ConsumerSupervisor, ConsumerSupervisorOptions, WorkerFn};
pub use demand::{Cancel, SubscribeOptions, DEFAULT_MAX_DEMAND};
pub use link::{Source, Upstream};
pub use options::{ConsumerOptions, ProducerConsumerOptions, ProducerOptions, StageOptions};
pub use producer::{Producer, ProducerRef};
pub use producer_consumer::{ProducerConsumer, ProducerConsumerRef};
pub use stage::StageRef;

use crate::exit::ExitReason;

/// What a producing callback asks for next (GenStage's `{:noreply, events, state}`
/// and `{:stop, reason, state}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageFlow<E> {
    /// Emit these events, possibly none, and keep running.
    Emit(Vec<E>),
    /// Stop with this reason; `terminate` runs.
    Stop(ExitReason),
}

impl<E> StageFlow<E> {
    /// Keep running without emitting anything.
    pub fn none() -> Self {
        StageFlow::Emit(Vec::new())
    }

    /// Emit `events` and keep running.
    pub fn emit(events: impl IntoIterator<Item = E>) -> Self {
        StageFlow::Emit(events.into_iter().collect())
    }
}

impl<E> From<Vec<E>> for StageFlow<E> {
    fn from(events: Vec<E>) -> Self {
        StageFlow::Emit(events)
    }
}
