//! `Sneakers23Web.ProductSocket`: the socket the store page connects to
//! (`/product_socket`). Anyone may connect, as in the book: product news is
//! public. A page also proves which cart is its own with the `cart_token`
//! connect param (`window.cartToken`, see `cart_session.rs`); the cart
//! channel is joined only for that cart. A missing, forged or expired token
//! does not refuse the connection — the product channels still work — it
//! only leaves the socket without a cart.
//!
//! Routes: `product:*` and `cart:*`; joining any other topic is refused by
//! the session as an unmatched topic.

use channels::presence::Presence;
use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use channels::token::Signer;

use super::cart_session::cart_id_of_socket_token;
use super::inventory_ref::InventoryRef;
use super::product_channel::ProductChannel;
use super::shopping_cart_channel::ShoppingCartChannel;

/// Where the socket is mounted.
pub const PRODUCT_SOCKET_PATH: &str = "/product_socket";

/// The connect param that carries the page's cart token.
pub const CART_TOKEN_PARAM: &str = "cart_token";

/// A connection's assigns: whose cart it may join.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shopper {
    /// The cart id the connect's `cart_token` proved, if any.
    pub cart_id: Option<String>,
}

/// The store page's socket; its channels read from `inventory`.
pub struct ProductSocket {
    inventory: InventoryRef,
    signer: Signer,
    cart_tracker: Option<Presence>,
}

impl ProductSocket {
    /// The socket, with the inventory server its channels read from and the
    /// secret that signed the pages' cart tokens.
    pub fn new(inventory: InventoryRef, signer: Signer) -> Self {
        ProductSocket {
            inventory,
            signer,
            cart_tracker: None,
        }
    }

    /// Tracks every joined cart in `cart_tracker`, for the admin dashboard.
    pub fn with_cart_tracker(mut self, cart_tracker: Option<Presence>) -> Self {
        self.cart_tracker = cart_tracker;
        self
    }
}

impl Socket for ProductSocket {
    type Assigns = Shopper;

    async fn connect(&self, params: &Params, _info: &ConnectInfo) -> Result<Shopper, Refused> {
        let token = params.get(CART_TOKEN_PARAM);
        let cart_id = token.and_then(|token| cart_id_of_socket_token(&self.signer, token));
        if token.is_some() && cart_id.is_none() {
            tracing::debug!("a cart token was refused: connected without a cart");
        }
        Ok(Shopper { cart_id })
    }

    fn channels(&self, routes: &mut Routes<Shopper>) {
        routes.channel("product:*", ProductChannel::new(self.inventory.clone()));
        routes.channel(
            "cart:*",
            ShoppingCartChannel::new(self.inventory.clone(), self.signer.clone())
                .with_cart_tracker(self.cart_tracker.clone()),
        );
    }
}
