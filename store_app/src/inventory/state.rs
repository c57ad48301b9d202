//! The functional core of the inventory: the catalogue as plain data, and the
//! operations on it as functions that return the changed state or an error.
//! Nothing here knows about processes, stores or sockets.

use std::collections::BTreeMap;

use crate::model::{Availability, Item, Product, Snapshot};

/// An item with its stock, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteItem {
    /// The item.
    pub item: Item,
    /// Units left.
    pub available_count: u32,
}

/// A product with its sizes (the book's `get_complete_products`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteProduct {
    /// The product.
    pub product: Product,
    /// Its sizes, in size order.
    pub items: Vec<CompleteItem>,
}

/// Why an inventory operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// No such product.
    #[error("product {0} not found")]
    ProductNotFound(u64),
    /// No such item.
    #[error("item {0} not found")]
    ItemNotFound(u64),
}

/// The whole catalogue in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    products: BTreeMap<u64, Product>,
    items: BTreeMap<u64, Item>,
    availability: BTreeMap<u64, Availability>,
    /// Each product's item ids, in id order (items never change after a
    /// load: only their stock does), so that a product's sizes are found
    /// without a pass over every item.
    sizes: BTreeMap<u64, Vec<u64>>,
}

impl Inventory {
    /// The catalogue of `snapshot`, in memory.
    pub fn new(snapshot: Snapshot) -> Self {
        let Snapshot {
            products,
            items,
            availability,
        } = snapshot;
        let items: BTreeMap<u64, Item> = items.into_iter().map(|i| (i.id, i)).collect();
        let mut sizes: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for item in items.values() {
            sizes.entry(item.product_id).or_default().push(item.id);
        }
        Inventory {
            products: products.into_iter().map(|p| (p.id, p)).collect(),
            items,
            availability: availability.into_iter().map(|a| (a.item_id, a)).collect(),
            sizes,
        }
    }

    /// Every product with its items and stock, in page order.
    pub fn complete_products(&self) -> Vec<CompleteProduct> {
        let mut products: Vec<CompleteProduct> = self
            .products
            .values()
            .map(|product| self.complete(product))
            .collect();
        products.sort_by_key(|p| (p.product.order, p.product.id));
        products
    }

    /// One product with its sizes and stock.
    pub fn complete_product(&self, id: u64) -> Option<CompleteProduct> {
        self.products.get(&id).map(|product| self.complete(product))
    }

    fn complete(&self, product: &Product) -> CompleteProduct {
        let sizes = self.sizes.get(&product.id).map_or(&[][..], Vec::as_slice);
        CompleteProduct {
            product: product.clone(),
            items: sizes
                .iter()
                .filter_map(|id| self.items.get(id))
                .map(|item| CompleteItem {
                    item: item.clone(),
                    available_count: self.available(item.id),
                })
                .collect(),
        }
    }

    /// Units left of an item (0 for an item without a record).
    pub fn available(&self, item_id: u64) -> u32 {
        self.availability
            .get(&item_id)
            .map_or(0, |a| a.available_count)
    }

    /// One product.
    pub fn product(&self, id: u64) -> Option<&Product> {
        self.products.get(&id)
    }

    /// One item.
    pub fn item(&self, id: u64) -> Option<&Item> {
        self.items.get(&id)
    }

    /// Marks a product released; returns it. Releasing twice is harmless.
    pub fn mark_product_released(&mut self, id: u64) -> Result<Product, InventoryError> {
        let product = self
            .products
            .get_mut(&id)
            .ok_or(InventoryError::ProductNotFound(id))?;
        product.released = true;
        Ok(product.clone())
    }

    /// Takes the store's stock figure after a sale. Stock only ever falls
    /// (sales; a restock reloads from the store), so a figure higher than the
    /// one held is an older sale arriving late — concurrent sales on this
    /// node, or two nodes' sales reaching a third, can arrive in either
    /// order — and is ignored. Returns the figure before and after.
    pub fn apply_sale(&mut self, sold: Availability) -> (Availability, Availability) {
        let held = self.availability.entry(sold.item_id).or_insert(sold);
        let before = *held;
        if sold.available_count < held.available_count {
            *held = sold;
        }
        (before, *held)
    }

    /// Replaces everything with a fresh snapshot (the store's node reconnected).
    pub fn replace(&mut self, fresh: Inventory) {
        *self = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;

    fn demo() -> Inventory {
        Inventory::new(catalogue::demo())
    }

    #[test]
    fn complete_products_carry_their_sizes_and_stock_in_page_order() {
        let inventory = demo();
        let products = inventory.complete_products();
        assert_eq!(products.len(), 4);
        assert!(products
            .windows(2)
            .all(|w| w[0].product.order <= w[1].product.order));
        for complete in &products {
            assert_eq!(complete.items.len(), 10);
            for item in &complete.items {
                assert_eq!(item.available_count, inventory.available(item.item.id));
            }
        }
    }

    #[test]
    fn releasing_marks_the_product_and_unknown_products_are_errors() {
        let mut inventory = demo();
        assert!(!inventory.product(2).unwrap().released);
        assert!(inventory.mark_product_released(2).unwrap().released);
        assert!(inventory.product(2).unwrap().released);
        assert_eq!(
            inventory.mark_product_released(99),
            Err(InventoryError::ProductNotFound(99))
        );
    }

    #[test]
    fn a_sale_arriving_late_never_raises_the_stock() {
        let mut inventory = demo();
        let item_id = 5;
        let start = inventory.available(item_id);
        assert!(start >= 2, "demo stock for item 5 is {start}");
        let one_sold = Availability {
            item_id,
            available_count: start - 1,
        };
        let two_sold = Availability {
            item_id,
            available_count: start - 2,
        };
        // Another node's two sales arrive out of order.
        assert_eq!(inventory.apply_sale(two_sold).1, two_sold);
        let (before, after) = inventory.apply_sale(one_sold);
        assert_eq!((before, after), (two_sold, two_sold));
        assert_eq!(inventory.available(item_id), start - 2);
    }

    #[test]
    fn one_complete_product_matches_the_list() {
        let inventory = demo();
        let all = inventory.complete_products();
        assert_eq!(inventory.complete_product(2).as_ref(), all.get(1));
        assert_eq!(inventory.complete_product(99), None);
    }
}
