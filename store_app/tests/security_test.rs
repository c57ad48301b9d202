//! Attacks on a store node run as in production (`--prod`, a separate OS
//! process with its secret and admin password from the environment): pages
//! of other sites opening sockets, forged, expired, other-purpose and
//! tampered tokens, another shopper's cart, a shopper at the admin socket,
//! oversized headers — each refused with a clear answer, the node unharmed —
//! and the secrets never in its log or console output.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use channels::client::{Client, ClientOptions, JoinError};
use channels::token::{SignOptions, Signer};
use serde_json::json;
use store_app::web::{ADMIN_TOKEN_SALT, CART_SESSION_SALT, CART_SOCKET_SALT};
use support::{tokio_rt, Env, NodeProc, SECRET_KEY_BASE, SOON};

const APP: &str = "app@127.0.0.1";
const ADMIN_PASSWORD: &str = "admin-password-that-must-never-be-logged";

fn start_production_node(env: &Env) -> NodeProc {
    let data = env.data_dir();
    env.start_with_env(
        "app",
        &["--data-dir", data.to_str().unwrap(), "--prod"],
        &[("ADMIN_USER", "ops"), ("ADMIN_PASSWORD", ADMIN_PASSWORD)],
    )
}

/// One raw HTTP/1.1 exchange (the request as written, then everything the
/// node answers until it closes or goes quiet): its status line's code.
fn exchange(address: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // A node may answer (and close) before an oversized request is written.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && !answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The status of a WebSocket handshake to `/product_socket` from a page of
/// `origin` (none: not a browser).
fn handshake(node: &NodeProc, origin: Option<&str>) -> u16 {
    let address = node.http_address();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /product_socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: {address}\r\n{origin}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    exchange(address, request.as_bytes()).0
}

/// `window.cartId` and `window.cartToken` of the store page a browser gets.
fn shopper(node: &NodeProc) -> (String, String) {
    let page = node.get("/");
    assert_eq!(page.status, 200);
    let value = |name: &str| {
        let marker = format!("window.{name} = \"");
        let start = page.body.find(&marker).unwrap() + marker.len();
        let end = start + page.body[start..].find('"').unwrap();
        page.body[start..end].to_string()
    };
    (value("cartId"), value("cartToken"))
}

/// Joins `cart:<cart_id>` on a socket that connected with `token`.
async fn join_cart(node: &NodeProc, token: &str, cart_id: &str) -> Result<(), JoinError> {
    let client = Client::connect(
        &node.socket_url(),
        &[("cart_token", token)],
        ClientOptions::default(),
    )
    .await
    .expect("the product socket takes any connection");
    let channel = client.channel(&format!("cart:{cart_id}"), json!({}));
    channel.join().await.map(drop)
}

#[test]
fn a_production_node_refuses_what_is_not_its_own_and_never_shows_its_secrets() {
    let env = Env::new("security");
    let mut node = start_production_node(&env);
    let address = node.http_address();

    // Other sites' pages cannot open sockets in the shopper's name (the
    // production default: the Origin must name the host the request went to).
    assert_eq!(handshake(&node, Some("http://evil.example")), 403);
    assert_eq!(
        handshake(
            &node,
            Some(&format!("http://127.0.0.1:{}", address.port() + 1))
        ),
        403
    );
    assert_eq!(handshake(&node, Some(&format!("http://{address}"))), 101);
    assert_eq!(handshake(&node, None), 101, "no Origin: not a browser");
    // Long poll answers as Phoenix's does (HTTP 200, the status in the body
    // for phoenix.js), on every request.
    let (status, answer) = exchange(
        address,
        format!("GET /product_socket/longpoll?vsn=2.0.0 HTTP/1.1\r\nHost: {address}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 200);
    assert!(answer.ends_with(r#"{"status":403}"#), "{answer}");
    let (_, answer) = exchange(
        address,
        format!("POST /product_socket/longpoll?vsn=2.0.0&token=x HTTP/1.1\r\nHost: {address}\r\nOrigin: http://evil.example\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]").as_bytes(),
    );
    assert!(answer.ends_with(r#"{"status":403}"#), "{answer}");

    // Cart tokens: only the page's own opens its cart.
    let (cart_id, token) = shopper(&node);
    let (other_cart, other_token) = shopper(&node);
    assert_ne!(cart_id, other_cart);
    let signer = Signer::new(SECRET_KEY_BASE);
    let forged = Signer::new("another-secret-".repeat(5)).sign(CART_SOCKET_SALT, &cart_id);
    let expired = signer.sign_with(
        CART_SOCKET_SALT,
        &cart_id,
        SignOptions {
            signed_at: Some(SystemTime::UNIX_EPOCH),
            max_age: Duration::from_secs(60),
        },
    );
    let other_salt = signer.sign(CART_SESSION_SALT, &cart_id);
    let admin_salt = signer.sign(ADMIN_TOKEN_SALT, &cart_id);
    let mut tampered = token.clone();
    let flip = tampered.len() / 2;
    let flipped = if tampered.as_bytes()[flip] == b'A' {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(flip..flip + 1, flipped);
    let rt = tokio_rt();
    rt.block_on(async {
        join_cart(&node, &token, &cart_id)
            .await
            .expect("the page's own token opens its cart");
        for (what, bad) in [
            ("forged (another secret)", &forged),
            ("expired", &expired),
            ("signed for the session cookie", &other_salt),
            ("signed for the admin socket", &admin_salt),
            ("tampered", &tampered),
        ] {
            match join_cart(&node, bad, &cart_id).await {
                Err(JoinError::Refused(reply)) => {
                    assert_eq!(reply, json!({"reason": "unauthorized"}), "{what}")
                }
                other => panic!("a {what} token opened the cart: {other:?}"),
            }
        }
        match join_cart(&node, &other_token, &cart_id).await {
            Err(JoinError::Refused(reply)) => assert_eq!(reply, json!({"reason": "unauthorized"})),
            other => panic!("another shopper's token opened the cart: {other:?}"),
        }
    });

    // The admin: basic auth, and a shopper's token does not open its socket.
    let admin_get = |credentials: Option<&str>| {
        let auth = credentials
            .map(|c| format!("Authorization: Basic {}\r\n", STANDARD.encode(c)))
            .unwrap_or_default();
        exchange(
            address,
            format!("GET /admin HTTP/1.1\r\nHost: {address}\r\n{auth}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .0
    };
    assert_eq!(admin_get(None), 401);
    assert_eq!(admin_get(Some("ops:guess")), 401);
    assert_eq!(admin_get(Some(&format!("ops:{ADMIN_PASSWORD}"))), 200);
    let refused = rt.block_on(Client::connect(
        &format!("ws://{address}/admin_socket"),
        &[("token", &token)],
        ClientOptions::default(),
    ));
    assert!(
        refused.is_err(),
        "a shopper's token opened the admin socket"
    );

    // Oversized headers: refused (431) without harm to the node.
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: {address}\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let (status, _) = exchange(address, huge.as_bytes());
    assert!(
        status == 431 || status == 0,
        "an oversized header got {status}"
    );
    let many = format!(
        "GET / HTTP/1.1\r\nHost: {address}\r\n{}\r\n",
        (0..500)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let (status, _) = exchange(address, many.as_bytes());
    assert!(status == 431 || status == 0, "500 headers got {status}");
    assert_eq!(node.get("/health").status, 200, "the node serves on");

    // Nothing it prints shows a secret: not the log, not the console.
    let mut printed = String::new();
    for command in [
        "help",
        "store.status",
        "node.list",
        "processes",
        "checkout.stats",
        "admin.carts",
    ] {
        printed.push_str(&env.rpc(APP, command).output());
    }
    let run = env.client(&["stop", APP, "--timeout", "30"], |_| {}, "");
    assert_eq!(run.code, Some(0), "{run:?}");
    node.wait_exit(SOON);
    printed.push_str(&node.log().join("\n"));
    assert!(
        printed.contains("Running Sneakers23Web.Endpoint"),
        "the log was read"
    );
    for secret in [SECRET_KEY_BASE, ADMIN_PASSWORD] {
        assert!(
            !printed.contains(secret),
            "a secret was printed: {secret:?}"
        );
    }
}
