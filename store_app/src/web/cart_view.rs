//! The cart as the page shows it (the book's `Sneakers23Web.CartView`):
//! `cart_to_map` renders each line from this node's memory — the product's
//! brand, name, colour, price and image, the size, and whether it is sold
//! out — plus the cart's signed `serialized` form, which the page keeps in
//! `localStorage` and hands back when it joins again or checks out.

use channels::token::Signer;
use serde_json::{json, Value};

use super::view::Price;
use crate::checkout::{CartItem, ShoppingCart};
use crate::inventory::{CompleteItem, CompleteProduct};

/// `{items: [...], serialized}`: the `"cart"` push and the reply to
/// `add_item` / `remove_item`. A line whose item this node's memory does not
/// hold (a catalogue reseeded since) is left out of `items` and stays in the
/// cart.
pub fn cart_to_map(cart: &ShoppingCart, products: &[CompleteProduct], signer: &Signer) -> Value {
    let items: Vec<Value> = cart
        .items()
        .iter()
        .filter_map(|line| find(products, line))
        .map(|(product, item)| render_item(product, item))
        .collect();
    json!({
        "items": items,
        "serialized": cart.serialize(signer),
    })
}

/// A cart line's product and size in memory.
pub fn find<'a>(
    products: &'a [CompleteProduct],
    line: &CartItem,
) -> Option<(&'a CompleteProduct, &'a CompleteItem)> {
    let product = products.iter().find(|p| p.product.id == line.product_id)?;
    let item = product.items.iter().find(|i| i.item.id == line.item_id)?;
    Some((product, item))
}

fn render_item(complete: &CompleteProduct, entry: &CompleteItem) -> Value {
    let product = &complete.product;
    json!({
        "id": entry.item.id,
        "product_id": product.id,
        "brand": product.brand,
        "name": product.name,
        "color": product.color,
        "price": Price(product.price_cents).to_string(),
        "price_cents": product.price_cents,
        "image": product.image,
        "size": entry.item.size,
        "sku": entry.item.sku,
        "released": product.released,
        "out_of_stock": entry.available_count == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use crate::inventory::Inventory;

    #[test]
    fn a_cart_renders_its_lines_from_memory_with_the_sold_out_flag() {
        let products = Inventory::new(catalogue::demo()).complete_products();
        let sold_out = products[0]
            .items
            .iter()
            .find(|i| i.available_count == 0)
            .unwrap();
        let in_stock = products[1]
            .items
            .iter()
            .find(|i| i.available_count > 0)
            .unwrap();
        let mut cart = ShoppingCart::new();
        cart.add_item(&sold_out.item).unwrap();
        cart.add_item(&in_stock.item).unwrap();
        let signer = Signer::new("k".repeat(64));

        let map = cart_to_map(&cart, &products, &signer);
        let items = map["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        // The latest first.
        assert_eq!(items[0]["id"], in_stock.item.id);
        assert_eq!(items[0]["out_of_stock"], false);
        assert_eq!(items[0]["brand"], products[1].product.brand.as_str());
        assert_eq!(items[0]["size"], in_stock.item.size.as_str());
        assert_eq!(
            items[0]["price"],
            Price(products[1].product.price_cents).to_string()
        );
        assert_eq!(items[1]["id"], sold_out.item.id);
        assert_eq!(items[1]["out_of_stock"], true);
        let restored = ShoppingCart::deserialize(&signer, map["serialized"].as_str()).unwrap();
        assert_eq!(restored, cart);
    }
}
