//! Checkout under a flash sale, with every node its own OS process: shoppers
//! on two web nodes buy overlapping carts at once, and each node role is
//! killed (`kill -9`) in the middle of it in turn — the store owner, the web
//! node the shoppers use, a back node selling through its mock shoppers.
//! Whatever was acknowledged is bought, nothing is sold twice, no stock goes
//! below zero, and the store and every node's memory agree.

mod support;

use std::collections::BTreeSet;

use runtime::testkit::PostgresServer;
use support::checkout_race::{
    bought_once, carts, checkout_all, kill_9, sold_since, units_on_sale, Outcome, UNITS,
};
use support::{products, Env, SOON};

const APP: &str = "app@127.0.0.1";
const APP2: &str = "app2@127.0.0.1";

fn start_cluster(env: &Env) -> (support::NodeProc, support::NodeProc) {
    let data = env.data_dir();
    let app = env.start(
        "app",
        &["--data-dir", data.to_str().unwrap(), "--catalogue", "flash"],
    );
    let app2 = env.start("app2", &[]);
    env.connect_to_store(APP2, APP);
    (app, app2)
}

#[test]
fn two_hundred_shoppers_on_two_web_nodes_buy_each_unit_exactly_once() {
    let env = Env::new("checkout-race");
    let (app, app2) = start_cluster(&env);
    race(&env, &app, &app2);
}

/// The same race with the store on PostgreSQL: both nodes write to the
/// database themselves, neither owns the data.
#[test]
fn two_hundred_shoppers_buy_each_unit_exactly_once_with_the_store_on_postgres() {
    let Some(postgres) = PostgresServer::start("checkout race on PostgreSQL") else {
        return;
    };
    let env = Env::new("checkout-race-pg");
    let store = ["--store", &postgres.url(), "--catalogue", "flash"];
    let app = env.start("app", &store);
    let app2 = env.start("app2", &store);
    env.rpc_ok(APP2, &format!("node.connect {APP}"));
    env.wait_for_peers(APP2, &[APP]);
    env.wait_for_peers(APP, &[APP2]);
    race(&env, &app, &app2);
}

/// 200 shoppers over both nodes' web servers buying overlapping carts of
/// the flash catalogue's one-unit sizes: each unit sold once, the store and
/// every node's memory agree, and the nodes' counts add up.
fn race(env: &Env, app: &support::NodeProc, app2: &support::NodeProc) {
    let before = products(&env.rpc_ok(APP, "store.products"));
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);
    // Operators read a shopper's cart from its token, on any node.
    let shown = env.rpc_ok(APP2, &format!("cart.show {}", carts[0].serialized));
    for item in &carts[0].items {
        assert!(shown.contains(&format!("item {item}: ")), "{shown}");
    }
    assert!(shown.contains("— 1 left"), "{shown}");
    let forged = env.rpc(APP2, "cart.show not-a-cart");
    assert!(
        forged.code != Some(0) && forged.stderr.contains("not a cart of this store"),
        "{forged:?}"
    );

    let outcomes = checkout_all(&carts, &[app.http_address(), app2.http_address()], |_| {});

    for outcome in &outcomes {
        assert!(
            matches!(outcome.status, Some(200) | Some(409)),
            "a purchase is bought or refused as sold out, nothing else: {outcome:?}"
        );
    }
    let bought = bought_once(&outcomes);
    let expected_items: BTreeSet<u64> = on_sale.iter().map(|&(id, _)| id).collect();
    assert_eq!(bought, expected_items, "every unit found exactly one buyer");

    // The store holds exactly that, and so does every node's memory.
    let mut expected = before.clone();
    for &(item, _) in &on_sale {
        support::set_units(&mut expected, item, 0);
    }
    assert_eq!(products(&env.rpc_ok(APP, "store.products")), expected);
    env.wait_for_products(APP, &expected);
    env.wait_for_products(APP2, &expected);

    // Both nodes counted what they sold.
    let stats = |node: &str| {
        let out = env.rpc_ok(node, "checkout.stats");
        let field = |name: &str| -> usize {
            out.split(&format!("{name} "))
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {out:?}"))
        };
        (field("purchases"), field("units sold"))
    };
    let ((p1, u1), (p2, u2)) = (stats(APP), stats(APP2));
    let acknowledged = outcomes.iter().filter(|o| o.status == Some(200)).count();
    assert_eq!(p1 + p2, acknowledged);
    assert_eq!(u1 + u2, UNITS);
}

#[test]
fn a_store_owner_killed_mid_sale_keeps_every_acknowledged_purchase() {
    let env = Env::new("checkout-kill");
    let (mut app, app2) = start_cluster(&env);
    let before = products(&env.rpc_ok(APP, "store.products"));
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);
    let web = app2.http_address();

    // The first half, with the store's node killed after 30 answers.
    let killed = std::sync::Once::new();
    let app_pid = app.pid().to_string();
    let first = checkout_all(&carts[..100], &[web], |answered| {
        if answered >= 30 {
            killed.call_once(|| {
                let status = std::process::Command::new("kill")
                    .args(["-9", &app_pid])
                    .status()
                    .expect("kill runs");
                assert!(status.success());
            });
        }
    });
    app.wait_exit(SOON);
    assert!(
        first.iter().any(|o| o.status == Some(200)),
        "some purchases went through before the kill: {first:?}"
    );
    assert!(
        first
            .iter()
            .all(|o| o.status != Some(200)
                || o.items.iter().all(|i| on_sale.iter().any(|s| s.0 == *i))),
        "{first:?}"
    );

    // The owner comes back on the same data; app2 rejoins it by itself.
    let data = env.data_dir();
    let _app = env.start(
        "app",
        &["--data-dir", data.to_str().unwrap(), "--catalogue", "flash"],
    );
    env.wait_for_store(APP2, APP);
    let second = checkout_all(&carts[100..], &[web], |_| {});

    let tally = |outcomes: &[Outcome]| {
        let mut tally = std::collections::BTreeMap::new();
        for o in outcomes {
            *tally.entry(o.status).or_insert(0) += 1;
        }
        tally
    };
    eprintln!(
        "before and during the kill: {:?}; after the restart: {:?}",
        tally(&first),
        tally(&second)
    );
    assert!(
        first
            .iter()
            .any(|o| o.status != Some(200) && o.status != Some(409)),
        "the kill interrupted the sale: {:?}",
        tally(&first)
    );
    let outcomes: Vec<Outcome> = first.into_iter().chain(second).collect();
    for outcome in &outcomes {
        assert!(
            matches!(outcome.status, Some(200) | Some(409) | Some(503)),
            "bought, sold out, or refused while the store was away: {outcome:?}"
        );
    }
    let bought = bought_once(&outcomes);
    let stored = products(&env.rpc_ok(APP, "store.products"));
    for &item in &bought {
        assert_eq!(
            support::units(&stored, item),
            0,
            "acknowledged item {item} is sold in the store"
        );
    }
    // Nothing else changed, and nothing went below zero (units are unsigned,
    // and every unit sold is one the store had).
    for (product, line) in &stored {
        for (item, (_, units)) in &line.items {
            let was = before[product].items[item].1;
            assert!(
                *units == was || (*units == 0 && was == 1),
                "item {item}: {was} -> {units}"
            );
            if !on_sale.iter().any(|s| s.0 == *item) {
                assert_eq!(*units, was, "item {item} was not on sale");
            }
        }
    }
    env.wait_for_products(APP2, &stored);
    env.wait_for_products(APP, &stored);
}

#[test]
fn a_web_node_killed_mid_sale_keeps_every_acknowledged_purchase() {
    let env = Env::new("checkout-kill-web");
    let (_app, mut app2) = start_cluster(&env);
    let before = products(&env.rpc_ok(APP, "store.products"));
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);
    let web = app2.http_address();

    // The web node the shoppers use is killed after 30 answers; the rest of
    // the first half finds it gone (or is cut mid-request).
    let killed = std::sync::Once::new();
    let pid = app2.pid();
    let first = checkout_all(&carts[..100], &[web], |answered| {
        if answered >= 30 {
            killed.call_once(|| kill_9(pid));
        }
    });
    app2.wait_exit(SOON);
    assert!(
        first.iter().any(|o| o.status.is_none()),
        "the kill interrupted the sale"
    );
    // Started again where the shoppers' pages point.
    let _app2 = env.start("app2", &["--http-port", &web.port().to_string()]);
    env.connect_to_store(APP2, APP);
    let second = checkout_all(&carts[100..], &[web], |_| {});

    let outcomes: Vec<Outcome> = first.into_iter().chain(second).collect();
    for outcome in &outcomes {
        assert!(
            matches!(outcome.status, Some(200) | Some(409) | None),
            "bought, sold out, or no answer from a killed node: {outcome:?}"
        );
    }
    let bought = bought_once(&outcomes);
    let stored = products(&env.rpc_ok(APP, "store.products"));
    let sold = sold_since(&before, &stored, &on_sale);
    assert!(
        bought.is_subset(&sold),
        "every acknowledged unit is sold in the store"
    );
    // A unit sold without an acknowledgement belongs to a cart whose answer
    // the kill cut off.
    let unanswered: BTreeSet<u64> = outcomes
        .iter()
        .filter(|o| o.status.is_none())
        .flat_map(|o| o.items.iter().copied())
        .collect();
    for item in sold.difference(&bought) {
        assert!(
            unanswered.contains(item),
            "item {item} sold to nobody who was answered or cut off"
        );
    }
    env.wait_for_products(APP2, &stored);
    env.wait_for_products(APP, &stored);
}

#[test]
fn a_back_node_killed_while_its_mock_shoppers_sell_changes_nothing_acknowledged() {
    let env = Env::new("checkout-kill-back");
    let (_app, app2) = start_cluster(&env);
    let mut back = env.start("back", &["--no-http"]);
    env.connect_to_store("back@127.0.0.1", APP);
    let before = products(&env.rpc_ok(APP, "store.products"));
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);

    // Mock shoppers on the back node race the checkouts (for these units and
    // every other size of the flash sale); the back node is killed after 30
    // answers.
    let started = env.rpc_ok("back@127.0.0.1", "mock.sell_random_until_gone 2");
    assert!(started.starts_with("mock shoppers started"), "{started}");
    let killed = std::sync::Once::new();
    let pid = back.pid();
    let outcomes = checkout_all(&carts, &[app2.http_address()], |answered| {
        if answered >= 30 {
            killed.call_once(|| kill_9(pid));
        }
    });
    back.wait_exit(SOON);

    for outcome in &outcomes {
        assert!(
            matches!(outcome.status, Some(200) | Some(409)),
            "the web node answers every shopper whatever the back node does: {outcome:?}"
        );
    }
    let bought = bought_once(&outcomes);
    let stored = products(&env.rpc_ok(APP, "store.products"));
    for &item in &bought {
        assert_eq!(
            support::units(&stored, item),
            0,
            "acknowledged item {item} is sold"
        );
    }
    // Stock only fell, by at most the one unit each size had.
    for (product, line) in &stored {
        for (item, (_, units)) in &line.items {
            let was = before[product].items[item].1;
            assert!(
                *units == was || (*units == 0 && was == 1),
                "item {item}: {was} -> {units}"
            );
        }
    }
    env.wait_for_products(APP2, &stored);
    env.wait_for_products(APP, &stored);
}
