//! Subscription options and the consumer side's demand bookkeeping.
//!
//! Back-pressure lives here. A consumer asks its producer for `max_demand`
//! events when it subscribes and never holds more than it asked for; as it
//! works through what it received it asks again, in batches, so that the
//! producer always has between `min_demand` and `max_demand` outstanding. The
//! arithmetic is GenStage's, kept apart from the actors so that it can be
//! tested on its own:
//!
//! - a consumer (and a producer-consumer) splits what it receives into batches
//!   of at most `max_demand - min_demand` events, hands each batch to its
//!   callback, and after a batch asks for more once its outstanding demand has
//!   fallen to `min_demand` or below — topping it back up to `max_demand`
//!   (`GenStage.split_batches/7`);
//! - a consumer supervisor asks again as its workers finish, once `min_demand`
//!   of them have (`ConsumerSupervisor.maybe_ask/6`).

use crate::exit::ExitReason;

/// GenStage's default `max_demand`.
pub const DEFAULT_MAX_DEMAND: usize = 1000;

/// What a consumer does when its producer goes away (GenStage's `:cancel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cancel {
    /// Exit with the producer's reason, whatever it is (the default).
    #[default]
    Permanent,
    /// Exit only if the producer's reason is abnormal.
    Transient,
    /// Keep running without this subscription.
    Temporary,
}

impl Cancel {
    /// Whether a consumer whose producer exited with `reason` exits too.
    pub fn stops_for(self, reason: &ExitReason) -> bool {
        match self {
            Cancel::Permanent => true,
            Cancel::Transient => !reason.is_normal(),
            Cancel::Temporary => false,
        }
    }
}

/// How a consumer subscribes to a producer (`subscribe_to: [{producer, opts}]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// The most events the consumer ever has outstanding (asked for and not yet
    /// processed). Default 1000.
    pub max_demand: usize,
    /// Ask again once outstanding demand falls to this. Must be below
    /// `max_demand`; default `max_demand / 2`.
    pub min_demand: usize,
    /// What to do when the producer exits.
    pub cancel: Cancel,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions::max_demand(DEFAULT_MAX_DEMAND)
    }
}

impl SubscribeOptions {
    /// `max_demand` and `min_demand` as given (the book uses `new(10, 5)`).
    pub fn new(max_demand: usize, min_demand: usize) -> Self {
        SubscribeOptions {
            max_demand,
            min_demand,
            cancel: Cancel::Permanent,
        }
    }

    /// `max_demand` with GenStage's default `min_demand` of half of it.
    pub fn max_demand(max_demand: usize) -> Self {
        SubscribeOptions::new(max_demand, max_demand / 2)
    }

    /// The same options with another cancel policy.
    pub fn cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// GenStage's checks: `max_demand >= 1` and `0 <= min_demand < max_demand`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_demand == 0 {
            return Err("max_demand must be at least 1".into());
        }
        if self.min_demand >= self.max_demand {
            return Err(format!(
                "min_demand ({}) must be below max_demand ({})",
                self.min_demand, self.max_demand
            ));
        }
        Ok(())
    }
}

/// One subscription's demand, as its consumer sees it.
#[derive(Debug)]
pub(crate) struct DemandCounter {
    min: usize,
    max: usize,
    /// Asked for and not yet received (automatic demand: consumers).
    demand: usize,
    /// Received and not yet finished (manual demand: consumer supervisors).
    in_progress: usize,
    /// Finished and not yet asked for again (manual demand).
    pending: usize,
}

impl DemandCounter {
    /// A fresh subscription; the consumer asks for `max_demand` at once.
    pub(crate) fn new(options: &SubscribeOptions) -> Self {
        DemandCounter {
            min: options.min_demand,
            max: options.max_demand,
            demand: options.max_demand,
            in_progress: 0,
            pending: 0,
        }
    }

    /// Splits received events into the batches to process, each with how much to
    /// ask for once it has been processed (0: nothing yet).
    pub(crate) fn split<E>(&mut self, mut events: Vec<E>) -> Vec<(Vec<E>, usize)> {
        let limit = self.max - self.min;
        let mut unreceived = self.demand;
        let mut demand = self.demand;
        let mut batches = Vec::new();
        while !events.is_empty() {
            let rest = events.split_off(limit.min(events.len()));
            let batch = std::mem::replace(&mut events, rest);
            let mut size = batch.len();
            if size > unreceived {
                tracing::error!(
                    excess = size - unreceived,
                    "GenStage consumer received more events than it asked for"
                );
                size = unreceived;
            }
            unreceived -= size;
            let left = demand.saturating_sub(size);
            let ask = if left <= self.min {
                demand = self.max;
                self.max - left
            } else {
                demand = left;
                0
            };
            batches.push((batch, ask));
        }
        self.demand = demand;
        batches
    }

    /// A consumer supervisor received `n` events (one worker each).
    pub(crate) fn received(&mut self, n: usize) {
        if self.in_progress + self.pending + n > self.max {
            tracing::error!(
                excess = self.in_progress + self.pending + n - self.max,
                "ConsumerSupervisor received more events than it asked for"
            );
        }
        self.in_progress += n;
    }

    /// A consumer supervisor finished `n` events; returns how many to ask for now.
    pub(crate) fn finished(&mut self, n: usize) -> usize {
        self.in_progress = self.in_progress.saturating_sub(n);
        self.pending += n;
        if self.pending > 0 && self.pending >= self.min {
            std::mem::take(&mut self.pending)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a counter as a well-behaved producer would (never more than asked)
    /// and checks that outstanding + in-hand never exceeds max_demand.
    fn run(max: usize, min: usize, deliveries: &[usize]) {
        let mut counter = DemandCounter::new(&SubscribeOptions::new(max, min));
        let mut outstanding = max; // as the producer sees it
        for &n in deliveries {
            let n = n.min(outstanding);
            if n == 0 {
                continue;
            }
            outstanding -= n;
            let mut in_hand = n;
            for (batch, ask) in counter.split(vec![(); n]) {
                assert!(batch.len() <= max - min);
                assert!(outstanding + in_hand <= max);
                in_hand -= batch.len();
                outstanding += ask;
                assert!(outstanding + in_hand <= max);
            }
            assert_eq!(counter.demand, outstanding);
            assert!(
                outstanding > min,
                "the consumer must top up once at or below min"
            );
        }
    }

    #[test]
    fn never_exceeds_max_demand() {
        run(10, 5, &[1, 10, 3, 7, 10, 10, 2, 9]);
        run(1000, 500, &[1000, 600, 1, 999]);
        run(1, 0, &[1, 1, 1]);
        run(10, 9, &[10, 1, 1, 10]);
        run(10, 0, &[10, 10, 5]);
    }

    #[test]
    fn book_settings_ask_in_batches_of_five() {
        let mut counter = DemandCounter::new(&SubscribeOptions::new(10, 5));
        let batches = counter.split((0..10).collect::<Vec<u32>>());
        let shape: Vec<(Vec<u32>, usize)> = batches;
        assert_eq!(
            shape,
            vec![(vec![0, 1, 2, 3, 4], 5), (vec![5, 6, 7, 8, 9], 5)]
        );
    }

    #[test]
    fn consumer_supervisor_asks_once_min_demand_finished() {
        let mut counter = DemandCounter::new(&SubscribeOptions::new(10, 5));
        counter.received(10);
        assert_eq!(counter.finished(1), 0);
        assert_eq!(counter.finished(3), 0);
        assert_eq!(counter.finished(1), 5);
        assert_eq!(counter.finished(1), 0);
    }

    #[test]
    fn options_are_validated() {
        assert!(SubscribeOptions::new(10, 5).validate().is_ok());
        assert!(SubscribeOptions::new(0, 0).validate().is_err());
        assert!(SubscribeOptions::new(5, 5).validate().is_err());
        assert_eq!(SubscribeOptions::default().min_demand, 500);
    }

    #[test]
    fn cancel_policies() {
        let crash = ExitReason::Error("boom".into());
        assert!(Cancel::Permanent.stops_for(&ExitReason::Normal));
        assert!(!Cancel::Transient.stops_for(&ExitReason::Normal));
        assert!(Cancel::Transient.stops_for(&crash));
        assert!(!Cancel::Temporary.stops_for(&crash));
    }
}
