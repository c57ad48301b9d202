//! The admin dashboard on a whole node started in-process: `/admin` behind
//! basic auth, the admin socket open only to the page's short-lived token,
//! and `admin:cart_tracker` following a shopper's cart as it opens, changes
//! and closes.
//!
//! A node registers its processes by name, so one process holds one node:
//! the scenarios run in turn on it, from one test.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use channels::client::{Client, ClientOptions, ConnectError};
use channels::token::{SignOptions, Signer};
use runtime::testkit::HttpResponse;
use serde_json::{json, Value};
use store_app::checkout::generate_cart_id;
use store_app::web::{admin_token, cart_topic, socket_token, AdminAccess, ADMIN_TOKEN_SALT};

#[path = "support/in_process.rs"]
mod in_process;
use in_process::{request, start_node, Node, WAIT};

async fn get(address: SocketAddr, path: &str, credentials: Option<&str>) -> HttpResponse {
    let auth = credentials
        .map(|c| format!("\r\nAuthorization: Basic {}", STANDARD.encode(c)))
        .unwrap_or_default();
    request(address, &format!("GET {path} HTTP/1.1{auth}"), "").await
}

async fn next_diff(diffs: &mut channels::client::Subscription) -> Value {
    tokio::time::timeout(WAIT, diffs.recv())
        .await
        .expect("a diff in time")
        .expect("the subscription is open")
}

async fn admin_socket(node: &Node, token: &str) -> Result<Client, ConnectError> {
    Client::connect(
        &format!("ws://{}/admin_socket", node.address),
        &[("token", token)],
        ClientOptions::default(),
    )
    .await
}

#[tokio::test]
async fn the_admin_dashboard() {
    let node = start_node(Some(AdminAccess::new("ops", "open sesame"))).await;
    only_the_admin_gets_the_page_and_its_token(&node).await;
    the_admin_socket_takes_only_a_fresh_admin_token(&node).await;
    the_admin_channel_follows_a_shoppers_cart(&node).await;
    node.app.stop().await;
}

async fn only_the_admin_gets_the_page_and_its_token(node: &Node) {
    let refused = get(node.address, "/admin", None).await;
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .headers
            .contains("www-authenticate: basic realm=\"sneakers23 admin\""),
        "{}",
        refused.headers
    );
    assert_eq!(
        get(node.address, "/admin", Some("ops:wrong")).await.status,
        401
    );
    assert_eq!(
        get(node.address, "/admin/token", Some("shopper:open sesame"))
            .await
            .status,
        401
    );

    let page = get(node.address, "/admin", Some("ops:open sesame")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("window.adminToken = \""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"data-count-for="4""#),
        "a row per size"
    );
    assert!(page.body.contains("/assets/js/admin.js"));
    let token = get(node.address, "/admin/token", Some("ops:open sesame")).await;
    assert_eq!(token.status, 200);
    assert!(admin_socket(node, &token.body).await.is_ok());
}

async fn the_admin_socket_takes_only_a_fresh_admin_token(node: &Node) {
    let shoppers = socket_token(&node.signer, &generate_cart_id());
    let stranger = admin_token(&Signer::new("x".repeat(64)));
    let expired = node.signer.sign_with(
        ADMIN_TOKEN_SALT,
        &"admin",
        SignOptions {
            signed_at: Some(SystemTime::now() - Duration::from_secs(3600)),
            ..SignOptions::default()
        },
    );
    for (what, token) in [
        ("a shopper's token", shoppers.as_str()),
        ("a forged one", &stranger),
        ("an expired one", &expired),
        ("none", ""),
    ] {
        match admin_socket(node, token).await {
            Err(ConnectError::Rejected { status: 403 }) => {}
            other => panic!("{what}: expected 403, got {:?}", other.map(|_| "connected")),
        }
    }
}

async fn the_admin_channel_follows_a_shoppers_cart(node: &Node) {
    let admin = admin_socket(node, &admin_token(&node.signer))
        .await
        .unwrap();
    let channel = admin.channel("admin:cart_tracker", json!({}));
    let mut state = channel.on("presence_state");
    let mut diffs = channel.on("presence_diff");
    tokio::time::timeout(WAIT, channel.join())
        .await
        .unwrap()
        .expect("the admin joins");
    let initial = tokio::time::timeout(WAIT, state.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(initial, json!({}), "no carts yet");

    // A shopper opens the page: their cart is tracked, empty.
    let cart_id = generate_cart_id();
    let token = socket_token(&node.signer, &cart_id);
    let shopper = Client::connect(
        &format!("ws://{}/product_socket", node.address),
        &[("cart_token", token.as_str())],
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let cart = shopper.channel(&cart_topic(&cart_id), json!({}));
    tokio::time::timeout(WAIT, cart.join())
        .await
        .unwrap()
        .unwrap();
    let joined = next_diff(&mut diffs).await;
    let meta = &joined["joins"][&cart_id]["metas"][0];
    assert_eq!(meta["items"], json!([]), "{joined}");
    assert_eq!(meta["node"], "nonode@nohost");

    // The shopper picks a size: the tracked cart changes.
    let added = tokio::time::timeout(WAIT, cart.push("add_item", json!({"item_id": 5})))
        .await
        .unwrap();
    assert!(added.is_ok(), "{added:?}");
    let changed = next_diff(&mut diffs).await;
    assert_eq!(
        changed["joins"][&cart_id]["metas"][0]["items"],
        json!([5]),
        "{changed}"
    );
    assert_eq!(
        changed["leaves"][&cart_id]["metas"][0]["items"],
        json!([]),
        "{changed}"
    );

    // The shopper closes the page: the cart leaves the admin's view.
    drop(cart);
    shopper.close().await;
    let left = next_diff(&mut diffs).await;
    assert_eq!(
        left["leaves"][&cart_id]["metas"][0]["items"],
        json!([5]),
        "{left}"
    );
    let listed: Value = node
        .app
        .cart_tracker
        .list("admin:cart_tracker")
        .await
        .unwrap();
    assert_eq!(listed, json!({}));
}
