//! One connection's protocol state, whatever the transport: Phoenix.Socket's
//! message handling.
//!
//! The transport decodes frames and hands each [`Message`] to
//! [`Session::handle_message`]; everything the session answers goes into the
//! connection's outbox, so replies, pushes and broadcasts leave in the order
//! they were produced. The session owns the table of joined topics: heartbeats,
//! joins (including duplicate joins), leaves and routing of channel events
//! happen here, and channel exits come back through the outbox as notices
//! ([`Session::outbound`]) that become `phx_close` or `phx_error`.

use std::sync::Arc;
use std::time::Instant;

use runtime::log_text::bounded;
use runtime::ExitReason;
use serde_json::{json, Value};

use crate::channel::ChannelSocket;
use crate::channel_server::{ChannelIn, JoinOutcome};
use crate::message::{events, Message, Payload, Ref, ReplyMessage, Status, HEARTBEAT_TOPIC};
use crate::mount::Mount;
use crate::outbox::{CloseReason, Outbound, Outbox};
use crate::serializer::{Frame, Serializer};
use crate::socket::{ChannelProcess, Now, Socket, Starter};
use crate::subscriber_id::SubscriberId;

/// Counts a connection's messages per one-second window.
struct RateWindow {
    started: Instant,
    count: u32,
}

struct Joined {
    /// The channel's name, for metrics.
    channel: &'static str,
    join_ref: Ref,
    subscription: SubscriberId,
    process: Box<dyn ChannelProcess>,
}

/// A connection's joined channels by topic. A vector grown one entry at a
/// time rather than a `HashMap`: a connection joins one or a few topics (at
/// most `max_channels`), a linear search over so few is as fast as hashing,
/// and one joined topic costs one entry instead of a table of four buckets —
/// about 240 bytes per connection, with 10,000 connections per node.
#[derive(Default)]
struct JoinedTopics(Vec<(String, Joined)>);

impl JoinedTopics {
    fn get(&self, topic: &str) -> Option<&Joined> {
        self.0.iter().find(|(t, _)| t == topic).map(|(_, j)| j)
    }

    fn contains(&self, topic: &str) -> bool {
        self.get(topic).is_some()
    }

    fn remove(&mut self, topic: &str) -> Option<Joined> {
        let at = self.0.iter().position(|(t, _)| t == topic)?;
        Some(self.0.swap_remove(at).1)
    }

    fn insert(&mut self, topic: String, joined: Joined) {
        self.remove(&topic);
        self.0.reserve_exact(1);
        self.0.push((topic, joined));
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn take_all(&mut self) -> Vec<(String, Joined)> {
        std::mem::take(&mut self.0)
    }
}

/// A connection's joined channels and how to answer its messages.
pub struct Session<S: Socket> {
    mount: Arc<Mount<S>>,
    assigns: Arc<S::Assigns>,
    serializer: Serializer,
    outbox: Arc<Outbox>,
    channels: JoinedTopics,
    /// The id topic subscription (`id/1`), for disconnects.
    id_subscription: Option<(String, SubscriberId)>,
    rate: RateWindow,
    /// Counted in the `sockets_connected` gauge until shut down.
    connected: bool,
    /// The [`Warned`] kinds this connection has logged.
    warned: u8,
}

/// Warnings a connection logs once (bits of `Session::warned`).
struct Warned;

impl Warned {
    const RATE_LIMITED: u8 = 1;
    const TOO_MANY_CHANNELS: u8 = 2;
    const UNMATCHED_TOPIC: u8 = 4;
}

impl<S: Socket> Session<S> {
    /// A session for a connection that `connect` accepted with `assigns`.
    pub fn new(
        mount: Arc<Mount<S>>,
        assigns: S::Assigns,
        serializer: Serializer,
        outbox: Arc<Outbox>,
    ) -> Self {
        let id_subscription = mount.handler.id(&assigns).map(|id| {
            let closer = Arc::downgrade(&outbox);
            let subscription = mount.services.pubsub.subscribe(&id, move |broadcast| {
                let Some(outbox) = closer.upgrade() else {
                    return false;
                };
                if broadcast.event == "disconnect" {
                    outbox.close(CloseReason::Disconnect);
                }
                true
            });
            (id, subscription)
        });
        let socket = mount.handler.name();
        mount
            .services
            .metrics
            .gauge_add("sockets_connected", 1, &[("socket", socket)]);
        Session {
            connected: true,
            warned: 0,
            mount,
            assigns: Arc::new(assigns),
            serializer,
            outbox,
            channels: JoinedTopics::default(),
            id_subscription,
            rate: RateWindow {
                started: Instant::now(),
                count: 0,
            },
        }
    }

    /// The connection's outbox.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// The process of the channel joined on `topic`, if it is a `C`.
    pub fn channel_pid<C: crate::channel::Channel<S::Assigns>>(
        &self,
        topic: &str,
    ) -> Option<runtime::Pid<crate::channel_server::ChannelServer<S::Assigns, C>>> {
        self.channels
            .get(topic)?
            .process
            .as_any()
            .downcast_ref()
            .cloned()
    }

    /// Number of joined channels.
    pub fn joined_count(&self) -> usize {
        self.channels.len()
    }

    fn reply(&self, join_ref: Ref, msg_ref: Ref, topic: &str, status: Status, response: Value) {
        self.send_reply(ReplyMessage {
            join_ref,
            msg_ref,
            topic: topic.to_string(),
            status,
            response: Payload::Json(response),
        });
    }

    /// Queues a reply. The session runs in the task that drains the outbox,
    /// so the frame is queued without a wake-up.
    fn send_reply(&self, reply: ReplyMessage) {
        match self.serializer.encode_reply(&reply) {
            Ok(frame) => {
                let _ = self.outbox.push_frame_from_owner(frame);
            }
            Err(err) => tracing::warn!(topic = %bounded(&reply.topic), %err, "reply not sent"),
        }
    }

    fn push(&self, join_ref: &Ref, topic: &str, event: &str) {
        let message = Message {
            join_ref: join_ref.clone(),
            msg_ref: join_ref.clone(),
            topic: topic.to_string(),
            event: event.to_string(),
            payload: Payload::empty(),
        };
        match self.serializer.encode_message(&message) {
            Ok(frame) => {
                let _ = self.outbox.push_frame_from_owner(frame);
            }
            Err(err) => tracing::warn!(topic = %bounded(topic), %err, "{event} not sent"),
        }
    }

    /// Counts a message against the rate limit: `false` means refuse it.
    fn within_rate(&mut self) -> bool {
        let limit = self.mount.config.max_messages_per_second;
        if self.rate.started.elapsed() >= std::time::Duration::from_secs(1) {
            self.rate = RateWindow {
                started: Instant::now(),
                count: 0,
            };
        }
        self.rate.count = self.rate.count.saturating_add(1);
        if self.rate.count <= limit {
            return true;
        }
        if self.rate.count > limit.saturating_mul(2) && !self.outbox.is_closing() {
            tracing::warn!(
                limit,
                "closing connection: more than twice the message rate limit"
            );
            self.outbox.close(CloseReason::RateLimited);
        } else if self.warn_once(Warned::RATE_LIMITED) {
            tracing::warn!(
                limit,
                "rate limiting a connection: messages past the limit get error replies"
            );
        }
        false
    }

    /// Whether this connection has not yet logged warning `kind` (and now has):
    /// a client repeating what got it refused costs one log line, not one per
    /// message.
    fn warn_once(&mut self, kind: u8) -> bool {
        let first = self.warned & kind == 0;
        self.warned |= kind;
        first
    }

    /// Handles one message from the client. Once the connection is closing
    /// (a limit tripped, a drain, a disconnect), messages are dropped unread:
    /// what a client sends after it was cut off costs nothing.
    pub async fn handle_message(&mut self, message: Message) {
        if self.outbox.is_closing() {
            return;
        }
        if !self.within_rate() {
            if message.msg_ref.is_some() {
                self.reply(
                    message.join_ref,
                    message.msg_ref,
                    &message.topic,
                    Status::Error,
                    json!({"reason": "rate limited"}),
                );
            }
            return;
        }
        if message.topic == HEARTBEAT_TOPIC && message.event == events::HEARTBEAT {
            self.reply(
                None,
                message.msg_ref,
                HEARTBEAT_TOPIC,
                Status::Ok,
                json!({}),
            );
            return;
        }
        if message.event == events::JOIN {
            // Boxed: the join future is the largest part of a connection task's
            // future, which would otherwise keep its room for the connection's
            // life; joins are rare.
            Box::pin(self.join(message)).await;
            return;
        }
        match self.channels.get(&message.topic) {
            // A leave for an older join of this topic: the client raced a close;
            // Phoenix neither replies nor touches the current channel.
            Some(joined)
                if message.event == events::LEAVE
                    && message.join_ref.is_some()
                    && message.join_ref != joined.join_ref => {}
            Some(joined) => {
                let delivered = if message.event == events::LEAVE {
                    joined.process.cast(ChannelIn::Leave {
                        msg_ref: message.msg_ref.clone(),
                    })
                } else {
                    match joined.process.handle_now(&message.event, message.payload) {
                        Now::Replied(reply) => {
                            let (status, response) = reply.split();
                            let join_ref = joined.join_ref.clone();
                            self.send_reply(ReplyMessage {
                                join_ref,
                                msg_ref: message.msg_ref,
                                topic: message.topic,
                                status,
                                response,
                            });
                            return;
                        }
                        // Its `terminate` queues the exit notice: phx_error.
                        Now::Crashed(reason) => {
                            joined.process.stop(reason);
                            return;
                        }
                        Now::Process(payload) => joined.process.cast(ChannelIn::Event {
                            event: message.event,
                            payload,
                            msg_ref: message.msg_ref.clone(),
                        }),
                    }
                };
                if !delivered {
                    // The channel died and its exit notice is still queued.
                    self.unmatched(message.msg_ref, &message.topic);
                }
            }
            None if message.event == events::LEAVE => {
                self.reply(
                    message.join_ref,
                    message.msg_ref,
                    &message.topic,
                    Status::Ok,
                    json!({}),
                );
            }
            None => self.unmatched(message.msg_ref, &message.topic),
        }
    }

    /// `channel_join` with the book's tags, and the `channels_joined` gauge.
    fn count_join(&self, channel: &str, status: &str) {
        let metrics = &self.mount.services.metrics;
        metrics.increment("channel_join", &[("status", status), ("channel", channel)]);
        if status == "success" {
            metrics.gauge_add("channels_joined", 1, &[("channel", channel)]);
        }
    }

    fn count_left(&self, channel: &str) {
        self.mount
            .services
            .metrics
            .gauge_add("channels_joined", -1, &[("channel", channel)]);
    }

    fn unmatched(&self, msg_ref: Ref, topic: &str) {
        self.reply(
            None,
            msg_ref,
            topic,
            Status::Error,
            json!({"reason": "unmatched topic"}),
        );
    }

    /// `phx_join`: admit the topic, replace an earlier join of it, start the
    /// channel's process and answer with how its `join` went.
    async fn join(&mut self, message: Message) {
        let started = Instant::now();
        let Message {
            join_ref,
            msg_ref,
            topic,
            payload,
            ..
        } = message;
        let Some(route) = self.admit(&join_ref, &msg_ref, &topic) else {
            return;
        };
        let replaced = self.drop_earlier_join(&topic);
        let subscription = self.mount.services.pubsub.new_id();
        let socket = self.channel_socket(&topic, &join_ref, &msg_ref, subscription);
        // Logged, so bounded: a client chooses its join params.
        let params = payload
            .as_json()
            .map(|p| bounded(&filter_params(p).to_string()).to_string())
            .unwrap_or_default();
        let (status, response) = match route.start(&self.mount.services.supervisor, socket, payload)
        {
            // Not the channel's crash: its process never ran.
            Err(err) => {
                tracing::error!(topic = %bounded(&topic), %err, "could not start channel");
                (Status::Error, json!({"reason": "join crashed"}))
            }
            Ok(channel) => match channel.outcome.await {
                Ok(JoinOutcome::Joined(reply)) => {
                    self.log_join(route.name(), "success", &topic, &params, started);
                    self.channels.insert(
                        topic.clone(),
                        Joined {
                            channel: route.name(),
                            join_ref: join_ref.clone(),
                            subscription,
                            process: channel.process,
                        },
                    );
                    (Status::Ok, reply)
                }
                Ok(JoinOutcome::Refused(reply)) => {
                    self.log_join(route.name(), "fail", &topic, &params, started);
                    (Status::Error, reply)
                }
                Err(_) => {
                    self.log_join(route.name(), "crash", &topic, &params, started);
                    (Status::Error, json!({"reason": "join crashed"}))
                }
            },
        };
        self.reply(join_ref, msg_ref, &topic, status, response);
        if let Some(old_join_ref) = replaced {
            self.push(&old_join_ref, &topic, events::CLOSE);
        }
    }

    /// The route a join of `topic` goes to, or `None` after refusing it: no
    /// route (unmatched topic), or too many channels on this connection.
    fn admit(
        &mut self,
        join_ref: &Ref,
        msg_ref: &Ref,
        topic: &str,
    ) -> Option<Arc<dyn Starter<S::Assigns>>> {
        let Some(route) = self.mount.routes.find(topic).cloned() else {
            if self.warn_once(Warned::UNMATCHED_TOPIC) {
                tracing::warn!(topic = %bounded(topic), socket = self.mount.handler.name(), "ignoring unmatched topic");
            } else {
                tracing::debug!(topic = %bounded(topic), "ignoring unmatched topic");
            }
            self.unmatched(msg_ref.clone(), topic);
            return None;
        };
        let max = self.mount.config.max_channels;
        if !self.channels.contains(topic) && self.channels.len() >= max {
            if self.warn_once(Warned::TOO_MANY_CHANNELS) {
                tracing::warn!(topic = %bounded(topic), max, "refusing join: too many channels on one connection");
            }
            self.reply(
                join_ref.clone(),
                msg_ref.clone(),
                topic,
                Status::Error,
                json!({"reason": "too many channels"}),
            );
            return None;
        }
        Some(route)
    }

    /// A second join of a joined topic replaces the channel, as Phoenix does:
    /// the old one is stopped now and told `phx_close` after the new join's
    /// reply. Returns the old join's ref.
    fn drop_earlier_join(&mut self, topic: &str) -> Option<Ref> {
        let old = self.channels.remove(topic)?;
        self.count_left(old.channel);
        self.mount
            .services
            .pubsub
            .unsubscribe(topic, old.subscription);
        old.process.stop(ExitReason::Shutdown);
        Some(old.join_ref)
    }

    /// What the new channel's callbacks can do with this connection.
    fn channel_socket(
        &self,
        topic: &str,
        join_ref: &Ref,
        msg_ref: &Ref,
        subscription: SubscriberId,
    ) -> ChannelSocket<S::Assigns> {
        ChannelSocket {
            assigns: self.assigns.clone(),
            topic: topic.to_string(),
            join_ref: join_ref.clone(),
            outbox: self.outbox.clone(),
            serializer: self.serializer,
            services: self.mount.services.clone(),
            subscription,
            myself: None,
            async_running: Default::default(),
            max_async: self.mount.config.max_async_replies_per_channel,
            current_ref: msg_ref.clone(),
            stopping_itself: false,
        }
    }

    /// Counts a join (`channel_join` with status `success`, `fail` or
    /// `crash`) and logs it as Phoenix does.
    fn log_join(
        &self,
        channel: &'static str,
        status: &str,
        topic: &str,
        params: &str,
        started: Instant,
    ) {
        self.count_join(channel, status);
        let topic = bounded(topic);
        let elapsed = started.elapsed();
        match status {
            "success" => tracing::info!(
                channel,
                "JOINED {topic} in {elapsed:?}\n  Parameters: {params}"
            ),
            "fail" => tracing::info!(
                channel,
                "REFUSED JOIN {topic} in {elapsed:?}\n  Parameters: {params}"
            ),
            _ => tracing::error!(
                channel,
                "JOIN CRASHED {topic} in {elapsed:?}\n  Parameters: {params}"
            ),
        }
    }

    /// One item taken from the outbox: a frame to send (returned), or a
    /// channel's exit notice, which the session handles here and which may
    /// queue a `phx_close` or `phx_error` for the next batch.
    pub fn outbound(&mut self, item: Outbound) -> Option<Frame> {
        match item {
            Outbound::Frame(frame) => Some(frame),
            Outbound::ChannelExit {
                topic,
                join_ref,
                subscription,
                closed,
            } => {
                self.channel_exited(&topic, &join_ref, subscription, closed);
                None
            }
        }
    }

    /// A channel process exited: drop it and tell the client, unless it was
    /// already replaced or dropped. `closed`: the channel stopped itself
    /// cleanly (`phx_close`, the client forgets the channel); otherwise
    /// `phx_error`, and phoenix.js rejoins.
    fn channel_exited(
        &mut self,
        topic: &str,
        join_ref: &Ref,
        subscription: SubscriberId,
        closed: bool,
    ) {
        if self
            .channels
            .get(topic)
            .is_none_or(|joined| joined.subscription != subscription)
        {
            return;
        }
        if let Some(joined) = self.channels.remove(topic) {
            self.count_left(joined.channel);
        }
        let event = if closed { events::CLOSE } else { events::ERROR };
        self.push(join_ref, topic, event);
    }

    /// The connection is gone: stop every channel and the id subscription.
    pub fn shutdown(&mut self) {
        let channels = self.channels.take_all();
        for (topic, joined) in channels {
            self.count_left(joined.channel);
            self.mount
                .services
                .pubsub
                .unsubscribe(&topic, joined.subscription);
            joined.process.stop(ExitReason::Shutdown);
        }
        if std::mem::take(&mut self.connected) {
            let socket = self.mount.handler.name();
            self.mount
                .services
                .metrics
                .gauge_add("sockets_connected", -1, &[("socket", socket)]);
        }
        if let Some((topic, id)) = self.id_subscription.take() {
            self.mount.services.pubsub.unsubscribe(&topic, id);
        }
    }
}

impl<S: Socket> Drop for Session<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Connect and join parameters with secrets blanked, as Phoenix filters them in logs.
pub(crate) fn filter_params(params: &Value) -> Value {
    match params {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let filtered = if is_secret(k) {
                        Value::String("[FILTERED]".into())
                    } else {
                        filter_params(v)
                    };
                    (k.clone(), filtered)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(crate) fn is_secret(key: &str) -> bool {
    key == "token" || key == "password"
}
