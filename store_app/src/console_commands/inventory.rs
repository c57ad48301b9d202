//! `inventory.*`: this node's memory of the catalogue, and the book's
//! `mark_product_released!` and `item_sold!`.

use std::fmt::Write as _;

use runtime::console::{CommandError, Console};

use crate::inventory::CompleteProduct;
use crate::sneakers23::Sneakers23;

/// Registers `inventory.products`, `inventory.release` and `inventory.sell`.
pub(super) fn register(console: &Console, context: &Sneakers23) {
    console.register_with(
        "inventory.products",
        "",
        "every product with its sizes (size:units) and stock, from this node's memory",
        context,
        |ctx, _args| async move {
            let products = ctx
                .get_complete_products()
                .await
                .map_err(CommandError::failed)?;
            Ok(render_products(&products))
        },
    );
    console.register_with(
        "inventory.release",
        "ID",
        "releases product ID: written to the store, then every node's memory and every open page",
        context,
        |ctx, args| async move {
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
        },
    );
    console.register_with(
        "inventory.sell",
        "ITEM_ID",
        "sells one unit of ITEM_ID (refused when none is left)",
        context,
        |ctx, args| async move {
            let id: u64 = args.parse(0, "ITEM_ID")?;
            let (before, after) = ctx.item_sold(id).await.map_err(CommandError::failed)?;
            Ok(format!(
                "sold item {id}: {} -> {} left",
                before.available_count, after.available_count
            ))
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
