//! Where and how to start a stage, and what it subscribes to.
//!
//! Every kind of stage is started with a name to register under, the size of
//! its output buffer (for the kinds that emit) and the producers to subscribe
//! to (for the kinds that consume): one type serves them all, so that
//! `ProducerOptions`, `ConsumerOptions` and `ProducerConsumerOptions` are
//! configured alike.

use std::convert::Infallible;
use std::fmt;

use super::demand::SubscribeOptions;
use super::inbound::Subscription;
use super::link::Source;

/// Where and how to start a stage consuming `In`, and what it subscribes to.
pub struct StageOptions<In> {
    /// Registers the actor under this name (see `lookup`).
    pub name: Option<String>,
    /// Output kept while nobody asks for it; beyond it the oldest is dropped.
    /// `None`: the kind's default — 10 000 for a producer (GenStage's), unbounded
    /// for a producer-consumer.
    pub buffer_size: Option<usize>,
    pub(crate) subscriptions: Vec<Subscription<In>>,
}

/// A producer's options: it subscribes to nothing.
pub type ProducerOptions = StageOptions<Infallible>;

/// A consumer's options.
pub type ConsumerOptions<E> = StageOptions<E>;

/// A producer-consumer's options.
pub type ProducerConsumerOptions<In> = StageOptions<In>;

impl<In> Default for StageOptions<In> {
    fn default() -> Self {
        StageOptions {
            name: None,
            buffer_size: None,
            subscriptions: Vec::new(),
        }
    }
}

impl<In> Clone for StageOptions<In> {
    fn clone(&self) -> Self {
        StageOptions {
            name: self.name.clone(),
            buffer_size: self.buffer_size,
            subscriptions: self.subscriptions.clone(),
        }
    }
}

impl<In> fmt::Debug for StageOptions<In> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageOptions")
            .field("name", &self.name)
            .field("buffer_size", &self.buffer_size)
            .field("subscriptions", &self.subscriptions.len())
            .finish()
    }
}

impl<In> StageOptions<In> {
    /// No name, the kind's buffer size, no subscription yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same options with the actor registered under `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same options with another buffer size (the book's `buffer_size: 10_000`).
    pub fn buffer_size(mut self, buffer_size: usize) -> Self {
        self.buffer_size = Some(buffer_size);
        self
    }

    /// Adds a producer to subscribe to at start (`subscribe_to: [{producer, opts}]`).
    pub fn subscribe_to(mut self, source: &impl Source<In>, options: SubscribeOptions) -> Self {
        self.subscriptions.push(Subscription::new(source, options));
        self
    }
}
