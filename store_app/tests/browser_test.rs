//! The store in a real browser (book ch8, "break your application"):
//! headless Chromium through WebDriver (`support::browser`) against real
//! nodes started as separate processes, as `scripts/demo.sh` starts them —
//! `app` (owns the store, serves pages), `app2` (serves pages) and `back`
//! (no web server; where a person types `rpc` commands).
//!
//! Each test is one scenario of the book's manual testing, automated: its own
//! cluster, its own browsers. A page is "live" when its header says so
//! (`.connection[data-state=connected]`): the socket is open and every
//! channel's latest join was answered, so what it shows is current.
//!
//! The demo catalogue's first product (released) has ten sizes, items 1–10,
//! with 0, 25, 8, 1, 40, 15, 3, 0, 25 and 8 units: item 4 (size 7.5) is a
//! last unit, item 2 (size 6.5) has plenty ("high" until it drops below 25).
//! The second (Court Classic) is "coming soon" until a test releases it; its
//! item 13 (size 7) has 40 units. A cart holds one size of each product.

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;

use serde_json::Value;
use store_app::web::StockLevel;
use support::browser::{Chromium, Tab};
use support::{products, units, Env, NodeProc, SOON};

const APP: &str = "app@127.0.0.1";
const APP2: &str = "app2@127.0.0.1";
const BACK: &str = "back@127.0.0.1";
const ADMIN_USER: &str = "admin";
const ADMIN_PASSWORD: &str = "browser-test-admin-password";

/// The demo's three nodes; `app2` on a port chosen here, so that it can be
/// started again where its pages reconnect.
struct Demo {
    env: Env,
    app: NodeProc,
    app2: NodeProc,
    _back: NodeProc,
    app2_port: u16,
}

impl Demo {
    fn start(label: &str) -> Demo {
        let env = Env::new(&format!("browser-{label}"));
        let data = env.data_dir();
        let app = env.start_with_env("app", &["--data-dir", data.to_str().unwrap()], ADMIN_VARS);
        let app2_port = free_port();
        let app2 = start_app2(&env, app2_port);
        let back = env.start("back", &["--no-http"]);
        env.connect_to_store(BACK, APP);
        Demo {
            env,
            app,
            app2,
            _back: back,
            app2_port,
        }
    }

    /// A URL of `node`'s web server.
    fn url(node: &NodeProc, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", node.http_port().unwrap())
    }

    /// `rpc` at the back node's console, as a person types it.
    fn back(&self, command: &str) -> String {
        self.env.rpc_ok(BACK, command)
    }

    /// Sells `count` units of `item` from the back node's console.
    fn sell(&self, item: u64, count: u32) {
        for _ in 0..count {
            let sold = self.back(&format!("inventory.sell {item}"));
            assert!(sold.starts_with(&format!("sold item {item}:")), "{sold}");
        }
    }

    /// Every released size's level, as the store's memory (on `back`) has it.
    fn store_levels(&self) -> BTreeMap<u64, String> {
        products(&self.back("inventory.products"))
            .values()
            .filter(|p| p.released)
            .flat_map(|p| &p.items)
            .map(|(id, (_, n))| (*id, StockLevel::from_count(*n).as_str().to_string()))
            .collect()
    }

    /// Units of `item` in the store's memory (on `back`).
    fn units(&self, item: u64) -> u32 {
        units(&products(&self.back("inventory.products")), item)
    }

    /// Waits until `node` counts one subscriber per open page on `topic`.
    fn subscribers(&self, node: &str, topic: &str, pages: usize) {
        let want = pages.to_string();
        self.env
            .rpc_until(node, &format!("pubsub.subscribers {topic}"), |n| {
                n.trim() == want
            });
    }
}

const ADMIN_VARS: &[(&str, &str)] = &[
    ("ADMIN_USER", ADMIN_USER),
    ("ADMIN_PASSWORD", ADMIN_PASSWORD),
];

fn start_app2(env: &Env, port: u16) -> NodeProc {
    let app2 = env.start_with_env("app2", &["--http-port", &port.to_string()], ADMIN_VARS);
    // What scripts/demo.sh (and a restart) does: into the cluster, then wait
    // until the store answers and the memory is loaded.
    env.connect_to_store(APP2, APP);
    app2
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---- what a page shows ----

const LIVE: &str = "document.querySelector('.connection').dataset.state === 'connected'";

fn connection_is(state: &str) -> String {
    format!("document.querySelector('.connection').dataset.state === '{state}'")
}

fn level_is(item: u64, level: &str) -> String {
    format!("document.querySelector('.size-container__entry[value=\"{item}\"]')?.dataset.level === '{level}'")
}

fn in_cart(item: u64) -> String {
    format!("!!document.querySelector('.cart__item[data-item-id=\"{item}\"]')")
}

/// Live, with product `id` released (its sizes shown).
fn released(id: u64) -> String {
    format!("{LIVE} && !document.querySelector('.product-soon-{id}') && !!document.querySelector('[data-sizes-for=\"{id}\"]')")
}

fn cart_is_empty() -> &'static str {
    "document.querySelectorAll('.cart__item').length === 0 && !document.querySelector('.cart__empty').hidden"
}

/// Every size's level on the page, by item id.
fn page_levels(tab: &Tab) -> BTreeMap<u64, String> {
    let value = tab.eval(
        "Object.fromEntries(Array.from(document.querySelectorAll('.size-container__entry'), e => [e.value, e.dataset.level]))",
    );
    let Value::Object(levels) = value else {
        panic!("no levels on the page: {value:?}")
    };
    levels
        .into_iter()
        .map(|(id, level)| (id.parse().unwrap(), level.as_str().unwrap().to_string()))
        .collect()
}

/// From the store page's cart to the checkout page.
fn go_to_checkout(tab: &Tab) {
    tab.until(
        "the checkout button enabled",
        "!document.querySelector('.cart__checkout-button').disabled",
    );
    tab.click(".cart__checkout-button");
    tab.until(
        "the checkout page",
        "!!document.querySelector('.checkout__buy')",
    );
}

/// Places the order the checkout page shows, and waits for its confirmation.
fn place_order(tab: &Tab) {
    tab.click(".checkout__buy");
    tab.until(
        "the order confirmed",
        "document.querySelector('.checkout__title').textContent === 'Order confirmed'",
    );
}

/// Marks the page, to tell later that it was never reloaded.
fn mark(tab: &Tab) {
    tab.eval("(window.__notReloaded = true)");
}

fn not_reloaded(tab: &Tab) -> bool {
    tab.eval("window.__notReloaded === true") == Value::Bool(true)
}

// ---- the scenarios ----

#[test]
fn the_page_shows_the_catalogue_and_a_release_arrives_live_on_both_web_nodes() {
    let Some(chromium) = Chromium::find("catalogue_and_release") else {
        return;
    };
    let demo = Demo::start("release");
    let browsers = chromium.start();
    let on_app = browsers.open("page-on-app", &Demo::url(&demo.app, "/"));
    let on_app2 = browsers.open("page-on-app2", &Demo::url(&demo.app2, "/"));

    // Every product; sizes only for the released one.
    on_app.until("the page live", LIVE);
    assert_eq!(
        on_app.eval("document.querySelectorAll('[data-product-id]').length"),
        4
    );
    assert_eq!(
        on_app.eval(
            "document.querySelectorAll('[data-product-id=\"1\"] .size-container__entry').length"
        ),
        10,
        "product 1 is released with ten sizes"
    );
    for coming in 2..=4 {
        assert_eq!(
            on_app.eval(&format!(
                "document.querySelectorAll('.product-soon-{coming}').length"
            )),
            1,
            "product {coming} is coming soon"
        );
    }
    assert_eq!(page_levels(&on_app), demo.store_levels());
    assert_eq!(
        on_app.text(".connection"),
        "Live: stock updates as it sells",
        "the shopper is told the page is live"
    );

    // A release typed at the back node's console appears on both pages
    // without a reload.
    on_app2.until("the page live", LIVE);
    demo.subscribers(APP, "product:2", 1);
    demo.subscribers(APP2, "product:2", 1);
    mark(&on_app);
    mark(&on_app2);
    let released = demo.back("inventory.release 2");
    assert!(released.contains("released 2"), "{released}");
    for page in [&on_app, &on_app2] {
        page.until(
            "product 2's sizes, live",
            "document.querySelectorAll('[data-product-id=\"2\"] .size-container__entry').length === 10 && !document.querySelector('.product-soon-2')",
        );
        assert!(not_reloaded(page));
        assert_eq!(page_levels(page), demo.store_levels());
        // Nothing went wrong on the page: no script error, no failed load.
        let errors: Vec<String> = page
            .console()
            .into_iter()
            .filter(|line| line.contains("SEVERE"))
            .collect();
        assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    }
}

#[test]
fn mock_shoppers_sell_out_live_in_two_browsers_on_two_nodes() {
    let Some(chromium) = Chromium::find("mock_shoppers") else {
        return;
    };
    let demo = Demo::start("mock");
    let browsers = chromium.start();
    demo.back("inventory.release 2");
    let on_app = browsers.open("page-on-app", &Demo::url(&demo.app, "/"));
    let on_app2 = browsers.open("page-on-app2", &Demo::url(&demo.app2, "/"));
    for (page, node) in [(&on_app, APP), (&on_app2, APP2)] {
        page.until("the page live with product 2 released", &released(2));
        demo.subscribers(node, "product:1", 1);
        demo.subscribers(node, "product:2", 1);
        mark(page);
        // Counts the sizes' level changes as they arrive.
        page.eval(
            "(window.__levelChanges = 0, new MutationObserver(m => window.__levelChanges += m.length).observe(document.querySelector('.product-list'), {subtree: true, attributes: true, attributeFilter: ['data-level']}), true)",
        );
    }
    let before = page_levels(&on_app);
    let in_stock = before.values().filter(|l| *l != "out").count();
    assert!(in_stock >= 15, "{before:?}");

    let started = demo.back("mock.sell_random_until_gone 5");
    assert!(started.starts_with("mock shoppers started"), "{started}");
    demo.env.rpc_until(BACK, "inventory.products", |out| {
        products(out)
            .values()
            .filter(|p| p.released)
            .all(|p| p.items.values().all(|(_, n)| *n == 0))
    });

    let store = demo.store_levels();
    assert!(store.values().all(|l| l == "out"), "{store:?}");
    for page in [&on_app, &on_app2] {
        page.until(
            "every size of products 1 and 2 sold out",
            "Array.from(document.querySelectorAll('.size-container__entry')).every(e => e.dataset.level === 'out' && e.disabled)",
        );
        assert_eq!(page_levels(page), store, "the page ends equal to the store");
        assert!(not_reloaded(page), "the levels arrived live");
        let changes = page.eval("window.__levelChanges").as_u64().unwrap();
        assert!(
            changes >= in_stock as u64,
            "every in-stock size changed on the page at least once ({changes} changes)"
        );
    }
}

#[test]
fn the_cart_follows_the_shopper_across_tabs_and_reloads() {
    let Some(chromium) = Chromium::find("cart_tabs") else {
        return;
    };
    let demo = Demo::start("cart");
    let browsers = chromium.start();
    let page = Demo::url(&demo.app2, "/");
    let first = browsers.open("shopper-tab1", &page);
    let second = browsers.new_tab(&first, "shopper-tab2", &page);
    first.until("the page live", LIVE);
    second.until("the page live", LIVE);

    // Pick a size: it appears in the cart, and in the other tab's.
    first.click(".size-container__entry[value=\"2\"]");
    first.until("size 6.5 in the cart", &in_cart(2));
    assert!(first
        .text(".cart__item[data-item-id=\"2\"]")
        .contains("size 6.5"));
    second.until("size 6.5 in the second tab's cart", &in_cart(2));
    second.until(
        "size 6.5 marked as picked",
        "document.querySelector('.size-container__entry[value=\"2\"]').classList.contains('size-container__entry--in-cart')",
    );

    // Remove it in one tab: it leaves both.
    second.click(".cart__remove[value=\"2\"]");
    second.until("an empty cart", cart_is_empty());
    first.until("an empty cart in the first tab", cart_is_empty());

    // A reload keeps the cart.
    second.click(".size-container__entry[value=\"3\"]");
    first.until("size 7 in the first tab's cart", &in_cart(3));
    first.reload();
    first.until("the reloaded page live", LIVE);
    first.until("size 7 still in the cart after a reload", &in_cart(3));
    assert_eq!(
        first.eval("document.querySelectorAll('.cart__item').length"),
        1
    );

    // The cart the page keeps is the one the console reads.
    let kept = first.eval("localStorage.getItem('sneakers23.cart')");
    let shown = demo
        .env
        .rpc_ok(APP2, &format!("cart.show {}", kept.as_str().unwrap()));
    assert!(shown.starts_with("item 3: "), "{shown}");
    assert_eq!(shown.lines().count(), 1, "{shown}");
}

#[test]
fn another_shopper_buys_the_last_unit_and_checkouts_fail_or_succeed() {
    let Some(chromium) = Chromium::find("last_unit_checkout") else {
        return;
    };
    let demo = Demo::start("checkout");
    demo.back("inventory.release 2");
    let browsers = chromium.start();
    let page_on_app2 = Demo::url(&demo.app2, "/");
    let you = browsers.open("you-tab1", &page_on_app2);
    let your_other_tab = browsers.new_tab(&you, "you-tab2", &page_on_app2);
    let other = browsers.open("other-shopper", &Demo::url(&demo.app, "/"));
    for page in [&you, &your_other_tab, &other] {
        page.until("the page live", &released(2));
    }

    // You take the last unit of Air Stride 7.5 and a pair of Court Classic 7
    // (item 13, 40 units), and go to the checkout page.
    you.click(".size-container__entry[value=\"4\"]");
    you.until("size 7.5 in the cart", &in_cart(4));
    you.click(".size-container__entry[value=\"13\"]");
    you.until("Court Classic 7 in the cart", &in_cart(13));
    your_other_tab.until(
        "both sizes in the other tab's cart",
        &format!("{} && {}", in_cart(4), in_cart(13)),
    );
    go_to_checkout(&you);

    // Meanwhile another shopper, on the other web node, buys that last unit.
    other.click(".size-container__entry[value=\"4\"]");
    other.until("size 7.5 in the other shopper's cart", &in_cart(4));
    go_to_checkout(&other);
    place_order(&other);
    assert_eq!(demo.units(4), 0);

    // Your open store tab marks it sold out, without a reload; the cart can
    // no longer be checked out from it.
    mark(&your_other_tab);
    your_other_tab.until(
        "size 7.5 marked sold out in the cart",
        "!!document.querySelector('.cart__item--out[data-item-id=\"4\"]')",
    );
    your_other_tab.until("size 7.5 sold out in the listing", &level_is(4, "out"));
    assert_eq!(
        your_other_tab.eval("document.querySelector('.cart__checkout-button').disabled"),
        true
    );
    assert!(not_reloaded(&your_other_tab));

    // Placing the order you opened before fails, naming the size, and sells
    // nothing.
    let units_of_7 = demo.units(13);
    you.click(".checkout__buy");
    you.until(
        "the refusal",
        "!!document.querySelector('.checkout__notice--error')",
    );
    let refusal = you.text(".checkout__notice--error");
    assert!(
        refusal.contains("Sold out before you checked out"),
        "{refusal}"
    );
    assert!(refusal.contains("size 7.5"), "{refusal}");
    assert!(refusal.contains("Nothing was bought"), "{refusal}");
    assert_eq!(demo.units(13), units_of_7, "nothing was sold");
    assert_eq!(demo.units(4), 0);

    // Back in the store, remove the sold-out size and check out: it
    // succeeds, and the cart empties in your other tab too, live.
    you.goto(&page_on_app2);
    you.until("the page live", LIVE);
    you.until(
        "size 7.5 marked sold out in the cart",
        "!!document.querySelector('.cart__item--out[data-item-id=\"4\"]')",
    );
    you.click(".cart__remove[value=\"4\"]");
    your_other_tab.until(
        "only Court Classic 7 left in the other tab",
        &format!("!{} && {}", in_cart(4), in_cart(13)),
    );
    go_to_checkout(&you);
    place_order(&you);
    assert_eq!(demo.units(13), units_of_7 - 1);
    your_other_tab.until("an empty cart in the other tab", cart_is_empty());
    assert!(not_reloaded(&your_other_tab));
    you.goto(&page_on_app2);
    you.until("the page live", LIVE);
    you.until("an empty cart", cart_is_empty());
}

#[test]
fn the_admin_dashboard_sees_the_shoppers_of_both_browsers() {
    let Some(chromium) = Chromium::find("admin_dashboard") else {
        return;
    };
    let demo = Demo::start("admin");
    demo.back("inventory.release 2");
    let browsers = chromium.start();
    let on_app = browsers.open("shopper-on-app", &Demo::url(&demo.app, "/"));
    let on_app2 = browsers.open("shopper-on-app2", &Demo::url(&demo.app2, "/"));
    on_app.until("the page live", &released(2));
    on_app2.until("the page live", &released(2));
    on_app.click(".size-container__entry[value=\"2\"]");
    on_app.until("size 6.5 in the cart", &in_cart(2));
    on_app2.click(".size-container__entry[value=\"2\"]");
    on_app2.until("size 6.5 in the cart", &in_cart(2));
    on_app2.click(".size-container__entry[value=\"13\"]");
    on_app2.until("Court Classic 7 in the cart", &in_cart(13));

    // Basic auth in the URL, as a person would be asked for it.
    let port = demo.app.http_port().unwrap();
    let admin = browsers.open(
        "admin",
        &format!("http://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{port}/admin"),
    );
    admin.until(
        "two shoppers, one on each node",
        &format!(
            "document.querySelector('[data-total]').textContent === '2' && document.querySelector('[data-node=\"{APP}\"] td:last-child')?.textContent === '1' && document.querySelector('[data-node=\"{APP2}\"] td:last-child')?.textContent === '1'"
        ),
    );
    admin.until(
        "Air Stride 6.5 in two carts, Court Classic 7 in one",
        "document.querySelector('[data-count-for=\"2\"]').textContent === '2' && document.querySelector('[data-count-for=\"13\"]').textContent === '1'",
    );

    // A cart changes: the dashboard follows.
    on_app.click(".cart__remove[value=\"2\"]");
    admin.until(
        "size 6.5 in one cart",
        "document.querySelector('[data-count-for=\"2\"]').textContent === '1'",
    );
    // A shopper leaves: gone from the dashboard.
    on_app.goto("about:blank");
    admin.until(
        "one shopper left",
        &format!(
            "document.querySelector('[data-total]').textContent === '1' && !document.querySelector('[data-node=\"{APP}\"]')"
        ),
    );
}

/// A stock change made while the page is away, and what the page must then
/// show: item 2 from 25 ("high") to 24 ("medium").
fn sell_while_away(demo: &Demo, page: &Tab) {
    assert!(
        page.eval(&level_is(2, "high")) == Value::Bool(true),
        "item 2 starts high"
    );
    demo.sell(2, 1);
    assert_eq!(demo.units(2), 24);
}

#[test]
fn the_page_reconnects_after_its_web_node_restarts_or_is_killed() {
    let Some(chromium) = Chromium::find("web_node_restart") else {
        return;
    };
    let mut demo = Demo::start("restart");
    let browsers = chromium.start();
    let page = browsers.open("page-on-app2", &Demo::url(&demo.app2, "/"));
    page.until("the page live", LIVE);
    mark(&page);

    // `sneakers23 stop` (a deploy), a sale meanwhile, a start on the same port.
    let run = demo
        .env
        .client(&["stop", APP2, "--timeout", "30"], |_| {}, "");
    assert_eq!(run.code, Some(0), "{run:?}");
    demo.app2.wait_exit(SOON);
    page.until("the page reconnecting", &connection_is("reconnecting"));
    sell_while_away(&demo, &page);
    demo.app2 = start_app2(&demo.env, demo.app2_port);
    page.until("the page live again", LIVE);
    page.until("the sale made while stopped", &level_is(2, "medium"));
    // And it keeps updating: item 9 from 25 to 24.
    demo.sell(9, 1);
    page.until("a sale after the restart, live", &level_is(9, "medium"));

    // `kill -9`, a sale meanwhile (the last unit of item 4), a start.
    demo.app2.kill();
    page.until("the page reconnecting", &connection_is("reconnecting"));
    demo.sell(4, 1);
    demo.app2 = start_app2(&demo.env, demo.app2_port);
    page.until("the page live again", LIVE);
    page.until("the sale made while killed", &level_is(4, "out"));
    demo.sell(7, 3);
    page.until("a sale after the restart, live", &level_is(7, "out"));

    assert!(
        not_reloaded(&page),
        "phoenix.js reconnected; the page never reloaded"
    );
    assert_eq!(page_levels(&page), demo.store_levels());
}

#[test]
fn the_page_shows_a_network_cut_and_catches_up_when_it_returns() {
    let Some(chromium) = Chromium::find("network_cut") else {
        return;
    };
    let demo = Demo::start("network");
    let browsers = chromium.start();
    let page = browsers.open("page-on-app2", &Demo::url(&demo.app2, "/"));
    page.until("the page live", LIVE);
    mark(&page);

    page.set_offline(true);
    page.until("the page offline", &connection_is("offline"));
    assert_eq!(
        page.text(".connection"),
        "Offline: waiting for the network…"
    );
    demo.subscribers(APP2, "product:1", 0);
    // Meanwhile: a sale, and a release.
    sell_while_away(&demo, &page);
    demo.back("inventory.release 3");
    assert!(
        page.eval(&level_is(2, "high")) == Value::Bool(true),
        "the cut is real: the page heard nothing"
    );

    page.set_offline(false);
    page.until("the page live again", LIVE);
    page.until("the sale made while offline", &level_is(2, "medium"));
    page.until(
        "the release made while offline",
        "!document.querySelector('.product-soon-3') && document.querySelectorAll('[data-product-id=\"3\"] .size-container__entry').length === 10",
    );
    // And live again.
    demo.sell(9, 1);
    page.until("a sale after the cut, live", &level_is(9, "medium"));
    assert!(not_reloaded(&page));
    assert_eq!(page_levels(&page), demo.store_levels());
}
