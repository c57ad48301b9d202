//! Opening one WebSocket: the endpoint URL phoenix.js would use, and the TCP
//! connect plus handshake, done again on every reconnect.
//!
//! The URL is phoenix.js's `endPointURL()`: `{url}/websocket?{params}&vsn=2.0.0`.
//! The TCP socket is made with [`TcpSocket`] so that it can be bound to a local
//! address first ([`ClientOptions::local_addr`]); the handshake is
//! `tokio_tungstenite::client_async_with_config` over that stream. Only `ws://`
//! is supported: the crate has no TLS.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use super::options::ClientOptions;

/// A client's WebSocket.
pub(super) type Ws = WebSocketStream<TcpStream>;

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a `ws://host[:port]/path` URL.
    #[error("invalid socket URL: {0}")]
    InvalidUrl(String),
    /// The host name did not resolve, the TCP connect failed, or binding the
    /// local address failed.
    #[error("cannot connect: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered the upgrade request with an HTTP status instead of
    /// 101 (Phoenix: 403 when `connect` refuses or `check_origin` fails).
    #[error("the server refused the WebSocket upgrade with HTTP {status}")]
    Rejected {
        /// The HTTP status code.
        status: u16,
    },
    /// The WebSocket handshake failed otherwise.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(Box<tokio_tungstenite::tungstenite::Error>),
    /// No connection within [`ClientOptions::connect_timeout`].
    #[error("no connection within {0:?}")]
    Timeout(Duration),
}

/// Where a client connects, resolved once from the URL and the options.
#[derive(Debug)]
pub(super) struct Target {
    /// The full endpoint URL, `…/websocket?params&vsn=2.0.0`.
    pub url: String,
    host: String,
    port: u16,
    local_addr: Option<IpAddr>,
    config: Option<WebSocketConfig>,
    connect_timeout: Duration,
}

impl Target {
    /// The target for socket URL `url` (e.g. `ws://localhost:4000/socket`) and
    /// connect `params`.
    pub fn new(
        url: &str,
        params: &[(&str, &str)],
        options: &ClientOptions,
    ) -> Result<Target, ConnectError> {
        let url = endpoint_url(url, params)?;
        let uri: http::Uri = url
            .parse()
            .map_err(|err| ConnectError::InvalidUrl(format!("{url}: {err}")))?;
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::InvalidUrl(format!("{url}: no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(80);
        Ok(Target {
            url,
            host,
            port,
            local_addr: options.local_addr,
            config: options.websocket_config,
            connect_timeout: options.connect_timeout,
        })
    }

    /// One connection attempt, bounded by the connect timeout.
    pub async fn dial(&self) -> Result<Ws, ConnectError> {
        tokio::time::timeout(self.connect_timeout, self.dial_unbounded())
            .await
            .unwrap_or(Err(ConnectError::Timeout(self.connect_timeout)))
    }

    async fn dial_unbounded(&self) -> Result<Ws, ConnectError> {
        let addr = self.resolve().await?;
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(local) = self.local_addr {
            socket.bind(SocketAddr::new(local, 0))?;
        }
        let stream = socket.connect(addr).await?;
        let _ = stream.set_nodelay(true);
        match tokio_tungstenite::client_async_with_config(self.url.as_str(), stream, self.config)
            .await
        {
            Ok((ws, _response)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(ConnectError::Rejected {
                    status: response.status().as_u16(),
                })
            }
            Err(err) => Err(ConnectError::Handshake(Box::new(err))),
        }
    }

    /// The server's address; with a local address, one of the same family.
    async fn resolve(&self) -> Result<SocketAddr, ConnectError> {
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port)).await?;
        let found = match self.local_addr {
            Some(local) => addrs.find(|addr| addr.is_ipv4() == local.is_ipv4()),
            None => addrs.next(),
        };
        found.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} has no usable address", self.host),
            )
            .into()
        })
    }
}

/// phoenix.js's `endPointURL()`: `{url}/websocket`, then the params, then
/// `vsn=2.0.0`, all form-encoded.
pub(super) fn endpoint_url(url: &str, params: &[(&str, &str)]) -> Result<String, ConnectError> {
    if url.starts_with("wss://") {
        return Err(ConnectError::InvalidUrl(format!(
            "{url}: wss:// is not supported (no TLS)"
        )));
    }
    if !url.starts_with("ws://") {
        return Err(ConnectError::InvalidUrl(format!(
            "{url}: expected ws://host[:port]/path"
        )));
    }
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (url, None),
    };
    let mut query_out = form_urlencoded::Serializer::new(String::new());
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        query_out.extend_pairs(form_urlencoded::parse(query.as_bytes()));
    }
    query_out.extend_pairs(params.iter().copied());
    query_out.append_pair("vsn", "2.0.0");
    Ok(format!(
        "{}/websocket?{}",
        path.trim_end_matches('/'),
        query_out.finish()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_url_appends_transport_params_and_vsn() {
        assert_eq!(
            endpoint_url("ws://localhost:4000/socket", &[]).unwrap(),
            "ws://localhost:4000/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            endpoint_url("ws://h/socket/", &[("token", "a b&c"), ("x", "1")]).unwrap(),
            "ws://h/socket/websocket?token=a+b%26c&x=1&vsn=2.0.0"
        );
        assert_eq!(
            endpoint_url("ws://h/socket?a=1", &[("b", "2")]).unwrap(),
            "ws://h/socket/websocket?a=1&b=2&vsn=2.0.0"
        );
    }

    #[test]
    fn endpoint_url_refuses_other_schemes() {
        assert!(matches!(
            endpoint_url("wss://h/socket", &[]),
            Err(ConnectError::InvalidUrl(_))
        ));
        assert!(matches!(
            endpoint_url("http://h/socket", &[]),
            Err(ConnectError::InvalidUrl(_))
        ));
    }

    #[test]
    fn target_reads_host_and_port() {
        let options = ClientOptions::default();
        let target = Target::new("ws://127.0.0.1:4000/socket", &[], &options).unwrap();
        assert_eq!((target.host.as_str(), target.port), ("127.0.0.1", 4000));
        let target = Target::new("ws://[::1]/socket", &[], &options).unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 80));
    }
}
