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

/// WebSocket versions a handshake may ask for: RFC 6455's 13, and the drafts
/// 7 and 8 that cowboy (under Phoenix) also takes — their framing is 13's.
const VERSIONS: [&str; 3] = ["13", "8", "7"];

/// Why a request cannot be upgraded to a WebSocket, if it cannot, and with
/// which status: no `Upgrade: websocket` or no key, HTTP/1.0 (RFC 6455 §4.1
/// asks for 1.1 or later, and hyper has no upgrade to hand over for 1.0:
/// answering 101 would leave the client with a connection that is then
/// dropped), or no `upgrade` among the `Connection` tokens: 400. A version
/// other than [`VERSIONS`], or none: 426 with `Sec-WebSocket-Version: 13`
/// (§4.4), so that a client can retry with one this server speaks.
fn upgrade_refusal<B>(request: &Request<B>) -> Option<(StatusCode, &'static str)> {
    let headers = request.headers();
    let is_upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade || !headers.contains_key(header::SEC_WEBSOCKET_KEY) {
        return Some((StatusCode::BAD_REQUEST, "expected a WebSocket upgrade"));
    }
    if request.version() < http::Version::HTTP_11 {
        return Some((
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade needs HTTP/1.1",
        ));
    }
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_upgrade {
        return Some((
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade needs `Connection: Upgrade`",
        ));
    }
    let version_known = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| VERSIONS.contains(&v.trim()));
    if !version_known {
        return Some((
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version: this server speaks version 13",
        ));
    }
    None
}

/// Answers `GET {socket_path}/websocket`: 101 and a connection task, or 403/400.
pub(crate) async fn serve<S: Socket>(
    mount: Arc<Mount<S>>,
    mut request: Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    if let Some((status, refusal)) = upgrade_refusal(&request) {
        let mut response = plain(status, refusal);
        if status == StatusCode::UPGRADE_REQUIRED {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_VERSION, VERSIONS[0].parse().unwrap());
        }
        return response;
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
            .header(header::CONNECTION, "keep-alive, Upgrade")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
    }

    fn refusal(request: http::request::Builder) -> Option<(u16, &'static str)> {
        upgrade_refusal(&request.body(()).unwrap()).map(|(status, why)| (status.as_u16(), why))
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn only_an_http_1_1_upgrade_with_a_key_is_upgraded() {
        let key = header::SEC_WEBSOCKET_KEY;
        assert_eq!(
            refusal(upgrade(http::Version::HTTP_11).header(key.clone(), KEY)),
            None
        );
        assert_eq!(
            refusal(upgrade(http::Version::HTTP_10).header(key.clone(), KEY)),
            Some((400, "a WebSocket upgrade needs HTTP/1.1"))
        );
        assert_eq!(
            refusal(upgrade(http::Version::HTTP_11)),
            Some((400, "expected a WebSocket upgrade"))
        );
        assert_eq!(
            refusal(Request::get("/socket/websocket").header(key, KEY)),
            Some((400, "expected a WebSocket upgrade"))
        );
    }

    #[test]
    fn the_connection_header_must_ask_for_the_upgrade() {
        let without = Request::get("/socket/websocket?vsn=2.0.0")
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "keep-alive")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, KEY);
        assert_eq!(
            refusal(without),
            Some((400, "a WebSocket upgrade needs `Connection: Upgrade`"))
        );
    }

    #[test]
    fn versions_13_8_and_7_are_taken_others_are_told_which_to_use() {
        for version in ["13", "8", "7"] {
            let mut request = upgrade(http::Version::HTTP_11)
                .header(header::SEC_WEBSOCKET_KEY, KEY)
                .body(())
                .unwrap();
            request
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_VERSION, version.parse().unwrap());
            assert_eq!(upgrade_refusal(&request), None, "version {version}");
        }
        for version in [Some("12"), Some("thirteen"), None] {
            let mut request = upgrade(http::Version::HTTP_11)
                .header(header::SEC_WEBSOCKET_KEY, KEY)
                .body(())
                .unwrap();
            match version {
                Some(v) => request
                    .headers_mut()
                    .insert(header::SEC_WEBSOCKET_VERSION, v.parse().unwrap()),
                None => request.headers_mut().remove(header::SEC_WEBSOCKET_VERSION),
            };
            assert_eq!(
                upgrade_refusal(&request).map(|(status, _)| status),
                Some(StatusCode::UPGRADE_REQUIRED),
                "version {version:?}"
            );
        }
    }
}
