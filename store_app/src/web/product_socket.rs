//! `Sneakers23Web.ProductSocket`: the socket the store page connects to
//! (`/product_socket`). Anyone may connect, as in the book: the page only
//! listens to public product news. Its one route is `product:*`; joining any
//! other topic is refused by the session as an unmatched topic.

use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};

use super::inventory_ref::InventoryRef;
use super::product_channel::ProductChannel;

/// Where the socket is mounted.
pub const PRODUCT_SOCKET_PATH: &str = "/product_socket";

/// The store page's socket; its channels answer joins from `inventory`.
pub struct ProductSocket {
    inventory: InventoryRef,
}

impl ProductSocket {
    /// The socket, with the inventory server its channels read from.
    pub fn new(inventory: InventoryRef) -> Self {
        ProductSocket { inventory }
    }
}

impl Socket for ProductSocket {
    type Assigns = ();

    async fn connect(&self, _params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        Ok(())
    }

    fn channels(&self, routes: &mut Routes<()>) {
        routes.channel("product:*", ProductChannel::new(self.inventory.clone()));
    }
}
