//! What a page needs to catch up on one product: the reply to every join of
//! `product:<id>` (the book's "keep critical data alive", chapter 5).
//!
//! Channels deliver at most once: a page whose connection was down (its web
//! node restarting, a network blip) misses the `released` and `stock_change`
//! broadcasts of that time, and phoenix.js only rejoins. So every join is
//! answered with the product as this node's memory holds it now, in the same
//! shapes the broadcasts use, and the page applies it on every join:
//!
//! ```json
//! {"released": true, "size_html": "<div class=\"size-container\" …",
//!  "items": [{"item_id": 3, "level": "low"}, …]}
//! ```
//!
//! `size_html` is there only for a released product (it replaces "coming
//! soon", as `released` does); `items` always lists every size with its level.

use serde_json::{json, Value};

use super::level::StockLevel;
use super::view::render_sizes;
use crate::inventory::CompleteProduct;

/// The join reply for `product`.
pub fn product_state(product: &CompleteProduct) -> Value {
    let items: Vec<Value> = product
        .items
        .iter()
        .map(|entry| {
            json!({
                "item_id": entry.item.id,
                "level": StockLevel::from_count(entry.available_count).as_str(),
            })
        })
        .collect();
    let mut state = json!({
        "released": product.product.released,
        "items": items,
    });
    if product.product.released {
        state["size_html"] = Value::String(render_sizes(product));
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use crate::inventory::Inventory;

    fn demo_products() -> Vec<CompleteProduct> {
        Inventory::new(catalogue::demo()).complete_products()
    }

    #[test]
    fn a_released_product_has_its_sizes_and_every_level() {
        let products = demo_products();
        let product = products.iter().find(|p| p.product.released).unwrap();
        let state = product_state(product);
        assert_eq!(state["released"], json!(true));
        assert_eq!(state["size_html"], json!(render_sizes(product)));
        let items = state["items"].as_array().unwrap();
        assert_eq!(items.len(), product.items.len());
        for (entry, item) in product.items.iter().zip(items) {
            let level = StockLevel::from_count(entry.available_count).as_str();
            assert_eq!(item, &json!({"item_id": entry.item.id, "level": level}));
        }
    }

    #[test]
    fn a_product_coming_soon_has_levels_but_no_sizes() {
        let products = demo_products();
        let product = products.iter().find(|p| !p.product.released).unwrap();
        let state = product_state(product);
        assert_eq!(state["released"], json!(false));
        assert!(state.get("size_html").is_none(), "{state}");
        assert_eq!(
            state["items"].as_array().unwrap().len(),
            product.items.len()
        );
    }
}
