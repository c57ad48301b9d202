//! The WebSocket transport: upgrade, then one task per connection.
//!
//! The task reads frames and hands decoded messages to the session, and drains
//! the connection's outbox in batches — feed every queued frame, flush once —
//! so a burst of broadcasts costs one write. A frame that cannot be decoded
//! closes this connection only, with code 1007 and a reason that names the
//! problem. A connection that sends nothing for the heartbeat timeout is closed
//! with 1000 "heartbeat timeout". The read buffer is small (see
//! `SocketConfig::read_buffer_bytes`): tungstenite's 128 KiB default is
//! zero-filled on first read and would cost every idle connection 128 KiB.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use runtime::log_text::bounded;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use super::coalesce::Coalesce;
use super::{connect, plain, Body, Connected};
use crate::mount::Mount;
use crate::outbox::{Batch, CloseReason, Outbound, Outbox};
use crate::serializer::{Frame, Serializer};
use crate::session::Session;
use crate::socket::{ConnectInfo, Socket, Transport};

/// Why a request cannot be upgraded to a WebSocket, if it cannot: no
/// `Upgrade: websocket`, no key, or HTTP/1.0 (RFC 6455 §4.1 asks for 1.1 or
/// later, and hyper has no upgrade to hand over for 1.0: answering 101 would
/// leave the client with a connection that is then dropped).
fn upgrade_refusal<B>(request: &Request<B>) -> Option<&'static str> {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade || !request.headers().contains_key(header::SEC_WEBSOCKET_KEY) {
        return Some("expected a WebSocket upgrade");
    }
    if request.version() < http::Version::HTTP_11 {
        return Some("a WebSocket upgrade needs HTTP/1.1");
    }
    None
}

/// Answers `GET {socket_path}/websocket`: 101 and a connection task, or 403/400.
pub(crate) async fn serve<S: Socket>(
    mount: Arc<Mount<S>>,
    mut request: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    if let Some(refusal) = upgrade_refusal(&request) {
        return plain(StatusCode::BAD_REQUEST, refusal);
    }
    let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return plain(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade");
    };
    let info = ConnectInfo {
        peer,
        headers: request.headers().clone(),
        uri: request.uri().clone(),
        transport: Transport::WebSocket,
    };
    let (assigns, serializer) = match connect(&mount, &info).await {
        Connected::Accepted(assigns, serializer) => (assigns, serializer),
        Connected::Refused(response) => return response,
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(mount.config.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(Some(mount.config.max_frame_bytes))
        .max_frame_size(Some(mount.config.max_frame_bytes));
    // Taken now, so that the connection task does not keep the whole request.
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => run(mount, assigns, serializer, upgraded, config).await,
            Err(err) => tracing::warn!(%err, "WebSocket upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            derive_accept_key(key.as_bytes()),
        )
        .body(Body::default())
        .expect("static response parts are valid")
}

type Stream = WebSocketStream<Coalesce<Io>>;

/// The connection under the WebSocket: the bare TCP stream when the endpoint's
/// own server accepted it (its HTTP wrappers dropped), else hyper's upgraded IO.
enum Io {
    Tcp(TcpStream),
    Upgraded(TokioIo<hyper::upgrade::Upgraded>),
}

/// The connection task.
async fn run<S: Socket>(
    mount: Arc<Mount<S>>,
    assigns: S::Assigns,
    serializer: Serializer,
    upgraded: hyper::upgrade::Upgraded,
    config: WebSocketConfig,
) {
    // Built here, not passed in: an async fn keeps its arguments for its whole
    // life, so a `Stream` argument moved into a local would be stored twice.
    let mut stream: Stream = match crate::http_connection::into_tcp(upgraded) {
        Ok((tcp, read_ahead)) if read_ahead.is_empty() => {
            WebSocketStream::from_raw_socket(
                Coalesce::new(Io::Tcp(tcp)),
                Role::Server,
                Some(config),
            )
            .await
        }
        // The client sent frames right behind its upgrade request.
        Ok((tcp, read_ahead)) => {
            WebSocketStream::from_partially_read(
                Coalesce::new(Io::Tcp(tcp)),
                read_ahead.to_vec(),
                Role::Server,
                Some(config),
            )
            .await
        }
        Err(upgraded) => {
            WebSocketStream::from_raw_socket(
                Coalesce::new(Io::Upgraded(TokioIo::new(upgraded))),
                Role::Server,
                Some(config),
            )
            .await
        }
    };
    let outbox = Arc::new(Outbox::new(mount.config.max_outbound_bytes));
    // Held until the connection is closed.
    let registration = mount.register(&outbox);
    let timeout = mount.config.heartbeat_timeout;
    let mut session = Session::new(mount, assigns, serializer, outbox.clone());
    // One timer for the connection's life, moved only when it fires: a fresh
    // `sleep_until` per loop turn would register and remove a timer-wheel entry
    // for every frame in and every batch out.
    let mut last_frame = Instant::now();
    let heartbeat = tokio::time::sleep(timeout);
    tokio::pin!(heartbeat);
    let close = loop {
        tokio::select! {
            incoming = stream.next() => {
                let frame = match incoming {
                    Some(Ok(WsMessage::Text(text))) => Frame::Text(text),
                    Some(Ok(WsMessage::Binary(data))) => Frame::Binary(data),
                    // Pings are answered by tungstenite on the next write or flush.
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
                    // tungstenite queued the close reply; send it (RFC 6455 §5.5.1).
                    Some(Ok(WsMessage::Close(_))) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), stream.flush()).await;
                        // Once the close handshake is done tungstenite stops
                        // flushing the socket: push the reply out of the
                        // coalescing buffer ourselves.
                        let _ = tokio::time::timeout(
                            Duration::from_secs(1),
                            tokio::io::AsyncWriteExt::flush(stream.get_mut()),
                        )
                        .await;
                        break None;
                    }
                    None => break None,
                    Some(Err(err)) => {
                        let close = protocol_close(&err);
                        match &close {
                            Some(reason) => tracing::warn!("closing connection: {}", reason.text()),
                            None => tracing::debug!(%err, "WebSocket read failed"),
                        }
                        break close;
                    }
                };
                match serializer.decode(&frame) {
                    Ok(message) => {
                        last_frame = Instant::now();
                        session.handle_message(message).await;
                    }
                    Err(err) => {
                        tracing::warn!(err = %bounded(&err.to_string()), "closing connection: malformed frame");
                        break Some(CloseReason::Malformed(err.to_string()));
                    }
                }
            }
            batch = outbox.next_batch() => match batch {
                Batch::Items(items) => {
                    // A client that stops reading blocks the write; the outbox
                    // overflowing meanwhile ends it.
                    let written = tokio::select! {
                        written = write_batch(&mut stream, &mut session, items) => written.is_ok(),
                        reason = outbox.closed() => break Some(reason),
                    };
                    if !written {
                        break None;
                    }
                }
                Batch::Close(reason) => break Some(reason),
            },
            () = &mut heartbeat => {
                let deadline = last_frame + timeout;
                if Instant::now() < deadline {
                    heartbeat.as_mut().reset(deadline);
                    continue;
                }
                tracing::info!("closing connection: no message for {timeout:?}");
                break Some(CloseReason::HeartbeatTimeout);
            }
        }
    };
    session.shutdown();
    outbox.close(CloseReason::ServerShutdown);
    if let Some(reason) = close {
        if reason == CloseReason::Overflow {
            tracing::warn!(
                "closing connection: client does not read its frames (outbound queue full)"
            );
        }
        let frame = CloseFrame {
            code: CloseCode::from(reason.code()),
            reason: reason.text().into(),
        };
        // A client that does not read may not take the close frame either.
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.close(Some(frame))).await;
    }
    drop(registration);
}

/// A read error that deserves a close frame: bad UTF-8 (1007), an oversized
/// frame (1009), a broken protocol rule (1002). A dropped connection does not.
fn protocol_close(err: &tokio_tungstenite::tungstenite::Error) -> Option<CloseReason> {
    use tokio_tungstenite::tungstenite::error::ProtocolError as P;
    use tokio_tungstenite::tungstenite::Error;
    match err {
        Error::Utf8(_) => Some(CloseReason::Malformed(
            "text frame is not valid UTF-8".into(),
        )),
        Error::Capacity(e) => Some(CloseReason::TooLarge(format!("frame too large: {e}"))),
        Error::Protocol(
            violation @ (P::NonZeroReservedBits
            | P::UnmaskedFrameFromClient
            | P::FragmentedControlFrame
            | P::ControlFrameTooBig
            | P::UnknownControlFrameType(_)
            | P::UnknownDataFrameType(_)
            | P::UnexpectedContinueFrame
            | P::ExpectedFragment(_)
            | P::InvalidOpcode(_)
            | P::InvalidCloseSequence
            | P::ReceivedAfterClosing),
        ) => Some(CloseReason::Protocol(format!(
            "protocol error: {violation}"
        ))),
        _ => None,
    }
}

async fn write_batch<S: Socket>(
    stream: &mut Stream,
    session: &mut Session<S>,
    items: Vec<Outbound>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    for item in items {
        match session.outbound(item) {
            Some(Frame::Text(text)) => stream.feed(WsMessage::Text(text)).await?,
            Some(Frame::Binary(data)) => stream.feed(WsMessage::Binary(data)).await?,
            None => {}
        }
    }
    stream.flush().await
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::Upgraded(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::Upgraded(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::Upgraded(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Io::Upgraded(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(version: http::Version) -> http::request::Builder {
        Request::get("/socket/websocket?vsn=2.0.0")
            .version(version)
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "Upgrade")
    }

    #[test]
    fn only_an_http_1_1_upgrade_with_a_key_is_upgraded() {
        let key = (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==");
        let good = upgrade(http::Version::HTTP_11)
            .header(key.0.clone(), key.1)
            .body(())
            .unwrap();
        assert_eq!(upgrade_refusal(&good), None);
        let http_1_0 = upgrade(http::Version::HTTP_10)
            .header(key.0.clone(), key.1)
            .body(())
            .unwrap();
        assert_eq!(
            upgrade_refusal(&http_1_0),
            Some("a WebSocket upgrade needs HTTP/1.1")
        );
        let no_key = upgrade(http::Version::HTTP_11).body(()).unwrap();
        assert_eq!(
            upgrade_refusal(&no_key),
            Some("expected a WebSocket upgrade")
        );
        let no_upgrade = Request::get("/socket/websocket")
            .header(key.0, key.1)
            .body(())
            .unwrap();
        assert_eq!(
            upgrade_refusal(&no_upgrade),
            Some("expected a WebSocket upgrade")
        );
    }
}
