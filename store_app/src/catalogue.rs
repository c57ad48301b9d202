//! The catalogues a store can be seeded with (`seed`, and the first start of
//! an empty database):
//!
//! - `demo`, like the book's seeds: a few sneakers, ten sizes each, varied
//!   stock (some sizes sold out, some scarce). The first product is released;
//!   the others are "coming soon" until released from a console.
//! - `flash`: a flash sale at its last units — every product released, every
//!   size with one unit, so every sale sends a `stock_change` (to `out`). The
//!   replication-latency benchmark uses it.

use crate::model::{Availability, Item, Product, Snapshot};

/// Sizes each product comes in.
pub const SIZES: [&str; 10] = ["6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5"];

struct Shoe {
    sku: &'static str,
    brand: &'static str,
    name: &'static str,
    color: &'static str,
    price_cents: u64,
    image: &'static str,
}

const SHOES: [Shoe; 4] = [
    Shoe {
        sku: "PM-1",
        brand: "Peak Motion",
        name: "Air Stride",
        color: "white / red",
        price_cents: 16_000,
        image: "/images/air-stride.svg",
    },
    Shoe {
        sku: "PM-2",
        brand: "Peak Motion",
        name: "Court Classic",
        color: "black",
        price_cents: 11_000,
        image: "/images/court-classic.svg",
    },
    Shoe {
        sku: "NV-1",
        brand: "Novo",
        name: "Runner 23",
        color: "volt",
        price_cents: 13_500,
        image: "/images/runner-23.svg",
    },
    Shoe {
        sku: "NV-2",
        brand: "Novo",
        name: "Hi-Top Retro",
        color: "blue / grey",
        price_cents: 18_000,
        image: "/images/hi-top-retro.svg",
    },
];

/// Stock for product `p`, size `s`: a fixed spread from sold out to plenty,
/// different for every product so that pages show every level.
fn stock(p: usize, s: usize) -> u32 {
    const SPREAD: [u32; 7] = [0, 1, 3, 8, 15, 25, 40];
    SPREAD[(p * 3 + s * 5) % SPREAD.len()]
}

/// The names [`by_name`] knows.
pub const NAMES: [&str; 3] = ["demo", "flash", "stocked"];

/// A catalogue by name (`demo`, `flash` or `stocked`).
pub fn by_name(name: &str) -> Option<Snapshot> {
    match name {
        "demo" => Some(demo()),
        "flash" => Some(flash()),
        "stocked" => Some(stocked()),
        _ => None,
    }
}

/// Units of every size in the [`stocked`] catalogue.
pub const STOCKED_UNITS: u32 = 100_000;

/// The flash catalogue's 100 products with a warehouse behind them:
/// [`STOCKED_UNITS`] of every size, so that a checkout benchmark buys for
/// as long as it runs without selling anything out.
pub fn stocked() -> Snapshot {
    let mut catalogue = flash();
    for stock in &mut catalogue.availability {
        stock.available_count = STOCKED_UNITS;
    }
    catalogue
}

/// The flash-sale catalogue: the four shoes in 25 colourways each (100
/// products), all released, ten sizes each with one unit left: 1,000 items.
pub fn flash() -> Snapshot {
    let mut catalogue = Catalogue::default();
    for edition in 0..25u64 {
        for shoe in &SHOES {
            let sku = format!("{}-E{edition}", shoe.sku);
            let name = format!("{} #{}", shoe.name, edition + 1);
            let order = catalogue.0.products.len() as u32 + 1;
            catalogue.add(shoe, sku, name, true, order, |_| 1);
        }
    }
    catalogue.0
}

/// The demo catalogue.
pub fn demo() -> Snapshot {
    let mut catalogue = Catalogue::default();
    for (p, shoe) in SHOES.iter().enumerate() {
        let (sku, name) = (shoe.sku.to_string(), shoe.name.to_string());
        catalogue.add(shoe, sku, name, p == 0, p as u32, |s| stock(p, s));
    }
    catalogue.0
}

/// A snapshot being filled, products and items numbered from 1 in the order
/// they are added, as the store numbers them.
#[derive(Default)]
struct Catalogue(Snapshot);

impl Catalogue {
    /// Adds `shoe` as the product `sku` / `name`, with its ten sizes (item
    /// SKUs `{sku}-{size}`), size number `s` holding `stock(s)` units.
    fn add(
        &mut self,
        shoe: &Shoe,
        sku: String,
        name: String,
        released: bool,
        order: u32,
        stock: impl Fn(usize) -> u32,
    ) {
        let Snapshot {
            products,
            items,
            availability,
        } = &mut self.0;
        let product_id = products.len() as u64 + 1;
        for (s, size) in SIZES.iter().enumerate() {
            let item_id = items.len() as u64 + 1;
            items.push(Item {
                id: item_id,
                product_id,
                sku: format!("{sku}-{size}"),
                size: size.to_string(),
            });
            availability.push(Availability {
                item_id,
                available_count: stock(s),
            });
        }
        products.push(Product {
            id: product_id,
            sku,
            brand: shoe.brand.to_string(),
            name,
            color: shoe.color.to_string(),
            price_cents: shoe.price_cents,
            image: shoe.image.to_string(),
            released,
            order,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_product_has_ten_sizes_and_stock_varies() {
        let Snapshot {
            products,
            items,
            availability,
        } = demo();
        assert_eq!(products.len(), 4);
        for product in &products {
            assert_eq!(
                items.iter().filter(|i| i.product_id == product.id).count(),
                10
            );
        }
        assert!(availability.iter().any(|a| a.available_count == 0));
        assert!(availability.iter().any(|a| a.available_count >= 25));
        assert_eq!(products.iter().filter(|p| p.released).count(), 1);
    }

    #[test]
    fn the_flash_catalogue_has_one_unit_of_a_thousand_released_sizes() {
        let Snapshot {
            products,
            items,
            availability,
        } = by_name("flash").unwrap();
        assert_eq!((products.len(), items.len()), (100, 1000));
        assert!(products.iter().all(|p| p.released));
        assert!(availability.iter().all(|a| a.available_count == 1));
        assert!(by_name("nope").is_none());
    }
}
