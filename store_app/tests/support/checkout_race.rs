//! The checkout race the fault tests run: shoppers posting overlapping carts
//! to `POST /checkout` on web nodes, many at once, and what each was
//! answered (`checkout_test.rs`, `faults_test.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use channels::token::Signer;
use runtime::testkit::http_post_form;
use store_app::checkout::ShoppingCart;
use store_app::model::Item;

use super::{Products, SECRET_KEY_BASE, SOON};

/// The units on sale in the race: the first size of products 1–50 of the
/// flash catalogue, one unit each.
pub const UNITS: usize = 50;

/// A shopper's cart: the items, and the signed token the page would post.
#[derive(Clone)]
pub struct Cart {
    pub items: Vec<u64>,
    pub serialized: String,
}

/// What checkout answered one shopper.
#[derive(Debug)]
pub struct Outcome {
    pub items: Vec<u64>,
    /// The HTTP status, or `None` when the connection failed (or no answer
    /// came within [`SOON`]).
    pub status: Option<u16>,
    /// What the page told the shopper when the cart was not bought: its
    /// notice, or the plain-text answer; empty for a purchase.
    pub notice: String,
    /// When the answer came.
    pub at: Instant,
}

impl Outcome {
    /// Answered 503 saying that the order may have gone through (the store
    /// did not answer in time, or could not make the write durable).
    pub fn maybe_placed(&self) -> bool {
        self.status == Some(503) && self.notice.contains("may or may not")
    }
}

/// `(item id, product id)` of the units on sale, from a node's memory.
pub fn units_on_sale(memory: &Products) -> Vec<(u64, u64)> {
    memory
        .iter()
        .take(UNITS)
        .map(|(&product_id, line)| {
            let (&item_id, (_, units)) = line.items.iter().next().unwrap();
            assert_eq!(*units, 1, "the flash catalogue has one unit per size");
            (item_id, product_id)
        })
        .collect()
}

/// `(item id, product id)` of the first size of the first `count` products,
/// whatever their stock (the stocked catalogue's).
pub fn first_sizes(memory: &Products, count: usize) -> Vec<(u64, u64)> {
    memory
        .iter()
        .take(count)
        .map(|(&product_id, line)| (*line.items.keys().next().unwrap(), product_id))
        .collect()
}

/// `count` carts over `on_sale`: one single-item cart per unit (so that
/// every unit finds a buyer whatever the larger carts do), then carts of 1–3
/// units chosen by a fixed pseudo-random sequence, all shuffled.
pub fn carts(on_sale: &[(u64, u64)], count: usize) -> Vec<Cart> {
    let signer = Signer::new(SECRET_KEY_BASE);
    let mut seed: u64 = 0x5eed;
    let mut next = move |bound: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % bound
    };
    let mut picks: Vec<Vec<usize>> = (0..on_sale.len()).map(|i| vec![i]).collect();
    while picks.len() < count {
        let mut pick = BTreeSet::new();
        let size = 1 + next(3);
        while pick.len() < size {
            pick.insert(next(on_sale.len()));
        }
        picks.push(pick.into_iter().collect());
    }
    for i in (1..picks.len()).rev() {
        picks.swap(i, next(i + 1));
    }
    picks
        .into_iter()
        .map(|pick| {
            let mut cart = ShoppingCart::new();
            for &i in &pick {
                let (id, product_id) = on_sale[i];
                cart.add_item(&Item {
                    id,
                    product_id,
                    sku: String::new(),
                    size: String::new(),
                })
                .unwrap();
            }
            Cart {
                items: cart.item_ids(),
                serialized: cart.serialize(&signer),
            }
        })
        .collect()
}

/// Every cart posted to `POST /checkout`, 16 shoppers at a time, the web
/// nodes taken in turn; `after_each` runs after every answer.
pub fn checkout_all(
    carts: &[Cart],
    webs: &[SocketAddr],
    after_each: impl Fn(usize) + Sync,
) -> Vec<Outcome> {
    checkout_with(16, carts, webs, after_each)
}

/// [`checkout_all`] with `shoppers` shoppers at a time.
pub fn checkout_with(
    shoppers: usize,
    carts: &[Cart],
    webs: &[SocketAddr],
    after_each: impl Fn(usize) + Sync,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..shoppers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cart) = carts.get(i) else { return };
                let form = format!("serialized={}", cart.serialized);
                let response = http_post_form(webs[i % webs.len()], "/checkout", &form, SOON);
                let (status, notice) = match response {
                    Ok(r) if r.status == 200 => (Some(200), String::new()),
                    Ok(r) => (Some(r.status), notice(&r.body)),
                    Err(err) => (None, err.to_string()),
                };
                let outcome = Outcome {
                    items: cart.items.clone(),
                    status,
                    notice,
                    at: Instant::now(),
                };
                let answered = {
                    let mut outcomes = outcomes.lock().unwrap();
                    outcomes.push(outcome);
                    outcomes.len()
                };
                after_each(answered);
            });
        }
    });
    outcomes.into_inner().unwrap()
}

/// The notice of a checkout page (`<p class="checkout__notice …">`), or a
/// plain-text answer as it is.
fn notice(body: &str) -> String {
    let Some(start) = body.find("checkout__notice") else {
        return body.chars().take(400).collect();
    };
    let text = &body[start..];
    let text = &text[text.find('>').map_or(0, |i| i + 1)..];
    text[..text.find("</p>").unwrap_or(text.len())].to_string()
}

/// How many answers of each status (`None`: no answer).
pub fn tally(outcomes: &[Outcome]) -> BTreeMap<Option<u16>, usize> {
    let mut tally = BTreeMap::new();
    for o in outcomes {
        *tally.entry(o.status).or_insert(0) += 1;
    }
    tally
}

/// How many 503s gave each reason (the first clause of what the shopper
/// was told), for a test's report.
pub fn refusals(outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut reasons = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.status == Some(503)) {
        let text = o.notice.replace("&#39;", "'").replace("&#34;", "\"");
        let inner = text
            .split_once("right now (")
            .map_or(text.as_str(), |(_, rest)| rest);
        let reason: String = inner
            .split(';')
            .next()
            .unwrap_or(inner)
            .chars()
            .take(100)
            .collect();
        *reasons.entry(reason).or_insert(0) += 1;
    }
    reasons
}

/// The items of the carts answered "may or may not have been applied".
pub fn maybe_placed_items(outcomes: &[Outcome]) -> BTreeSet<u64> {
    outcomes
        .iter()
        .filter(|o| o.maybe_placed())
        .flat_map(|o| o.items.iter().copied())
        .collect()
}

/// The items of acknowledged purchases; asserts none was bought twice.
pub fn bought_once(outcomes: &[Outcome]) -> BTreeSet<u64> {
    let mut bought = BTreeSet::new();
    for outcome in outcomes.iter().filter(|o| o.status == Some(200)) {
        for &item in &outcome.items {
            assert!(
                bought.insert(item),
                "item {item} was sold twice: {outcomes:?}"
            );
        }
    }
    bought
}

/// The units the store sold since `before`; asserts each was on sale with
/// one unit, and that nothing else changed.
pub fn sold_since(before: &Products, stored: &Products, on_sale: &[(u64, u64)]) -> BTreeSet<u64> {
    let mut sold = BTreeSet::new();
    for (product, line) in stored {
        for (item, (_, units)) in &line.items {
            let was = before[product].items[item].1;
            if *units != was {
                assert!(
                    *units == 0 && was == 1 && on_sale.iter().any(|s| s.0 == *item),
                    "item {item}: {was} -> {units}"
                );
                sold.insert(*item);
            }
        }
    }
    sold
}

/// Every unit in `products`.
pub fn total_units(products: &Products) -> u64 {
    products
        .values()
        .flat_map(|p| p.items.values())
        .map(|(_, units)| u64::from(*units))
        .sum()
}

/// Sends `SIGKILL` to `pid` (as `kill -9`).
pub fn kill_9(pid: u32) {
    signal(pid, "KILL");
}

/// Sends `SIG<name>` to `pid` with `kill -<name>` (`STOP`, `CONT`, `KILL`).
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}
