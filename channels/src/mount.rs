//! A socket mounted on the endpoint: the handler, its routes, and the shared
//! services every connection of it uses.

use std::sync::Arc;
use std::time::Duration;

use crate::check_origin::CheckOrigin;
use crate::connections::Registration;
use crate::outbox::{CloseReason, Outbox};
use crate::pubsub::PubSub;
use crate::services::Services;
use crate::socket::{Routes, Socket};

/// Per-socket settings, with Phoenix's defaults where Phoenix has them.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Close a connection that sends nothing for this long (Phoenix: 60 s).
    pub heartbeat_timeout: Duration,
    /// Unsent bytes a connection may hold before it is closed as not reading.
    pub max_outbound_bytes: usize,
    /// Largest frame accepted from a client; a larger one closes the connection (1009).
    pub max_frame_bytes: usize,
    /// Most channels one connection may have joined at once.
    pub max_channels: usize,
    /// Most async replies (`reply_async`) one channel may have running at once;
    /// beyond it the request is answered `{"reason":"too many requests"}`.
    pub max_async_replies_per_channel: usize,
    /// Most messages a connection may send per second. Past it, messages get
    /// `{"reason":"rate limited"}` error replies; past twice it, the connection
    /// is closed (1008).
    pub max_messages_per_second: u32,
    /// WebSocket read buffer: a small buffer keeps idle connections small.
    pub read_buffer_bytes: usize,
    /// Which pages may connect (`check_origin`; see [`CheckOrigin`]).
    pub check_origin: CheckOrigin,
    /// Serve the long-poll transport too (Phoenix: `longpoll: true`).
    pub longpoll: bool,
    /// How long a long-poll GET waits for messages before answering 204.
    pub longpoll_window: Duration,
    /// A long-poll session with no GET for this long is closed, its channels stopped.
    pub longpoll_session_timeout: Duration,
    /// Largest long-poll `POST` body; a larger one is answered 413 unread.
    /// phoenix.js sends at most 100 messages per `POST`.
    pub longpoll_max_body_bytes: usize,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            heartbeat_timeout: Duration::from_secs(60),
            max_outbound_bytes: 4 << 20,
            max_frame_bytes: 1 << 20,
            max_channels: 100,
            max_async_replies_per_channel: 10,
            max_messages_per_second: 1_000,
            read_buffer_bytes: 4096,
            check_origin: CheckOrigin::Any,
            longpoll: false,
            longpoll_window: Duration::from_secs(10),
            longpoll_session_timeout: Duration::from_secs(20),
            longpoll_max_body_bytes: 2 << 20,
        }
    }
}

/// Everything a connection of socket `S` needs, shared by all of them.
pub struct Mount<S: Socket> {
    pub(crate) handler: S,
    pub(crate) routes: Routes<S::Assigns>,
    pub(crate) services: Arc<Services>,
    pub(crate) config: SocketConfig,
}

impl<S: Socket> Mount<S> {
    /// Mounts `handler`, reading its routes once.
    pub fn new(handler: S, services: Arc<Services>, config: SocketConfig) -> Arc<Self> {
        let mut routes = Routes::default();
        handler.channels(&mut routes);
        Arc::new(Mount {
            handler,
            routes,
            services,
            config,
        })
    }

    /// The socket handler.
    pub fn handler(&self) -> &S {
        &self.handler
    }

    /// The node's PubSub.
    pub fn pubsub(&self) -> &PubSub {
        &self.services.pubsub
    }

    /// This socket's settings.
    pub fn config(&self) -> &SocketConfig {
        &self.config
    }

    /// Registers a new connection's outbox with the endpoint for the
    /// connection's life, so that a drain can close it. While the endpoint
    /// drains, there is no registration and the connection is closed at once
    /// (1012), as the drain would have closed it.
    pub(crate) fn register(&self, outbox: &Arc<Outbox>) -> Option<Registration> {
        let registration = self
            .services
            .connections
            .register(outbox, self.handler.name());
        if registration.is_none() {
            outbox.close(CloseReason::Restart);
        }
        registration
    }
}
