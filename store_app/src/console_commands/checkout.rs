//! `cart.*` and `checkout.*`: what operators look at during a sale — a
//! shopper's cart from its token, and how checkout has gone on this node.

use std::fmt::Write as _;

use channels::token::Signer;
use runtime::console::{CommandError, Console};

use crate::checkout::{Checkout, ShoppingCart};
use crate::web::Price;

/// Registers `cart.show` and `checkout.stats`.
pub(super) fn register(console: &Console, checkout: &Checkout, signer: &Signer) {
    console.register_with(
        "cart.show",
        "TOKEN",
        "the cart a serialized cart token holds (a page's localStorage \"sneakers23.cart\"), from this node's memory",
        &(checkout.clone(), signer.clone()),
        |(checkout, signer), args| async move {
            let token = args.required(0, "TOKEN")?;
            let cart = ShoppingCart::deserialize(&signer, Some(token)).map_err(|why| {
                CommandError::failed(format!("not a cart of this store ({why}): forged, expired, or signed with another secret"))
            })?;
            if cart.is_empty() {
                return Ok("the cart is empty".to_string());
            }
            let products = checkout
                .context()
                .get_complete_products()
                .await
                .map_err(CommandError::failed)?;
            let mut out = String::new();
            for line in cart.items() {
                match crate::web::find_cart_line(&products, line) {
                    Some((product, entry)) => {
                        let _ = writeln!(
                            out,
                            "item {}: {} {} ({}), size {}, {} — {} left",
                            entry.item.id,
                            product.product.brand,
                            product.product.name,
                            product.product.color,
                            entry.item.size,
                            Price(product.product.price_cents),
                            entry.available_count
                        );
                    }
                    None => {
                        let _ = writeln!(out, "item {}: not in this node's memory", line.item_id);
                    }
                }
            }
            Ok(out.trim_end().to_string())
        },
    );
    console.register_with(
        "checkout.stats",
        "",
        "purchases, refusals and units sold by checkout on this node since it started",
        checkout,
        |checkout, _args| async move {
            let stats = checkout.stats();
            Ok(format!(
                "purchases {}, sold out {}, sent twice {}, failed {}, units sold {}",
                stats.purchases, stats.sold_out, stats.repeated, stats.failures, stats.units_sold
            ))
        },
    );
}
