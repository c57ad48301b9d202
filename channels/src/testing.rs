//! A test kit like Phoenix's `ChannelCase`: drive sockets and channels through
//! the real session and channel-process code, without a network.
//!
//! ```ignore
//! let case = ChannelCase::new().await;
//! let mut socket = case.socket(UserSocket, ());
//! let ping = socket.subscribe_and_join("ping", json!({})).await.unwrap();
//! let r = socket.push(&ping, "ping", json!({}));
//! socket.assert_reply(&r, Status::Ok, json!({"ping": "pong"})).await;
//! ```
//!
//! Frames the server sends are decoded (V2 JSON) into [`Message`]s. Assertions
//! take the first matching message and leave the others, as ExUnit's
//! `assert_receive` does with the mailbox. Payload patterns match like Elixir
//! map patterns: every key of the expected object must be present with a
//! matching value; other keys are ignored, so `json!({})` matches any object.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::message::{events, Broadcast, Message, Payload, Status};
use crate::metrics::Metrics;
use crate::mount::{Mount, SocketConfig};
use crate::outbox::{Batch, Outbound, Outbox};
use crate::pubsub::{PubSub, SubscriberId};
use crate::serializer::{Frame, Serializer};
use crate::services::Services;
use crate::session::Session;
use crate::socket::{ConnectInfo, Params, Refused, Socket, Transport};

/// How long an assertion waits for a message by default.
pub const ASSERT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a refutation waits by default (ExUnit's `refute_receive`: 100 ms).
pub const REFUTE_TIMEOUT: Duration = Duration::from_millis(100);

/// The shared services of a test: a PubSub and a supervisor for channel processes.
pub struct ChannelCase {
    pubsub: PubSub,
    supervisor: ProcessSupervisor,
    metrics: Metrics,
}

impl ChannelCase {
    /// A fresh PubSub and supervisor, so tests don't see each other's broadcasts.
    pub async fn new() -> Self {
        ChannelCase {
            pubsub: PubSub::new(),
            supervisor: ProcessSupervisor::start(SupervisorOptions::default())
                .await
                .expect("a process supervisor starts"),
            metrics: Metrics::local(),
        }
    }

    /// The test's metrics, to check what sockets and channels counted.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The test's PubSub (`Endpoint.broadcast` in tests).
    pub fn pubsub(&self) -> &PubSub {
        &self.pubsub
    }

    /// Runs `connect` with these params (`connect(UserSocket, params)`).
    pub async fn connect<S: Socket>(
        &self,
        socket: S,
        params: &[(&str, &str)],
    ) -> Result<TestSocket<S>, Refused> {
        let params: Params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let info = ConnectInfo {
            peer: None,
            headers: http::HeaderMap::new(),
            uri: http::Uri::from_static("/socket/websocket"),
            transport: Transport::WebSocket,
        };
        let assigns = socket.connect(&params, &info).await?;
        Ok(self.socket(socket, assigns))
    }

    /// A connected socket with these assigns, skipping `connect` (`socket(UserSocket, id, assigns)`).
    pub fn socket<S: Socket>(&self, socket: S, assigns: S::Assigns) -> TestSocket<S> {
        let services = Services::new(self.pubsub.clone(), self.supervisor.clone())
            .with_metrics(self.metrics.clone());
        let mount = Mount::new(socket, Arc::new(services), SocketConfig::default());
        let outbox = Arc::new(Outbox::new(SocketConfig::default().max_outbound_bytes));
        let (tx, broadcasts) = mpsc::unbounded_channel();
        TestSocket {
            session: Session::new(mount, assigns, Serializer::V2, outbox.clone()),
            outbox,
            received: VecDeque::new(),
            next_ref: 0,
            pubsub: self.pubsub.clone(),
            broadcasts,
            broadcast_tx: tx,
            seen_broadcasts: VecDeque::new(),
            subscriptions: Vec::new(),
        }
    }
}

/// A joined channel, as returned by [`TestSocket::subscribe_and_join`].
#[derive(Debug, Clone)]
pub struct TestChannel {
    /// Its topic.
    pub topic: String,
    /// Its join ref.
    pub join_ref: Value,
    /// The join reply's response.
    pub reply: Value,
}

/// A message ref, returned by [`TestSocket::push`] for [`TestSocket::assert_reply`].
#[derive(Debug, Clone, PartialEq)]
pub struct TestRef(Value);

/// One client connection driven by a test.
pub struct TestSocket<S: Socket> {
    session: Session<S>,
    outbox: Arc<Outbox>,
    received: VecDeque<Message>,
    next_ref: u64,
    pubsub: PubSub,
    broadcasts: mpsc::UnboundedReceiver<Arc<Broadcast>>,
    broadcast_tx: mpsc::UnboundedSender<Arc<Broadcast>>,
    seen_broadcasts: VecDeque<Arc<Broadcast>>,
    subscriptions: Vec<(String, SubscriberId)>,
}

impl<S: Socket> Drop for TestSocket<S> {
    fn drop(&mut self) {
        for (topic, id) in self.subscriptions.drain(..) {
            self.pubsub.unsubscribe(&topic, id);
        }
    }
}

impl<S: Socket> TestSocket<S> {
    fn next_ref(&mut self) -> Value {
        self.next_ref += 1;
        Value::String(self.next_ref.to_string())
    }

    /// Joins `topic` through the socket's routes and subscribes the test to it,
    /// so that [`assert_broadcast`](Self::assert_broadcast) sees its broadcasts.
    /// `Err` carries the refusal's response.
    pub async fn subscribe_and_join(
        &mut self,
        topic: &str,
        payload: Value,
    ) -> Result<TestChannel, Value> {
        let tx = self.broadcast_tx.clone();
        let id = self
            .pubsub
            .subscribe(topic, move |b| tx.send(b.clone()).is_ok());
        self.subscriptions.push((topic.to_string(), id));
        self.join(topic, payload).await
    }

    /// Joins `topic` without subscribing the test to it.
    pub async fn join(&mut self, topic: &str, payload: Value) -> Result<TestChannel, Value> {
        let join_ref = self.next_ref();
        self.session
            .handle_message(Message {
                join_ref: Some(join_ref.clone()),
                msg_ref: Some(join_ref.clone()),
                topic: topic.to_string(),
                event: events::JOIN.to_string(),
                payload: Payload::Json(payload),
            })
            .await;
        let reply = self
            .take_within(ASSERT_TIMEOUT, |m| {
                m.event == events::REPLY && m.msg_ref.as_ref() == Some(&join_ref)
            })
            .await
            .unwrap_or_else(|| panic!("no reply to the join of {topic}"));
        let payload = reply.payload.as_json().cloned().unwrap_or_default();
        let response = payload.get("response").cloned().unwrap_or_default();
        match payload.get("status").and_then(Value::as_str) {
            Some("ok") => Ok(TestChannel {
                topic: topic.to_string(),
                join_ref,
                reply: response,
            }),
            _ => Err(response),
        }
    }

    /// Sends an event to a joined channel (`push(socket, event, payload)`).
    pub async fn push(&mut self, channel: &TestChannel, event: &str, payload: Value) -> TestRef {
        let msg_ref = self.next_ref();
        self.session
            .handle_message(Message {
                join_ref: Some(channel.join_ref.clone()),
                msg_ref: Some(msg_ref.clone()),
                topic: channel.topic.clone(),
                event: event.to_string(),
                payload: Payload::Json(payload),
            })
            .await;
        TestRef(msg_ref)
    }

    /// Leaves a joined channel (`leave(socket)`).
    pub async fn leave(&mut self, channel: &TestChannel) -> TestRef {
        self.push(channel, events::LEAVE, json!({})).await
    }

    /// Broadcasts to `channel`'s topic from the test; the test does not receive
    /// it, the channels do (`broadcast_from(socket, event, payload)`).
    pub fn broadcast_from(&self, channel: &TestChannel, event: &str, payload: Value) {
        let from = self
            .subscriptions
            .iter()
            .find(|(topic, _)| topic == &channel.topic)
            .map(|(_, id)| *id);
        match from {
            Some(id) => self
                .pubsub
                .broadcast_from(id, &channel.topic, event, payload),
            None => self.pubsub.broadcast(&channel.topic, event, payload),
        }
    }

    /// A copy of a joined channel's state (`:sys.get_state(socket.channel_pid)`).
    pub async fn channel_state<C>(&self, channel: &TestChannel) -> C::State
    where
        C: crate::channel::Channel<S::Assigns>,
        C::State: Clone,
    {
        let pid = self
            .session
            .channel_pid::<C>(&channel.topic)
            .unwrap_or_else(|| panic!("{} is not joined with that channel type", channel.topic));
        pid.inspect(|joined| joined.state.clone())
            .await
            .expect("the channel process answers")
    }

    /// Every message received so far, in arrival order, taking what the server
    /// has already sent (`Process.info(self(), :messages)`).
    pub async fn messages(&mut self) -> Vec<Message> {
        while let Ok(batch) = tokio::time::timeout(Duration::ZERO, self.outbox.next_batch()).await {
            match batch {
                Batch::Items(items) => self.absorb(items),
                Batch::Close(_) => break,
            }
        }
        self.received.drain(..).collect()
    }

    /// Waits for a reply to `msg_ref` with this status and a response matching `pattern`.
    pub async fn assert_reply(
        &mut self,
        msg_ref: &TestRef,
        status: Status,
        pattern: Value,
    ) -> Value {
        self.assert_reply_within(msg_ref, status, pattern, ASSERT_TIMEOUT)
            .await
    }

    /// [`assert_reply`](Self::assert_reply) with an explicit timeout.
    pub async fn assert_reply_within(
        &mut self,
        msg_ref: &TestRef,
        status: Status,
        pattern: Value,
        timeout: Duration,
    ) -> Value {
        let wanted = json!({"status": status.as_str(), "response": pattern});
        let found = self
            .take_within(timeout, |m| {
                m.event == events::REPLY
                    && m.msg_ref.as_ref() == Some(&msg_ref.0)
                    && m.payload
                        .as_json()
                        .is_some_and(|p| matches_pattern(&wanted, p))
            })
            .await;
        match found {
            Some(message) => {
                message.payload.as_json().cloned().unwrap_or_default()["response"].clone()
            }
            None => panic!(
                "no reply {wanted} to ref {} within {timeout:?}; received: {:?}",
                msg_ref.0, self.received
            ),
        }
    }

    /// Asserts that no reply to `msg_ref` arrives (`refute_reply`).
    pub async fn refute_reply(&mut self, msg_ref: &TestRef) {
        let found = self
            .take_within(REFUTE_TIMEOUT, |m| {
                m.event == events::REPLY && m.msg_ref.as_ref() == Some(&msg_ref.0)
            })
            .await;
        assert!(found.is_none(), "unexpected reply {found:?}");
    }

    /// Waits for a push of `event` with a payload matching `pattern` (`assert_push`).
    pub async fn assert_push(&mut self, event: &str, pattern: Value) -> Value {
        self.assert_push_within(event, pattern, ASSERT_TIMEOUT)
            .await
    }

    /// [`assert_push`](Self::assert_push) with an explicit timeout.
    pub async fn assert_push_within(
        &mut self,
        event: &str,
        pattern: Value,
        timeout: Duration,
    ) -> Value {
        let found = self
            .take_within(timeout, |m| {
                m.event == event
                    && m.payload
                        .as_json()
                        .is_some_and(|p| matches_pattern(&pattern, p))
            })
            .await;
        match found {
            Some(message) => message.payload.as_json().cloned().unwrap_or_default(),
            None => panic!(
                "no push {event} {pattern} within {timeout:?}; received: {:?}",
                self.received
            ),
        }
    }

    /// Asserts that no push of `event` matching `pattern` arrives (`refute_push`).
    pub async fn refute_push(&mut self, event: &str, pattern: Value) {
        self.refute_push_within(event, pattern, REFUTE_TIMEOUT)
            .await
    }

    /// [`refute_push`](Self::refute_push) with an explicit wait.
    pub async fn refute_push_within(&mut self, event: &str, pattern: Value, wait: Duration) {
        let found = self
            .take_within(wait, |m| {
                m.event == event
                    && m.payload
                        .as_json()
                        .is_some_and(|p| matches_pattern(&pattern, p))
            })
            .await;
        assert!(found.is_none(), "unexpected push {found:?}");
    }

    /// Waits for any message on `topic` with this event, pushed or broadcast to the
    /// client (for `phx_close`, `phx_error`).
    pub async fn assert_event(&mut self, topic: &str, event: &str) -> Message {
        let found = self
            .take_within(ASSERT_TIMEOUT, |m| m.topic == topic && m.event == event)
            .await;
        found.unwrap_or_else(|| panic!("no {event} on {topic}; received: {:?}", self.received))
    }

    /// Waits for a broadcast of `event` matching `pattern` on a topic the test
    /// subscribed to (`assert_broadcast`).
    pub async fn assert_broadcast(&mut self, event: &str, pattern: Value) -> Value {
        let deadline = Instant::now() + ASSERT_TIMEOUT;
        loop {
            if let Some(i) = self
                .seen_broadcasts
                .iter()
                .position(|b| b.event == event && matches_pattern(&pattern, b.json()))
            {
                let broadcast = self.seen_broadcasts.remove(i).expect("index is valid");
                return broadcast.json().clone();
            }
            match tokio::time::timeout_at(deadline, self.broadcasts.recv()).await {
                Ok(Some(broadcast)) => self.seen_broadcasts.push_back(broadcast),
                _ => panic!(
                    "no broadcast {event} {pattern}; seen: {:?}",
                    self.seen_broadcasts
                ),
            }
        }
    }

    /// Takes the first received message that satisfies `wanted`, pulling more
    /// from the connection until `timeout`.
    async fn take_within(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Message) -> bool,
    ) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.received.iter().position(&wanted) {
                return self.received.remove(i);
            }
            match tokio::time::timeout_at(deadline, self.outbox.next_batch()).await {
                Ok(Batch::Items(items)) => self.absorb(items),
                Ok(Batch::Close(_)) | Err(_) => return None,
            }
        }
    }

    fn absorb(&mut self, items: Vec<Outbound>) {
        for item in items {
            match self.session.outbound(item) {
                Some(frame @ Frame::Text(_)) => match Serializer::V2.decode(&frame) {
                    Ok(message) => self.received.push_back(message),
                    Err(err) => panic!("the server sent an undecodable frame: {err}"),
                },
                Some(Frame::Binary(_)) => panic!("the test kit reads JSON frames only"),
                None => {}
            }
        }
    }
}

/// Elixir-style map pattern: objects match when every expected key matches;
/// everything else must be equal.
pub fn matches_pattern(pattern: &Value, actual: &Value) -> bool {
    match (pattern, actual) {
        (Value::Object(expected), Value::Object(actual)) => expected
            .iter()
            .all(|(k, v)| actual.get(k).is_some_and(|a| matches_pattern(v, a))),
        _ => pattern == actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_elixir_maps() {
        assert!(matches_pattern(&json!({}), &json!({"a": 1})));
        assert!(matches_pattern(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!matches_pattern(&json!({"a": 2}), &json!({"a": 1})));
        assert!(matches_pattern(
            &json!({"a": {"b": 1}}),
            &json!({"a": {"b": 1, "c": 3}})
        ));
        assert!(!matches_pattern(&json!([1]), &json!([1, 2])));
    }
}
