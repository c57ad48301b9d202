//! The `Socket` behaviour: who may connect, and which channel serves a topic.
//!
//! Phoenix's `use Phoenix.Socket` module: `connect/3` authenticates the
//! connection and stores assigns (a refusal is HTTP 403), `id/1` names the
//! socket so that it can be disconnected by broadcasting `"disconnect"` to that
//! id, and `channel "topic:*", SomeChannel` declares routes. The transport
//! (WebSocket, long poll) is not the socket's business.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use runtime::process::supervisor::SpawnError;
use runtime::process::ProcessSupervisor;
use tokio::sync::oneshot;

use crate::channel::{Channel, ChannelSocket, HandleNow, Reply};
use crate::channel_server::{ChannelIn, ChannelServer, JoinArgs, JoinOutcome};
use crate::message::Payload;
use crate::topic::TopicPattern;

/// Connect parameters: the query string, without `vsn` (Phoenix's `params`).
pub type Params = HashMap<String, String>;

/// Which transport a connection came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `/websocket`
    WebSocket,
    /// `/longpoll`
    LongPoll,
}

impl Transport {
    /// As Phoenix logs it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => ":websocket",
            Transport::LongPoll => ":longpoll",
        }
    }
}

/// What `connect` may look at besides the params (Phoenix's `connect_info`).
#[derive(Debug, Clone)]
pub struct ConnectInfo {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The request's headers (origin, user agent, cookies …).
    pub headers: http::HeaderMap,
    /// The request URI.
    pub uri: http::Uri,
    /// The transport.
    pub transport: Transport,
}

/// `connect` said no: HTTP 403. The text is logged, never sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection refused: {0}")]
pub struct Refused(pub String);

/// A socket handler.
pub trait Socket: Send + Sync + 'static {
    /// What `connect` stores for the connection's lifetime; channels read it.
    type Assigns: Send + Sync + 'static;

    /// Authenticates a connection (`connect/3`); `Err` refuses it with HTTP 403.
    fn connect(
        &self,
        params: &Params,
        info: &ConnectInfo,
    ) -> impl Future<Output = Result<Self::Assigns, Refused>> + Send;

    /// Names the connection (`id/1`); broadcasting `"disconnect"` to this topic
    /// closes every connection with the same id. `None`: anonymous.
    fn id(&self, _assigns: &Self::Assigns) -> Option<String> {
        None
    }

    /// Declares the channel routes (`channel "ping", PingChannel`).
    fn channels(&self, routes: &mut Routes<Self::Assigns>);

    /// The name used in logs and metrics.
    fn name(&self) -> &'static str {
        short_type_name::<Self>()
    }
}

/// The last path segment of a type's name, as Phoenix logs module names.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// A joined channel's process, whatever its channel type.
pub(crate) trait ChannelProcess: Send + Sync {
    /// Hands it a client event or leave; `false` if it is gone.
    fn cast(&self, message: ChannelIn) -> bool;
    /// Offers a client event to the channel's `handle_in_now`, if the process
    /// is idle.
    fn handle_now(&self, event: &str, payload: Payload) -> Now;
    /// Asks it to stop.
    fn stop(&self, reason: runtime::ExitReason);
    /// The typed pid behind it, for tests that peek at channel state.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What [`ChannelProcess::handle_now`] came to.
pub(crate) enum Now {
    /// Answered: send this reply.
    Replied(Reply),
    /// `handle_in_now` panicked: the channel must stop with this reason.
    Crashed(runtime::ExitReason),
    /// Cast it to the process, as usual.
    Process(Payload),
}

/// A joined channel's process, and its channel for `handle_in_now`.
struct Running<A: Send + Sync + 'static, C: Channel<A>> {
    pid: runtime::Pid<ChannelServer<A, C>>,
    channel: Arc<C>,
}

impl<A: Send + Sync + 'static, C: Channel<A>> ChannelProcess for Running<A, C> {
    fn cast(&self, message: ChannelIn) -> bool {
        self.pid.cast(message).is_ok()
    }
    fn handle_now(&self, event: &str, payload: Payload) -> Now {
        // A busy process may still owe replies to earlier events.
        if !self.pid.is_idle() {
            return Now::Process(payload);
        }
        let channel = &self.channel;
        match std::panic::catch_unwind(AssertUnwindSafe(|| channel.handle_in_now(event, payload))) {
            Ok(HandleNow::Reply(reply)) => Now::Replied(reply),
            Ok(HandleNow::Process(payload)) => Now::Process(payload),
            Err(panic) => Now::Crashed(runtime::ExitReason::from_panic(panic)),
        }
    }
    fn stop(&self, reason: runtime::ExitReason) {
        self.pid.stop(reason)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        &self.pid
    }
}

/// A started join: its process, and how the join went (dropped if `join` crashed).
pub(crate) struct Started {
    pub(crate) process: Box<dyn ChannelProcess>,
    pub(crate) outcome: oneshot::Receiver<JoinOutcome>,
}

/// Starts a channel of one type for sockets whose assigns are `A`.
pub(crate) trait Starter<A>: Send + Sync {
    fn start(
        &self,
        supervisor: &ProcessSupervisor,
        socket: ChannelSocket<A, ()>,
        payload: Payload,
    ) -> Result<Started, SpawnError>;
    fn name(&self) -> &'static str;
}

struct ChannelStarter<C>(Arc<C>);

impl<A: Send + Sync + 'static, C: Channel<A>> Starter<A> for ChannelStarter<C> {
    fn start(
        &self,
        supervisor: &ProcessSupervisor,
        socket: ChannelSocket<A, ()>,
        payload: Payload,
    ) -> Result<Started, SpawnError> {
        let (tx, rx) = oneshot::channel();
        let args = JoinArgs {
            socket: socket.retype(),
            payload,
            outcome: tx,
        };
        let name = format!("{} {}", short_type_name::<C>(), args.socket.topic);
        let pid =
            supervisor.spawn_named(&name, ChannelServer::<A, C>::new(self.0.clone()), args)?;
        Ok(Started {
            process: Box::new(Running {
                pid,
                channel: self.0.clone(),
            }),
            outcome: rx,
        })
    }

    fn name(&self) -> &'static str {
        short_type_name::<C>()
    }
}

/// A socket's channel routes, tried in declaration order.
pub struct Routes<A> {
    routes: Vec<(TopicPattern, Arc<dyn Starter<A>>)>,
}

impl<A: Send + Sync + 'static> Default for Routes<A> {
    fn default() -> Self {
        Routes { routes: Vec::new() }
    }
}

impl<A: Send + Sync + 'static> Routes<A> {
    /// Routes `pattern` (`"ping"`, `"ping:*"`) to `channel`.
    ///
    /// # Panics
    /// On a pattern with a `*` anywhere but at its end — a programming error,
    /// caught when the endpoint is built, as Phoenix catches it at compile time.
    pub fn channel<C: Channel<A>>(&mut self, pattern: &str, channel: C) -> &mut Self {
        let pattern = TopicPattern::parse(pattern).unwrap_or_else(|e| panic!("{e}"));
        self.routes
            .push((pattern, Arc::new(ChannelStarter(Arc::new(channel)))));
        self
    }

    pub(crate) fn find(&self, topic: &str) -> Option<&Arc<dyn Starter<A>>> {
        self.routes
            .iter()
            .find(|(pattern, _)| pattern.matches(topic))
            .map(|(_, starter)| starter)
    }
}
