//! The cart tracker across three nodes, each its own OS process (book ch10):
//! shoppers on every node, and every node's `admin.carts` shows all of them;
//! `kill -9` of a node takes its shoppers out of everyone's view after the
//! down period; a node hung (SIGSTOP) leaves the views, and once resumed
//! (SIGCONT) every view converges again, with what changed meanwhile.

mod support;

use std::time::Duration;

use channels::client::{Channel, Client, ClientOptions};
use channels::token::Signer;
use serde_json::json;
use store_app::checkout::generate_cart_id;
use store_app::web::{cart_topic, socket_token};
use support::{tokio_rt, Env, NodeProc, SECRET_KEY_BASE, SOON};

const APP: &str = "app@127.0.0.1";
const APP2: &str = "app2@127.0.0.1";
const APP3: &str = "app3@127.0.0.1";
/// Linux's stop and continue signals.
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

/// Short tracker periods, so that "down" comes within the test's bounds.
const TRACKER: [(&str, &str); 3] = [
    ("TRACKER_BROADCAST_PERIOD_MS", "100"),
    ("TRACKER_DOWN_PERIOD_MS", "2000"),
    ("TRACKER_PERMDOWN_PERIOD_MS", "600000"),
];

/// A shopper's open page: their socket and joined cart channel.
struct Shopper {
    _client: Client,
    _cart: Channel,
}

fn open_shopper(rt: &tokio::runtime::Runtime, node: &NodeProc) -> Shopper {
    let signer = Signer::new(SECRET_KEY_BASE);
    let cart_id = generate_cart_id();
    let token = socket_token(&signer, &cart_id);
    rt.block_on(async {
        let client = Client::connect(
            &node.socket_url(),
            &[("cart_token", token.as_str())],
            ClientOptions::default(),
        )
        .await
        .expect("the product socket accepts the shopper");
        let cart = client.channel(&cart_topic(&cart_id), json!({}));
        cart.join().await.expect("the shopper's own cart is joined");
        Shopper {
            _client: client,
            _cart: cart,
        }
    })
}

/// `admin.carts`' summary line: carts open, then per node (sorted by name).
fn summary(carts: usize, per_node: &[(&str, usize)]) -> String {
    let mut per_node = per_node.to_vec();
    per_node.sort();
    let mut line = format!("{carts} cart(s) open");
    for (node, count) in per_node {
        line.push_str(&format!("; {node}: {count}"));
    }
    line
}

/// Polls `node`'s `admin.carts` until its summary line is `expected`.
fn admin_sees(env: &Env, node: &str, expected: &str) {
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let out = env.rpc_ok(node, "admin.carts");
        let last = out.lines().last().unwrap_or_default().trim().to_string();
        if last == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{node}'s admin.carts never said {expected:?}; last: {last:?}\n{out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_three(env: &Env) -> (NodeProc, NodeProc, NodeProc) {
    let data = env.data_dir();
    let app = env.start_with_env("app", &["--data-dir", data.to_str().unwrap()], &TRACKER);
    let app2 = env.start_with_env("app2", &[], &TRACKER);
    let app3 = env.start_with_env("app3", &[], &TRACKER);
    env.connect_to_store(APP2, APP);
    env.connect_to_store(APP3, APP);
    env.wait_for_peers(APP2, &[APP, APP3]);
    (app, app2, app3)
}

#[test]
fn every_node_sees_every_shopper_and_a_killed_nodes_leave_after_the_down_period() {
    let env = Env::new("cart-tracker-kill");
    let (_app, app2, mut app3) = start_three(&env);
    let rt = tokio_rt();
    let _shoppers = [
        open_shopper(&rt, &_app),
        open_shopper(&rt, &app2),
        open_shopper(&rt, &app2),
        open_shopper(&rt, &app3),
    ];
    let everyone = summary(4, &[(APP, 1), (APP2, 2), (APP3, 1)]);
    for node in [APP, APP2, APP3] {
        admin_sees(&env, node, &everyone);
    }
    let stats = env.rpc_ok(APP, "tracker.stats");
    assert!(stats.contains("4 entries"), "{stats}");

    app3.kill();
    let without_app3 = summary(3, &[(APP, 1), (APP2, 2)]);
    admin_sees(&env, APP, &without_app3);
    admin_sees(&env, APP2, &without_app3);
    let stats = env.rpc_ok(APP, "tracker.stats");
    assert!(
        stats.contains(" down,"),
        "app3's replica is down, not yet forgotten: {stats}"
    );
}

#[test]
fn a_hung_node_leaves_the_views_and_they_converge_when_it_resumes() {
    let env = Env::new("cart-tracker-stop");
    let (app, app2, _app3) = start_three(&env);
    let rt = tokio_rt();
    let _on_app = open_shopper(&rt, &app);
    let _on_app2 = open_shopper(&rt, &app2);
    admin_sees(&env, APP3, &summary(2, &[(APP, 1), (APP2, 1)]));

    app2.signal(SIGSTOP);
    admin_sees(&env, APP3, &summary(1, &[(APP, 1)]));
    // Meanwhile another shopper arrives on app.
    let _late = open_shopper(&rt, &app);
    admin_sees(&env, APP3, &summary(2, &[(APP, 2)]));

    app2.signal(SIGCONT);
    let all = summary(3, &[(APP, 2), (APP2, 1)]);
    for node in [APP, APP2, APP3] {
        admin_sees(&env, node, &all);
    }
}
