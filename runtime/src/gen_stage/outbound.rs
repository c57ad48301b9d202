//! The producing half of a stage, shared by producers and producer-consumers.
//!
//! It owns the consumers' subscriptions, the demand dispatcher and the buffer,
//! and keeps one rule: events leave in the order they were emitted. Buffered
//! events are always older than new ones, so the buffer is drained against
//! demand before anything new is dispatched, and new events go behind it when
//! demand runs out. The counters a handle reads without a message round trip
//! (`buffered`, `dropped`, `dispatched`) are updated here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use ractor::ActorId;

use super::buffer::Buffer;
use super::dispatcher::DemandDispatcher;
use super::link::{SubId, Subscriber};

/// Counters a producing stage publishes to its handles.
#[derive(Debug, Default)]
pub(crate) struct OutboundCounters {
    /// Events waiting in the buffer now.
    pub(crate) buffered: AtomicUsize,
    /// Events discarded from a full buffer, ever.
    pub(crate) dropped: AtomicU64,
    /// Events sent to consumers, ever; counted before they are sent.
    pub(crate) dispatched: AtomicU64,
}

pub(crate) struct Outbound<E> {
    stage: ActorId,
    subscribers: HashMap<SubId, Subscriber<E>>,
    dispatcher: DemandDispatcher,
    buffer: Buffer<E>,
    counters: Arc<OutboundCounters>,
}

impl<E> Outbound<E> {
    pub(crate) fn new(stage: ActorId, buffer_size: usize, counters: Arc<OutboundCounters>) -> Self {
        Outbound {
            stage,
            subscribers: HashMap::new(),
            dispatcher: DemandDispatcher::default(),
            buffer: Buffer::new(buffer_size),
            counters,
        }
    }

    pub(crate) fn subscribe(&mut self, subscriber: Subscriber<E>) {
        self.dispatcher.subscribe(subscriber.id);
        self.subscribers.insert(subscriber.id, subscriber);
    }

    /// The consumer left: forget it without telling it.
    pub(crate) fn cancel(&mut self, id: SubId) {
        if let Some(subscriber) = self.subscribers.remove(&id) {
            self.dispatcher.cancel(id);
            subscriber.disarm();
        }
    }

    /// Records `n` more demand from `id`, serves what it can from the buffer, and
    /// returns the demand the stage itself still has to fill.
    pub(crate) fn ask(&mut self, id: SubId, n: usize) -> usize {
        let Some(new_demand) = self.dispatcher.ask(id, n) else {
            return 0;
        };
        let served = self.drain_buffer();
        new_demand.saturating_sub(served)
    }

    /// Demand from consumers not yet met.
    pub(crate) fn demand(&self) -> usize {
        self.dispatcher.total_demand()
    }

    /// Sends `events` to whoever has demand, buffering the rest behind older events.
    pub(crate) fn emit(&mut self, events: Vec<E>) {
        if events.is_empty() {
            return;
        }
        self.drain_buffer();
        let rest = if self.buffer.is_empty() {
            self.dispatch(events)
        } else {
            events
        };
        if !rest.is_empty() {
            let dropped = self.buffer.push(rest);
            if dropped > 0 {
                self.counters
                    .dropped
                    .fetch_add(dropped as u64, Ordering::SeqCst);
                tracing::warn!(
                    stage = %self.stage,
                    dropped,
                    "GenStage producer buffer full: discarded the oldest events"
                );
            }
        }
        self.publish_buffered();
    }

    /// Ends every subscription, telling each consumer (through the subscriber's
    /// drop) with the reason already recorded in the stage's exit cell.
    pub(crate) fn close(&mut self) {
        self.subscribers.clear();
    }

    /// Sends as many buffered events as there is demand for; returns how many.
    fn drain_buffer(&mut self) -> usize {
        let n = self.buffer.len().min(self.dispatcher.total_demand());
        if n == 0 {
            return 0;
        }
        let events = self.buffer.take(n);
        // The gauge first: a consumer handed the last events may look at it
        // at once, and must not find them still counted as buffered.
        self.publish_buffered();
        let rest = self.dispatch(events);
        let served = n - rest.len();
        if !rest.is_empty() {
            // Cannot happen (there was demand for all of them); keep them in order if it does.
            self.buffer.push_front(rest);
            self.publish_buffered();
        }
        served
    }

    /// Hands events to the dispatcher and sends its deliveries; returns the rest.
    fn dispatch(&mut self, events: Vec<E>) -> Vec<E> {
        let (deliveries, rest) = self.dispatcher.dispatch(events);
        for (id, batch) in deliveries {
            if let Some(subscriber) = self.subscribers.get(&id) {
                self.counters
                    .dispatched
                    .fetch_add(batch.len() as u64, Ordering::SeqCst);
                // A consumer that is gone will cancel; its events are lost, as in GenStage.
                subscriber.send_events(batch);
            }
        }
        rest
    }

    fn publish_buffered(&self) {
        self.counters
            .buffered
            .store(self.buffer.len(), Ordering::SeqCst);
    }
}
