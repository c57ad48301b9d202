//! The book's data pipeline (chapter 6): `Producer` (buffer 10,000) →
//! `ConsumerSupervisor` (max_demand 10, min_demand 5) → one `Worker` task per
//! item, which broadcasts the item to `user:<id>`. `push_timed` stamps an item
//! with the time it was enqueued; `AuthChannel` intercepts `push_timed` and
//! records `pipeline.push_delivered` where it sends the frame.

use std::time::{SystemTime, UNIX_EPOCH};

use runtime::gen_stage::{
    ConsumerSupervisor, ConsumerSupervisorOptions, Producer as StageProducer, ProducerOptions,
    ProducerRef, SubscribeOptions,
};
use runtime::ractor::ActorCell;
use runtime::server::StartError;
use runtime::ProcessError;
use serde_json::{json, Value};

use channels::pubsub::PubSub;

/// One item of work: data for one user, maybe with its enqueue time.
#[derive(Debug, Clone)]
pub struct Item {
    /// What to push.
    pub data: Value,
    /// To whom: the topic `user:<user_id>`.
    pub user_id: u64,
    /// Milliseconds since the Unix epoch when `push_timed` enqueued it.
    pub enqueued_at: Option<u64>,
}

/// The producer: events come only from `push`, so demand needs no handling.
pub struct Producer;

impl StageProducer for Producer {
    type Args = ();
    type State = ();
    type Event = Item;
    type Cast = ();
    type Info = ();

    async fn init(&self, _myself: &ProducerRef<Self>, _args: ()) -> Result<(), ProcessError> {
        Ok(())
    }
}

/// Milliseconds since the Unix epoch (`Timing.unix_ms_now()`): wall-clock time,
/// so an enqueue on one node and a delivery on another can be compared.
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The running pipeline.
#[derive(Clone)]
pub struct Pipeline {
    producer: ProducerRef<Producer>,
    workers: ConsumerSupervisor<Item>,
}

/// The book's buffer size.
pub const BUFFER_SIZE: usize = 10_000;

impl Pipeline {
    /// Starts the producer and the consumer supervisor, linked under `parent` if given.
    pub async fn start(pubsub: PubSub, parent: Option<ActorCell>) -> Result<Self, StartError> {
        let options = ProducerOptions::default().buffer_size(BUFFER_SIZE);
        let producer = match &parent {
            Some(parent) => {
                ProducerRef::start_linked(Producer, (), options, parent.clone()).await?
            }
            None => ProducerRef::start(Producer, (), options).await?,
        };
        let workers = ConsumerSupervisorOptions::new(move |item: Item| {
            let pubsub = pubsub.clone();
            async move {
                process(&pubsub, item);
                Ok(())
            }
        })
        .subscribe_to(&producer, SubscribeOptions::new(10, 5));
        let workers = match parent {
            Some(parent) => ConsumerSupervisor::start_linked(workers, parent).await?,
            None => ConsumerSupervisor::start(workers).await?,
        };
        Ok(Pipeline { producer, workers })
    }

    /// `Producer.push/1`: enqueue `data` for `user_id`.
    pub fn push(&self, data: Value, user_id: u64) -> bool {
        self.producer
            .push(Item {
                data,
                user_id,
                enqueued_at: None,
            })
            .is_ok()
    }

    /// `Producer.push_timed/1`: enqueue with the current time, so delivery can be timed.
    pub fn push_timed(&self, data: Value, user_id: u64) -> bool {
        self.producer
            .push(Item {
                data,
                user_id,
                enqueued_at: Some(unix_ms_now()),
            })
            .is_ok()
    }

    /// Items dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.producer.dropped()
    }

    /// Workers running now.
    pub fn running(&self) -> usize {
        self.workers.running()
    }
}

/// The worker's job (`Worker.process/1`).
fn process(pubsub: &PubSub, item: Item) {
    let topic = format!("user:{}", item.user_id);
    match item.enqueued_at {
        Some(at) => pubsub.broadcast(&topic, "push_timed", json!({"data": item.data, "at": at})),
        None => pubsub.broadcast(&topic, "push", item.data),
    }
}
