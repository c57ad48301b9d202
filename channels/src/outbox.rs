//! A connection's outbound queue.
//!
//! Everything a connection must send goes through one queue: replies and pushes
//! from its channel processes, fastlane broadcasts from PubSub, and notices that
//! a channel exited (which the connection turns into `phx_close`/`phx_error`
//! after everything the channel queued before it). One queue keeps that order.
//!
//! The transport drains the queue in batches, so a burst of broadcasts costs one
//! wake-up and one flush. The queue counts its bytes: past `max_bytes` — a client
//! that stopped reading — it refuses more and asks the transport to close the
//! connection instead of growing the server's memory. Like the runtime's
//! mailbox, it allocates nothing while empty.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};

use parking_lot::Mutex;
use runtime::process::park_waker;

use crate::message::Ref;
use crate::serializer::Frame;
use crate::subscriber_id::SubscriberId;

/// Why the server closes a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// A frame could not be decoded (WebSocket close 1007).
    Malformed(String),
    /// No frame from the client within the heartbeat timeout (close 1000).
    HeartbeatTimeout,
    /// The socket's id topic received `disconnect` (close 1000).
    Disconnect,
    /// The client did not read what it was sent (close 1008).
    Overflow,
    /// The client sent a frame larger than allowed (close 1009).
    TooLarge(String),
    /// The client sent messages faster than allowed (close 1008).
    RateLimited,
    /// The server is shutting down (close 1001).
    ServerShutdown,
    /// The node is restarting and drains its sockets (close 1012, "service
    /// restart"): clients reconnect and rejoin, as after Phoenix's drainer.
    Restart,
    /// The client broke the WebSocket protocol: a reserved opcode or RSV bit,
    /// an unmasked frame, a bad continuation, an oversized or fragmented
    /// control frame (close 1002).
    Protocol(String),
}

impl CloseReason {
    /// WebSocket close code.
    pub fn code(&self) -> u16 {
        match self {
            CloseReason::Malformed(_) => 1007,
            CloseReason::HeartbeatTimeout | CloseReason::Disconnect => 1000,
            CloseReason::Overflow | CloseReason::RateLimited => 1008,
            CloseReason::TooLarge(_) => 1009,
            CloseReason::ServerShutdown => 1001,
            CloseReason::Restart => 1012,
            CloseReason::Protocol(_) => 1002,
        }
    }

    /// WebSocket close reason text (at most 123 bytes on the wire).
    pub fn text(&self) -> String {
        let text = match self {
            CloseReason::Malformed(why) => why.clone(),
            CloseReason::HeartbeatTimeout => "heartbeat timeout".into(),
            CloseReason::Disconnect => "disconnect".into(),
            CloseReason::Overflow => "outbound queue overflow".into(),
            CloseReason::TooLarge(why) => why.clone(),
            CloseReason::RateLimited => "rate limit exceeded".into(),
            CloseReason::ServerShutdown => "server shutdown".into(),
            CloseReason::Restart => "service restart".into(),
            CloseReason::Protocol(why) => why.clone(),
        };
        truncate_utf8(text, 123)
    }
}

fn truncate_utf8(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// One item of the queue.
#[derive(Debug)]
pub enum Outbound {
    /// Bytes to send.
    Frame(Frame),
    /// A channel process exited; the connection drops it and tells the client.
    ChannelExit {
        /// Its topic.
        topic: String,
        /// Its join ref, for the `phx_close` / `phx_error` frame.
        join_ref: Ref,
        /// Which join it was: a replaced channel's late notice must not remove
        /// its successor, which may even reuse the join ref.
        subscription: SubscriberId,
        /// Whether the channel stopped itself cleanly (`phx_close`); any
        /// other end becomes `phx_error`, which makes the client rejoin.
        closed: bool,
    },
}

/// The queue refused an item: the connection is closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection is closing")]
pub struct Closing;

struct Inner {
    queue: VecDeque<Outbound>,
    bytes: usize,
    waker: Option<Waker>,
    /// Woken when a close is requested, for a transport stuck writing.
    close_waker: Option<Waker>,
    close: Option<CloseReason>,
}

/// A connection's outbound queue. Shared by `Arc`.
pub struct Outbox {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// Mirrors `inner.close.is_some()`, so that the session can ask before
    /// every message without taking the lock.
    closing: AtomicBool,
}

/// What the transport gets from [`Outbox::next_batch`].
#[derive(Debug)]
pub enum Batch {
    /// Items to handle, in order.
    Items(Vec<Outbound>),
    /// The connection must close, after the items already taken.
    Close(CloseReason),
}

impl Outbox {
    /// An empty queue holding at most `max_bytes` of unsent frames.
    pub fn new(max_bytes: usize) -> Self {
        Outbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                bytes: 0,
                waker: None,
                close_waker: None,
                close: None,
            }),
            max_bytes,
            closing: AtomicBool::new(false),
        }
    }

    /// Queues a frame. Past the byte limit the connection is closed instead.
    pub fn push_frame(&self, frame: Frame) -> Result<(), Closing> {
        let size = frame.bytes().len();
        self.push(Outbound::Frame(frame), size)
    }

    /// Queues a frame from the task that drains this outbox (the session
    /// answering a message), without a wake-up: that task looks at the queue
    /// before it next waits. Waking itself would only reschedule the task, and
    /// the scheduler would wake the other worker thread to share it.
    pub fn push_frame_from_owner(&self, frame: Frame) -> Result<(), Closing> {
        let size = frame.bytes().len();
        self.enqueue(Outbound::Frame(frame), size, false)
    }

    /// Queues a non-frame item (never refused for size).
    pub fn push_notice(&self, item: Outbound) -> Result<(), Closing> {
        self.push(item, 0)
    }

    fn push(&self, item: Outbound, size: usize) -> Result<(), Closing> {
        self.enqueue(item, size, true)
    }

    fn enqueue(&self, item: Outbound, size: usize, wake: bool) -> Result<(), Closing> {
        let (waker, close_waker) = {
            let mut inner = self.inner.lock();
            if inner.close.is_some() {
                return Err(Closing);
            }
            if size > 0 && inner.bytes + size > self.max_bytes {
                tracing::warn!(
                    queued_bytes = inner.bytes,
                    limit = self.max_bytes,
                    "client does not read its frames: closing the connection"
                );
                inner.close = Some(CloseReason::Overflow);
                self.closing.store(true, Ordering::Release);
                inner.queue.clear();
                inner.bytes = 0;
                (inner.waker.take(), inner.close_waker.take())
            } else {
                inner.bytes += size;
                inner.queue.push_back(item);
                (if wake { inner.waker.take() } else { None }, None)
            }
        };
        for waker in [waker, close_waker].into_iter().flatten() {
            waker.wake();
        }
        Ok(())
    }

    /// Asks the transport to close the connection (first reason wins).
    pub fn close(&self, reason: CloseReason) {
        let wakers = {
            let mut inner = self.inner.lock();
            if inner.close.is_none() {
                inner.close = Some(reason);
                self.closing.store(true, Ordering::Release);
            }
            [inner.waker.take(), inner.close_waker.take()]
        };
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }

    /// Resolves once a close has been requested, with its reason.
    pub async fn closed(&self) -> CloseReason {
        poll_fn(|cx| {
            let mut inner = self.inner.lock();
            match &inner.close {
                Some(reason) => Poll::Ready(reason.clone()),
                None => {
                    inner.close_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Whether the connection is closing.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Bytes of frames waiting.
    pub fn queued_bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Waits for items and takes them all; or the close request once the queue is empty.
    pub async fn next_batch(&self) -> Batch {
        poll_fn(|cx| {
            let mut inner = self.inner.lock();
            if !inner.queue.is_empty() {
                inner.bytes = 0;
                // Taken whole: a drained queue would keep its capacity for the
                // connection's life, and `collect` would allocate anyway.
                return Poll::Ready(Batch::Items(Vec::from(std::mem::take(&mut inner.queue))));
            }
            if let Some(reason) = &inner.close {
                return Poll::Ready(Batch::Close(reason.clone()));
            }
            park_waker(&mut inner.waker, cx.waker());
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn frame(n: usize) -> Frame {
        Frame::Text("x".repeat(n).into())
    }

    #[tokio::test]
    async fn items_come_out_in_one_batch_in_order() {
        let outbox = Outbox::new(1000);
        outbox.push_frame(frame(1)).unwrap();
        outbox.push_frame(frame(2)).unwrap();
        assert_eq!(outbox.queued_bytes(), 3);
        let Batch::Items(items) = outbox.next_batch().await else {
            panic!("expected items")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(outbox.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn overflow_drops_the_queue_and_closes() {
        let outbox = Outbox::new(10);
        outbox.push_frame(frame(6)).unwrap();
        outbox.push_frame(frame(6)).unwrap();
        assert!(matches!(
            outbox.next_batch().await,
            Batch::Close(CloseReason::Overflow)
        ));
        assert_eq!(outbox.push_frame(frame(1)), Err(Closing));
    }

    #[tokio::test]
    async fn close_comes_after_the_items_already_queued() {
        let outbox = Outbox::new(100);
        outbox.push_frame(frame(1)).unwrap();
        outbox.close(CloseReason::Disconnect);
        assert!(matches!(outbox.next_batch().await, Batch::Items(_)));
        assert!(matches!(
            outbox.next_batch().await,
            Batch::Close(CloseReason::Disconnect)
        ));
    }

    #[test]
    fn the_owner_queues_without_waking_itself_and_finds_the_frame() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::{Context, Wake};

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let outbox = Outbox::new(100);
        let mut next = Box::pin(outbox.next_batch());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        outbox.push_frame_from_owner(frame(1)).unwrap();
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        assert!(matches!(
            next.as_mut().poll(&mut cx),
            Poll::Ready(Batch::Items(_))
        ));
        // Anyone else's frame wakes the drain.
        let mut next = Box::pin(outbox.next_batch());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        outbox.push_frame(frame(1)).unwrap();
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn close_reasons_fit_in_a_close_frame() {
        let long = CloseReason::Malformed("é".repeat(100));
        assert!(long.text().len() <= 123);
        assert_eq!(CloseReason::Malformed("x".into()).code(), 1007);
    }
}
