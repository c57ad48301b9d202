//! Faults in the middle of a checkout race, every node its own OS process:
//! a node frozen (`SIGSTOP`) for longer than the cluster's heartbeat timeout
//! (12 s, `runtime::node::HeartbeatConfig`) and then continued; a network
//! partition between the store's node and a web node (network namespaces);
//! the store's data directory full, or turned read-only.
//!
//! Whatever happens: every acknowledged purchase (200) is in the store,
//! nothing is sold twice, no stock goes below zero, the units sold are the
//! units that left the store, every shopper gets an answer (200, 409 or 503)
//! within a bound, and once the fault is gone the cluster converges by
//! itself — peers reconnect, every node's memory equals the store. A unit
//! sold without an acknowledgement belongs to a shopper told that the order
//! may or may not have gone through.
//!
//! The partition and disk tests need root (namespaces, mounts): without it
//! they print SKIPPED and pass, unless `FAULT_TESTS=required` (CI).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Instant;

use support::checkout_race::{
    bought_once, carts, checkout_all, checkout_with, first_sizes, maybe_placed_items, refusals,
    signal, sold_since, tally, total_units, units_on_sale, Cart, Outcome, UNITS,
};
use support::faults::{or_skip, wait_until, Mount, Netns};
use support::{products, Env, NodeProc, Products, SOON};

const APP: &str = "app@127.0.0.1";
const APP2: &str = "app2@127.0.0.1";

/// The store's node `app` (it serves pages too) on `catalogue`, and the web
/// node `app2`, connected.
fn start_cluster(env: &Env, catalogue: &str) -> (NodeProc, NodeProc) {
    let app = start_owner(env, catalogue);
    let app2 = env.start("app2", &[]);
    env.connect_to_store(APP2, APP);
    (app, app2)
}

fn start_owner(env: &Env, catalogue: &str) -> NodeProc {
    let data = env.data_dir();
    env.start(
        "app",
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--catalogue",
            catalogue,
        ],
    )
}

/// What the store itself holds, asked on `node`.
fn stored(env: &Env, node: &str) -> Products {
    products(&env.rpc_ok(node, "store.products"))
}

/// Whether `node.list`'s output lists `node`.
fn lists(out: &str, node: &str) -> bool {
    out.lines().any(|l| l.trim() == node)
}

/// Purchases `node` counted (`checkout.stats`).
fn purchases_counted(env: &Env, node: &str) -> usize {
    let out = env.rpc_ok(node, "checkout.stats");
    out.split("purchases ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no purchases in {out:?}"))
}

/// `POST /checkout` of `cart` on `node`, as one more shopper.
fn checkout_one(node: &NodeProc, cart: &Cart) -> Outcome {
    checkout_with(
        1,
        std::slice::from_ref(cart),
        &[node.http_address()],
        |_| {},
    )
    .remove(0)
}

/// The flash sale's promises once the fault is gone (`console_sold`: units
/// sold at a console meanwhile): every shopper answered 200, 409 or 503;
/// every acknowledged unit sold, once; every other unit sold belongs to a
/// shopper told the order may or may not have gone through; stock only fell,
/// one unit per unit sold. Returns the units acknowledged and sold.
fn check_flash_sale(
    before: &Products,
    stored: &Products,
    on_sale: &[(u64, u64)],
    outcomes: &[Outcome],
    console_sold: &[u64],
) -> (BTreeSet<u64>, BTreeSet<u64>) {
    for outcome in outcomes {
        assert!(
            matches!(outcome.status, Some(200 | 409 | 503)),
            "every shopper is answered within {SOON:?}: bought, sold out, or the store unavailable: {outcome:?}"
        );
    }
    let bought = bought_once(outcomes);
    let mut sellable = on_sale.to_vec();
    sellable.extend(console_sold.iter().map(|&item| (item, 0)));
    let sold = sold_since(before, stored, &sellable);
    assert!(
        bought.is_subset(&sold),
        "acknowledged but not in the store: {:?}",
        bought.difference(&sold).collect::<Vec<_>>()
    );
    for item in console_sold {
        assert!(
            sold.contains(item),
            "item {item}, sold at the console, is sold"
        );
    }
    let maybe = maybe_placed_items(outcomes);
    for item in sold.difference(&bought) {
        if console_sold.contains(item) {
            continue;
        }
        assert!(
            maybe.contains(item),
            "item {item} was sold, but every shopper who asked for it was told it was not: {:?}",
            outcomes
                .iter()
                .filter(|o| o.items.contains(item))
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(
        total_units(before) - total_units(stored),
        sold.len() as u64,
        "the units that left the store are the units sold"
    );
    (bought, sold)
}

#[test]
fn a_web_node_frozen_past_the_heartbeat_timeout_is_dropped_then_rejoins_losing_no_purchase() {
    let started = Instant::now();
    let env = Env::new("freeze-web");
    let (app, app2) = start_cluster(&env, "flash");
    let before = stored(&env, APP);
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);
    // The first half: each web node its own shoppers (those of a frozen node
    // wait for it; the others go on), app2 frozen after 15 answers.
    let for_app: Vec<Cart> = carts[..100].iter().step_by(2).cloned().collect();
    let for_app2: Vec<Cart> = carts[1..100].iter().step_by(2).cloned().collect();
    let (app_web, app2_web) = (app.http_address(), app2.http_address());
    let frozen_at = Mutex::new(None::<Instant>);
    let pid = app2.pid();
    let (on_app, on_app2, dropped_after, continued) = std::thread::scope(|scope| {
        let race_app = scope.spawn(|| checkout_with(8, &for_app, &[app_web], |_| {}));
        let race_app2 = scope.spawn(|| {
            checkout_with(8, &for_app2, &[app2_web], |answered| {
                if answered == 15 {
                    signal(pid, "STOP");
                    *frozen_at.lock().unwrap() = Some(Instant::now());
                }
            })
        });
        wait_until("app2 frozen", || frozen_at.lock().unwrap().is_some());
        // The store's node hears nothing from app2 and drops it.
        env.rpc_until(APP, "node.list", |out| !lists(out, APP2));
        let dropped_after = frozen_at.lock().unwrap().unwrap().elapsed();
        // The rest of the cluster sells on meanwhile.
        assert_eq!(app.get("/health").status, 200);
        signal(pid, "CONT");
        let continued = Instant::now();
        (
            race_app.join().unwrap(),
            race_app2.join().unwrap(),
            dropped_after,
            continued,
        )
    });
    // app2 finds itself dropped, reconnects by itself and reloads.
    env.wait_for_peers(APP, &[APP2]);
    env.wait_for_peers(APP2, &[APP]);
    env.wait_for_store(APP2, APP);
    let rejoined_after = continued.elapsed();
    let second = checkout_all(
        &carts[100..],
        &[app.http_address(), app2.http_address()],
        |_| {},
    );
    eprintln!(
        "app2 frozen after 15 of its answers; dropped by app {dropped_after:.1?} later; rejoined {rejoined_after:.1?} after SIGCONT; \
         answers: app {:?}, frozen app2 {:?}, after {:?}",
        tally(&on_app),
        tally(&on_app2),
        tally(&second)
    );
    assert!(
        on_app2.iter().any(|o| o.at > continued),
        "app2's shoppers were held by the freeze and answered after it"
    );

    let outcomes: Vec<Outcome> = on_app.into_iter().chain(on_app2).chain(second).collect();
    eprintln!("503s by reason: {:#?}", refusals(&outcomes));
    let stored = stored(&env, APP);
    let (bought, _) = check_flash_sale(&before, &stored, &on_sale, &outcomes, &[]);
    eprintln!(
        "acknowledged units {}, sold units {}",
        bought.len(),
        total_units(&before) - total_units(&stored)
    );
    env.wait_for_products(APP, &stored);
    env.wait_for_products(APP2, &stored);
    let acknowledged = outcomes.iter().filter(|o| o.status == Some(200)).count();
    assert_eq!(
        purchases_counted(&env, APP) + purchases_counted(&env, APP2),
        acknowledged,
        "each node counted the purchases it acknowledged"
    );
    eprintln!("test took {:.1?}", started.elapsed());
}

#[test]
fn a_store_owner_frozen_past_the_heartbeat_timeout_comes_back_with_every_acknowledged_purchase() {
    let started = Instant::now();
    let env = Env::new("freeze-owner");
    let (app, app2) = start_cluster(&env, "flash");
    let before = stored(&env, APP);
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);
    let web = app2.http_address();
    // Not in the race: sold at app2's console while the store is away.
    let other_item = *before[&1].items.keys().nth(1).unwrap();

    let frozen_at = Mutex::new(None::<Instant>);
    let pid = app.pid();
    let (first, dropped_after, continued) = std::thread::scope(|scope| {
        let race = scope.spawn(|| {
            checkout_all(&carts[..100], &[web], |answered| {
                if answered == 30 {
                    signal(pid, "STOP");
                    *frozen_at.lock().unwrap() = Some(Instant::now());
                }
            })
        });
        wait_until("app frozen", || frozen_at.lock().unwrap().is_some());
        // The web node hears nothing from the store's node and drops it.
        env.rpc_until(APP2, "node.list", |out| !lists(out, APP));
        let dropped_after = frozen_at.lock().unwrap().unwrap().elapsed();
        // Reads go on from memory; writes are refused, saying why.
        assert_eq!(app2.get("/").status, 200, "the store page is served");
        assert_eq!(app2.get("/health").status, 200);
        env.rpc_ok(APP2, "inventory.products");
        let refused = env.rpc(APP2, &format!("inventory.sell {other_item}"));
        assert!(
            refused.code != Some(0) && refused.stderr.contains("no store is reachable"),
            "a console sale says the store is away: {refused:?}"
        );
        let probe = checkout_one(&app2, &carts[100]);
        assert!(
            probe.status == Some(503) && probe.notice.contains("no store is reachable"),
            "a checkout is refused at once, saying the store is away: {probe:?}"
        );
        signal(pid, "CONT");
        let continued = Instant::now();
        let mut first = race.join().unwrap();
        first.push(probe);
        (first, dropped_after, continued)
    });
    // The web node reconnects to the store's node by itself.
    env.wait_for_peers(APP2, &[APP]);
    env.wait_for_peers(APP, &[APP2]);
    env.wait_for_store(APP2, APP);
    let rejoined_after = continued.elapsed();
    let second = checkout_all(&carts[100..], &[web], |_| {});
    eprintln!(
        "app frozen after 30 answers; dropped by app2 {dropped_after:.1?} later; rejoined {rejoined_after:.1?} after SIGCONT; \
         answers: first half {:?}, second half {:?}",
        tally(&first),
        tally(&second)
    );
    assert!(
        first.iter().any(|o| o.status == Some(503)),
        "the freeze was felt: {:?}",
        tally(&first)
    );
    let outcomes: Vec<Outcome> = first.into_iter().chain(second).collect();
    eprintln!("503s by reason: {:#?}", refusals(&outcomes));
    let stored = stored(&env, APP);
    let (bought, sold) = check_flash_sale(&before, &stored, &on_sale, &outcomes, &[]);
    eprintln!(
        "acknowledged units {}, sold units {}; 503s that said 'may or may not': {}",
        bought.len(),
        sold.len(),
        outcomes.iter().filter(|o| o.maybe_placed()).count()
    );
    env.wait_for_products(APP2, &stored);
    env.wait_for_products(APP, &stored);
    eprintln!("test took {:.1?}", started.elapsed());
}

#[test]
fn a_network_partition_between_the_store_and_a_web_node_is_detected_and_heals_by_itself() {
    let started = Instant::now();
    let Some(net) = or_skip(
        "a_network_partition_between_the_store_and_a_web_node_is_detected_and_heals_by_itself",
        Netns::create(),
    ) else {
        return;
    };
    let env = Env::new("partition");
    // The store's node inside the namespace (no web server), the web node
    // outside; their link is the veth pair.
    let owner = format!("app@{}", net.inner_ip);
    let web_name = format!("web@{}", net.root_ip);
    let data = env.data_dir();
    let _app = env.start_named(
        &owner,
        &[
            "--no-http",
            "--data-dir",
            data.to_str().unwrap(),
            "--catalogue",
            "flash",
        ],
        Some(&net),
    );
    let mut web = env.start_named(&web_name, &[], None);
    env.connect_to_store(&web_name, &owner);
    let before = stored(&env, &owner);
    let on_sale = units_on_sale(&before);
    let carts = carts(&on_sale, 200);
    // Sold at the store's console while the web node is cut off (second
    // sizes, not in the race).
    let console_sold: Vec<u64> = before
        .values()
        .take(3)
        .map(|p| *p.items.keys().nth(1).unwrap())
        .collect();

    let web_address = web.http_address();
    let cut_at = Mutex::new(None::<Instant>);
    let (first, web_saw, owner_saw) = std::thread::scope(|scope| {
        let race = scope.spawn(|| {
            checkout_all(&carts[..100], &[web_address], |answered| {
                if answered == 30 {
                    net.cut();
                    *cut_at.lock().unwrap() = Some(Instant::now());
                }
            })
        });
        wait_until("the link cut", || cut_at.lock().unwrap().is_some());
        let cut = cut_at.lock().unwrap().unwrap();
        // Both sides see the other go down (the heartbeat: TCP does not tell).
        env.rpc_until(&web_name, "node.list", |out| !lists(out, &owner));
        let web_saw = cut.elapsed();
        env.rpc_until(&owner, "node.list", |out| !lists(out, &web_name));
        let owner_saw = cut.elapsed();
        // Each side goes on alone: the store's side sells; the web node
        // serves its pages from memory and refuses checkouts at once.
        for item in &console_sold {
            let out = env.rpc_ok(&owner, &format!("inventory.sell {item}"));
            assert!(
                out.starts_with(&format!("sold item {item}: 1 -> 0")),
                "{out}"
            );
        }
        assert_eq!(web.get("/").status, 200, "the store page is served");
        assert_eq!(web.get("/health").status, 200);
        let probe = checkout_one(&web, &carts[100]);
        assert!(
            probe.status == Some(503) && probe.notice.contains("no store is reachable"),
            "a checkout on the cut-off node is refused at once, saying the store is away: {probe:?}"
        );
        let mut first = race.join().unwrap();
        first.push(probe);
        (first, web_saw, owner_saw)
    });
    let why = web.wait_for(|l| l.contains("declaring the node down"), SOON);
    assert!(
        why.contains(&owner) && why.contains("no heartbeat"),
        "the web node's log says why it dropped the store's node: {why}"
    );

    net.heal();
    let healed = Instant::now();
    env.wait_for_peers(&web_name, &[&owner]);
    env.wait_for_peers(&owner, &[&web_name]);
    env.wait_for_store(&web_name, &owner);
    let rejoined_after = healed.elapsed();
    let second = checkout_all(&carts[100..], &[web.http_address()], |_| {});
    eprintln!(
        "cut after 30 answers; node-down seen by the web node {web_saw:.1?} later, by the store's node {owner_saw:.1?}; \
         reconnected {rejoined_after:.1?} after the link came back; answers: first half {:?}, second half {:?}",
        tally(&first),
        tally(&second)
    );
    assert!(
        first.iter().any(|o| o.status == Some(503)),
        "the cut was felt: {:?}",
        tally(&first)
    );
    let outcomes: Vec<Outcome> = first.into_iter().chain(second).collect();
    eprintln!("503s by reason: {:#?}", refusals(&outcomes));
    let stored = stored(&env, &owner);
    let (bought, sold) = check_flash_sale(&before, &stored, &on_sale, &outcomes, &console_sold);
    eprintln!(
        "acknowledged units {}, sold units {} ({} at the console)",
        bought.len(),
        sold.len(),
        console_sold.len()
    );
    env.wait_for_products(&web_name, &stored);
    env.wait_for_products(&owner, &stored);
    eprintln!("test took {:.1?}", started.elapsed());
}

/// Units bought per item: by the purchases acknowledged (200), or else by
/// those answered that they may or may not have gone through.
fn units_by_item(outcomes: &[Outcome], acknowledged: bool) -> BTreeMap<u64, u64> {
    let mut units = BTreeMap::new();
    for outcome in outcomes {
        let counts = if acknowledged {
            outcome.status == Some(200)
        } else {
            outcome.maybe_placed()
        };
        if counts {
            for &item in &outcome.items {
                *units.entry(item).or_insert(0) += 1;
            }
        }
    }
    units
}

/// The stocked sale's promises once the disk is back: every shopper was
/// answered 200 or 503; for every item, the units that left the store are at
/// least those acknowledged, and at most those plus the units of shoppers
/// told the order may or may not have gone through; nothing else changed.
fn check_stocked_sale(before: &Products, stored: &Products, outcomes: &[Outcome]) -> u64 {
    for outcome in outcomes {
        assert!(
            matches!(outcome.status, Some(200 | 503)),
            "every shopper is answered within {SOON:?}: bought or refused: {outcome:?}"
        );
    }
    let acknowledged = units_by_item(outcomes, true);
    let maybe = units_by_item(outcomes, false);
    let mut left_store = 0;
    for (product, line) in stored {
        for (item, (_, units)) in &line.items {
            let was = before[product].items[item].1;
            assert!(
                *units <= was,
                "item {item}: stock rose from {was} to {units}"
            );
            let gone = u64::from(was - units);
            let (sure, unsure) = (
                acknowledged.get(item).copied().unwrap_or(0),
                maybe.get(item).copied().unwrap_or(0),
            );
            assert!(
                gone >= sure,
                "item {item}: {sure} units acknowledged, {gone} left the store; its purchases: {:#?}",
                outcomes
                    .iter()
                    .filter(|o| o.items.contains(item))
                    .collect::<Vec<_>>()
            );
            assert!(
                gone <= sure + unsure,
                "item {item}: {gone} units left the store, {sure} acknowledged and {unsure} perhaps sold"
            );
            left_store += gone;
        }
    }
    left_store
}

/// The disk tests' race, over the first sizes of 50 products of the stocked
/// catalogue (every purchase a write): `fault` runs after 40 answers.
fn stocked_race(
    app: &NodeProc,
    app2: &NodeProc,
    before: &Products,
    fault: impl Fn() + Sync,
) -> Vec<Outcome> {
    let carts = carts(&first_sizes(before, UNITS), 200);
    checkout_all(
        &carts,
        &[app.http_address(), app2.http_address()],
        |answered| {
            if answered == 40 {
                fault();
            }
        },
    )
}

/// What both disk tests check while the store cannot write: shoppers and
/// the console are told why (one of `reasons`, the OS's words), reads are
/// served, the node is alive.
fn check_refusing_writes(
    env: &Env,
    app: &NodeProc,
    app2: &NodeProc,
    outcomes: &[Outcome],
    reasons: &[&str],
) {
    let says_why = |text: &str| {
        reasons
            .iter()
            .any(|r| text.contains(&format!("disk failed ({r}")))
    };
    assert!(
        outcomes.iter().any(|o| o.status == Some(200)),
        "purchases went through before the fault: {:?}",
        tally(outcomes)
    );
    let refused: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == Some(503)).collect();
    assert!(
        !refused.is_empty(),
        "the fault was felt: {:?}",
        tally(outcomes)
    );
    for outcome in &refused {
        assert!(
            says_why(&outcome.notice),
            "a refused shopper is told why ({reasons:?}): {outcome:?}"
        );
    }
    let item = first_sizes(&stored(env, APP), 1)[0].0;
    for (node, command) in [
        (APP, format!("inventory.sell {item}")),
        (APP2, format!("inventory.sell {item}")),
        (APP, "inventory.release 1".to_string()),
        (APP2, "inventory.release 2".to_string()),
    ] {
        let run = env.rpc(node, &command);
        assert!(
            run.code != Some(0)
                && says_why(&run.stderr)
                && run.stderr.contains("nothing was written"),
            "`{command}` at {node}'s console is refused, saying why ({reasons:?}): {run:?}"
        );
    }
    // Reads are served, by both nodes.
    for node in [app, app2] {
        assert_eq!(node.get("/").status, 200, "the store page is served");
        assert_eq!(node.get("/health").status, 200);
    }
    products(&env.rpc_ok(APP, "inventory.products"));
    products(&env.rpc_ok(APP2, "inventory.products"));
    let status = env.rpc_ok(APP2, "store.status");
    assert!(status.starts_with("store on app@127.0.0.1"), "{status}");
}

/// Stops the store's node cleanly (as an operator would), for a restart.
fn stop(env: &Env, node: &mut NodeProc) {
    let run = env.client(&["stop", node.name()], |_| {}, "");
    assert_eq!(run.code, Some(0), "stop: {run:?}");
    node.wait_exit(SOON);
}

#[test]
fn a_full_disk_refuses_writes_with_a_clear_error_serves_reads_and_loses_nothing_acknowledged() {
    let started = Instant::now();
    let env = Env::new("disk-full");
    let Some(disk) = or_skip(
        "a_full_disk_refuses_writes_with_a_clear_error_serves_reads_and_loses_nothing_acknowledged",
        Mount::tmpfs(&env.data_dir(), "8m"),
    ) else {
        return;
    };
    let (mut app, app2) = start_cluster(&env, "stocked");
    let before = stored(&env, APP);
    let filled = Mutex::new(0);
    let outcomes = stocked_race(&app, &app2, &before, || {
        *filled.lock().unwrap() = disk.fill();
    });
    eprintln!(
        "filled with {} bytes after 40 answers; answers {:?}",
        filled.lock().unwrap(),
        tally(&outcomes)
    );
    eprintln!("503s by reason: {:#?}", refusals(&outcomes));
    check_refusing_writes(&env, &app, &app2, &outcomes, &["No space left on device"]);

    // Space back: writes stay refused until the store's node restarts (a
    // failed sync may have dropped pages that a later one would not
    // report), and the refusal says so.
    disk.free();
    let run = env.rpc(APP, "inventory.release 1");
    assert!(
        run.code != Some(0) && run.stderr.contains("restart the store's node"),
        "{run:?}"
    );
    // A restart on the same data: nothing acknowledged is lost.
    stop(&env, &mut app);
    let _app = start_owner(&env, "stocked");
    env.wait_for_store(APP2, APP);
    let stored = stored(&env, APP);
    let left_store = check_stocked_sale(&before, &stored, &outcomes);
    eprintln!(
        "units acknowledged {}, units that left the store {left_store}",
        units_by_item(&outcomes, true).values().sum::<u64>()
    );
    env.wait_for_products(APP, &stored);
    env.wait_for_products(APP2, &stored);
    // And the store sells again.
    let item = first_sizes(&stored, 1)[0].0;
    env.rpc_ok(APP2, &format!("inventory.sell {item}"));
    eprintln!("test took {:.1?}", started.elapsed());
}

#[test]
fn a_data_dir_turned_read_only_refuses_writes_with_a_clear_error_serves_reads_and_loses_nothing_acknowledged(
) {
    let started = Instant::now();
    let env = Env::new("disk-ro");
    let image = env.dirs().root().join("data.ext4");
    let Some(disk) = or_skip(
        "a_data_dir_turned_read_only_refuses_writes_with_a_clear_error_serves_reads_and_loses_nothing_acknowledged",
        Mount::ext4(&env.data_dir(), &image, 32),
    ) else {
        return;
    };
    let (mut app, app2) = start_cluster(&env, "stocked");
    let before = stored(&env, APP);
    let outcomes = stocked_race(&app, &app2, &before, || disk.fail_read_only());
    eprintln!("read-only after 40 answers; answers {:?}", tally(&outcomes));
    eprintln!("503s by reason: {:#?}", refusals(&outcomes));
    // Writes fail as the file system went read-only (EROFS), or as a write
    // in flight failed (EIO).
    check_refusing_writes(
        &env,
        &app,
        &app2,
        &outcomes,
        &["Read-only file system", "Input/output error"],
    );

    // The disk repaired, then a restart on the same data.
    stop(&env, &mut app);
    disk.repair();
    let _app = start_owner(&env, "stocked");
    env.wait_for_store(APP2, APP);
    let stored = stored(&env, APP);
    let left_store = check_stocked_sale(&before, &stored, &outcomes);
    eprintln!(
        "units acknowledged {}, units that left the store {left_store}",
        units_by_item(&outcomes, true).values().sum::<u64>()
    );
    env.wait_for_products(APP, &stored);
    env.wait_for_products(APP2, &stored);
    let item = first_sizes(&stored, 1)[0].0;
    env.rpc_ok(APP2, &format!("inventory.sell {item}"));
    eprintln!("test took {:.1?}", started.elapsed());
}
