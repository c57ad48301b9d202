//! `GET` and `POST /checkout` on a whole node started in-process (store,
//! inventory, web): a cart is shown, bought durably and announced to the
//! browser's tabs, and bought once when its form is sent twice; a cart whose size sold out is refused with the size named
//! and nothing sold; a forged cart buys nothing; a cross-site form is refused.
//!
//! A node registers its processes by name, so one process holds one node:
//! the scenarios run in turn on it, from one test.

use channels::token::Signer;
use serde_json::Value;
use store_app::checkout::ShoppingCart;
use store_app::model::Item;
use store_app::web::{cart_topic, CART_UPDATED};

#[path = "support/in_process.rs"]
mod in_process;
use in_process::{request, request_raw, start_node, Node, WAIT};

/// In the demo catalogue, item 4 (product 1, size 7.5) has one unit left and
/// item 5 (size 8) plenty.
const LAST_UNIT: u64 = 4;
const PLENTY: u64 = 5;

fn cart_of(node: &Node, items: &[(u64, u64)]) -> String {
    let mut cart = ShoppingCart::new();
    for &(id, product_id) in items {
        cart.add_item(&Item {
            id,
            product_id,
            sku: String::new(),
            size: String::new(),
        })
        .unwrap();
    }
    cart.serialize(&node.signer)
}

async fn stock(node: &Node, item: u64) -> u32 {
    node.app
        .context
        .get_complete_products()
        .await
        .unwrap()
        .iter()
        .flat_map(|p| &p.items)
        .find(|i| i.item.id == item)
        .unwrap()
        .available_count
}

#[tokio::test]
async fn checkout_on_one_node() {
    let node = start_node(None).await;
    a_cart_is_shown_then_bought_and_every_tab_is_told(&node).await;
    a_sold_out_size_refuses_the_whole_cart_and_names_the_size(&node).await;
    a_forged_cart_buys_nothing_and_a_cross_site_form_is_refused(&node).await;
    node.app.stop().await;
}

async fn a_cart_is_shown_then_bought_and_every_tab_is_told(node: &Node) {
    let serialized = cart_of(node, &[(PLENTY, 1)]);
    let before = stock(node, PLENTY).await;

    let shown = request(
        node.address,
        &format!("GET /checkout?serialized={serialized} HTTP/1.1"),
        "",
    )
    .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(
        shown.body.contains("Air Stride") && shown.body.contains("size 8"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Place order"));

    // The page's cookie names the browser's cart, whose tabs are told.
    let (page, head) = request_raw(node.address, "GET / HTTP/1.1", "").await;
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a first visit gets a cart cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let cart_id = page.body.split("window.cartId = \"").nth(1).unwrap()[..64].to_string();
    let (tx, mut told) = tokio::sync::mpsc::unbounded_channel();
    node.app
        .pubsub
        .subscribe(&cart_topic(&cart_id), move |b| tx.send(b.clone()).is_ok());

    let bought = request(
        node.address,
        &format!("POST /checkout HTTP/1.1\r\nCookie: {cookie}"),
        &format!("serialized={serialized}"),
    )
    .await;
    assert_eq!(bought.status, 200, "{}", bought.body);
    assert!(bought.body.contains("Order confirmed"), "{}", bought.body);
    assert!(
        bought.body.contains("localStorage.removeItem"),
        "the page forgets the cart"
    );
    assert_eq!(stock(node, PLENTY).await, before - 1);
    assert_eq!(node.app.checkout.stats().units_sold, 1);

    let broadcast = tokio::time::timeout(WAIT, told.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(broadcast.event, CART_UPDATED);
    let emptied = broadcast.json()["serialized"].as_str().map(str::to_string);
    let emptied = ShoppingCart::deserialize(&node.signer, emptied.as_deref()).unwrap();
    assert!(emptied.is_empty());
    assert_eq!(broadcast.json()["removed"], Value::from(vec![PLENTY]));

    // The same form again from the same browser (a double click, a resend
    // from the history, a replay): nothing more is bought, and it says so.
    let again = request(
        node.address,
        &format!("POST /checkout HTTP/1.1\r\nCookie: {cookie}"),
        &format!("serialized={serialized}"),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again
            .body
            .contains("This order was already placed: nothing more was bought."),
        "{}",
        again.body
    );
    assert_eq!(stock(node, PLENTY).await, before - 1, "sold once");
    assert_eq!(node.app.checkout.stats().repeated, 1);
    // Another browser with an identical cart is another order.
    let other_browser = request(
        node.address,
        "POST /checkout HTTP/1.1",
        &format!("serialized={serialized}"),
    )
    .await;
    assert_eq!(other_browser.status, 200, "{}", other_browser.body);
    assert_eq!(stock(node, PLENTY).await, before - 2);
}

async fn a_sold_out_size_refuses_the_whole_cart_and_names_the_size(node: &Node) {
    let stats_before = node.app.checkout.stats();
    let plenty = stock(node, PLENTY).await;
    // Someone else buys the last unit of size 7.5 first.
    let first = request(
        node.address,
        "POST /checkout HTTP/1.1",
        &format!("serialized={}", cart_of(node, &[(LAST_UNIT, 1)])),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);

    let refused = request(
        node.address,
        "POST /checkout HTTP/1.1",
        &format!("serialized={}", cart_of(node, &[(LAST_UNIT, 1), (25, 3)])),
    )
    .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Sold out before you checked out: Air Stride size 7.5"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("Place order"));
    assert_eq!(
        stock(node, PLENTY).await,
        plenty,
        "nothing of the cart was sold"
    );
    let stats = node.app.checkout.stats();
    assert_eq!(
        (
            stats.purchases - stats_before.purchases,
            stats.sold_out - stats_before.sold_out,
            stats.units_sold - stats_before.units_sold
        ),
        (1, 1, 1)
    );
}

async fn a_forged_cart_buys_nothing_and_a_cross_site_form_is_refused(node: &Node) {
    let stranger = Signer::new("x".repeat(64));
    let mut forged = ShoppingCart::new();
    forged
        .add_item(&Item {
            id: PLENTY,
            product_id: 1,
            sku: String::new(),
            size: String::new(),
        })
        .unwrap();
    let before = stock(node, PLENTY).await;
    let response = request(
        node.address,
        "POST /checkout HTTP/1.1",
        &format!("serialized={}", forged.serialize(&stranger)),
    )
    .await;
    assert_eq!(response.status, 422, "{}", response.body);
    assert!(
        response.body.contains("Your cart is empty"),
        "{}",
        response.body
    );

    let cross_site = request(
        node.address,
        "POST /checkout HTTP/1.1\r\nOrigin: https://evil.example",
        &format!("serialized={}", cart_of(node, &[(PLENTY, 1)])),
    )
    .await;
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);
    assert_eq!(stock(node, PLENTY).await, before);
}
