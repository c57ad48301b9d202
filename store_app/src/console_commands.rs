//! The store's console commands (registered with the node's console, so they
//! work in the REPL, through `remote` and through `rpc`):
//!
//! | command | does |
//! |---|---|
//! | `inventory.products` | every product with its sizes and stock, from this node's memory |
//! | `inventory.release ID` | `mark_product_released!(ID)`: store, memory, every node, every page |
//! | `inventory.sell ITEM_ID` | `item_sold!(ITEM_ID)`: one unit |
//! | `mock.sell_random_until_gone DELAY_MS` | the book's mock shoppers, in the background |
//! | `mock.stop` | stops them |
//! | `store.seed [CATALOGUE]` | fills an empty store with `demo` (the default) or `flash`; every node reloads |
//! | `store.status` | where the store is and what it holds, next to this node's memory |
//! | `store.products` | every product with its sizes and stock as the store holds them, in `inventory.products`' format: the truth to compare a node's memory with |

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use runtime::console::{CommandError, Console};
use tokio::task::JoinHandle;

use crate::inventory::{CompleteProduct, Inventory};
use crate::mock;
use crate::sneakers23::Sneakers23;

/// Registers the store's commands for `context`.
pub fn register(console: &Console, context: &Sneakers23) {
    let ctx = context.clone();
    console.register(
        "inventory.products",
        "",
        "every product with its sizes (size:units) and stock, from this node's memory",
        move |_args| {
            let ctx = ctx.clone();
            async move {
                let products = ctx
                    .get_complete_products()
                    .await
                    .map_err(CommandError::failed)?;
                Ok(render_products(&products))
            }
        },
    );
    let ctx = context.clone();
    console.register(
        "inventory.release",
        "ID",
        "releases product ID: written to the store, then every node's memory and every open page",
        move |args| {
            let ctx = ctx.clone();
            async move {
                let id: u64 = args.parse(0, "ID")?;
                let product = ctx
                    .mark_product_released(id)
                    .await
                    .map_err(CommandError::failed)?;
                Ok(format!(
                    "released {} {} ({} sizes)",
                    product.product.id,
                    product.product.name,
                    product.items.len()
                ))
            }
        },
    );
    let ctx = context.clone();
    console.register(
        "inventory.sell",
        "ITEM_ID",
        "sells one unit of ITEM_ID (refused when none is left)",
        move |args| {
            let ctx = ctx.clone();
            async move {
                let id: u64 = args.parse(0, "ITEM_ID")?;
                let (before, after) = ctx.item_sold(id).await.map_err(CommandError::failed)?;
                Ok(format!(
                    "sold item {id}: {} -> {} left",
                    before.available_count, after.available_count
                ))
            }
        },
    );
    let shoppers: Arc<Mutex<Option<JoinHandle<()>>>> = Arc::default();
    let (ctx, running) = (context.clone(), shoppers.clone());
    console.register(
        "mock.sell_random_until_gone",
        "DELAY_MS",
        "mock shoppers: sell a random in-stock size of a released product every DELAY_MS until all are gone",
        move |args| {
            let (ctx, running) = (ctx.clone(), running.clone());
            async move {
                let delay: u64 = args.parse(0, "DELAY_MS")?;
                let products = ctx.get_complete_products().await.map_err(CommandError::failed)?;
                let left = mock::sellable(&products).len();
                let mut slot = running.lock();
                if slot.as_ref().is_some_and(|task| !task.is_finished()) {
                    return Err(CommandError::failed(
                        "mock shoppers are already running here (mock.stop stops them)",
                    ));
                }
                *slot = Some(tokio::spawn(async move {
                    let _ = mock::sell_random_until_gone(&ctx, Duration::from_millis(delay)).await;
                }));
                Ok(format!(
                    "mock shoppers started: one sale every {delay} ms; {left} sizes in stock"
                ))
            }
        },
    );
    console.register("mock.stop", "", "stops the mock shoppers", move |_args| {
        let running = shoppers.clone();
        async move {
            match running.lock().take() {
                Some(task) if !task.is_finished() => {
                    task.abort();
                    Ok("mock shoppers stopped".to_string())
                }
                _ => Ok("no mock shoppers were running".to_string()),
            }
        }
    });
    let ctx = context.clone();
    console.register(
        "store.seed",
        "[CATALOGUE]",
        "fills an empty store with a catalogue, demo (the default) or flash; every node reloads",
        move |args| {
            let ctx = ctx.clone();
            async move {
                let name = args.get(0).unwrap_or("demo").to_string();
                let seeded = ctx.seed(&name).await.map_err(CommandError::failed)?;
                Ok(format!(
                    "seeded {} products, {} items",
                    seeded.products, seeded.items
                ))
            }
        },
    );
    let ctx = context.clone();
    console.register(
        "store.products",
        "",
        "every product with its sizes (size:units) and stock, read from the store itself (not this node's memory)",
        move |_args| {
            let ctx = ctx.clone();
            async move {
                let snapshot = ctx.store().snapshot().await.map_err(CommandError::failed)?;
                if snapshot.products.is_empty() {
                    return Ok("the store holds no products (store.seed fills it)".to_string());
                }
                let stored =
                    Inventory::new(snapshot.products, snapshot.items, snapshot.availability);
                Ok(render_products(&stored.complete_products()))
            }
        },
    );
    let ctx = context.clone();
    console.register(
        "store.status",
        "",
        "which node holds the store, what it holds, and this node's memory",
        move |_args| {
            let ctx = ctx.clone();
            async move {
                let mut out = String::new();
                let memory = ctx.get_complete_products().await.map_err(CommandError::failed)?;
                let units: u64 = memory
                    .iter()
                    .flat_map(|p| &p.items)
                    .map(|i| u64::from(i.available_count))
                    .sum();
                match ctx.store().status().await {
                    Ok(status) => {
                        let _ = writeln!(
                            out,
                            "store on {} at {}: {} products ({} released), {} items, {} units, {} bytes on disk",
                            ctx.store().owner().unwrap_or_else(|| "?".into()),
                            status.path,
                            status.products,
                            status.released,
                            status.items,
                            status.units,
                            status.size_on_disk
                        );
                    }
                    Err(err) => {
                        let _ = writeln!(out, "store: {err}");
                    }
                }
                let _ = write!(
                    out,
                    "memory: {} products ({} released), {} units",
                    memory.len(),
                    memory.iter().filter(|p| p.product.released).count(),
                    units
                );
                Ok(out)
            }
        },
    );
}

/// One line per product: id, name, released or coming soon, then size:units.
pub fn render_products(products: &[CompleteProduct]) -> String {
    if products.is_empty() {
        return "no products in memory (is the store's node connected? store.status)".into();
    }
    let mut out = String::new();
    for complete in products {
        let p = &complete.product;
        let _ = write!(
            out,
            "{:>3}  {} {} ({}) ${}.{:02}  {}\n     ",
            p.id,
            p.brand,
            p.name,
            p.color,
            p.price_cents / 100,
            p.price_cents % 100,
            if p.released {
                "released"
            } else {
                "coming soon"
            }
        );
        for item in &complete.items {
            let _ = write!(
                out,
                " #{}={}:{}",
                item.item.id, item.item.size, item.available_count
            );
        }
        out.push('\n');
    }
    out.pop();
    out
}
