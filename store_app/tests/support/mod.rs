//! Helpers for the multi-process store tests: every node is its own
//! `sneakers23 start` OS process, driven with `sneakers23 rpc`, as a person
//! (or `scripts/demo.sh`) would.
//!
//! Each [`Env`] has its own name directory and cookie directory (through
//! `NODE_NAME_DIR` / `NODE_COOKIE_DIR`, with `RELEASE_COOKIE` / `NODE_COOKIE`
//! removed) and its own data directory; web servers bind port 0 (the port is
//! read from the node's log); every wait is bounded; and nodes are killed on
//! drop, also when an assertion fails.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use channels::client::{Channel, Client, ClientOptions, Subscription};
use runtime::testkit::{http_get, AppCluster, HttpResponse, NodeProcess};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_sneakers23");
/// Bound for anything that should take milliseconds to a few seconds (generous:
/// CI runs these next to other test binaries on two cores).
pub const SOON: Duration = Duration::from_secs(60);
/// The secret every node of a test cluster shares (what signs carts).
pub const SECRET_KEY_BASE: &str =
    "test-cluster-secret-key-base-test-cluster-secret-key-base-0123456789";
/// Time between two polls.
pub const POLL: Duration = Duration::from_millis(50);

/// One isolated cluster: the kit's [`AppCluster`] of `sneakers23` nodes
/// (its own name and cookie directories, the store's settings cleared from
/// the environment), with a data directory for its store's owner.
pub struct Env(AppCluster);

impl Deref for Env {
    type Target = AppCluster;
    fn deref(&self) -> &AppCluster {
        &self.0
    }
}

impl Env {
    pub fn new(label: &str) -> Self {
        Env(
            AppCluster::new(BIN, &format!("store-cluster-{label}"), SOON).clearing(&[
                "DATA_DIR",
                "CATALOGUE",
                "SECRET_KEY_BASE_FILE",
            ]),
        )
    }

    /// The database directory of this cluster's store node.
    pub fn data_dir(&self) -> PathBuf {
        self.dirs().root().join("data")
    }

    /// Starts `short@127.0.0.1` and waits until it serves (or says it serves
    /// no web page).
    pub fn start(&self, short: &str, extra: &[&str]) -> NodeProc {
        self.start_with_env(short, extra, &[])
    }

    /// [`Env::start`] with extra environment variables (`TRACKER_*` periods).
    pub fn start_with_env(&self, short: &str, extra: &[&str], vars: &[(&str, &str)]) -> NodeProc {
        let mut command = self.start_command(short, extra);
        // One cluster, one secret: a cart signed on one node opens on another.
        command.env("SECRET_KEY_BASE", SECRET_KEY_BASE);
        for (key, value) in vars {
            command.env(key, value);
        }
        NodeProc::spawn(format!("{short}@127.0.0.1"), command)
    }

    /// Starts the node owning this cluster's data directory, serving the page.
    pub fn start_owner(&self, short: &str) -> NodeProc {
        let data = self.data_dir();
        self.start(short, &["--data-dir", data.to_str().unwrap()])
    }

    /// This node's memory, polled until it equals `expected`.
    pub fn wait_for_products(&self, node: &str, expected: &Products) {
        let deadline = Instant::now() + SOON;
        loop {
            let now = products(&self.rpc_ok(node, "inventory.products"));
            if &now == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{node}'s memory never reached the expected state within {SOON:?}:\n got {now:?}\nwant {expected:?}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// `node.connect` from `from` to `to`, then waits until `from` reaches the
    /// store (its service is known there and answers).
    pub fn connect_to_store(&self, from: &str, to: &str) {
        assert_eq!(
            self.rpc_ok(from, &format!("node.connect {to}")).trim(),
            format!("connected to {to}")
        );
        self.wait_for_store(from, to);
    }

    /// Waits until `node`'s `store.status` says the store is on `owner` and
    /// `node`'s memory holds the catalogue: "store on" shows as soon as the
    /// store's service is known, a moment before the inventory has reloaded
    /// from it (and a write typed in that moment fails on the empty memory).
    pub fn wait_for_store(&self, node: &str, owner: &str) {
        let on = format!("store on {owner} ");
        self.rpc_until(node, "store.status", |out| {
            out.starts_with(&on) && !out.contains("memory: 0 products")
        });
    }

    /// Waits until `node` lists (at least) `peers`.
    pub fn wait_for_peers(&self, node: &str, peers: &[&str]) {
        self.rpc_until(node, "node.list", |out| {
            peers.iter().all(|p| out.lines().any(|l| l.trim() == *p))
        });
    }
}

/// A running `sneakers23 start`, killed (SIGKILL) on drop; the kit's
/// [`NodeProcess`] with the store's web pages.
pub struct NodeProc(NodeProcess);

impl Deref for NodeProc {
    type Target = NodeProcess;
    fn deref(&self) -> &NodeProcess {
        &self.0
    }
}

impl DerefMut for NodeProc {
    fn deref_mut(&mut self) -> &mut NodeProcess {
        &mut self.0
    }
}

impl NodeProc {
    fn spawn(name: String, cmd: Command) -> NodeProc {
        let mut node = NodeProcess::spawn(name, cmd);
        node.wait_for_http(
            |l| {
                l.contains("Running Sneakers23Web.Endpoint at http://")
                    || l.contains("no web server")
            },
            SOON,
        );
        NodeProc(node)
    }

    /// `GET path` on this node's web server.
    pub fn get(&self, path: &str) -> HttpResponse {
        http_get(self.http_address(), path, SOON)
    }

    /// This node's web server's address.
    pub fn http_address(&self) -> std::net::SocketAddr {
        let port = self.http_port().expect("this node serves HTTP");
        ([127, 0, 0, 1], port).into()
    }

    /// The `/product_socket` URL phoenix.js would use (the client appends `/websocket`).
    pub fn socket_url(&self) -> String {
        let port = self.http_port().expect("this node serves HTTP");
        format!("ws://127.0.0.1:{port}/product_socket")
    }
}

pub mod browser;
pub mod checkout_race;
pub mod commit_cutter;
pub mod faults;
pub mod page;

/// The `<article>` of one product on the store page.
pub fn product_listing(html: &str, product_id: u64) -> &str {
    let start = html
        .find(&format!(r#"data-product-id="{product_id}""#))
        .unwrap_or_else(|| panic!("product {product_id} is not on the page: {html}"));
    let end = html[start..]
        .find("</article>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// A test's own Tokio runtime for the WebSocket clients.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A page's WebSocket: a client of `/product_socket` joined to product topics.
pub struct Page {
    _client: Client,
    // Dropping a channel's last handle leaves it.
    _channels: Vec<Channel>,
    /// One subscription per (topic, event) asked for, in order.
    subs: Vec<Subscription>,
}

/// Connects to `node`'s `/product_socket` and joins `product:<id>` for each of
/// `products`, listening for `events` on each (subscription `i * events.len() + j`
/// is product `i`'s event `j`).
pub fn open_page(
    rt: &tokio::runtime::Runtime,
    node: &NodeProc,
    products: &[u64],
    events: &[&str],
) -> Page {
    rt.block_on(async {
        let client = tokio::time::timeout(
            SOON,
            Client::connect(&node.socket_url(), &[], ClientOptions::default()),
        )
        .await
        .expect("connect in time")
        .expect("the client connects");
        let mut channels = Vec::new();
        let mut subs = Vec::new();
        for id in products {
            let channel = client.channel(&format!("product:{id}"), json!({}));
            subs.extend(events.iter().map(|e| channel.on(e)));
            tokio::time::timeout(SOON, channel.join())
                .await
                .expect("join in time")
                .expect("the join succeeds");
            channels.push(channel);
        }
        Page {
            _client: client,
            _channels: channels,
            subs,
        }
    })
}

impl Page {
    /// The next payload of subscription `index`, waiting until `deadline`.
    pub fn next_until(
        &mut self,
        rt: &tokio::runtime::Runtime,
        index: usize,
        deadline: Instant,
    ) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        let sub = &mut self.subs[index];
        rt.block_on(async { tokio::time::timeout(left, sub.recv()).await.ok().flatten() })
    }

    /// The next payload of subscription `index`, waiting at most [`SOON`].
    pub fn next(&mut self, rt: &tokio::runtime::Runtime, index: usize) -> Option<Value> {
        self.next_until(rt, index, Instant::now() + SOON)
    }
}

/// One product of `inventory.products`: released, and item id -> (size, units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductLine {
    pub released: bool,
    pub items: BTreeMap<u64, (String, u32)>,
}

/// A node's memory as `inventory.products` prints it, by product id.
pub type Products = BTreeMap<u64, ProductLine>;

/// Parses `inventory.products`:
///
/// ```text
///   1  Peak Motion Air Stride (white / red) $160.00  released
///       #1=6:0 #2=6.5:25 ...
/// ```
pub fn products(output: &str) -> Products {
    let mut parsed = Products::new();
    let mut current: Option<u64> = None;
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            let id = current.unwrap_or_else(|| panic!("sizes before a product: {output}"));
            let product = parsed.get_mut(&id).unwrap();
            for entry in trimmed.split_whitespace() {
                let (item, rest) = entry[1..]
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad size entry {entry:?}"));
                let (size, units) = rest
                    .rsplit_once(':')
                    .unwrap_or_else(|| panic!("bad size entry {entry:?}"));
                product.items.insert(
                    item.parse().unwrap(),
                    (size.to_string(), units.parse().unwrap()),
                );
            }
        } else {
            let id: u64 = trimmed
                .split_whitespace()
                .next()
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("not a product line: {line:?} in {output}"));
            let released = if trimmed.ends_with("  released") {
                true
            } else if trimmed.ends_with("  coming soon") {
                false
            } else {
                panic!("no release state on {line:?}")
            };
            parsed.insert(
                id,
                ProductLine {
                    released,
                    items: BTreeMap::new(),
                },
            );
            current = Some(id);
        }
    }
    assert!(!parsed.is_empty(), "no products in {output:?}");
    parsed
}

/// Units of `item_id` in `products`.
pub fn units(products: &Products, item_id: u64) -> u32 {
    products
        .values()
        .find_map(|p| p.items.get(&item_id))
        .unwrap_or_else(|| panic!("no item {item_id}"))
        .1
}

/// Sets the units of `item_id` in `products`.
pub fn set_units(products: &mut Products, item_id: u64, count: u32) {
    let entry = products
        .values_mut()
        .find_map(|p| p.items.get_mut(&item_id))
        .unwrap_or_else(|| panic!("no item {item_id}"));
    entry.1 = count;
}
