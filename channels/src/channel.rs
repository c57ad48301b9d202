//! The `Channel` behaviour: what a topic's server-side logic implements.
//!
//! As in Phoenix, a channel accepts or refuses joins (`join`), answers client
//! events (`handle_in`), may rewrite intercepted broadcasts (`handle_out`),
//! handles messages from timers and other processes (`handle_info`), and cleans
//! up (`terminate`). Each joined channel runs in its own lightweight process
//! (see `channel_server.rs`); an error or panic in any callback stops that
//! channel only, and the client is told with `phx_error`.
//!
//! A channel is generic over the socket's assigns `A` (what `Socket::connect`
//! stored), which it reads through [`ChannelSocket::assigns`]; its own
//! per-channel assigns are its `State`, built by `join`.

use runtime::log_text::bounded;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use runtime::timer::TimerRef;
use runtime::{ExitReason, ProcessError};
use serde_json::Value;

use crate::message::{Message, Payload, Ref, ReplyMessage, Status};
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::pubsub::{PubSub, SubscriberId};
use crate::serializer::Serializer;
use crate::services::Services;

/// What `join` decided.
#[derive(Debug)]
pub enum Join<S> {
    /// `{:ok, socket}`: joined, reply `{}`.
    Ok(S),
    /// `{:ok, reply, socket}`: joined, reply with this payload.
    OkReply(S, Value),
    /// `{:error, reply}`: refused with this payload.
    Error(Value),
}

/// A reply to a client message.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `{:ok, payload}`
    Ok(Payload),
    /// `{:error, payload}`
    Error(Payload),
}

impl Reply {
    /// `{:ok, json}`
    pub fn ok(json: Value) -> Self {
        Reply::Ok(Payload::Json(json))
    }

    /// `{:error, json}`
    pub fn error(json: Value) -> Self {
        Reply::Error(Payload::Json(json))
    }

    pub(crate) fn split(self) -> (Status, Payload) {
        match self {
            Reply::Ok(p) => (Status::Ok, p),
            Reply::Error(p) => (Status::Error, p),
        }
    }
}

/// What `handle_in` asks for.
#[derive(Debug)]
pub enum HandleIn {
    /// `{:reply, reply, socket}`
    Reply(Reply),
    /// `{:noreply, socket}`
    NoReply,
    /// `{:stop, reason, socket}` or `{:stop, reason, reply, socket}`: the reply
    /// (if any) is sent, then `phx_close` (clean reason) or `phx_error`.
    Stop(ExitReason, Option<Reply>),
}

/// What [`Channel::handle_in_now`] decided.
#[derive(Debug)]
pub enum HandleNow {
    /// Answered: `{:reply, reply, socket}`, sent at once.
    Reply(Reply),
    /// Not answerable here: the event goes on to the process's `handle_in`.
    Process(Payload),
}

/// What `handle_out` / `handle_info` ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Continue {
    /// `{:noreply, socket}`
    NoReply,
    /// `{:stop, reason, socket}`
    Stop(ExitReason),
}

/// Everything a channel callback can do with its connection: the socket's
/// assigns, push, broadcast, replies, and messages to its own process (`I` is
/// the channel's `Info` type). Phoenix's `%Phoenix.Socket{}` as seen from
/// inside a channel.
pub struct ChannelSocket<A, I = ()> {
    pub(crate) assigns: Arc<A>,
    pub(crate) topic: String,
    pub(crate) join_ref: Ref,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) serializer: Serializer,
    pub(crate) services: Arc<Services>,
    pub(crate) subscription: SubscriberId,
    /// Set as soon as the channel's process runs (before `join`).
    pub(crate) myself: Option<ChannelHandle<I>>,
    /// Async replies running now; allocated on first use.
    pub(crate) async_running: OnceLock<Arc<AtomicUsize>>,
    pub(crate) max_async: usize,
    /// The ref of the client message being handled (`socket.ref` in Phoenix).
    pub(crate) current_ref: Ref,
    /// Set when a callback returned stop: only a channel that stops itself
    /// cleanly is closed on the client (`phx_close`); any other end (crash,
    /// connection gone, supervisor shutting down) is `phx_error`, which
    /// phoenix.js answers by rejoining.
    pub(crate) stopping_itself: bool,
}

impl<A, I> ChannelSocket<A, I> {
    /// The socket's assigns (set by `Socket::connect`).
    pub fn assigns(&self) -> &A {
        &self.assigns
    }

    /// This channel's topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The ref of the join this channel came from.
    pub fn join_ref(&self) -> &Ref {
        &self.join_ref
    }

    /// The node's PubSub, e.g. to subscribe this channel to more topics.
    pub fn pubsub(&self) -> &PubSub {
        &self.services.pubsub
    }

    /// The endpoint's metrics, e.g. to time a handler (`Statix.measure`).
    pub fn metrics(&self) -> &Metrics {
        &self.services.metrics
    }

    /// This node's name.
    pub fn node_name(&self) -> String {
        self.services.pubsub.node_name()
    }

    /// Sends an event to this client only (`push/3`).
    pub fn push(&self, event: &str, payload: impl Into<Payload>) {
        let message = Message {
            join_ref: self.join_ref.clone(),
            msg_ref: None,
            topic: self.topic.clone(),
            event: event.to_string(),
            payload: payload.into(),
        };
        self.send_message(&message);
    }

    pub(crate) fn send_message(&self, message: &Message) {
        match self.serializer.encode_message(message) {
            Ok(frame) => {
                let _ = self.outbox.push_frame(frame);
            }
            Err(err) => {
                tracing::warn!(topic = %self.topic, event = %message.event, %err, "push not sent")
            }
        }
    }

    /// Sends an event to every subscriber of this topic, this client included (`broadcast/3`).
    pub fn broadcast(&self, event: &str, payload: impl Into<Payload>) {
        self.services.pubsub.broadcast(&self.topic, event, payload);
    }

    /// Sends an event to every subscriber of this topic but this client (`broadcast_from/3`).
    pub fn broadcast_from(&self, event: &str, payload: impl Into<Payload>) {
        self.services
            .pubsub
            .broadcast_from(self.subscription, &self.topic, event, payload);
    }

    /// A handle to this channel's own process (`self()`), to send it messages.
    pub fn myself(&self) -> ChannelHandle<I> {
        self.myself
            .clone()
            .expect("the channel process sets its handle before any callback runs")
    }

    /// Sends `message` to this channel's `handle_info` after `delay` (`Process.send_after(self(), ..)`).
    pub fn send_after(&self, message: I, delay: Duration) -> TimerRef {
        self.myself().0.send_after(message, delay)
    }

    /// Sends `make()` to this channel's `handle_info` every `period` (`:timer.send_interval`).
    pub fn send_interval(
        &self,
        period: Duration,
        make: impl FnMut() -> I + Send + 'static,
    ) -> TimerRef {
        self.myself().0.send_interval(period, Box::new(make))
    }

    /// Answers the message being handled asynchronously: `job` runs under the
    /// endpoint's task supervisor and its reply is sent when it finishes, so a
    /// slow request never blocks the channel (the book's `parallel_slow_ping`).
    /// Return `HandleIn::NoReply` from `handle_in` after calling this.
    ///
    /// At most `max_async_replies_per_channel` jobs run per channel; beyond it
    /// the message is answered at once with `{"reason":"too many requests"}`.
    /// A job that panics is answered `{"reason":"internal error"}`.
    pub async fn reply_async<F>(&self, job: F)
    where
        F: Future<Output = Reply> + Send + 'static,
    {
        let reply_to = self.socket_ref();
        let running = self
            .async_running
            .get_or_init(|| Arc::new(AtomicUsize::new(0)))
            .clone();
        if running.fetch_add(1, Ordering::AcqRel) >= self.max_async {
            running.fetch_sub(1, Ordering::AcqRel);
            reply_to.reply(Reply::error(
                serde_json::json!({"reason": "too many requests"}),
            ));
            return;
        }
        let tasks = match self.services.tasks().await {
            Ok(tasks) => tasks,
            Err(err) => {
                running.fetch_sub(1, Ordering::AcqRel);
                tracing::error!(%err, "no task supervisor for async replies");
                reply_to.reply(Reply::error(
                    serde_json::json!({"reason": "internal error"}),
                ));
                return;
            }
        };
        let task = tasks.async_named(&self.topic, job);
        match task {
            Ok(task) => {
                tokio::spawn(async move {
                    let reply = task.join().await.unwrap_or_else(|err| {
                        tracing::error!(%err, "async reply failed");
                        Reply::error(serde_json::json!({"reason": "internal error"}))
                    });
                    running.fetch_sub(1, Ordering::AcqRel);
                    reply_to.reply(reply);
                });
            }
            Err(_) => {
                running.fetch_sub(1, Ordering::AcqRel);
                reply_to.reply(Reply::error(
                    serde_json::json!({"reason": "too many requests"}),
                ));
            }
        }
    }

    /// A handle to reply later, from another task, to the message being handled
    /// (`socket_ref/1`); see [`SocketRef::reply`].
    pub fn socket_ref(&self) -> SocketRef {
        SocketRef {
            outbox: self.outbox.clone(),
            serializer: self.serializer,
            topic: self.topic.clone(),
            join_ref: self.join_ref.clone(),
            msg_ref: self.current_ref.clone(),
        }
    }
}

impl<A> ChannelSocket<A, ()> {
    /// The same socket for a channel whose `Info` is `I` (before its process runs).
    pub(crate) fn retype<I>(self) -> ChannelSocket<A, I> {
        ChannelSocket {
            assigns: self.assigns,
            topic: self.topic,
            join_ref: self.join_ref,
            outbox: self.outbox,
            serializer: self.serializer,
            services: self.services,
            subscription: self.subscription,
            myself: None,
            async_running: self.async_running,
            max_async: self.max_async,
            current_ref: self.current_ref,
            stopping_itself: self.stopping_itself,
        }
    }
}

/// Enough of a channel to reply to one message from anywhere (`Phoenix.Channel.reply/2`).
#[derive(Clone)]
pub struct SocketRef {
    outbox: Arc<Outbox>,
    serializer: Serializer,
    topic: String,
    join_ref: Ref,
    msg_ref: Ref,
}

impl SocketRef {
    /// Sends the reply to the message this ref was taken for.
    pub fn reply(&self, reply: Reply) {
        let (status, response) = reply.split();
        send_reply(
            &self.outbox,
            self.serializer,
            ReplyMessage {
                join_ref: self.join_ref.clone(),
                msg_ref: self.msg_ref.clone(),
                topic: self.topic.clone(),
                status,
                response,
            },
        );
    }
}

pub(crate) fn send_reply(outbox: &Outbox, serializer: Serializer, reply: ReplyMessage) {
    match serializer.encode_reply(&reply) {
        Ok(frame) => {
            let _ = outbox.push_frame(frame);
        }
        Err(err) => tracing::warn!(topic = %reply.topic, %err, "reply not sent"),
    }
}

/// The callbacks of a channel for sockets whose assigns are `A`.
pub trait Channel<A: Send + Sync + 'static>: Send + Sync + 'static {
    /// Per-channel assigns, built by `join`. They start empty, as a Phoenix
    /// socket's assigns do: `State::default()` is what a plain
    /// `{:ok, socket}` join keeps.
    type State: Default + Send + 'static;
    /// Messages from timers and other processes, handled by `handle_info`.
    type Info: Send + 'static;

    /// Accepts or refuses a join. `topic` is the full topic, so wildcard routes
    /// can read their parameters from it (`"wild:" <> numbers`).
    ///
    /// The default accepts every join with empty assigns and replies `{}`:
    /// Phoenix's `def join(_topic, _payload, socket), do: {:ok, socket}`,
    /// which most channels would otherwise spell out again. A channel that
    /// checks who may join, or sets up anything, overrides it.
    fn join(
        &self,
        _topic: &str,
        _payload: Payload,
        _socket: &ChannelSocket<A, Self::Info>,
    ) -> impl Future<Output = Result<Join<Self::State>, ProcessError>> + Send {
        async { Ok(Join::Ok(Self::State::default())) }
    }

    /// Handles an event from the client. The default crashes the channel, as a
    /// missing `handle_in` clause does in Phoenix.
    fn handle_in(
        &self,
        event: &str,
        _payload: Payload,
        _socket: &ChannelSocket<A, Self::Info>,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<HandleIn, ProcessError>> + Send {
        let message = format!("no handle_in for event \"{}\"", bounded(event));
        async move { Err(message.into()) }
    }

    /// Answers a client event in the connection's own task, without the trip
    /// to the channel's process and back (two task wake-ups, and often the
    /// other worker thread woken to share them): for events whose reply needs
    /// neither the channel's state nor waiting, such as the bench channel's
    /// `ping`. The default hands every event to `handle_in`.
    ///
    /// It is asked only while the channel's process is idle (nothing queued,
    /// nothing being handled), so replies keep the order of the client's
    /// events. A panic here crashes the channel, as one in `handle_in` would.
    fn handle_in_now(&self, _event: &str, payload: Payload) -> HandleNow {
        HandleNow::Process(payload)
    }

    /// Events of this channel's topic to route through `handle_out` instead of
    /// the fastlane (`intercept [...]`).
    fn intercepts(&self) -> &'static [&'static str] {
        &[]
    }

    /// Handles an intercepted broadcast; the default pushes it unchanged.
    fn handle_out(
        &self,
        event: &str,
        payload: Payload,
        socket: &ChannelSocket<A, Self::Info>,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<Continue, ProcessError>> + Send {
        socket.push(event, payload);
        async { Ok(Continue::NoReply) }
    }

    /// Handles a message sent to this channel's process (timers, PubSub handlers).
    fn handle_info(
        &self,
        _message: Self::Info,
        _socket: &ChannelSocket<A, Self::Info>,
        _state: &mut Self::State,
    ) -> impl Future<Output = Result<Continue, ProcessError>> + Send {
        async { Ok(Continue::NoReply) }
    }

    /// Runs when the channel stops (leave, close, crash, connection gone).
    fn terminate(
        &self,
        _reason: &ExitReason,
        _socket: &ChannelSocket<A, Self::Info>,
        _state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Delivers info messages to one channel process, whatever its channel type.
pub(crate) trait Deliver<I>: Send + Sync {
    fn send(&self, message: I) -> bool;
    fn send_after(&self, message: I, delay: Duration) -> TimerRef;
    fn send_interval(&self, period: Duration, make: Box<dyn FnMut() -> I + Send>) -> TimerRef;
}

/// A handle to a joined channel's process, for sending it messages that its
/// `handle_info` receives (`send(pid, msg)`). Cheap to clone.
pub struct ChannelHandle<I>(pub(crate) Arc<dyn Deliver<I>>);

impl<I> Clone for ChannelHandle<I> {
    fn clone(&self) -> Self {
        ChannelHandle(self.0.clone())
    }
}

impl<I> ChannelHandle<I> {
    /// Sends a message to the channel's `handle_info`; `false` if it is gone.
    pub fn send(&self, message: I) -> bool {
        self.0.send(message)
    }
}
