//! `store_bench checkout`: durable purchases per second, and their latency,
//! with many shoppers buying at once from several web nodes.
//!
//! Each of `--shoppers` tasks holds one keep-alive HTTP/1.1 connection to one
//! web node (the nodes taken in turn) and loops: make a cart of 1–3 sizes of
//! different products of the catalogue (chosen by a per-shopper xorshift),
//! sign it as a page would (the nodes' `SECRET_KEY_BASE`), `POST /checkout`
//! it, and read the whole answer. A purchase is counted when the answer is
//! 200: by then the store has made it durable (`fdatasync`) and the web node
//! has applied it. The time is from the first byte written to the last byte
//! read. Counted as in `page`: requests that start inside the measured
//! window, after a warm-up.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use channels::token::Signer;
use loadgen::stats::{round2, Percentiles};
use store_app::checkout::ShoppingCart;
use store_app::model::Item;

use crate::page::{resolve, KeepAlive};

#[derive(Args)]
pub struct CheckoutArgs {
    /// The web nodes, http://HOST:PORT, comma-separated; shoppers are spread over them.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:4000")]
    urls: Vec<String>,
    /// The nodes' secret_key_base (what signs carts).
    #[arg(long, env = "SECRET_KEY_BASE", hide_env_values = true)]
    secret_key_base: String,
    /// The catalogue the store was seeded with (its items are what carts hold).
    #[arg(long, default_value = "stocked")]
    catalogue: String,
    /// Shoppers buying at once, one connection and one purchase in flight each.
    #[arg(long, default_value_t = 64)]
    shoppers: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured seconds before the measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
}

/// The run's summary line.
#[derive(Serialize)]
pub struct CheckoutSummary {
    workload: &'static str,
    urls: Vec<String>,
    shoppers: usize,
    seconds: f64,
    /// Purchases acknowledged (200).
    purchases: u64,
    purchases_per_s: f64,
    /// Units those purchases bought.
    units: u64,
    units_per_s: f64,
    /// Of acknowledged purchases.
    latency: Percentiles,
    /// Answers other than 200 (e.g. 409 sold out, 503 store away).
    non_200: u64,
    /// Connections broken or closed, unreadable answers.
    errors: u64,
}

#[derive(Default)]
struct Counts {
    samples: Vec<u64>,
    units: u64,
    non_200: u64,
    errors: u64,
}

/// Runs the benchmark.
pub async fn run(args: CheckoutArgs) -> Result<CheckoutSummary, String> {
    if args.shoppers == 0 || args.seconds <= 0.0 || args.urls.is_empty() {
        return Err("--shoppers, --seconds and --urls must be given".into());
    }
    let catalogue = store_app::catalogue::by_name(&args.catalogue)
        .ok_or_else(|| format!("no catalogue named {:?}", args.catalogue))?;
    // Sizes grouped by product, released products only: what a page offers.
    let mut products: Vec<Vec<Item>> = Vec::new();
    for product in catalogue.products.iter().filter(|p| p.released) {
        let sizes: Vec<Item> = catalogue
            .items
            .iter()
            .filter(|i| i.product_id == product.id)
            .cloned()
            .collect();
        if !sizes.is_empty() {
            products.push(sizes);
        }
    }
    if products.len() < 3 {
        return Err("the catalogue needs three released products".into());
    }
    let mut nodes = Vec::new();
    for url in &args.urls {
        nodes.push(resolve(url).await?);
    }
    let signer = Signer::new(args.secret_key_base.clone());
    eprintln!(
        "store_bench checkout: {} shoppers over {} web node(s), {} s (+{} s warm-up)",
        args.shoppers,
        nodes.len(),
        args.seconds,
        args.warmup_seconds
    );
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(args.warmup_seconds);
    let deadline = measured_from + Duration::from_secs_f64(args.seconds);
    let products = std::sync::Arc::new(products);
    let tasks: Vec<_> = (0..args.shoppers)
        .map(|shopper| {
            let (host, addr) = nodes[shopper % nodes.len()].clone();
            let shop = Shop {
                host,
                addr,
                signer: signer.clone(),
                products: products.clone(),
            };
            tokio::spawn(shop.shopper(shopper as u64 + 1, measured_from, deadline))
        })
        .collect();
    let mut total = Counts::default();
    for task in tasks {
        let counts = task.await.map_err(|e| format!("shopper task: {e}"))?;
        total.samples.extend_from_slice(&counts.samples);
        total.units += counts.units;
        total.non_200 += counts.non_200;
        total.errors += counts.errors;
    }
    let purchases = total.samples.len() as u64;
    Ok(CheckoutSummary {
        workload: "checkout",
        urls: args.urls.clone(),
        shoppers: args.shoppers,
        seconds: args.seconds,
        purchases,
        purchases_per_s: round2(purchases as f64 / args.seconds),
        units: total.units,
        units_per_s: round2(total.units as f64 / args.seconds),
        latency: Percentiles::of_ns(&mut total.samples).unwrap_or_default(),
        non_200: total.non_200,
        errors: total.errors,
    })
}

/// What one shopper needs.
struct Shop {
    host: String,
    addr: SocketAddr,
    signer: Signer,
    products: std::sync::Arc<Vec<Vec<Item>>>,
}

impl Shop {
    /// A cart of 1–3 sizes of different products, signed.
    fn cart(&self, rng: &mut u64) -> (u64, String) {
        let mut next = |bound: usize| {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            (*rng % bound as u64) as usize
        };
        let mut cart = ShoppingCart::new();
        let lines = 1 + next(3);
        while cart.items().len() < lines {
            let sizes = &self.products[next(self.products.len())];
            // A second size of a product already in the cart is refused: pick again.
            let _ = cart.add_item(&sizes[next(sizes.len())]);
        }
        (lines as u64, cart.serialize(&self.signer))
    }

    async fn shopper(self, seed: u64, measured_from: Instant, deadline: Instant) -> Counts {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut counts = Counts::default();
        let mut conn = KeepAlive::new(self.addr);
        loop {
            let (units, serialized) = self.cart(&mut rng);
            let body = format!("serialized={serialized}");
            let request = format!(
                "POST /checkout HTTP/1.1\r\nHost: {}\r\nUser-Agent: store_bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                self.host,
                body.len()
            );
            let sent = Instant::now();
            if sent >= deadline {
                break;
            }
            let counted = sent >= measured_from;
            let result = conn.exchange(request.as_bytes()).await;
            let elapsed = sent.elapsed();
            match result {
                Ok(response) if counted && response.status == 200 => {
                    counts.samples.push(elapsed.as_nanos() as u64);
                    counts.units += units;
                }
                Ok(_) => counts.non_200 += u64::from(counted),
                Err(failure) => {
                    counts.errors += u64::from(counted);
                    failure.back_off("checkout").await;
                }
            }
        }
        counts
    }
}
