//! HTTPS and WSS beside plain HTTP (`tls.rs`): the hello_sockets endpoint on
//! two listeners, with a self-signed certificate made by the test, and
//! clients that trust it (or not) through rustls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use channels::endpoint::{Endpoint, EndpointOptions};
use channels::http_connection::HttpConfig;
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::tls::{self, GenCertArgs, Listen};
use channels::token::Signer;
use futures::{SinkExt, StreamExt};
use hello_sockets::HelloSockets;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

/// The hello_sockets endpoint on plain HTTP and on HTTPS (HSTS as in
/// production), and the certificate clients may trust.
struct TlsServer {
    http: SocketAddr,
    https: SocketAddr,
    cert_pem: Vec<u8>,
    dir: std::path::PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start(label: &str, http: HttpConfig) -> TlsServer {
    let dir = std::env::temp_dir().join(format!("tls-test-{label}-{}", std::process::id()));
    let (cert, key) = tls::gen_cert(&GenCertArgs {
        out: dir.clone(),
        hosts: vec![],
    })
    .expect("a self-signed certificate is made");
    let acceptor = tls::acceptor(&cert, &key).expect("the certificate is served");
    let supervisor = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .expect("the channel supervisor starts");
    let endpoint: Arc<Endpoint> = HelloSockets {
        pubsub: PubSub::new(),
        supervisor,
        signer: Signer::new(secret::generate()),
        config: SocketConfig::default(),
        metrics: Metrics::local(),
        tasks: None,
        pipeline: None,
        options: EndpointOptions {
            http,
            ..Default::default()
        },
        presence: None,
    }
    .endpoint();
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secure = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (http, https) = (plain.local_addr().unwrap(), secure.local_addr().unwrap());
    tokio::spawn(endpoint.serve_all(
        vec![
            (plain, Listen::http(http)),
            (secure, Listen::https(https, acceptor, true)),
        ],
        std::future::pending(),
    ));
    TlsServer {
        http,
        https,
        cert_pem: std::fs::read(cert).unwrap(),
        dir,
    }
}

/// A rustls client trusting `cert_pem` (or nothing, with `None`).
fn connector(cert_pem: Option<&[u8]>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = cert_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // As browsers do: the server picks the protocol it speaks.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn tls_stream(
    server: &TlsServer,
    trusted: bool,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(server.https).await?;
    let trust = trusted.then_some(server.cert_pem.as_slice());
    connector(trust)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// `GET path` over `stream` with `Connection: close`; the whole response.
async fn get<S>(mut stream: S, path: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("the response ends");
    String::from_utf8_lossy(&response).into_owned()
}

/// Joins `ping` over a WebSocket on `stream` and asks it for a pong.
async fn ping_over<S>(stream: S, url: &str) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("the WebSocket handshake succeeds");
    for frame in [
        json!(["1", "1", "ping", "phx_join", {}]),
        json!(["1", "2", "ping", "ping", {}]),
    ] {
        ws.send(Message::text(frame.to_string())).await.unwrap();
    }
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the reply comes")
            .expect("the socket stays open")
            .unwrap();
        let frame: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if frame[1] == "2" {
            return frame[4].clone();
        }
    }
}

#[tokio::test]
async fn wss_joins_a_channel_and_https_serves_beside_plain_http() {
    let server = start("serve", HttpConfig::default()).await;

    let secure = tls_stream(&server, true)
        .await
        .expect("the TLS handshake succeeds");
    assert_eq!(
        secure.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "HTTP/1.1 is agreed, not h2"
    );
    let reply = ping_over(secure, "wss://localhost/socket/websocket?vsn=2.0.0").await;
    assert_eq!(reply, json!({"status": "ok", "response": {"ping": "pong"}}));

    let plain = TcpStream::connect(server.http).await.unwrap();
    let reply = ping_over(plain, "ws://localhost/socket/websocket?vsn=2.0.0").await;
    assert_eq!(reply, json!({"status": "ok", "response": {"ping": "pong"}}));

    let over_tls = get(tls_stream(&server, true).await.unwrap(), "/token?user_id=1").await;
    assert!(over_tls.starts_with("HTTP/1.1 200"), "{over_tls}");
    assert!(
        over_tls
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "HTTPS responses carry HSTS in production: {over_tls}"
    );
    let over_plain = get(
        TcpStream::connect(server.http).await.unwrap(),
        "/token?user_id=1",
    )
    .await;
    assert!(over_plain.starts_with("HTTP/1.1 200"), "{over_plain}");
    assert!(
        !over_plain
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "never over plain HTTP: {over_plain}"
    );
}

#[tokio::test]
async fn untrusted_clients_and_plain_http_on_the_https_port_are_refused_and_harm_nothing() {
    let server = start("refuse", HttpConfig::default()).await;

    let Err(err) = tls_stream(&server, false).await else {
        panic!("a client that does not trust the certificate must fail");
    };
    assert!(err.to_string().contains("certificate"), "{err}");

    let mut plain_to_tls = TcpStream::connect(server.https).await.unwrap();
    plain_to_tls
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, plain_to_tls.read_to_end(&mut answer))
        .await
        .expect("the server closes a plain-HTTP client on its HTTPS port");
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "no HTTP answer on the TLS port"
    );

    let after = get(tls_stream(&server, true).await.unwrap(), "/token?user_id=2").await;
    assert!(after.starts_with("HTTP/1.1 200"), "still served: {after}");
}

#[tokio::test]
async fn a_client_that_opens_tls_and_stalls_is_cut_at_the_header_timeout() {
    let server = start(
        "stall",
        HttpConfig {
            header_read_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    // TCP open, not one byte of the TLS handshake.
    let mut stalled = TcpStream::connect(server.https).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, stalled.read(&mut buf))
        .await
        .expect("the server closes a stalled handshake within the bound");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed, not answered: {read:?}"
    );

    let after = get(tls_stream(&server, true).await.unwrap(), "/token?user_id=3").await;
    assert!(after.starts_with("HTTP/1.1 200"), "still served: {after}");
}
