//! The store's HTML, rendered from memory with askama (templates in
//! `store_app/templates/`, compiled into the binary and HTML-escaping every
//! value): the whole page for `GET /`, and the `_sizes` partial on its own,
//! which is the `size_html` of a `released` broadcast (the book's
//! `ProductView`).

use std::fmt;

use askama::Template;

use crate::inventory::CompleteProduct;

/// A price in US cents, shown as dollars: `16000` is `$160.00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(pub u64);

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// `templates/store.html`.
#[derive(Template)]
#[template(path = "store.html", whitespace = "minimize")]
struct StorePage<'a> {
    products: &'a [CompleteProduct],
}

/// `templates/_sizes.html` on its own.
#[derive(Template)]
#[template(path = "_sizes.html", whitespace = "minimize")]
struct Sizes<'a> {
    product: &'a CompleteProduct,
}

/// Renders the store page into `out` (appending), so a caller can reuse one
/// buffer. Writing into a `String` with this crate's values cannot fail; an
/// error would be a template bug, and is returned rather than panicking.
pub fn render_page_into(products: &[CompleteProduct], out: &mut String) -> askama::Result<()> {
    StorePage { products }.render_into(out)
}

/// The store page for these products.
pub fn render_page(products: &[CompleteProduct]) -> askama::Result<String> {
    let mut out = String::with_capacity(page_size_estimate(products));
    render_page_into(products, &mut out)?;
    Ok(out)
}

/// A little more than the page for `products` takes (the sizes of released
/// products dominate), so that it is rendered into one allocation.
pub fn page_size_estimate(products: &[CompleteProduct]) -> usize {
    const PAGE: usize = 1_024;
    const PRODUCT: usize = 640;
    const SIZE: usize = 384;
    let sizes: usize = products
        .iter()
        .filter(|p| p.product.released)
        .map(|p| p.items.len())
        .sum();
    PAGE + PRODUCT * products.len() + SIZE * sizes
}

/// The size selector of one product: the `size_html` of `released`.
pub fn render_sizes(product: &CompleteProduct) -> String {
    let mut out = String::with_capacity(512 + 320 * product.items.len());
    // Writing into a `String` only fails if a `Display` impl does, and those
    // rendered here (numbers, strings, `StockLevel`) never do.
    Sizes { product }
        .render_into(&mut out)
        .expect("rendering the sizes partial into a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{CompleteItem, Inventory};
    use crate::model::{Item, Product};
    use crate::{catalogue, web::level::StockLevel};

    fn demo_products() -> Vec<CompleteProduct> {
        Inventory::new(catalogue::demo()).complete_products()
    }

    #[test]
    fn prices_are_dollars_and_cents() {
        assert_eq!(Price(16_000).to_string(), "$160.00");
        assert_eq!(Price(12_050).to_string(), "$120.50");
        assert_eq!(Price(5).to_string(), "$0.05");
        assert_eq!(Price(0).to_string(), "$0.00");
        assert_eq!(Price(123_456_789).to_string(), "$1234567.89");
    }

    #[test]
    fn sizes_list_every_item_with_its_level() {
        let product = &demo_products()[0];
        let html = render_sizes(product);
        for entry in &product.items {
            let level = StockLevel::from_count(entry.available_count);
            let button = format!(
                r#"class="size-container__entry size-container__entry--level-{level}" value="{}" data-level="{level}""#,
                entry.item.id
            );
            assert!(html.contains(&button), "{button} not in {html}");
            assert!(html.contains(&format!(">{}</span>", entry.item.size)));
        }
        let sold_out = product
            .items
            .iter()
            .filter(|i| i.available_count == 0)
            .count();
        assert!(sold_out > 0);
        assert_eq!(html.matches(" disabled>").count(), sold_out);
    }

    #[test]
    fn the_page_has_sizes_for_released_products_and_coming_soon_for_the_others() {
        let products = demo_products();
        let html = render_page(&products).unwrap();
        for complete in &products {
            let product = &complete.product;
            assert!(html.contains(&format!(r#"data-product-id="{}""#, product.id)));
            assert!(html.contains(&Price(product.price_cents).to_string()));
            let sizes = format!(r#"data-sizes-for="{}""#, product.id);
            let soon = format!(r#"class="product-soon product-soon-{}""#, product.id);
            assert_eq!(html.contains(&sizes), product.released, "{}", product.name);
            assert_eq!(html.contains(&soon), !product.released, "{}", product.name);
        }
        let estimate = page_size_estimate(&products);
        assert!(
            html.len() <= estimate && estimate < html.len() * 2,
            "the estimate {estimate} should cover the page ({}) without waste",
            html.len()
        );
    }

    #[test]
    fn catalogue_strings_are_escaped() {
        let product = CompleteProduct {
            product: Product {
                id: 7,
                sku: "X-1".into(),
                brand: "Tom & Jerry's".into(),
                name: "<script>alert(1)</script>".into(),
                color: "\"red\"".into(),
                price_cents: 100,
                image: "/images/x.svg\" onerror=\"alert(2)".into(),
                released: true,
                order: 0,
            },
            items: vec![CompleteItem {
                item: Item {
                    id: 70,
                    product_id: 7,
                    sku: "X-1-9".into(),
                    size: "<b>9</b>".into(),
                },
                available_count: 3,
            }],
        };
        let html = render_page(std::slice::from_ref(&product)).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(html.contains("Tom &#38; Jerry&#39;s"), "{html}");
        assert!(!html.contains("onerror=\""), "{html}");
        assert!(!render_sizes(&product).contains("<b>"));
    }
}
