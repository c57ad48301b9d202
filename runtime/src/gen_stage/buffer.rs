//! The producer's bounded event buffer.
//!
//! A producer that emits events nobody has asked for yet keeps them here until
//! demand arrives (GenStage's `buffer_size`, default 10 000). When the buffer
//! is full the OLDEST events are discarded to make room (GenStage's default
//! `buffer_keep: :last`), and the number discarded is returned so that the
//! producer can count and log it. Pure data: no actor, no locking.

use std::collections::VecDeque;

/// GenStage's default `buffer_size` for producers.
pub const DEFAULT_BUFFER_SIZE: usize = 10_000;

/// A FIFO queue of at most `capacity` events that drops its oldest on overflow.
#[derive(Debug)]
pub(crate) struct Buffer<E> {
    queue: VecDeque<E>,
    capacity: usize,
}

impl<E> Buffer<E> {
    /// `usize::MAX` means unbounded (GenStage's `:infinity`).
    pub(crate) fn new(capacity: usize) -> Self {
        Buffer {
            queue: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Appends `events` in order; returns how many old events were discarded.
    pub(crate) fn push(&mut self, events: Vec<E>) -> usize {
        if self.capacity == 0 {
            return events.len();
        }
        let mut dropped = 0;
        for event in events {
            if self.queue.len() >= self.capacity {
                self.queue.pop_front();
                dropped += 1;
            }
            self.queue.push_back(event);
        }
        dropped
    }

    /// Puts events back at the front, ahead of everything buffered (never drops:
    /// they came out of this buffer a moment ago).
    pub(crate) fn push_front(&mut self, events: Vec<E>) {
        for event in events.into_iter().rev() {
            self.queue.push_front(event);
        }
    }

    /// Removes and returns up to `n` of the oldest events.
    pub(crate) fn take(&mut self, n: usize) -> Vec<E> {
        let n = n.min(self.queue.len());
        self.queue.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_drops_the_oldest_on_overflow() {
        let mut buffer = Buffer::new(3);
        assert_eq!(buffer.push(vec![1, 2]), 0);
        assert_eq!(buffer.push(vec![3, 4, 5]), 2);
        assert_eq!(buffer.len(), 3);
        assert_eq!(buffer.take(2), vec![3, 4]);
        assert_eq!(buffer.take(10), vec![5]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut buffer = Buffer::new(0);
        assert_eq!(buffer.push(vec![1, 2, 3]), 3);
        assert!(buffer.is_empty());
    }

    #[test]
    fn push_front_restores_order() {
        let mut buffer = Buffer::new(usize::MAX);
        buffer.push(vec![3, 4]);
        buffer.push_front(vec![1, 2]);
        assert_eq!(buffer.take(4), vec![1, 2, 3, 4]);
    }
}
