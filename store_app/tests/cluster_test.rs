//! The store on a cluster of real OS processes (book chapter 7): `app` owns
//! the database and serves the page, `back` has neither and is where products
//! are released and mock shoppers run, `app2` is a second web node. Nodes are
//! `sneakers23 start` processes driven with `sneakers23 rpc`, as in
//! `scripts/demo.sh`; see `support/` for isolation and clean-up.

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use runtime::testkit::run_bounded;
use serde_json::{json, Value};
use support::{open_page, products, set_units, tokio_rt, units, Env, SOON};

const APP: &str = "app@127.0.0.1";
const APP2: &str = "app2@127.0.0.1";
const BACK: &str = "back@127.0.0.1";

#[test]
fn a_release_on_back_reaches_the_pages_and_memory_of_app() {
    let env = Env::new("release");
    let app = env.start_owner("app");
    let _back = env.start("back", &["--no-http"]);
    env.connect_to_store(BACK, APP);
    let before = products(&env.rpc_ok(APP, "inventory.products"));
    assert!(!before[&2].released, "product 2 is coming soon at first");
    let page = app.get("/");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(support::product_listing(&page.body, 2).contains("Coming soon"));

    let rt = tokio_rt();
    let mut on_app = open_page(&rt, &app, &[2], &["released"]);
    let out = env.rpc_ok(BACK, "inventory.release 2");
    assert_eq!(out.trim(), "released 2 Court Classic (10 sizes)");

    let released = on_app.next(&rt, 0).expect("`released` reaches app's page");
    let size_html = released["size_html"].as_str().expect("size_html is text");
    assert!(size_html.contains("size-container__entry"), "{size_html}");
    assert!(size_html.contains(r#"data-sizes-for="2""#), "{size_html}");

    // app's memory was replicated: its page and its console show the release.
    let mut expected = before.clone();
    expected.get_mut(&2).unwrap().released = true;
    env.wait_for_products(APP, &expected);
    let page = app.get("/");
    assert_eq!(page.status, 200, "{}", page.body);
    let listing = support::product_listing(&page.body, 2);
    assert!(!listing.contains("Coming soon"), "{listing}");
    for (item_id, (size, _)) in &expected[&2].items {
        assert!(
            listing.contains(&format!(r#"value="{item_id}""#)),
            "{listing}"
        );
        assert!(
            listing.contains(&format!(
                r#"<span class="size-container__size">{size}</span>"#
            )),
            "{listing}"
        );
    }
    // The store agrees.
    assert!(env
        .rpc_ok(APP, "store.status")
        .contains("4 products (2 released)"));
}

#[test]
fn mock_shoppers_on_back_sell_everything_and_both_nodes_and_the_pages_see_it() {
    let env = Env::new("sellout");
    let app = env.start_owner("app");
    let mut back = env.start("back", &["--no-http"]);
    env.connect_to_store(BACK, APP);
    let initial = products(&env.rpc_ok(BACK, "inventory.products"));
    assert_eq!(initial.len(), 4);

    let rt = tokio_rt();
    let ids: Vec<u64> = initial.keys().copied().collect();
    let mut on_app = open_page(&rt, &app, &ids, &["stock_change"]);
    for id in &ids {
        if !initial[id].released {
            env.rpc_ok(BACK, &format!("inventory.release {id}"));
        }
    }
    let out = env.rpc_ok(BACK, "mock.sell_random_until_gone 0");
    assert!(out.starts_with("mock shoppers started"), "{out}");

    // Done when the store and back's memory hold nothing.
    let status = env.rpc_until(BACK, "store.status", |s| {
        s.contains("4 released), 40 items, 0 units")
            && s.contains("memory: 4 products (4 released), 0 units")
    });
    assert!(status.starts_with("store on app@127.0.0.1"), "{status}");
    let mut sold_out = initial.clone();
    for product in sold_out.values_mut() {
        product.released = true;
        for entry in product.items.values_mut() {
            entry.1 = 0;
        }
    }
    env.wait_for_products(BACK, &sold_out);
    env.wait_for_products(APP, &sold_out);

    // Every size that had stock went out on app's page, its level only ever
    // going down on the way.
    let rank = |level: &str| match level {
        "out" => 0,
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        other => panic!("unknown level {other:?}"),
    };
    let deadline = Instant::now() + SOON;
    for (index, id) in ids.iter().enumerate() {
        let mut waiting: BTreeMap<u64, u32> = initial[id]
            .items
            .iter()
            .filter(|(_, (_, count))| *count > 0)
            .map(|(item, (_, count))| (*item, *count))
            .collect();
        let mut last: BTreeMap<u64, String> = BTreeMap::new();
        while !waiting.is_empty() {
            let Some(change) = on_app.next_until(&rt, index, deadline) else {
                panic!(
                    "product {id}: no `out` for {waiting:?} on app's page; last levels: {last:?}"
                )
            };
            assert_eq!(change["product_id"], json!(id), "{change}");
            let item = change["item_id"].as_u64().expect("item_id");
            let level = change["level"].as_str().expect("level").to_string();
            if let Some(previous) = last.get(&item) {
                assert!(
                    rank(&level) <= rank(previous),
                    "item {item} went from {previous} up to {level}"
                );
            }
            if level == "out" {
                waiting.remove(&item);
            }
            last.insert(item, level);
        }
        assert!(
            last.keys().all(|item| units(&initial, *item) > 0),
            "a size sold out from the start changed: {last:?}"
        );
    }
    // The shoppers sold every unit once, and stopped by themselves.
    let total: u32 = initial
        .values()
        .flat_map(|p| p.items.values())
        .map(|(_, count)| count)
        .sum();
    let done = back.wait_for(
        |l| l.contains("mock shoppers: everything released is gone"),
        SOON,
    );
    assert!(done.ends_with(&format!("sold={total}")), "{done}");
    assert_eq!(
        env.rpc_ok(BACK, "mock.stop").trim(),
        "no mock shoppers were running"
    );
}

#[test]
fn after_a_kill_9_of_the_owner_back_reads_from_memory_refuses_writes_then_rejoins_it() {
    let env = Env::new("kill9");
    let mut app = env.start_owner("app");
    let mut back = env.start("back", &["--no-http"]);
    env.connect_to_store(BACK, APP);
    let reloaded = |l: &str| l.contains("store reachable: inventory reloaded");
    back.wait_for_count(reloaded, 1, SOON);
    let mut expected = products(&env.rpc_ok(BACK, "inventory.products"));

    // Acknowledged writes, from both nodes.
    for _ in 0..3 {
        env.rpc_ok(BACK, "inventory.sell 2");
    }
    assert_eq!(
        env.rpc_ok(BACK, "inventory.sell 4").trim(),
        "sold item 4: 1 -> 0 left"
    );
    env.rpc_ok(BACK, "inventory.release 3");
    env.rpc_ok(APP, "inventory.sell 5");
    let (two, five) = (units(&expected, 2), units(&expected, 5));
    set_units(&mut expected, 2, two - 3);
    set_units(&mut expected, 4, 0);
    set_units(&mut expected, 5, five - 1);
    expected.get_mut(&3).unwrap().released = true;
    env.wait_for_products(BACK, &expected);
    env.wait_for_products(APP, &expected);
    assert_eq!(
        products(&env.rpc_ok(BACK, "store.products")),
        expected,
        "the store itself, read over the cluster, holds what was acknowledged"
    );

    app.kill();
    env.rpc_until(BACK, "store.status", |s| {
        s.starts_with("store: no store is reachable")
    });
    let sale = env.rpc(BACK, "inventory.sell 2");
    assert_eq!(sale.code, Some(1), "{sale:?}");
    assert!(
        sale.stderr.contains("no store is reachable"),
        "a clear reason: {sale:?}"
    );
    // Reads are served from memory, unchanged by the refused sale.
    assert_eq!(products(&env.rpc_ok(BACK, "inventory.products")), expected);
    let store = env.rpc(BACK, "store.products");
    assert!(
        store.code == Some(1) && store.stderr.contains("no store is reachable"),
        "{store:?}"
    );

    // The owner comes back on the same data; back rejoins it by itself (no
    // node.connect typed) and reloads from it.
    let app = env.start_owner("app");
    assert_eq!(
        products(&env.rpc_ok(APP, "inventory.products")),
        expected,
        "the restarted owner holds exactly what was acknowledged"
    );
    back.wait_for_count(reloaded, 2, SOON);
    env.wait_for_store(BACK, APP);
    env.wait_for_products(BACK, &expected);
    assert_eq!(products(&env.rpc_ok(BACK, "store.products")), expected);
    let page = app.get("/");
    assert_eq!(page.status, 200);
    assert!(!support::product_listing(&page.body, 3).contains("Coming soon"));

    // Writes from back work again.
    let left = units(&expected, 2);
    assert_eq!(
        env.rpc_ok(BACK, "inventory.sell 2").trim(),
        format!("sold item 2: {left} -> {} left", left - 1)
    );
}

#[test]
fn starting_a_running_node_or_its_store_twice_changes_nothing() {
    let env = Env::new("twice");
    let app = env.start_owner("app");
    env.rpc_ok(APP, "inventory.sell 2");
    let memory = env.rpc_ok(APP, "inventory.products");
    let store = env.rpc_ok(APP, "store.status");
    let page = app.get("/").body;
    let data = env.data_dir();
    let data = data.to_str().unwrap();

    let same_name = run_bounded(env.start_command("app", &["--data-dir", data]), None, SOON);
    assert_ne!(same_name.code, Some(0), "{same_name:?}");
    assert!(
        same_name
            .output()
            .contains("the name app@127.0.0.1 is already in use"),
        "{same_name:?}"
    );

    let same_store = run_bounded(
        env.start_command("other", &["--data-dir", data]),
        None,
        SOON,
    );
    assert_ne!(same_store.code, Some(0), "{same_store:?}");
    let output = same_store.output();
    assert!(
        output.contains(&format!("cannot open the store at {data}"))
            && output.contains("is another node already using it?"),
        "{same_store:?}"
    );
    // The refused node left nothing registered behind.
    assert_eq!(env.rpc("other@127.0.0.1", "node.self").code, Some(2));

    // The running node still answers, serves, and holds the same data.
    assert_eq!(env.rpc_ok(APP, "node.self").trim(), APP);
    assert_eq!(env.rpc_ok(APP, "inventory.products"), memory);
    let before = store.split(" units").next().unwrap();
    let after = env.rpc_ok(APP, "store.status");
    assert_eq!(after.split(" units").next().unwrap(), before);
    let now = app.get("/");
    assert_eq!(now.status, 200);
    assert_eq!(
        support::page::shared_page(&now.body),
        support::page::shared_page(&page)
    );
    assert!(env
        .rpc_ok(APP, "inventory.sell 2")
        .starts_with("sold item 2: "));
}

#[test]
fn a_sale_on_back_updates_a_page_on_the_second_web_node() {
    let env = Env::new("app2");
    let _app = env.start_owner("app");
    let app2 = env.start("app2", &[]);
    let _back = env.start("back", &["--no-http"]);
    env.connect_to_store(BACK, APP);
    env.connect_to_store(APP2, APP);
    env.wait_for_peers(BACK, &[APP, APP2]);
    let initial = products(&env.rpc_ok(APP2, "inventory.products"));
    assert_eq!(units(&initial, 4), 1, "the demo's size 7.5 of product 1");

    let rt = tokio_rt();
    let mut on_app2 = open_page(&rt, &app2, &[1], &["stock_change"]);
    env.rpc_ok(BACK, "inventory.sell 4");
    let change: Value = on_app2
        .next(&rt, 0)
        .expect("`stock_change` reaches app2's page");
    assert_eq!(
        change,
        json!({"product_id": 1, "item_id": 4, "level": "out"})
    );
    let mut expected = initial;
    set_units(&mut expected, 4, 0);
    env.wait_for_products(APP2, &expected);
    let listing = app2.get("/").body;
    assert!(
        support::product_listing(&listing, 1).contains(r#"value="4" data-level="out""#),
        "{listing}"
    );
}
