//! A whole store node started inside the test process (store, inventory,
//! replication, cart tracker, web on a loopback port), and raw HTTP requests
//! to it — for the tests of pages and sockets that need every part of a
//! node but not a cluster. A node registers its processes by name, so one
//! test process holds one such node at a time.

use std::net::SocketAddr;
use std::time::Duration;

use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::token::Signer;
use runtime::testkit::HttpResponse;
use store_app::app::{App, AppOptions};
use store_app::sneakers23::INVENTORY;
use store_app::web::{default_assets_dir, AdminAccess, InventoryRef, StoreWeb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound for one request.
pub const WAIT: Duration = Duration::from_secs(10);

/// The running node.
pub struct Node {
    pub app: App,
    pub address: SocketAddr,
    /// The node's secret (what signs carts, cookies and tokens).
    pub signer: Signer,
    _dir: tempfile::TempDir,
}

/// Starts a node on the demo catalogue, its dashboard open to `admin`.
pub async fn start_node(admin: Option<AdminAccess>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let pubsub = PubSub::new();
    let app = App::start(AppOptions {
        data_dir: Some(dir.path().to_path_buf()),
        postgres: None,
        node: None,
        pubsub: pubsub.clone(),
        pubsub_adapter: Default::default(),
        catalogue: "demo".into(),
        resync: Default::default(),
    })
    .await
    .expect("the node starts");
    let signer = Signer::new("n".repeat(64));
    let endpoint = StoreWeb {
        pubsub,
        supervisor: app.channels.clone(),
        inventory: InventoryRef::Named(INVENTORY.into()),
        signer: signer.clone(),
        config: SocketConfig::default(),
        metrics: Metrics::local(),
        assets_dir: default_assets_dir(),
        options: Default::default(),
        checkout: app.checkout.clone(),
        cart_tracker: Some(app.cart_tracker.clone()),
        admin,
    }
    .endpoint();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener, std::future::pending()));
    Node {
        app,
        address,
        signer,
        _dir: dir,
    }
}

/// One request (`head`: the request line and any extra header lines) on a
/// fresh connection, with a form body; the response, and its header block as
/// sent (cookies keep their case).
pub async fn request_raw(address: SocketAddr, head: &str, body: &str) -> (HttpResponse, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{head}\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let response = HttpResponse {
        status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    };
    (response, head.to_string())
}

/// [`request_raw`]'s response alone.
pub async fn request(address: SocketAddr, head: &str, body: &str) -> HttpResponse {
    request_raw(address, head, body).await.0
}
