//! [`Membership`]: the connection task's record of one channel — phoenix.js's
//! `Channel` state machine, with its join push, its buffered and in-flight
//! pushes, and its subscribers.
//!
//! | phase | how it gets there | what ends it |
//! |---|---|---|
//! | `Closed` | created; left; initial join refused or timed out; `phx_close` | `join()` |
//! | `Joining` | `join()`; a rejoin (after `phx_error`, a reconnect, the rejoin timer) | the join reply; the join timeout |
//! | `Joined` | an `ok` join reply | `phx_error`; the connection dropping; `leave()`; `phx_close` |
//! | `Errored` | `phx_error`; the connection dropping; a rejoin refused or timed out | the rejoin timer (`rejoin_after`), or the connection opening |
//! | `Leaving` | `leave()` while joined | the leave reply, `phx_close`, or the timeout |
//!
//! Deliberate differences from phoenix.js, which retries refused and timed-out
//! joins for ever: the *first* join of a [`Channel::join`](super::Channel::join)
//! call reports its refusal or timeout to the caller and leaves the channel
//! closed (join again to retry); only rejoins retry on the rejoin schedule.
//! Pushes sent before a `phx_error` or a dropped connection fail at once with
//! [`PushError::Errored`] instead of waiting for their timeout: their replies
//! cannot come. Pushes made while the channel is joining or errored are
//! buffered and sent once it joins, as in phoenix.js; their timeout runs
//! meanwhile.
//!
//! Every method gets a [`Ctx`]: frames to send go in its queue (only when the
//! connection is up), and `now` is the time the task is handling.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::backoff::Backoff;
use super::channel::{ChannelState, JoinError};
use super::command::{JoinWaiter, NewChannel};
use super::push::{PushError, PushReply, PushRequest, PushWaiter};
use super::shared::Shared;
use super::status::StatusCell;
use super::wire::{self, RefField};
use crate::message::events;

/// What a membership needs from the task for one call.
pub(super) struct Ctx<'a> {
    pub shared: &'a Shared,
    /// Frames to send, in order.
    pub out: &'a mut VecDeque<WsMessage>,
    /// Whether the WebSocket is open (frames can be queued).
    pub connected: bool,
    pub now: Instant,
    pub rejoin_after: &'a Backoff,
    /// The timeout of rejoins.
    pub timeout: Duration,
}

impl Ctx<'_> {
    fn send(&mut self, frame: WsMessage) {
        if self.connected {
            self.out.push_back(frame);
        }
    }
}

enum Phase {
    Closed,
    Joining {
        /// The caller of `join()`, for the first join; `None` for a rejoin.
        waiter: Option<JoinWaiter>,
        deadline: Instant,
        /// Whether the join went out (it waits for the connection otherwise).
        sent: bool,
    },
    Joined,
    Errored {
        /// When to rejoin; `None` until the connection is open.
        rejoin_at: Option<Instant>,
    },
    Leaving {
        leave_ref: u64,
        waiter: Option<oneshot::Sender<()>>,
        deadline: Instant,
    },
}

/// One channel, as the connection task sees it.
pub(super) struct Membership {
    pub id: u64,
    pub topic: String,
    params: Value,
    /// The ref of the latest join: messages carrying another are stale.
    join_ref: Option<u64>,
    phase: Phase,
    rejoin_tries: u32,
    /// Sent pushes waiting for their reply, oldest first.
    in_flight: VecDeque<(u64, PushWaiter)>,
    /// Pushes waiting for the channel to join.
    buffered: Vec<PushRequest>,
    subscribers: Vec<(String, mpsc::UnboundedSender<Value>)>,
    state: Arc<StatusCell>,
}

impl Membership {
    pub fn new(channel: NewChannel) -> Membership {
        Membership {
            id: channel.id,
            topic: channel.topic,
            params: channel.params,
            join_ref: None,
            phase: Phase::Closed,
            rejoin_tries: 0,
            in_flight: VecDeque::new(),
            buffered: Vec::new(),
            subscribers: Vec::new(),
            state: channel.state,
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        let state = match phase {
            Phase::Closed => ChannelState::Closed,
            Phase::Joining { .. } => ChannelState::Joining,
            Phase::Joined => ChannelState::Joined,
            Phase::Errored { .. } => ChannelState::Errored,
            Phase::Leaving { .. } => ChannelState::Leaving,
        };
        self.phase = phase;
        self.state.set(state);
    }

    /// Joined or joining: another channel joining the same topic must leave
    /// this one first (phoenix.js `leaveOpenTopic`).
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Joined | Phase::Joining { .. })
    }

    /// Whether a message with this `join_ref` is for this channel: it is not
    /// closed, and the message is a broadcast or carries the current join ref.
    pub fn accepts(&self, join_ref: RefField) -> bool {
        if matches!(self.phase, Phase::Closed) {
            return false;
        }
        match join_ref {
            RefField::Null => true,
            RefField::Ours(r) => self.join_ref == Some(r),
            RefField::Foreign => false,
        }
    }

    /// When this channel's timer (join timeout, rejoin, leave timeout) fires.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Joining { deadline, .. } | Phase::Leaving { deadline, .. } => Some(*deadline),
            Phase::Errored { rejoin_at } => *rejoin_at,
            Phase::Closed | Phase::Joined => None,
        }
    }

    /// `join()`: the first join, answered to `waiter`.
    pub fn join(&mut self, waiter: JoinWaiter, timeout: Duration, ctx: &mut Ctx) {
        if !matches!(self.phase, Phase::Closed) {
            let _ = waiter.send(Err(JoinError::AlreadyJoined));
            return;
        }
        self.rejoin_tries = 0;
        self.set_phase(Phase::Joining {
            waiter: Some(waiter),
            deadline: ctx.now + timeout,
            sent: false,
        });
        self.send_join(ctx);
    }

    /// Sends the join (under a fresh ref, which becomes the join ref) if the
    /// connection is open.
    fn send_join(&mut self, ctx: &mut Ctx) {
        if !ctx.connected {
            return;
        }
        let join_ref = ctx.shared.make_ref();
        self.join_ref = Some(join_ref);
        ctx.send(wire::encode(
            Some(join_ref),
            join_ref,
            &self.topic,
            events::JOIN,
            self.params.clone(),
        ));
        if let Phase::Joining { sent, .. } = &mut self.phase {
            *sent = true;
        }
    }

    /// phoenix.js `rejoin()`: join again, with nobody waiting.
    fn rejoin(&mut self, ctx: &mut Ctx) {
        self.set_phase(Phase::Joining {
            waiter: None,
            deadline: ctx.now + ctx.timeout,
            sent: false,
        });
        self.send_join(ctx);
    }

    /// Errored; the next rejoin after the back-off if connected, else when the
    /// connection opens.
    fn errored(&mut self, ctx: &mut Ctx) {
        let rejoin_at = ctx.connected.then(|| {
            self.rejoin_tries = self.rejoin_tries.saturating_add(1);
            ctx.now + ctx.rejoin_after.delay(self.rejoin_tries)
        });
        self.set_phase(Phase::Errored { rejoin_at });
    }

    /// A `phx_leave` for the current join, if one went out and we are connected.
    fn send_leave(&mut self, ctx: &mut Ctx) -> Option<u64> {
        let join_ref = self.join_ref?;
        if !ctx.connected {
            return None;
        }
        let leave_ref = ctx.shared.make_ref();
        ctx.send(wire::encode(
            Some(join_ref),
            leave_ref,
            &self.topic,
            events::LEAVE,
            json!({}),
        ));
        Some(leave_ref)
    }

    /// Closed: every waiter is answered and nothing is retried.
    fn close(&mut self, push_error: PushError) {
        let previous = std::mem::replace(&mut self.phase, Phase::Closed);
        // The state changes before any waiter hears of it.
        self.set_phase(Phase::Closed);
        match previous {
            Phase::Joining {
                waiter: Some(waiter),
                ..
            } => {
                let _ = waiter.send(Err(JoinError::Closed));
            }
            Phase::Leaving {
                waiter: Some(waiter),
                ..
            } => {
                let _ = waiter.send(());
            }
            _ => {}
        }
        self.fail_in_flight(push_error.clone());
        self.fail_buffered(push_error);
    }

    fn fail_in_flight(&mut self, error: PushError) {
        for (_, waiter) in self.in_flight.drain(..) {
            let _ = waiter.send(Err(error.clone()));
        }
    }

    fn fail_buffered(&mut self, error: PushError) {
        for push in self.buffered.drain(..) {
            if let Some(waiter) = push.waiter {
                let _ = waiter.send(Err(error.clone()));
            }
        }
    }

    /// A push from a handle.
    pub fn push(&mut self, mut push: PushRequest, ctx: &mut Ctx) {
        match self.phase {
            Phase::Joined if ctx.connected => self.send_push(push, ctx),
            Phase::Joined | Phase::Joining { .. } | Phase::Errored { .. } => {
                // Only pushes someone waits for are kept; a `push_no_reply` is
                // sent now or never.
                if push.waiter.is_some() {
                    self.buffered.push(push);
                }
            }
            Phase::Closed | Phase::Leaving { .. } => {
                if let Some(waiter) = push.waiter.take() {
                    let _ = waiter.send(Err(PushError::NotJoined));
                }
            }
        }
    }

    fn send_push(&mut self, push: PushRequest, ctx: &mut Ctx) {
        ctx.send(wire::encode(
            self.join_ref,
            push.msg_ref,
            &self.topic,
            &push.event,
            push.payload,
        ));
        if let Some(waiter) = push.waiter {
            self.in_flight.push_back((push.msg_ref, waiter));
        }
    }

    /// The caller of push `msg_ref` stopped waiting.
    pub fn forget(&mut self, msg_ref: u64) {
        self.in_flight.retain(|(r, _)| *r != msg_ref);
        self.buffered.retain(|push| push.msg_ref != msg_ref);
    }

    /// Drops pushes whose callers stopped waiting (cancelled futures).
    pub fn sweep(&mut self) {
        self.in_flight.retain(|(_, waiter)| !waiter.is_closed());
        self.buffered
            .retain(|push| push.waiter.as_ref().is_some_and(|w| !w.is_closed()));
    }

    pub fn subscribe(&mut self, event: String, tx: mpsc::UnboundedSender<Value>) {
        self.subscribers.push((event, tx));
    }

    /// `leave()`.
    pub fn leave(&mut self, waiter: oneshot::Sender<()>, timeout: Duration, ctx: &mut Ctx) {
        match self.phase {
            Phase::Joined => match self.send_leave(ctx) {
                Some(leave_ref) => self.set_phase(Phase::Leaving {
                    leave_ref,
                    waiter: Some(waiter),
                    deadline: ctx.now + timeout,
                }),
                None => {
                    self.close(PushError::Closed);
                    let _ = waiter.send(());
                }
            },
            Phase::Joining { sent, .. } => {
                if sent {
                    self.send_leave(ctx);
                }
                self.close(PushError::Closed);
                let _ = waiter.send(());
            }
            Phase::Errored { .. } | Phase::Closed | Phase::Leaving { .. } => {
                if !matches!(self.phase, Phase::Leaving { .. }) {
                    self.close(PushError::Closed);
                }
                let _ = waiter.send(());
            }
        }
    }

    /// The last handle is gone: leave if joined, answer every waiter.
    pub fn remove(&mut self, ctx: &mut Ctx) {
        if matches!(
            self.phase,
            Phase::Joined | Phase::Joining { sent: true, .. }
        ) {
            self.send_leave(ctx);
        }
        self.close(PushError::Closed);
    }

    /// Another channel is joining this topic: leave this one (phoenix.js
    /// `leaveOpenTopic`).
    pub fn displaced(&mut self, ctx: &mut Ctx) {
        self.remove(ctx);
    }

    /// The client is closing.
    pub fn shutdown(&mut self) {
        self.close(PushError::Closed);
        self.subscribers.clear();
    }

    /// A message for this channel (already checked with [`accepts`](Self::accepts)).
    pub fn handle(&mut self, msg_ref: Option<u64>, event: &str, payload: Value, ctx: &mut Ctx) {
        let payload = self.deliver(event, payload);
        match event {
            events::REPLY => {
                if let (Some(msg_ref), Some(payload)) = (msg_ref, payload) {
                    self.on_reply(msg_ref, payload, ctx);
                }
            }
            events::ERROR => self.on_error(payload, ctx),
            events::CLOSE => self.close(PushError::Closed),
            _ => {}
        }
    }

    /// Sends the payload to the event's subscribers; gives it back if the
    /// channel itself needs it (a reply or an error).
    fn deliver(&mut self, event: &str, payload: Value) -> Option<Value> {
        let needed = event == events::REPLY || event == events::ERROR;
        let mut matching = self.subscribers.iter().filter(|(e, _)| e == event).count();
        if matching == 0 {
            return Some(payload);
        }
        let mut payload = Some(payload);
        let mut gone = false;
        for (e, tx) in &self.subscribers {
            if e != event {
                continue;
            }
            matching -= 1;
            let value = if matching == 0 && !needed {
                payload.take().unwrap_or_default()
            } else {
                payload.clone().unwrap_or_default()
            };
            gone |= tx.send(value).is_err();
        }
        if gone {
            self.subscribers.retain(|(_, tx)| !tx.is_closed());
        }
        payload
    }

    fn on_reply(&mut self, msg_ref: u64, payload: Value, ctx: &mut Ctx) {
        let (status, response) = wire::reply_parts(payload);
        let is_join_reply =
            matches!(self.phase, Phase::Joining { .. }) && self.join_ref == Some(msg_ref);
        let is_leave_reply =
            matches!(self.phase, Phase::Leaving { leave_ref, .. } if leave_ref == msg_ref);
        if is_join_reply {
            self.on_join_reply(status == "ok", response, ctx);
        } else if is_leave_reply {
            self.close(PushError::Closed);
        } else if let Some(at) = self.in_flight.iter().position(|(r, _)| *r == msg_ref) {
            if let Some((_, waiter)) = self.in_flight.remove(at) {
                let _ = waiter.send(Ok(PushReply { status, response }));
            }
        }
    }

    fn on_join_reply(&mut self, ok: bool, response: Value, ctx: &mut Ctx) {
        let waiter = match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Joining { waiter, .. } => waiter,
            other => {
                self.phase = other;
                return;
            }
        };
        if ok {
            self.rejoin_tries = 0;
            self.set_phase(Phase::Joined);
            if let Some(waiter) = waiter {
                let _ = waiter.send(Ok(response));
            }
            if ctx.connected {
                for push in std::mem::take(&mut self.buffered) {
                    if push.waiter.as_ref().is_some_and(|w| !w.is_closed()) {
                        self.send_push(push, ctx);
                    }
                }
            }
        } else if let Some(waiter) = waiter {
            self.set_phase(Phase::Closed);
            let _ = waiter.send(Err(JoinError::Refused(response)));
            self.fail_buffered(PushError::NotJoined);
        } else {
            tracing::debug!(topic = %self.topic, %response, "rejoin refused");
            self.errored(ctx);
        }
    }

    /// `phx_error`: the channel crashed on the server.
    fn on_error(&mut self, payload: Option<Value>, ctx: &mut Ctx) {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Joining {
                waiter: Some(waiter),
                ..
            } => {
                // The first join's channel crashed before its reply: a refusal.
                self.set_phase(Phase::Closed);
                let _ = waiter.send(Err(JoinError::Refused(payload.unwrap_or_default())));
                self.fail_in_flight(PushError::Errored);
                self.fail_buffered(PushError::NotJoined);
            }
            Phase::Joined | Phase::Joining { waiter: None, .. } => {
                tracing::debug!(topic = %self.topic, "channel errored; rejoining");
                // The state changes before the pushes hear of it.
                self.errored(ctx);
                self.fail_in_flight(PushError::Errored);
            }
            other => self.phase = other,
        }
    }

    /// The connection dropped (phoenix.js `triggerChanError`).
    pub fn on_disconnect(&mut self, ctx: &mut Ctx) {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Joined | Phase::Joining { waiter: None, .. } | Phase::Errored { .. } => {
                self.errored(ctx)
            }
            Phase::Joining {
                waiter: Some(waiter),
                deadline,
                ..
            } => {
                // The caller still waits: the join goes out again on reconnect.
                self.phase = Phase::Joining {
                    waiter: Some(waiter),
                    deadline,
                    sent: false,
                };
            }
            Phase::Leaving { waiter, .. } => {
                self.set_phase(Phase::Closed);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(());
                }
            }
            Phase::Closed => {}
        }
        self.fail_in_flight(PushError::Errored);
    }

    /// The connection opened: rejoin at once.
    pub fn on_connect(&mut self, ctx: &mut Ctx) {
        self.rejoin_tries = 0;
        match self.phase {
            Phase::Errored { .. } => self.rejoin(ctx),
            Phase::Joining { sent: false, .. } => self.send_join(ctx),
            _ => {}
        }
    }

    /// The channel's deadline passed (the task checks [`deadline`](Self::deadline)).
    pub fn on_timer(&mut self, ctx: &mut Ctx) {
        if self.deadline().is_none_or(|deadline| deadline > ctx.now) {
            return;
        }
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Joining { waiter, sent, .. } => {
                // phoenix.js: a timed-out join is left, then retried.
                if sent {
                    self.send_leave(ctx);
                }
                match waiter {
                    Some(waiter) => {
                        self.set_phase(Phase::Closed);
                        let _ = waiter.send(Err(JoinError::Timeout));
                        self.fail_buffered(PushError::NotJoined);
                    }
                    None => self.errored(ctx),
                }
            }
            Phase::Errored { .. } => {
                if ctx.connected {
                    self.rejoin(ctx);
                } else {
                    self.set_phase(Phase::Errored { rejoin_at: None });
                }
            }
            Phase::Leaving { .. } => self.close(PushError::Closed),
            other => self.phase = other,
        }
    }
}
