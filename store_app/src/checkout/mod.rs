//! The checkout context (the book's `Sneakers23.Checkout`): carts, and the
//! ids that tie a shopper's tabs to one cart, and buying a cart
//! ([`Checkout::purchase_cart`]). Nothing here knows about sockets or pages;
//! the web layer's cart channel and checkout page call these.

mod purchase;
mod shopping_cart;

use channels::token::Signer;

pub use purchase::{order_key, Checkout, CheckoutError, CheckoutStats, Purchased};
pub use shopping_cart::{CartError, CartItem, ShoppingCart, CART_MAX_AGE, CART_SALT};

/// The length of a cart id, in characters.
pub const CART_ID_LENGTH: usize = 64;

/// The cart a serialized token holds, or an empty cart for a missing, forged,
/// expired or malformed one (the book's `restore_cart`): a shopper with a bad
/// token starts afresh; they never see an error page, nor anyone else's cart.
pub fn restore_cart(signer: &Signer, serialized: Option<&str>) -> ShoppingCart {
    match ShoppingCart::deserialize(signer, serialized) {
        Ok(cart) => cart,
        Err(why) => {
            if serialized.is_some() {
                tracing::debug!(%why, "a cart token was refused: starting with an empty cart");
            }
            ShoppingCart::new()
        }
    }
}

/// A fresh cart id (the book's `generate_cart_id`): 64 URL-safe characters
/// from the operating system's CSPRNG (48 random bytes, base64url), so an id
/// cannot be guessed, and it fits in a topic (`cart:<id>`) and a cookie as is.
pub fn generate_cart_id() -> String {
    let id = channels::secret::generate();
    debug_assert_eq!(id.len(), CART_ID_LENGTH);
    id
}

/// Whether `id` has the shape of an id [`generate_cart_id`] makes.
pub fn is_cart_id(id: &str) -> bool {
    id.len() == CART_ID_LENGTH
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Item;

    #[test]
    fn restore_cart_gives_the_cart_back_or_an_empty_one() {
        let signer = Signer::new("s".repeat(64));
        let mut cart = ShoppingCart::new();
        cart.add_item(&Item {
            id: 5,
            product_id: 1,
            sku: "PM-1-8".into(),
            size: "8".into(),
        })
        .unwrap();
        let token = cart.serialize(&signer);
        assert_eq!(restore_cart(&signer, Some(&token)), cart);
        assert_eq!(restore_cart(&signer, None), ShoppingCart::new());
        assert_eq!(restore_cart(&signer, Some("garbage")), ShoppingCart::new());
        let stranger = Signer::new("t".repeat(64));
        assert_eq!(restore_cart(&stranger, Some(&token)), ShoppingCart::new());
    }

    #[test]
    fn cart_ids_are_64_url_safe_characters_and_never_repeat() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| generate_cart_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| is_cart_id(id)), "{ids:?}");
        assert!(!is_cart_id("short"));
        assert!(!is_cart_id(&"a".repeat(63)));
        assert!(!is_cart_id(&format!("{}/", "a".repeat(63))));
    }
}
