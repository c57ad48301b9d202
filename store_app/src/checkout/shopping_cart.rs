//! The shopping cart (the book's `Sneakers23.Checkout.ShoppingCart`): which
//! sizes a shopper has picked, and its signed, portable form.
//!
//! A cart lives in the shopper's browser (`localStorage`) and in the channel
//! processes of their tabs, never on the server's disk, so it travels as a
//! signed token: a shopper can keep it, but not forge one, and a cart restored
//! from anything but a genuine, unexpired token is empty.

use std::time::Duration;

use channels::token::{SignOptions, Signer, TokenError};
use serde::{Deserialize, Serialize};

use crate::model::Item;

/// The book's salt for cart tokens.
pub const CART_SALT: &str = "shopping cart serialization";

/// How long a serialized cart stays valid: the book's seven days.
pub const CART_MAX_AGE: Duration = Duration::from_secs(86_400 * 7);

/// One line of a cart: a size, and the product it is a size of (a cart holds
/// one size of each product, so the product is kept beside the size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItem {
    /// The size (item) picked.
    pub item_id: u64,
    /// Its product.
    pub product_id: u64,
}

/// Why a cart refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// The size is in the cart already (the book's `:duplicate_item`).
    #[error("item {0} is already in the cart")]
    DuplicateItem(u64),
    /// Another size of the same product is in the cart: one size per shoe.
    #[error("the cart already holds size {in_cart} of product {product_id}: remove it first")]
    ProductInCart {
        /// The product.
        product_id: u64,
        /// The size of it already in the cart.
        in_cart: u64,
    },
    /// The size is not in the cart (the book's `:not_found`).
    #[error("item {0} is not in the cart")]
    NotFound(u64),
}

/// A shopper's cart: the sizes picked, the latest first (as the book prepends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShoppingCart {
    items: Vec<CartItem>,
}

impl ShoppingCart {
    /// An empty cart.
    pub fn new() -> Self {
        ShoppingCart::default()
    }

    /// Adds a size; refused when it is already in, or when another size of
    /// its product is.
    pub fn add_item(&mut self, item: &Item) -> Result<(), CartError> {
        if let Some(line) = self.items.iter().find(|l| l.product_id == item.product_id) {
            return Err(if line.item_id == item.id {
                CartError::DuplicateItem(item.id)
            } else {
                CartError::ProductInCart {
                    product_id: item.product_id,
                    in_cart: line.item_id,
                }
            });
        }
        self.items.insert(
            0,
            CartItem {
                item_id: item.id,
                product_id: item.product_id,
            },
        );
        Ok(())
    }

    /// Removes a size; refused when it is not in the cart.
    pub fn remove_item(&mut self, item_id: u64) -> Result<(), CartError> {
        let at = self
            .items
            .iter()
            .position(|l| l.item_id == item_id)
            .ok_or(CartError::NotFound(item_id))?;
        self.items.remove(at);
        Ok(())
    }

    /// The sizes in the cart, the latest first.
    pub fn item_ids(&self) -> Vec<u64> {
        self.items.iter().map(|l| l.item_id).collect()
    }

    /// The lines of the cart, the latest first.
    pub fn items(&self) -> &[CartItem] {
        &self.items
    }

    /// Whether the cart holds nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The cart as a token signed with the node's secret (valid for
    /// [`CART_MAX_AGE`]), to be kept by the browser and handed back.
    pub fn serialize(&self, signer: &Signer) -> String {
        let options = SignOptions {
            max_age: CART_MAX_AGE,
            ..SignOptions::default()
        };
        signer.sign_with(CART_SALT, self, options)
    }

    /// The cart a token holds: refused when it is missing, forged (another
    /// secret or salt, or tampered with), expired, or does not hold a cart
    /// this module could have made (one size per product, no duplicates).
    pub fn deserialize(signer: &Signer, token: Option<&str>) -> Result<ShoppingCart, TokenError> {
        let cart: ShoppingCart = signer.verify(CART_SALT, token, Some(CART_MAX_AGE))?;
        cart.is_well_formed()
            .then_some(cart)
            .ok_or(TokenError::Invalid)
    }

    fn is_well_formed(&self) -> bool {
        self.items.iter().enumerate().all(|(i, line)| {
            self.items[..i]
                .iter()
                .all(|earlier| earlier.product_id != line.product_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn item(id: u64, product_id: u64) -> Item {
        Item {
            id,
            product_id,
            sku: format!("SKU-{id}"),
            size: "9".into(),
        }
    }

    fn signer() -> Signer {
        Signer::new("a".repeat(64))
    }

    #[test]
    fn add_item_puts_the_latest_first_and_refuses_a_duplicate() {
        let mut cart = ShoppingCart::new();
        assert_eq!(cart.add_item(&item(1, 1)), Ok(()));
        assert_eq!(cart.add_item(&item(12, 2)), Ok(()));
        assert_eq!(cart.item_ids(), vec![12, 1]);
        assert_eq!(cart.add_item(&item(1, 1)), Err(CartError::DuplicateItem(1)));
        assert_eq!(
            cart.item_ids(),
            vec![12, 1],
            "a refused add changes nothing"
        );
    }

    #[test]
    fn only_one_size_of_a_product_fits_in_a_cart() {
        let mut cart = ShoppingCart::new();
        cart.add_item(&item(1, 1)).unwrap();
        assert_eq!(
            cart.add_item(&item(2, 1)),
            Err(CartError::ProductInCart {
                product_id: 1,
                in_cart: 1
            })
        );
        cart.remove_item(1).unwrap();
        assert_eq!(
            cart.add_item(&item(2, 1)),
            Ok(()),
            "another size once the first is out"
        );
    }

    #[test]
    fn remove_item_refuses_what_is_not_in_the_cart() {
        let mut cart = ShoppingCart::new();
        cart.add_item(&item(1, 1)).unwrap();
        assert_eq!(cart.remove_item(2), Err(CartError::NotFound(2)));
        assert_eq!(cart.remove_item(1), Ok(()));
        assert!(cart.is_empty());
        assert_eq!(cart.remove_item(1), Err(CartError::NotFound(1)));
    }

    #[test]
    fn a_serialized_cart_comes_back_whole() {
        let mut cart = ShoppingCart::new();
        cart.add_item(&item(3, 1)).unwrap();
        cart.add_item(&item(14, 2)).unwrap();
        let token = cart.serialize(&signer());
        assert!(
            token.starts_with("SFMyNTY."),
            "Phoenix.Token's layout: {token}"
        );
        assert_eq!(ShoppingCart::deserialize(&signer(), Some(&token)), Ok(cart));
    }

    #[test]
    fn a_forged_tampered_or_missing_token_is_refused() {
        let mut cart = ShoppingCart::new();
        cart.add_item(&item(3, 1)).unwrap();
        let token = cart.serialize(&signer());
        let other_secret = Signer::new("b".repeat(64));
        assert_eq!(
            ShoppingCart::deserialize(&other_secret, Some(&token)),
            Err(TokenError::Invalid)
        );
        let other_salt = signer().sign("user salt", &cart);
        assert_eq!(
            ShoppingCart::deserialize(&signer(), Some(&other_salt)),
            Err(TokenError::Invalid)
        );
        let mut tampered = token.clone().into_bytes();
        let middle = tampered.len() / 2;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            ShoppingCart::deserialize(&signer(), Some(&tampered)),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            ShoppingCart::deserialize(&signer(), None),
            Err(TokenError::Missing)
        );
        assert_eq!(
            ShoppingCart::deserialize(&signer(), Some("not a token")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_cart_expires_after_seven_days() {
        let cart = ShoppingCart::new();
        let week_ago = SystemTime::now() - CART_MAX_AGE - Duration::from_secs(60);
        let old = signer().sign_with(
            CART_SALT,
            &cart,
            SignOptions {
                signed_at: Some(week_ago),
                max_age: CART_MAX_AGE,
            },
        );
        assert_eq!(
            ShoppingCart::deserialize(&signer(), Some(&old)),
            Err(TokenError::Expired)
        );
        // Signed with a longer max age of its own: still seven days here.
        let long = signer().sign_with(
            CART_SALT,
            &cart,
            SignOptions {
                signed_at: Some(week_ago),
                max_age: Duration::from_secs(86_400 * 365),
            },
        );
        assert_eq!(
            ShoppingCart::deserialize(&signer(), Some(&long)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_genuine_token_holding_two_sizes_of_one_product_is_refused() {
        let twice = ShoppingCart {
            items: vec![
                CartItem {
                    item_id: 1,
                    product_id: 1,
                },
                CartItem {
                    item_id: 2,
                    product_id: 1,
                },
            ],
        };
        let token = twice.serialize(&signer());
        assert_eq!(
            ShoppingCart::deserialize(&signer(), Some(&token)),
            Err(TokenError::Invalid)
        );
    }
}
