//! The consuming half of a stage, shared by consumers, producer-consumers and
//! consumer supervisors.
//!
//! It subscribes to producers, keeps each subscription's demand counter, asks
//! for more when the counter says so, and cancels every subscription when the
//! stage finishes, so that producers stop counting on it.

use std::collections::HashMap;

use super::demand::{Cancel, DemandCounter, SubscribeOptions};
use super::link::{next_sub_id, Downstream, Source, SubId, Subscriber, Upstream, Upward};
use crate::exit::ExitReason;

/// A producer to subscribe to and how.
pub(crate) struct Subscription<E> {
    pub(crate) upstream: Upstream<E>,
    pub(crate) options: SubscribeOptions,
}

impl<E> Clone for Subscription<E> {
    fn clone(&self) -> Self {
        Subscription {
            upstream: self.upstream.clone(),
            options: self.options,
        }
    }
}

impl<E> Subscription<E> {
    pub(crate) fn new(source: &impl Source<E>, options: SubscribeOptions) -> Self {
        Subscription {
            upstream: source.upstream(),
            options,
        }
    }
}

/// Checks every subscription's options before a stage starts.
pub(crate) fn validate<E>(subscriptions: &[Subscription<E>]) -> Result<(), String> {
    subscriptions.iter().try_for_each(|s| s.options.validate())
}

struct Link<E> {
    upstream: Upstream<E>,
    demand: DemandCounter,
    cancel: Cancel,
}

pub(crate) struct Inbound<E> {
    links: HashMap<SubId, Link<E>>,
}

impl<E> Inbound<E> {
    pub(crate) fn new() -> Self {
        Inbound {
            links: HashMap::new(),
        }
    }

    /// Subscribes and asks for `max_demand`. `Err(NoProc)` when the producer is
    /// not running and the cancel policy says the consumer cannot do without it.
    pub(crate) fn subscribe(
        &mut self,
        subscription: Subscription<E>,
        downstream: &Downstream<E>,
    ) -> Result<(), ExitReason> {
        let Subscription { upstream, options } = subscription;
        let id = next_sub_id();
        let subscriber = Subscriber::new(id, downstream.clone(), upstream.exit_cell());
        if !upstream.send(Upward::Subscribe(subscriber)) {
            // The undelivered subscriber tells us too; a temporary subscription ignores it.
            let reason = ExitReason::NoProc;
            return if options.cancel.stops_for(&reason) {
                Err(reason)
            } else {
                Ok(())
            };
        }
        upstream.send(Upward::Ask(id, options.max_demand));
        self.links.insert(
            id,
            Link {
                upstream,
                demand: DemandCounter::new(&options),
                cancel: options.cancel,
            },
        );
        Ok(())
    }

    /// Splits received events into batches, each with the demand to ask for once
    /// it is processed. Events of a subscription this stage no longer has (sent
    /// before its cancel arrived) make one batch that asks for nothing.
    pub(crate) fn split(&mut self, id: SubId, events: Vec<E>) -> Vec<(Vec<E>, usize)> {
        match self.links.get_mut(&id) {
            Some(link) => link.demand.split(events),
            None => vec![(events, 0)],
        }
    }

    /// Asks the producer of `id` for `n` more events.
    pub(crate) fn ask(&self, id: SubId, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(link) = self.links.get(&id) {
            link.upstream.send(Upward::Ask(id, n));
        }
    }

    /// A consumer supervisor started `n` workers for events of `id`.
    pub(crate) fn received(&mut self, id: SubId, n: usize) {
        if let Some(link) = self.links.get_mut(&id) {
            link.demand.received(n);
        }
    }

    /// A consumer supervisor's worker for an event of `id` is done; asks for more
    /// when enough are.
    pub(crate) fn finished(&mut self, id: SubId) {
        if let Some(link) = self.links.get_mut(&id) {
            let ask = link.demand.finished(1);
            self.ask(id, ask);
        }
    }

    /// The producer ended the subscription; returns its cancel policy (`None` if
    /// the subscription was already gone).
    pub(crate) fn cancelled(&mut self, id: SubId) -> Option<Cancel> {
        self.links.remove(&id).map(|link| link.cancel)
    }

    /// Cancels every subscription (the stage is finishing).
    pub(crate) fn close(&mut self) {
        for (id, link) in self.links.drain() {
            link.upstream.send(Upward::Cancel(id));
        }
    }
}
