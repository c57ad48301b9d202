//! One joined channel, run as a lightweight process.
//!
//! Phoenix runs each join in its own process (`Phoenix.Channel.Server`); so do
//! we, on the runtime's lightweight process (≈1 KB instead of a ractor actor's
//! 8–11 KB), under the endpoint's `ProcessSupervisor`. The process runs the
//! channel's `join` in `init`, subscribes its connection to the topic's
//! fastlane, then handles client events, intercepted broadcasts and info
//! messages. Whatever way it ends — leave, stop, crash, its connection gone,
//! its supervisor shutting down — `terminate` drops the subscription and
//! leaves a notice in the connection's outbox, which turns it into `phx_close`
//! (the channel stopped itself cleanly: leave, or a callback's stop) or
//! `phx_error` (anything else, which phoenix.js answers by rejoining) after
//! everything the channel sent before. As in Phoenix's `Channel.Server`, a
//! `:shutdown` from outside never closes the channel on the client. A process
//! killed before `terminate` could run (its supervisor crashed, a shutdown
//! timed out) leaves the notice when its state is dropped: the client is never
//! left with a channel that looks joined but is gone.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use runtime::timer::TimerRef;
use runtime::{ExitReason, Flow, GenServer, Pid, ProcessError};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::channel::{
    send_reply, Channel, ChannelHandle, ChannelSocket, Continue, Deliver, HandleIn, Join, Reply,
};
use crate::message::{Broadcast, Payload, Ref, ReplyMessage};
use crate::outbox::Outbound;
use crate::pubsub::{Fastlane, Interceptor};

/// The GenServer that hosts one joined channel.
pub struct ChannelServer<A, C> {
    channel: Arc<C>,
    _assigns: PhantomData<fn() -> A>,
}

impl<A, C> ChannelServer<A, C> {
    pub(crate) fn new(channel: Arc<C>) -> Self {
        ChannelServer {
            channel,
            _assigns: PhantomData,
        }
    }
}

/// What the connection sends a channel process.
pub enum ChannelIn {
    /// A client event for `handle_in`.
    Event {
        /// The event name.
        event: String,
        /// Its payload.
        payload: Payload,
        /// The ref to reply to.
        msg_ref: Ref,
    },
    /// The client left the topic (`phx_leave`).
    Leave {
        /// The ref to reply to.
        msg_ref: Ref,
    },
    /// An intercepted broadcast for `handle_out`.
    Out(Arc<Broadcast>),
}

/// How a join went, reported to the connection before anything else happens.
pub enum JoinOutcome {
    /// Joined; reply ok with this payload.
    Joined(Value),
    /// Refused; reply error with this payload.
    Refused(Value),
}

/// A joined channel process's state: the socket, the channel's own state,
/// and whether the connection was told that the channel ended.
pub struct Joined<A, I, S> {
    pub(crate) socket: ChannelSocket<A, I>,
    pub(crate) state: S,
    notified: bool,
}

impl<A, I, S> Joined<A, I, S> {
    /// Queues the exit notice, once.
    fn notify_exit(&mut self, closed: bool) {
        if std::mem::replace(&mut self.notified, true) {
            return;
        }
        let socket = &self.socket;
        socket
            .services
            .pubsub
            .unsubscribe(&socket.topic, socket.subscription);
        let _ = socket.outbox.push_notice(Outbound::ChannelExit {
            topic: socket.topic.clone(),
            join_ref: socket.join_ref.clone(),
            subscription: socket.subscription,
            closed,
        });
    }
}

impl<A, I, S> Drop for Joined<A, I, S> {
    /// Killed without `terminate`: the connection still hears of it (`phx_error`).
    fn drop(&mut self) {
        self.notify_exit(false);
    }
}

/// `init`'s arguments.
pub struct JoinArgs<A, I> {
    pub(crate) socket: ChannelSocket<A, I>,
    pub(crate) payload: Payload,
    pub(crate) outcome: oneshot::Sender<JoinOutcome>,
}

impl<A: Send + Sync + 'static, C: Channel<A>> GenServer for ChannelServer<A, C> {
    type Args = JoinArgs<A, C::Info>;
    type State = Joined<A, C::Info, C::State>;
    type Call = ();
    type Reply = ();
    type Cast = ChannelIn;
    type Info = C::Info;

    async fn init(
        &self,
        myself: &Pid<Self>,
        args: Self::Args,
    ) -> Result<Self::State, ProcessError> {
        let JoinArgs {
            mut socket,
            payload,
            outcome,
        } = args;
        socket.myself = Some(ChannelHandle(Arc::new(myself.clone())));
        let topic = socket.topic.clone();
        match self.channel.join(&topic, payload, &socket).await? {
            Join::Ok(state) => Ok(self.joined(myself, socket, state, json!({}), outcome)),
            Join::OkReply(state, reply) => Ok(self.joined(myself, socket, state, reply, outcome)),
            Join::Error(reply) => {
                let _ = outcome.send(JoinOutcome::Refused(reply));
                Err(ExitReason::ShutdownWith("join refused".into()).into())
            }
        }
    }

    async fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        message: ChannelIn,
        Joined { socket, state, .. }: &mut Self::State,
    ) -> Result<Flow, ProcessError> {
        let next = self.cast(message, socket, state).await?;
        socket.stopping_itself = matches!(next, Flow::Stop(_));
        Ok(next)
    }

    async fn handle_info(
        &self,
        _myself: &Pid<Self>,
        message: C::Info,
        Joined { socket, state, .. }: &mut Self::State,
    ) -> Result<Flow, ProcessError> {
        let next = flow(self.channel.handle_info(message, socket, state).await?);
        socket.stopping_itself = matches!(next, Flow::Stop(_));
        Ok(next)
    }

    async fn terminate(&self, _myself: &Pid<Self>, reason: &ExitReason, joined: &mut Self::State) {
        self.channel
            .terminate(reason, &joined.socket, &mut joined.state)
            .await;
        let closed = joined.socket.stopping_itself && reason.is_normal();
        joined.notify_exit(closed);
    }
}

impl<A: Send + Sync + 'static, C: Channel<A>> ChannelServer<A, C> {
    /// One message from the connection.
    async fn cast(
        &self,
        message: ChannelIn,
        socket: &mut ChannelSocket<A, C::Info>,
        state: &mut C::State,
    ) -> Result<Flow, ProcessError> {
        match message {
            ChannelIn::Event {
                event,
                payload,
                msg_ref,
            } => {
                socket.current_ref = msg_ref.clone();
                match self
                    .channel
                    .handle_in(&event, payload, socket, state)
                    .await?
                {
                    HandleIn::Reply(reply) => {
                        reply_to(socket, msg_ref, reply);
                        Ok(Flow::Continue)
                    }
                    HandleIn::NoReply => Ok(Flow::Continue),
                    HandleIn::Stop(reason, reply) => {
                        if let Some(reply) = reply {
                            reply_to(socket, msg_ref, reply);
                        }
                        Ok(Flow::Stop(reason))
                    }
                }
            }
            ChannelIn::Leave { msg_ref } => {
                reply_to(socket, msg_ref, Reply::ok(json!({})));
                Ok(Flow::Stop(ExitReason::ShutdownWith("left".into())))
            }
            ChannelIn::Out(broadcast) => {
                let payload = broadcast.payload.clone();
                let next = self
                    .channel
                    .handle_out(&broadcast.event, payload, socket, state)
                    .await?;
                Ok(flow(next))
            }
        }
    }

    /// Subscribes the connection to the topic and reports the join.
    fn joined(
        &self,
        myself: &Pid<Self>,
        socket: ChannelSocket<A, C::Info>,
        state: C::State,
        reply: Value,
        outcome: oneshot::Sender<JoinOutcome>,
    ) -> Joined<A, C::Info, C::State> {
        let intercepts = self.channel.intercepts();
        socket.services.pubsub.subscribe_fastlane(
            &socket.topic,
            socket.subscription,
            Fastlane {
                outbox: socket.outbox.clone(),
                serializer: socket.serializer,
                intercepts,
                interceptor: (!intercepts.is_empty())
                    .then(|| Box::new(myself.clone()) as Box<dyn Interceptor>),
            },
        );
        let _ = outcome.send(JoinOutcome::Joined(reply));
        Joined {
            socket,
            state,
            notified: false,
        }
    }
}

fn flow(next: Continue) -> Flow {
    match next {
        Continue::NoReply => Flow::Continue,
        Continue::Stop(reason) => Flow::Stop(reason),
    }
}

fn reply_to<A, I>(socket: &ChannelSocket<A, I>, msg_ref: Ref, reply: Reply) {
    let (status, response) = reply.split();
    send_reply(
        &socket.outbox,
        socket.serializer,
        ReplyMessage {
            join_ref: socket.join_ref.clone(),
            msg_ref,
            topic: socket.topic.clone(),
            status,
            response,
        },
    );
}

impl<A: Send + Sync + 'static, C: Channel<A>> Interceptor for Pid<ChannelServer<A, C>> {
    fn handle_out(&self, broadcast: &Arc<Broadcast>) -> bool {
        self.cast(ChannelIn::Out(broadcast.clone())).is_ok()
    }
}

impl<A: Send + Sync + 'static, C: Channel<A>> Deliver<C::Info> for Pid<ChannelServer<A, C>> {
    fn send(&self, message: C::Info) -> bool {
        self.info(message).is_ok()
    }

    fn send_after(&self, message: C::Info, delay: Duration) -> TimerRef {
        Pid::send_after(self, message, delay)
    }

    fn send_interval(
        &self,
        period: Duration,
        make: Box<dyn FnMut() -> C::Info + Send>,
    ) -> TimerRef {
        Pid::send_interval(self, period, make)
    }
}
