//! Checkout under a flash sale, with every node its own OS process: shoppers
//! on two web nodes buy overlapping carts at once, and each node role is
//! killed (`kill -9`) in the middle of it in turn — the store owner, the web
//! node the shoppers use, a back node selling through its mock shoppers.
//! Whatever was acknowledged is bought, nothing is sold twice, no stock goes
//! below zero, and the store and every node's memory agree.

mod support;

use std::collections::BTreeSet;

use runtime::testkit::{PostgresServer, RedisServer};
use support::checkout_race::{
    bought_once, carts, checkout_all, kill_9, maybe_placed_items, sold_since, units_on_sale,
    Outcome, UNITS,
};
use support::commit_cutter::CommitCutter;
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

/// Beyond one machine: the store on PostgreSQL, PubSub through Redis, and
/// the two nodes never connected to each other — replication and the cart
/// tracker go through Redis alone.
#[test]
fn two_hundred_shoppers_buy_each_unit_exactly_once_on_postgres_and_redis_without_a_mesh() {
    let Some(postgres) = PostgresServer::start("checkout race on PostgreSQL and Redis") else {
        return;
    };
    let Some(redis) = RedisServer::start("checkout race on PostgreSQL and Redis") else {
        return;
    };
    let env = Env::new("checkout-race-pg-redis");
    let args = without_a_mesh(&postgres, &redis);
    let app = start_on_redis(&env, "app", &args, &[]);
    let app2 = start_on_redis(&env, "app2", &args, &[]);
    race(&env, &app, &app2);
    assert_eq!(
        env.rpc_ok(APP, "node.list").trim(),
        runtime::console::builtins::NO_NODES,
        "no mesh was needed"
    );
}

/// `sneakers23` flags for a node that needs no other: the store on
/// `postgres`, PubSub through `redis`, the flash catalogue.
fn without_a_mesh(postgres: &PostgresServer, redis: &RedisServer) -> Vec<String> {
    ["--store", &postgres.url(), "--pubsub", &redis.url()]
        .into_iter()
        .chain(["--catalogue", "flash"])
        .map(String::from)
        .collect()
}

/// Starts node `short` with `args` and `vars`, and waits until its PubSub
/// is subscribed to Redis and can publish.
fn start_on_redis(
    env: &Env,
    short: &str,
    args: &[String],
    vars: &[(&str, &str)],
) -> support::NodeProc {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = env.start_with_env(short, &args, vars);
    let name = format!("{short}@127.0.0.1");
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let status = env.rpc_ok(&name, "pubsub.status");
        if status.contains("publisher up, subscriber up") {
            return node;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never reached Redis: {status}"
        );
        std::thread::sleep(support::POLL);
    }
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
    let (_app, app2) = start_cluster(&env);
    web_node_killed_mid_sale(&env, app2, |port| {
        let app2 = env.start("app2", &["--http-port", &port.to_string()]);
        env.connect_to_store(APP2, APP);
        app2
    });
}

/// The same kill with the store on PostgreSQL and PubSub through Redis (no
/// mesh): nobody hears the web node go down, so what it sold reaches the
/// other node's memory by the periodic resync from the database.
#[test]
fn a_web_node_killed_mid_sale_on_postgres_and_redis_keeps_every_acknowledged_purchase() {
    let Some(postgres) = PostgresServer::start("web node killed on PostgreSQL and Redis") else {
        return;
    };
    let Some(redis) = RedisServer::start("web node killed on PostgreSQL and Redis") else {
        return;
    };
    let env = Env::new("checkout-kill-web-pg-redis");
    let args = without_a_mesh(&postgres, &redis);
    let resync = [("INVENTORY_RESYNC_MS", "1000")];
    let _app = start_on_redis(&env, "app", &args, &resync);
    let app2 = start_on_redis(&env, "app2", &args, &resync);
    web_node_killed_mid_sale(&env, app2, |port| {
        let port = port.to_string();
        let args = [&args[..], &["--http-port".to_string(), port]].concat();
        start_on_redis(&env, "app2", &args, &resync)
    });
}

/// Shoppers on `app2`'s web server, which is killed (`kill -9`) after 30
/// answers and started again by `restart` on the same port for the second
/// half; every acknowledged unit is sold in the store, every other sold unit
/// belongs to a cut-off cart, and both nodes' memory ends as the store.
fn web_node_killed_mid_sale(
    env: &Env,
    mut app2: support::NodeProc,
    restart: impl FnOnce(u16) -> support::NodeProc,
) {
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
    let _app2 = restart(web.port());
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

/// PostgreSQL killed (`kill -9`) in the middle of a sale, then started
/// again: the web nodes stay up and answer every shopper — bought, sold out,
/// or 503 with a clear error while the database is away; nothing
/// acknowledged is lost; a sale whose commit lost its connection is the
/// only kind sold without an acknowledgement, and it was answered "may or
/// may not"; once the database is back the pools reconnect by themselves,
/// the rest of the sale goes through, and every node's memory ends as the
/// database.
#[test]
fn a_postgres_restart_mid_sale_keeps_every_acknowledged_purchase() {
    let Some(postgres) = PostgresServer::start("PostgreSQL restarted mid-sale") else {
        return;
    };
    let url = postgres.url();
    let postgres = std::sync::Mutex::new(postgres);
    let env = Env::new("checkout-pg-restart");
    let store = ["--store", &url, "--catalogue", "flash"];
    let app = env.start("app", &store);
    let app2 = env.start("app2", &store);
    env.rpc_ok(APP2, &format!("node.connect {APP}"));
    env.wait_for_peers(APP2, &[APP]);
    env.wait_for_peers(APP, &[APP2]);
    let before = products(&env.rpc_ok(APP, "store.products"));
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);
    let webs = [app.http_address(), app2.http_address()];

    let killed = std::sync::Once::new();
    let first = checkout_all(&carts[..100], &webs, |answered| {
        if answered >= 30 {
            killed.call_once(|| postgres.lock().unwrap().kill());
        }
    });
    let refused: Vec<&Outcome> = first.iter().filter(|o| o.status == Some(503)).collect();
    assert!(!refused.is_empty(), "the kill interrupted the sale");
    for outcome in &first {
        assert!(
            matches!(outcome.status, Some(200) | Some(409) | Some(503)),
            "every shopper is answered while the database is away: {outcome:?}"
        );
    }
    for outcome in &refused {
        assert!(
            outcome.notice.contains("could not be placed right now")
                && outcome.notice.contains("database"),
            "a clear error: {outcome:?}"
        );
    }
    // Pages are served from memory meanwhile.
    assert_eq!(app.get("/").status, 200);

    postgres.lock().unwrap().restart();
    for node in [APP, APP2] {
        wait_until_store_answers(&env, node);
    }
    let second = checkout_all(&carts[100..], &webs, |_| {});
    for outcome in &second {
        assert!(
            matches!(outcome.status, Some(200) | Some(409)),
            "the pools reconnected: {outcome:?}"
        );
    }

    let outcomes: Vec<Outcome> = first.into_iter().chain(second).collect();
    let bought = bought_once(&outcomes);
    let stored = products(&env.rpc_ok(APP, "store.products"));
    let sold = sold_since(&before, &stored, &on_sale);
    assert!(
        bought.is_subset(&sold),
        "every acknowledged unit is sold in the database"
    );
    let maybe = maybe_placed_items(&outcomes);
    for item in sold.difference(&bought) {
        assert!(
            maybe.contains(item),
            "item {item} sold to nobody who was acknowledged or told \"may or may not\""
        );
    }
    env.wait_for_products(APP, &stored);
    env.wait_for_products(APP2, &stored);
}

/// Waits until `node` reaches the store again (`store.status` succeeds).
fn wait_until_store_answers(env: &Env, node: &str) {
    let deadline = std::time::Instant::now() + SOON;
    loop {
        let run = env.rpc(node, "store.status");
        if run.code == Some(0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{node} never reached the store again: {run:?}"
        );
        std::thread::sleep(support::POLL);
    }
}

/// A commit whose connection is lost: PostgreSQL applied the purchase, but
/// the node never heard. The shopper is told it may or may not have been
/// placed (the same form sent again from the same browser is then shown as
/// placed and sells nothing more: `checkout_page_test.rs`), and both nodes'
/// memory catches up with the sale nobody announced.
#[test]
fn a_purchase_whose_commit_lost_its_connection_is_answered_maybe_and_reconciled() {
    let Some(postgres) = PostgresServer::start("a commit cut from its connection") else {
        return;
    };
    let cutter = CommitCutter::start(postgres.address());
    let env = Env::new("checkout-commit-cut");
    let (direct, cut) = (postgres.url(), cutter.url(&postgres.url()));
    let app = env.start("app", &["--store", &cut, "--catalogue", "flash"]);
    let _app2 = env.start("app2", &["--store", &direct, "--catalogue", "flash"]);
    env.rpc_ok(APP2, &format!("node.connect {APP}"));
    env.wait_for_peers(APP, &[APP2]);
    let before = products(&env.rpc_ok(APP2, "store.products"));
    let on_sale = units_on_sale(&before);
    let cart = &carts(&on_sale, 1)[..1];

    cutter.arm();
    let first = checkout_all(cart, &[app.http_address()], |_| {});
    assert_eq!(cutter.cut(), 1, "the purchase's COMMIT was cut");
    assert!(
        first[0].maybe_placed(),
        "told it may or may not: {:?}",
        first[0]
    );
    let stored = products(&env.rpc_ok(APP2, "store.products"));
    let sold = sold_since(&before, &stored, &on_sale);
    assert_eq!(
        sold,
        cart[0].items.iter().copied().collect(),
        "the database applied it"
    );
    env.wait_for_products(APP, &stored);
    env.wait_for_products(APP2, &stored);
}
