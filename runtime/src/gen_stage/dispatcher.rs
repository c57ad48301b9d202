//! Which subscriber gets which events: GenStage's `DemandDispatcher`.
//!
//! A producer with several consumers sends each batch of events to the
//! consumer with the most pending demand, then the next, until the events or
//! the demand run out; what is left goes to the producer's buffer. Consumers
//! with equal demand are served in subscription order. Only the bookkeeping is
//! here — who is owed how many events — so that it can be tested without
//! actors; the producer does the sending.

use super::link::SubId;

/// Pending demand per subscriber, highest first.
#[derive(Debug, Default)]
pub(crate) struct DemandDispatcher {
    /// Sorted by demand, descending; ties keep their arrival order.
    demands: Vec<(SubId, usize)>,
    /// Demand of cancelled subscribers that the producer was already asked to
    /// fill: later demand is reduced by it so that it is not asked for twice.
    pending: usize,
    /// Sum of the demands, so that callers need not walk the list.
    total: usize,
}

impl DemandDispatcher {
    /// A new subscriber starts with no demand; it asks separately.
    pub(crate) fn subscribe(&mut self, id: SubId) {
        self.demands.push((id, 0));
    }

    /// Forgets a subscriber; its unmet demand is remembered as `pending`.
    pub(crate) fn cancel(&mut self, id: SubId) {
        if let Some(current) = self.pop(id) {
            self.pending += current;
        }
    }

    /// Adds demand for `id`; returns how much of it is new to the producer
    /// (`None` for an unknown subscriber).
    pub(crate) fn ask(&mut self, id: SubId, n: usize) -> Option<usize> {
        let current = self.pop(id)?;
        self.insert(id, current + n);
        let already_asked = self.pending.min(n);
        self.pending -= already_asked;
        Some(n - already_asked)
    }

    /// Demand not yet met, over all subscribers.
    pub(crate) fn total_demand(&self) -> usize {
        self.total
    }

    /// Assigns events, in order, to the subscribers with the most demand; returns
    /// the deliveries and the events nobody asked for.
    pub(crate) fn dispatch<E>(&mut self, mut events: Vec<E>) -> (Vec<(SubId, Vec<E>)>, Vec<E>) {
        let mut deliveries = Vec::new();
        while !events.is_empty() {
            let Some(&(id, demand)) = self.demands.first() else {
                break;
            };
            if demand == 0 {
                break;
            }
            self.demands.remove(0);
            self.total -= demand;
            let n = demand.min(events.len());
            let rest = events.split_off(n);
            deliveries.push((id, std::mem::replace(&mut events, rest)));
            self.insert(id, demand - n);
        }
        (deliveries, events)
    }

    fn pop(&mut self, id: SubId) -> Option<usize> {
        let pos = self.demands.iter().position(|&(sub, _)| sub == id)?;
        let (_, current) = self.demands.remove(pos);
        self.total -= current;
        Some(current)
    }

    /// Inserts after every subscriber with at least as much demand.
    fn insert(&mut self, id: SubId, demand: usize) {
        let pos = self
            .demands
            .iter()
            .position(|&(_, other)| demand > other)
            .unwrap_or(self.demands.len());
        self.demands.insert(pos, (id, demand));
        self.total += demand;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dispatcher with subscribers 1 and 2, in that order, without demand.
    fn two_subscribers() -> DemandDispatcher {
        let mut d = DemandDispatcher::default();
        d.subscribe(1);
        d.subscribe(2);
        d
    }

    #[test]
    fn highest_demand_first_and_leftovers_returned() {
        let mut d = two_subscribers();
        assert_eq!(d.ask(1, 2), Some(2));
        assert_eq!(d.ask(2, 3), Some(3));
        assert_eq!(d.total_demand(), 5);
        let (deliveries, rest) = d.dispatch((0..7).collect());
        assert_eq!(deliveries, vec![(2, vec![0, 1, 2]), (1, vec![3, 4])]);
        assert_eq!(rest, vec![5, 6]);
        assert_eq!(d.total_demand(), 0);
    }

    #[test]
    fn equal_demand_is_served_in_subscription_order() {
        let mut d = two_subscribers();
        d.ask(1, 2);
        d.ask(2, 2);
        let (deliveries, _) = d.dispatch(vec!['a', 'b', 'c']);
        assert_eq!(deliveries, vec![(1, vec!['a', 'b']), (2, vec!['c'])]);
    }

    #[test]
    fn cancelled_demand_is_not_asked_for_twice() {
        let mut d = two_subscribers();
        assert_eq!(d.ask(1, 5), Some(5));
        d.cancel(1);
        assert_eq!(d.total_demand(), 0);
        assert_eq!(d.ask(2, 3), Some(0));
        assert_eq!(d.ask(2, 3), Some(1));
        assert_eq!(d.ask(9, 3), None);
    }
}
