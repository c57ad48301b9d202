//! The connection task: one per client, the only owner of its WebSocket and of
//! its channels' state.
//!
//! It runs one loop over three sources — commands from the handles, the link
//! (frames from the open WebSocket, or the outcome of a connection attempt),
//! and one timer — and does phoenix.js `Socket`'s work:
//!
//! - **Heartbeat.** `heartbeat_interval` after the connection opens and after
//!   each heartbeat reply, `[null, ref, "phoenix", "heartbeat", {}]` goes out.
//!   If its reply has not come when the next one is due, the connection is
//!   closed (1000, "heartbeat timeout") and treated as dropped.
//! - **Reconnect.** When the connection drops without [`Client::close`], every
//!   channel errors, and a reconnect is tried after `reconnect_after(1)`, then
//!   `reconnect_after(2)`, … until one succeeds; the count starts again once
//!   connected. (phoenix.js does not reconnect after a close with code 1000
//!   from the server; this client does, whatever the code: our server closes
//!   idle connections with 1000.)
//! - **Rejoin.** When the connection opens, errored channels rejoin at once;
//!   see `membership.rs` for the rejoin timer.
//! - **Routing.** A frame is decoded with the V2 serializer; a heartbeat reply
//!   clears the pending heartbeat; anything else goes to each channel of its
//!   topic whose join ref it carries (or all of them, for a `null` join ref).
//!   Frames with a stale join ref are dropped.
//!
//! Writes never block the loop: frames are queued and written while the loop
//! also waits for the next frame, so a peer that is slow to read cannot stall
//! the task's reading (both sides writing into full buffers would deadlock).
//!
//! [`Client::close`]: super::Client::close

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, Stream};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::command::Command;
use super::dial::{ConnectError, Target, Ws};
use super::membership::{Ctx, Membership};
use super::options::ClientOptions;
use super::push::PushError;
use super::shared::{ConnectionState, Shared};
use super::wire::{self, RefField};
use crate::message::{events, HEARTBEAT_TOPIC};

/// How long a closing handshake may take before the socket is just dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Most commands handled in a row before the link gets a turn.
const COMMAND_BATCH: usize = 64;

type Connecting = Pin<Box<dyn Future<Output = Result<Box<Ws>, ConnectError>> + Send>>;

/// The WebSocket, or the way to one.
enum Link {
    Up(Box<Ws>),
    Connecting(Connecting),
    /// Down; reconnect at this time (`None`: reconnecting is off).
    Down(Option<Instant>),
}

/// What woke the loop.
enum Event {
    Command(Option<Box<Command>>),
    Frame(Option<Result<WsMessage, WsError>>),
    Connected(Result<Box<Ws>, ConnectError>),
    Timer,
}

/// The heartbeat's state while connected.
#[derive(Default)]
struct Heartbeat {
    /// The ref of the heartbeat waiting for its reply.
    pending: Option<u64>,
    /// When to send the next heartbeat, or (with one pending) when it times out.
    at: Option<Instant>,
}

/// The connection task's state.
pub(super) struct Connection {
    shared: Arc<Shared>,
    target: Arc<Target>,
    options: ClientOptions,
    commands: mpsc::UnboundedReceiver<Box<Command>>,
    channels: Vec<Membership>,
    link: Link,
    /// Frames to write, oldest first.
    out: VecDeque<WsMessage>,
    /// Whether written frames still need a flush.
    unflushed: bool,
    heartbeat: Heartbeat,
    reconnect_tries: u32,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
}

impl Connection {
    /// The task for a client whose first connection, `ws`, is open.
    pub fn new(
        shared: Arc<Shared>,
        target: Arc<Target>,
        options: ClientOptions,
        commands: mpsc::UnboundedReceiver<Box<Command>>,
        ws: Ws,
    ) -> Connection {
        let now = Instant::now();
        let mut connection = Connection {
            shared,
            target,
            options,
            commands,
            channels: Vec::new(),
            link: Link::Down(None),
            out: VecDeque::new(),
            unflushed: false,
            heartbeat: Heartbeat::default(),
            reconnect_tries: 0,
            timer: Box::pin(tokio::time::sleep_until(far_future(now))),
            timer_at: None,
        };
        connection.on_connected(Box::new(ws), now);
        connection
    }

    /// Runs until the client is closed or every handle is dropped.
    pub async fn run(mut self) {
        loop {
            self.arm_timer();
            let event = tokio::select! {
                command = self.commands.recv() => Event::Command(command),
                event = LinkEvent {
                    link: &mut self.link,
                    out: &mut self.out,
                    unflushed: &mut self.unflushed,
                    shared: &self.shared,
                } => event,
                () = &mut self.timer => Event::Timer,
            };
            let now = Instant::now();
            match event {
                // The rare paths that wait are boxed: their state would
                // otherwise enlarge every connection's task.
                Event::Command(None) => return Box::pin(self.shutdown(None)).await,
                Event::Command(Some(command)) => {
                    if let Err(done) = self.handle_command(*command, now) {
                        return Box::pin(self.shutdown(done)).await;
                    }
                    for _ in 1..COMMAND_BATCH {
                        match self.commands.try_recv() {
                            Ok(command) => {
                                if let Err(done) = self.handle_command(*command, now) {
                                    return Box::pin(self.shutdown(done)).await;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
                Event::Frame(frame) => self.handle_frame(frame, now),
                Event::Connected(Ok(ws)) => self.on_connected(ws, now),
                Event::Connected(Err(err)) => {
                    tracing::debug!(url = %self.target.url, %err, "reconnect failed");
                    self.schedule_reconnect(now);
                }
                Event::Timer => {
                    if self.handle_timer(now) {
                        tracing::debug!(url = %self.target.url, "heartbeat timeout; reconnecting");
                        Box::pin(self.close_link("heartbeat timeout")).await;
                        self.link_down(now);
                    }
                }
            }
        }
    }

    fn connected(&self) -> bool {
        matches!(self.link, Link::Up(_))
    }

    /// The channels and a context for them, borrowed apart so that a channel
    /// can be changed while its context queues frames: the one place a
    /// context is built from the connection.
    fn channels_with_ctx(&mut self, now: Instant) -> (&mut Vec<Membership>, Ctx<'_>) {
        let connected = self.connected();
        let ctx = Ctx {
            shared: &self.shared,
            out: &mut self.out,
            connected,
            now,
            rejoin_after: &self.options.rejoin_after,
            timeout: self.options.timeout,
        };
        (&mut self.channels, ctx)
    }

    /// Runs `f` on channel `id` with a context.
    fn with_channel(&mut self, id: u64, now: Instant, f: impl FnOnce(&mut Membership, &mut Ctx)) {
        let (channels, mut ctx) = self.channels_with_ctx(now);
        if let Some(channel) = channels.iter_mut().find(|c| c.id == id) {
            f(channel, &mut ctx);
        }
    }

    /// Runs `f` on every channel with a context.
    fn each_channel(&mut self, now: Instant, mut f: impl FnMut(&mut Membership, &mut Ctx)) {
        let (channels, mut ctx) = self.channels_with_ctx(now);
        for channel in channels {
            f(channel, &mut ctx);
        }
    }

    /// Handles one command; `Err` asks to shut down (answering `done`).
    fn handle_command(
        &mut self,
        command: Command,
        now: Instant,
    ) -> Result<(), Option<oneshot::Sender<()>>> {
        match command {
            Command::Add(channel) => {
                // Grow one step at a time: most clients have one channel.
                if self.channels.len() == self.channels.capacity() {
                    self.channels.reserve_exact(self.channels.len().max(1));
                }
                self.channels.push(Membership::new(channel));
            }
            Command::Join {
                channel,
                timeout,
                waiter,
            } => {
                // phoenix.js `leaveOpenTopic`: one open channel per topic.
                let topic = match self.channels.iter().find(|c| c.id == channel) {
                    Some(c) => c.topic.clone(),
                    None => {
                        let _ = waiter.send(Err(super::JoinError::Closed));
                        return Ok(());
                    }
                };
                self.each_channel(now, |other, ctx| {
                    if other.id != channel && other.topic == topic && other.is_open() {
                        other.displaced(ctx);
                    }
                });
                self.with_channel(channel, now, |c, ctx| c.join(waiter, timeout, ctx));
            }
            Command::Push(push) => {
                let id = push.channel;
                let mut push = Some(push);
                self.with_channel(id, now, |c, ctx| {
                    if let Some(push) = push.take() {
                        c.push(push, ctx);
                    }
                });
                if let Some(waiter) = push.and_then(|p| p.waiter) {
                    let _ = waiter.send(Err(PushError::Closed));
                }
            }
            Command::Forget { channel, msg_ref } => {
                self.with_channel(channel, now, |c, _| c.forget(msg_ref));
            }
            Command::Subscribe { channel, event, tx } => {
                self.with_channel(channel, now, |c, _| c.subscribe(event, tx));
            }
            Command::Leave {
                channel,
                timeout,
                waiter,
            } => {
                // A channel that is gone has nothing to leave: dropping the
                // waiter answers the caller.
                self.with_channel(channel, now, |c, ctx| c.leave(waiter, timeout, ctx));
            }
            Command::Remove { channel } => {
                self.with_channel(channel, now, |c, ctx| c.remove(ctx));
                self.channels.retain(|c| c.id != channel);
            }
            Command::Close { done } => return Err(Some(done)),
        }
        Ok(())
    }

    fn handle_frame(&mut self, frame: Option<Result<WsMessage, WsError>>, now: Instant) {
        match frame {
            Some(Ok(WsMessage::Text(text))) => {
                self.shared.messages_received.fetch_add(1, Relaxed);
                match wire::decode(text) {
                    Ok(incoming) => self.route(incoming, now),
                    Err(err) => tracing::debug!(%err, "undecodable frame dropped"),
                }
            }
            Some(Ok(WsMessage::Binary(_))) => {
                self.shared.messages_received.fetch_add(1, Relaxed);
                tracing::debug!("binary frame dropped: binary payloads are not supported");
            }
            // Pings are answered by tungstenite; after a close frame, the stream
            // ends once the server closes the TCP connection.
            Some(Ok(_)) => {}
            Some(Err(err)) => {
                tracing::debug!(url = %self.target.url, %err, "connection failed");
                self.link_down(now);
            }
            None => {
                tracing::debug!(url = %self.target.url, "connection closed");
                self.link_down(now);
            }
        }
    }

    /// Routes a decoded frame (see the module docs).
    fn route(&mut self, incoming: wire::Incoming, now: Instant) {
        let wire::Incoming {
            join_ref,
            msg_ref,
            topic,
            event,
            payload,
        } = incoming;
        if topic == HEARTBEAT_TOPIC
            && event == events::REPLY
            && msg_ref.is_some()
            && msg_ref == self.heartbeat.pending
        {
            self.heartbeat.pending = None;
            self.heartbeat.at = self.options.heartbeat_interval.map(|i| now + i);
            return;
        }
        let mut targets = self
            .channels
            .iter()
            .filter(|c| c.topic == topic && c.accepts(join_ref))
            .map(|c| c.id);
        let Some(first) = targets.next() else {
            if join_ref != RefField::Null {
                tracing::trace!(%topic, %event, "stale or unknown message dropped");
            }
            return;
        };
        let rest: Vec<u64> = targets.collect();
        let mut payload = Some(payload);
        for (i, id) in std::iter::once(first)
            .chain(rest.iter().copied())
            .enumerate()
        {
            let value = if i == rest.len() {
                payload.take().unwrap_or_default()
            } else {
                payload.clone().unwrap_or_default()
            };
            self.with_channel(id, now, |c, ctx| c.handle(msg_ref, &event, value, ctx));
        }
    }

    /// Handles what is due; `true` if the heartbeat timed out (the caller
    /// closes the connection).
    fn handle_timer(&mut self, now: Instant) -> bool {
        self.timer_at = None;
        if let Link::Down(Some(at)) = self.link {
            if at <= now {
                self.shared.set_state(ConnectionState::Connecting);
                let target = self.target.clone();
                self.link =
                    Link::Connecting(Box::pin(async move { target.dial().await.map(Box::new) }));
            }
        }
        if self.connected() && self.heartbeat.at.is_some_and(|at| at <= now) {
            if self.heartbeat.pending.take().is_some() {
                return true;
            } else {
                let heartbeat_ref = self.shared.make_ref();
                self.out.push_back(wire::encode(
                    None,
                    heartbeat_ref,
                    HEARTBEAT_TOPIC,
                    events::HEARTBEAT,
                    json!({}),
                ));
                self.heartbeat.pending = Some(heartbeat_ref);
                self.heartbeat.at = self.options.heartbeat_interval.map(|i| now + i);
                // Callers that stopped waiting leave pushes behind: sweep them.
                for channel in &mut self.channels {
                    channel.sweep();
                }
            }
        }
        self.each_channel(now, |c, ctx| c.on_timer(ctx));
        false
    }

    /// The earliest deadline of the heartbeat, the reconnect and the channels.
    fn next_deadline(&self) -> Option<Instant> {
        let link = match &self.link {
            Link::Up(_) => self.heartbeat.at,
            Link::Down(at) => *at,
            Link::Connecting(_) => None,
        };
        self.channels
            .iter()
            .filter_map(Membership::deadline)
            .chain(link)
            .min()
    }

    fn arm_timer(&mut self) {
        let next = self.next_deadline();
        if next != self.timer_at {
            self.timer_at = next;
            let at = next.unwrap_or_else(|| far_future(Instant::now()));
            self.timer.as_mut().reset(at);
        }
    }

    fn on_connected(&mut self, ws: Box<Ws>, now: Instant) {
        tracing::debug!(url = %self.target.url, "connected");
        self.link = Link::Up(ws);
        self.reconnect_tries = 0;
        self.shared.connects.fetch_add(1, Relaxed);
        self.shared.set_state(ConnectionState::Connected);
        self.heartbeat = Heartbeat {
            pending: None,
            at: self.options.heartbeat_interval.map(|i| now + i),
        };
        self.each_channel(now, |c, ctx| c.on_connect(ctx));
    }

    /// The connection is gone: channels error, a reconnect is scheduled.
    fn link_down(&mut self, now: Instant) {
        if !self.connected() {
            return;
        }
        self.link = Link::Down(None);
        self.out.clear();
        self.unflushed = false;
        self.heartbeat = Heartbeat::default();
        self.shared.disconnects.fetch_add(1, Relaxed);
        self.each_channel(now, |c, ctx| c.on_disconnect(ctx));
        self.schedule_reconnect(now);
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        self.shared.set_state(ConnectionState::Disconnected);
        if !self.options.reconnect {
            self.link = Link::Down(None);
            return;
        }
        self.reconnect_tries = self.reconnect_tries.saturating_add(1);
        let delay = self.options.reconnect_after.delay(self.reconnect_tries);
        self.link = Link::Down(Some(now + delay));
    }

    /// Writes what is queued, then closes the WebSocket with 1000 and `reason`,
    /// within [`CLOSE_WAIT`].
    async fn close_link(&mut self, reason: &str) {
        if let Link::Up(ws) = &mut self.link {
            let ws: &mut Ws = ws;
            let out = std::mem::take(&mut self.out);
            let sent = out.len() as u64;
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: reason.into(),
            };
            let close = async {
                use futures::SinkExt;
                for message in out {
                    ws.feed(message).await?;
                }
                ws.close(Some(frame)).await
            };
            let _ = tokio::time::timeout(CLOSE_WAIT, close).await;
            self.shared.messages_sent.fetch_add(sent, Relaxed);
        }
    }

    /// The end: channels closed, the socket closed, every waiter answered.
    async fn shutdown(mut self, done: Option<oneshot::Sender<()>>) {
        let now = Instant::now();
        self.each_channel(now, |c, ctx| {
            c.remove(ctx);
            c.shutdown();
        });
        if self.connected() {
            self.shared.disconnects.fetch_add(1, Relaxed);
        }
        self.close_link("").await;
        self.link = Link::Down(None);
        self.channels.clear();
        self.shared.set_state(ConnectionState::Closed);
        // Commands already queued get their answers (by their waiters being dropped).
        self.commands.close();
        while self.commands.try_recv().is_ok() {}
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

/// A deadline for "no deadline".
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(86_400 * 365)
}

/// The link's next event: a frame (while writing queued frames), or the
/// outcome of a connection attempt. Pending while down.
struct LinkEvent<'a> {
    link: &'a mut Link,
    out: &'a mut VecDeque<WsMessage>,
    unflushed: &'a mut bool,
    shared: &'a Shared,
}

impl Future for LinkEvent<'_> {
    type Output = Event;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Event> {
        let this = self.get_mut();
        match this.link {
            Link::Up(ws) => {
                if let Err(err) = write_some(ws, this.out, this.unflushed, this.shared, cx) {
                    return Poll::Ready(Event::Frame(Some(Err(err))));
                }
                Pin::new(&mut **ws).poll_next(cx).map(Event::Frame)
            }
            Link::Connecting(connecting) => connecting.as_mut().poll(cx).map(Event::Connected),
            Link::Down(_) => Poll::Pending,
        }
    }
}

/// Moves queued frames into the WebSocket and flushes, as far as it can go
/// without waiting.
fn write_some(
    ws: &mut Ws,
    out: &mut VecDeque<WsMessage>,
    unflushed: &mut bool,
    shared: &Shared,
    cx: &mut Context<'_>,
) -> Result<(), WsError> {
    let mut ws = Pin::new(ws);
    while !out.is_empty() {
        match ws.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                if let Some(message) = out.pop_front() {
                    ws.as_mut().start_send(message)?;
                    shared.messages_sent.fetch_add(1, Relaxed);
                    *unflushed = true;
                }
            }
            Poll::Ready(Err(err)) => return Err(err),
            Poll::Pending => return Ok(()),
        }
    }
    if *unflushed {
        match ws.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => *unflushed = false,
            Poll::Ready(Err(err)) => return Err(err),
            Poll::Pending => {}
        }
    }
    Ok(())
}
