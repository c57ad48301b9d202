//! The lightweight process's mailbox: a mutex-guarded queue with one waker.
//!
//! Why not `tokio::sync::mpsc`? An unbounded tokio channel allocates its first
//! 32-slot block up front and cannot report its length. An idle process should
//! cost as little as the BEAM's (2.6 KB), and introspection wants queue lengths,
//! so this queue allocates nothing until the first message and knows its size.
//! Many senders, one receiver (the process); the lock is held only to push or pop.
//!
//! The mailbox also carries the process's exit status, so that a monitor taken
//! after the process died still learns why, and the handle that aborts the
//! process's task for a kill.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::exit::ExitReason;

/// Keeps `waker` in `slot` to wake the task that waits on a queue, cloning it
/// only when the slot is empty or holds a waker for another task: a reader
/// polled again and again then clones nothing. Shared by this mailbox and by
/// other single-reader queues built like it (a connection's outbox).
#[inline]
pub fn park_waker(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

pub(crate) struct Mailbox<M> {
    id: u64,
    inner: Mutex<Inner<M>>,
}

struct Inner<M> {
    queue: VecDeque<M>,
    waker: Option<Waker>,
    /// The process is running `init` or handling a message: it is not waiting
    /// in `recv` with an empty queue.
    busy: bool,
    /// `Some` once the process has exited; no message is accepted after that.
    exit: Option<ExitReason>,
    monitors: Vec<oneshot::Sender<ExitReason>>,
    abort: Option<AbortHandle>,
    kill_requested: bool,
}

impl<M> Mailbox<M> {
    pub(crate) fn new(id: u64) -> Self {
        Mailbox {
            id,
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                waker: None,
                busy: true,
                exit: None,
                monitors: Vec::new(),
                abort: None,
                kill_requested: false,
            }),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.lock().exit.is_some()
    }

    /// The process waits in `recv` with nothing queued.
    pub(crate) fn is_idle(&self) -> bool {
        let inner = self.inner.lock();
        !inner.busy && inner.queue.is_empty() && inner.exit.is_none()
    }

    /// Queues a message; gives it back when the process has exited.
    pub(crate) fn push(&self, message: M) -> Result<(), M> {
        let waker = {
            let mut inner = self.inner.lock();
            if inner.exit.is_some() {
                return Err(message);
            }
            inner.queue.push_back(message);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// The next message, waiting for one if the queue is empty.
    pub(crate) async fn recv(&self) -> M {
        poll_fn(|cx| {
            let mut inner = self.inner.lock();
            match inner.queue.pop_front() {
                Some(message) => {
                    inner.busy = true;
                    Poll::Ready(message)
                }
                None => {
                    inner.busy = false;
                    park_waker(&mut inner.waker, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Registers a monitor, or returns the exit reason if the process is gone.
    pub(crate) fn monitor(&self, tx: oneshot::Sender<ExitReason>) -> Result<(), ExitReason> {
        let mut inner = self.inner.lock();
        match &inner.exit {
            Some(reason) => Err(reason.clone()),
            None => {
                inner.monitors.push(tx);
                Ok(())
            }
        }
    }

    /// Records the exit, refuses further messages and tells the monitors.
    /// Messages still queued are dropped outside the lock: pending callers see `Exited`.
    pub(crate) fn close(&self, reason: &ExitReason) {
        let (queued, monitors) = {
            let mut inner = self.inner.lock();
            if inner.exit.is_some() {
                return;
            }
            inner.exit = Some(reason.clone());
            inner.abort = None;
            (
                std::mem::take(&mut inner.queue),
                std::mem::take(&mut inner.monitors),
            )
        };
        drop(queued);
        for monitor in monitors {
            let _ = monitor.send(reason.clone());
        }
    }

    /// Remembers how to abort the process's task; honours a kill that came first.
    pub(crate) fn set_abort(&self, handle: AbortHandle) {
        let kill_now = {
            let mut inner = self.inner.lock();
            if !inner.kill_requested && inner.exit.is_none() {
                inner.abort = Some(handle.clone());
            }
            inner.kill_requested
        };
        if kill_now {
            handle.abort();
        }
    }

    /// Aborts the process's task; its exit guard closes the mailbox with `Killed`.
    pub(crate) fn kill(&self) {
        let handle = {
            let mut inner = self.inner.lock();
            inner.kill_requested = inner.abort.is_none();
            inner.abort.take()
        };
        // Outside the lock: the aborted task's exit guard closes this mailbox.
        if let Some(handle) = handle {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_come_out_in_order_and_are_counted() {
        let mailbox = Mailbox::new(1);
        for n in 0..3 {
            mailbox.push(n).unwrap();
        }
        assert_eq!(mailbox.len(), 3);
        assert_eq!(mailbox.recv().await, 0);
        assert_eq!(mailbox.recv().await, 1);
        assert_eq!(mailbox.len(), 1);
    }

    #[tokio::test]
    async fn a_closed_mailbox_refuses_messages_and_answers_monitors() {
        let mailbox = Mailbox::new(1);
        let (tx, rx) = oneshot::channel();
        mailbox.monitor(tx).unwrap();
        mailbox.close(&ExitReason::Normal);
        assert_eq!(rx.await.unwrap(), ExitReason::Normal);
        assert_eq!(mailbox.push(5), Err(5));
        let (late, _) = oneshot::channel();
        assert_eq!(mailbox.monitor(late), Err(ExitReason::Normal));
    }

    #[tokio::test]
    async fn idle_only_while_waiting_with_nothing_queued() {
        let mailbox = Mailbox::new(1);
        assert!(!mailbox.is_idle(), "busy until the process first waits");
        mailbox.push(1).unwrap();
        assert_eq!(mailbox.recv().await, 1);
        assert!(!mailbox.is_idle(), "handling a message");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(10), mailbox.recv());
        assert!(waiting.await.is_err());
        assert!(mailbox.is_idle());
        mailbox.push(2).unwrap();
        assert!(!mailbox.is_idle(), "a message is queued");
        mailbox.close(&ExitReason::Normal);
        assert!(!mailbox.is_idle());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_push() {
        let mailbox = std::sync::Arc::new(Mailbox::new(1));
        let receiver = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.recv().await }
        });
        tokio::task::yield_now().await;
        mailbox.push("hello").unwrap();
        assert_eq!(receiver.await.unwrap(), "hello");
    }
}
