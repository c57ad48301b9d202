//! `store.*`: the database itself — seeding it, what it holds, where it is.

use std::fmt::Write as _;

use runtime::console::{CommandError, Console};

use crate::inventory::Inventory;
use crate::sneakers23::Sneakers23;

use super::render_products;

/// Registers `store.seed`, `store.products` and `store.status`.
pub(super) fn register(console: &Console, context: &Sneakers23) {
    console.register_with(
        "store.seed",
        "[CATALOGUE]",
        "fills an empty store with a catalogue, demo (the default) or flash; every node reloads",
        context,
        |ctx, args| async move {
            let name = args.get(0).unwrap_or("demo").to_string();
            let seeded = ctx.seed(&name).await.map_err(CommandError::failed)?;
            Ok(format!(
                "seeded {} products, {} items",
                seeded.products, seeded.items
            ))
        },
    );
    console.register_with(
        "store.products",
        "",
        "every product with its sizes (size:units) and stock, read from the store itself (not this node's memory)",
        context,
        |ctx, _args| async move {
            let snapshot = ctx.store().snapshot().await.map_err(CommandError::failed)?;
            if snapshot.products.is_empty() {
                return Ok("the store holds no products (store.seed fills it)".to_string());
            }
            let stored =
                Inventory::new(snapshot);
            Ok(render_products(&stored.complete_products()))
        },
    );
    console.register_with(
        "store.status",
        "",
        "which node holds the store, what it holds, and this node's memory",
        context,
        |ctx, _args| async move {
            let mut out = String::new();
            let memory = ctx.get_complete_products().await.map_err(CommandError::failed)?;
            let units: u64 = memory
                .iter()
                .flat_map(|p| &p.items)
                .map(|i| u64::from(i.available_count))
                .sum();
            match ctx.store().status().await {
                Ok(status) => {
                    // On PostgreSQL no node owns it: the place is the server.
                    let owner = match ctx.store().owner() {
                        Some(owner) if owner == status.path => "PostgreSQL".to_string(),
                        Some(owner) => owner,
                        None => "?".into(),
                    };
                    let _ = writeln!(
                        out,
                        "store on {} at {}: {} products ({} released), {} items, {} units, {} bytes on disk",
                        owner,
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
        },
    );
}
