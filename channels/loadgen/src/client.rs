//! Opening and joining one Phoenix Channels connection: the part every mode shares.
//!
//! Each TCP socket is bound to a source address before it connects, round-robin
//! over `--sources`: one source address has ~28k ephemeral ports, so spreading
//! over several loopback addresses keeps large runs clear of port exhaustion
//! and of TIME_WAIT left by earlier runs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::rxstamp::Stamped;

/// A client connection.
pub type Ws = WebSocketStream<TcpStream>;

/// Source addresses used when none are given and the server is on IPv4 loopback.
pub const DEFAULT_SOURCES: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
    Ipv4Addr::new(127, 0, 0, 5),
];

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// The WebSocket URL, with `vsn=2.0.0` added when it names no serializer.
    pub url: String,
    /// The server's address.
    pub addr: SocketAddr,
    /// Source addresses to bind, round-robin; empty lets the kernel choose.
    pub sources: Vec<IpAddr>,
}

impl Target {
    /// Resolves `url`; with no `sources`, uses [`DEFAULT_SOURCES`] for an IPv4
    /// loopback server and the kernel's choice otherwise.
    pub async fn resolve(url: &str, sources: &[IpAddr]) -> Result<Target, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("bad --url {url:?}: {e}"))?;
        if uri.scheme_str() != Some("ws") {
            return Err(format!("--url must be a ws:// URL, not {url:?}"));
        }
        let host = uri.host().ok_or_else(|| format!("no host in {url:?}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} has no address"))?;
        let sources = if !sources.is_empty() {
            sources.to_vec()
        } else if matches!(addr.ip(), IpAddr::V4(ip) if ip.is_loopback()) {
            DEFAULT_SOURCES.iter().copied().map(IpAddr::V4).collect()
        } else {
            Vec::new()
        };
        if let Some(bad) = sources.iter().find(|s| s.is_ipv4() != addr.is_ipv4()) {
            return Err(format!(
                "source {bad} and server {addr} are not the same address family"
            ));
        }
        let url = if uri.query().is_some_and(|q| q.contains("vsn=")) {
            url.to_string()
        } else if uri.query().is_some() {
            format!("{url}&vsn=2.0.0")
        } else {
            format!("{url}?vsn=2.0.0")
        };
        Ok(Target { url, addr, sources })
    }

    /// Opens connection number `index`: TCP from the next source address, then
    /// the WebSocket handshake. The client keeps a small read buffer: it holds
    /// thousands of mostly idle sockets.
    pub async fn connect(&self, index: usize) -> Result<Ws, String> {
        self.handshake(self.connect_tcp(index).await?).await
    }

    /// Like [`Target::connect`], over a socket that records the kernel's
    /// receive stamps (see `rxstamp`).
    pub async fn connect_stamped(&self, index: usize) -> Result<WebSocketStream<Stamped>, String> {
        let stream = self.connect_tcp(index).await?;
        let stream = Stamped::new(stream).map_err(|e| format!("SO_TIMESTAMPNS: {e}"))?;
        self.handshake(stream).await
    }

    async fn connect_tcp(&self, index: usize) -> Result<TcpStream, String> {
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| format!("socket: {e}"))?;
        if !self.sources.is_empty() {
            let source = self.sources[index % self.sources.len()];
            socket
                .bind(SocketAddr::new(source, 0))
                .map_err(|e| format!("bind {source}: {e}"))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    async fn handshake<S>(&self, stream: S) -> Result<WebSocketStream<S>, String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(self.url.as_str(), stream, Some(config))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        Ok(ws)
    }
}

/// Why a join did not succeed.
#[derive(Debug)]
pub enum JoinError {
    /// The server answered with a status other than `ok`.
    Refused(String),
    /// The connection failed or closed before the reply.
    Connection(String),
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Refused(why) => write!(f, "join refused: {why}"),
            JoinError::Connection(why) => write!(f, "join failed: {why}"),
        }
    }
}

/// A V2 frame: `[join_ref, ref, topic, event, payload]`.
pub fn frame(
    join_ref: Option<&str>,
    msg_ref: &str,
    topic: &str,
    event: &str,
    payload: Value,
) -> Message {
    Message::text(json!([join_ref, msg_ref, topic, event, payload]).to_string())
}

/// A heartbeat with ref `msg_ref`.
pub fn heartbeat(msg_ref: u64) -> Message {
    frame(
        None,
        &msg_ref.to_string(),
        "phoenix",
        "heartbeat",
        json!({}),
    )
}

/// A decoded V2 frame's ref, event and payload.
pub struct Incoming {
    /// The message ref (`null` for pushes and broadcasts).
    pub msg_ref: Option<String>,
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: Value,
}

/// Decodes a V2 text frame; `None` if it is not one.
pub fn decode(text: &str) -> Option<Incoming> {
    let Value::Array(mut parts) = serde_json::from_str(text).ok()? else {
        return None;
    };
    if parts.len() != 5 {
        return None;
    }
    let payload = parts.pop()?;
    let event = parts.pop()?.as_str()?.to_string();
    let msg_ref = parts.get(1)?.as_str().map(str::to_string);
    Some(Incoming {
        msg_ref,
        event,
        payload,
    })
}

/// Joins `topic` with join ref and message ref `join_ref`, and waits for an
/// `ok` reply to it (other frames are skipped).
pub async fn join<S>(
    ws: &mut WebSocketStream<S>,
    topic: &str,
    join_ref: &str,
) -> Result<(), JoinError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    join_with(ws, topic, join_ref, json!({})).await
}

/// [`join`] with these join params.
pub async fn join_with<S>(
    ws: &mut WebSocketStream<S>,
    topic: &str,
    join_ref: &str,
    params: Value,
) -> Result<(), JoinError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(frame(Some(join_ref), join_ref, topic, "phx_join", params))
        .await
        .map_err(|e| JoinError::Connection(e.to_string()))?;
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                return Err(JoinError::Connection(format!(
                    "closed by server: {close:?}"
                )))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(JoinError::Connection(e.to_string())),
            None => return Err(JoinError::Connection("connection closed".into())),
        };
        let Some(reply) = decode(&text) else {
            return Err(JoinError::Refused(format!("undecodable frame {text}")));
        };
        if reply.event != "phx_reply" || reply.msg_ref.as_deref() != Some(join_ref) {
            continue;
        }
        return match reply.payload.get("status").and_then(Value::as_str) {
            Some("ok") => Ok(()),
            _ => Err(JoinError::Refused(reply.payload.to_string())),
        };
    }
}
