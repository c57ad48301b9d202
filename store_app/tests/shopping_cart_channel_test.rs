//! The book's `ShoppingCartChannelTest` (chapter 9), on the channel test kit:
//! a cart channel pushes the cart after its join, answers `add_item` and
//! `remove_item` with the new cart and tells the browser's other tabs, flags
//! an item when it sells out, refuses bad input with an error reply (never a
//! crash), and is joined only by the browser that owns the cart.

use std::sync::Arc;

use channels::message::Status;
use channels::testing::{ChannelCase, TestChannel, TestSocket};
use channels::token::Signer;
use runtime::{server, Pid};
use serde_json::{json, Value};
use store_app::catalogue;
use store_app::checkout::{generate_cart_id, ShoppingCart};
use store_app::inventory::{InventoryCall, InventoryServer};
use store_app::model::{Availability, Item};
use store_app::web::{
    cart_topic, notify_local_item_out, socket_token, ProductSocket, CART, CART_UPDATED,
};

/// Product 1 of the demo catalogue is released; its item 2 (size 6.5) has
/// stock, item 1 is sold out. Product 3 is released by [`Shop::new`]; its
/// sizes are items 21–30. Product 2 (items 11–20) stays "coming soon".
const IN_STOCK: u64 = 2;
const SOLD_OUT: u64 = 1;
const OTHER_SHOE: u64 = 25;
const COMING_SOON: u64 = 12;

/// One node's cart side: an inventory server, the node's secret, a browser's cart id.
struct Shop {
    case: ChannelCase,
    inventory: Pid<InventoryServer>,
    signer: Signer,
    cart_id: String,
}

impl Shop {
    async fn new() -> Shop {
        let inventory = server::start(InventoryServer::new(Arc::new(catalogue::demo())), ())
            .await
            .expect("the inventory server starts");
        let released = inventory
            .request(|r| InventoryCall::MarkReleased(3, r))
            .await
            .unwrap();
        assert!(released.is_ok());
        Shop {
            case: ChannelCase::new().await,
            inventory,
            signer: Signer::new("s".repeat(64)),
            cart_id: generate_cart_id(),
        }
    }

    fn socket(&self) -> ProductSocket {
        ProductSocket::new(self.inventory.clone().into(), self.signer.clone())
    }

    /// A tab of the browser that owns the cart: connected with the page's token.
    async fn tab(&self) -> TestSocket<ProductSocket> {
        let token = socket_token(&self.signer, &self.cart_id);
        self.case
            .connect(self.socket(), &[("cart_token", &token)])
            .await
            .expect("product sockets accept connections")
    }

    /// A tab joined to its cart with `params`; the join's `cart` push is taken.
    async fn joined_tab(&self, params: Value) -> (TestSocket<ProductSocket>, TestChannel, Value) {
        let mut tab = self.tab().await;
        let channel = tab
            .join(&cart_topic(&self.cart_id), params)
            .await
            .expect("the browser's own cart is joined");
        let cart = tab.assert_push(CART, json!({})).await;
        (tab, channel, cart)
    }

    fn item(&self, id: u64, product_id: u64) -> Item {
        Item {
            id,
            product_id,
            sku: String::new(),
            size: String::new(),
        }
    }
}

/// The item ids of a rendered cart, in its order.
fn ids(cart: &Value) -> Vec<u64> {
    cart["items"]
        .as_array()
        .expect("a cart has items")
        .iter()
        .map(|item| item["id"].as_u64().unwrap())
        .collect()
}

mod join {
    use super::*;

    #[tokio::test]
    async fn pushes_the_cart_it_was_given_right_after_the_join() {
        let shop = Shop::new().await;
        let mut cart = ShoppingCart::new();
        cart.add_item(&shop.item(IN_STOCK, 1)).unwrap();
        let serialized = cart.serialize(&shop.signer);

        let (_tab, _channel, pushed) = shop.joined_tab(json!({ "serialized": serialized })).await;
        assert_eq!(ids(&pushed), vec![IN_STOCK]);
        let item = &pushed["items"][0];
        assert_eq!(item["brand"], "Peak Motion");
        assert_eq!(item["name"], "Air Stride");
        assert_eq!(item["size"], "6.5");
        assert_eq!(item["price"], "$160.00");
        assert_eq!(item["out_of_stock"], false);
        assert!(pushed["serialized"].is_string());
    }

    #[tokio::test]
    async fn a_missing_or_forged_cart_is_an_empty_cart() {
        let shop = Shop::new().await;
        let (_tab, _channel, pushed) = shop.joined_tab(json!({})).await;
        assert_eq!(ids(&pushed), Vec::<u64>::new());

        let mut cart = ShoppingCart::new();
        cart.add_item(&shop.item(IN_STOCK, 1)).unwrap();
        let stranger = Signer::new("t".repeat(64));
        let forged = cart.serialize(&stranger);
        let (_tab, _channel, pushed) = shop.joined_tab(json!({ "serialized": forged })).await;
        assert_eq!(ids(&pushed), Vec::<u64>::new());
    }

    #[tokio::test]
    async fn only_the_browser_that_owns_the_cart_may_join_it() {
        let shop = Shop::new().await;
        let mut tab = shop.tab().await;
        let someone_elses = cart_topic(&generate_cart_id());
        assert_eq!(
            tab.join(&someone_elses, json!({})).await.unwrap_err(),
            json!({"reason": "unauthorized"})
        );
        let refused = tab.join("cart:short", json!({})).await.unwrap_err();
        assert!(
            refused["reason"].as_str().unwrap().contains("64-character"),
            "{refused}"
        );

        // No token, or a forged one: connected (product pages still work), no cart.
        for params in [vec![], vec![("cart_token", "forged")]] {
            let mut anonymous = shop.case.connect(shop.socket(), &params).await.unwrap();
            assert_eq!(
                anonymous
                    .join(&cart_topic(&shop.cart_id), json!({}))
                    .await
                    .unwrap_err(),
                json!({"reason": "unauthorized"})
            );
            anonymous
                .join("product:1", json!({}))
                .await
                .expect("product channels need no cart");
        }
    }
}

mod add_and_remove {
    use super::*;

    #[tokio::test]
    async fn add_item_replies_with_the_cart_and_the_other_tab_gets_it() {
        let shop = Shop::new().await;
        let (mut tab, channel, _) = shop.joined_tab(json!({})).await;
        let (mut other_tab, _, _) = shop.joined_tab(json!({})).await;

        let added = tab
            .push(&channel, "add_item", json!({ "item_id": IN_STOCK }))
            .await;
        let reply = tab.assert_reply(&added, Status::Ok, json!({})).await;
        assert_eq!(ids(&reply), vec![IN_STOCK]);
        // Pages read ids from a button's value: a string of digits is taken too.
        let added = tab
            .push(
                &channel,
                "add_item",
                json!({ "item_id": OTHER_SHOE.to_string() }),
            )
            .await;
        let reply = tab.assert_reply(&added, Status::Ok, json!({})).await;
        assert_eq!(ids(&reply), vec![OTHER_SHOE, IN_STOCK], "the latest first");

        // The other tab's channel took the cart (intercepted `cart_updated`).
        let pushed = other_tab.assert_push(CART, json!({})).await;
        assert_eq!(ids(&pushed), vec![IN_STOCK]);
        let pushed = other_tab.assert_push(CART, json!({})).await;
        assert_eq!(ids(&pushed), vec![OTHER_SHOE, IN_STOCK]);
        // The tab that made the change got its reply, not a push.
        tab.refute_push(CART, json!({})).await;
        // The serialized cart restores to the same cart.
        let restored =
            ShoppingCart::deserialize(&shop.signer, reply["serialized"].as_str()).unwrap();
        assert_eq!(restored.item_ids(), vec![OTHER_SHOE, IN_STOCK]);
    }

    #[tokio::test]
    async fn remove_item_replies_and_the_other_tab_follows() {
        let shop = Shop::new().await;
        let mut cart = ShoppingCart::new();
        cart.add_item(&shop.item(IN_STOCK, 1)).unwrap();
        let params = json!({ "serialized": cart.serialize(&shop.signer) });
        let (mut tab, channel, _) = shop.joined_tab(params.clone()).await;
        let (mut other_tab, _, _) = shop.joined_tab(params).await;

        let removed = tab
            .push(&channel, "remove_item", json!({ "item_id": IN_STOCK }))
            .await;
        let reply = tab.assert_reply(&removed, Status::Ok, json!({})).await;
        assert_eq!(ids(&reply), Vec::<u64>::new());
        let pushed = other_tab.assert_push(CART, json!({})).await;
        assert_eq!(ids(&pushed), Vec::<u64>::new());

        let again = tab
            .push(&channel, "remove_item", json!({ "item_id": IN_STOCK }))
            .await;
        tab.assert_reply(&again, Status::Error, json!({"error": "not_found"}))
            .await;
    }

    #[tokio::test]
    async fn a_cart_holds_one_size_of_a_shoe_once() {
        let shop = Shop::new().await;
        let (mut tab, channel, _) = shop.joined_tab(json!({})).await;
        let added = tab
            .push(&channel, "add_item", json!({ "item_id": IN_STOCK }))
            .await;
        tab.assert_reply(&added, Status::Ok, json!({})).await;
        let twice = tab
            .push(&channel, "add_item", json!({ "item_id": IN_STOCK }))
            .await;
        tab.assert_reply(&twice, Status::Error, json!({"error": "duplicate_item"}))
            .await;
        let other_size = tab
            .push(&channel, "add_item", json!({ "item_id": IN_STOCK + 1 }))
            .await;
        let refused = tab
            .assert_reply(
                &other_size,
                Status::Error,
                json!({"error": "product_in_cart"}),
            )
            .await;
        // Told as the shopper reads it (the page shows it as it is): the
        // shoe's name and the size already in the cart, not ids.
        assert_eq!(
            refused["message"],
            "Your cart already holds Air Stride in size 6.5: remove it to pick another size"
        );
    }

    #[tokio::test]
    async fn bad_ids_get_an_error_reply_and_the_channel_lives_on() {
        let shop = Shop::new().await;
        let (mut tab, channel, _) = shop.joined_tab(json!({})).await;
        let refusals = [
            (json!({ "item_id": "abc" }), "invalid_item_id"),
            (json!({ "item_id": -1 }), "invalid_item_id"),
            (json!({ "item_id": 2.5 }), "invalid_item_id"),
            (json!({ "item_id": null }), "invalid_item_id"),
            (json!({}), "invalid_item_id"),
            (json!({ "item_id": 99_999 }), "unknown_item"),
            (json!({ "item_id": COMING_SOON }), "not_released"),
            (json!({ "item_id": SOLD_OUT }), "out_of_stock"),
        ];
        for (params, error) in refusals {
            let pushed = tab.push(&channel, "add_item", params.clone()).await;
            let reply = tab
                .assert_reply(&pushed, Status::Error, json!({ "error": error }))
                .await;
            assert!(reply["message"].is_string(), "{params}: {reply}");
        }
        let unknown = tab.push(&channel, "checkout", json!({})).await;
        tab.assert_reply(&unknown, Status::Error, json!({"error": "unknown_event"}))
            .await;
        // Still joined, still working.
        let added = tab
            .push(&channel, "add_item", json!({ "item_id": IN_STOCK }))
            .await;
        tab.assert_reply(&added, Status::Ok, json!({})).await;
    }
}

mod sold_out_alerts {
    use super::*;

    #[tokio::test]
    async fn an_item_out_pushes_the_cart_with_the_item_flagged() {
        let shop = Shop::new().await;
        let (mut tab, channel, _) = shop.joined_tab(json!({})).await;
        let added = tab
            .push(&channel, "add_item", json!({ "item_id": IN_STOCK }))
            .await;
        tab.assert_reply(&added, Status::Ok, json!({})).await;

        // The last unit sells on this node: memory first, then the alert.
        let sale = Availability {
            item_id: IN_STOCK,
            available_count: 0,
        };
        shop.inventory
            .request(|r| InventoryCall::ApplySale(sale, r))
            .await
            .unwrap()
            .unwrap();
        notify_local_item_out(shop.case.pubsub(), IN_STOCK);

        let pushed = tab.assert_push(CART, json!({})).await;
        assert_eq!(pushed["items"][0]["out_of_stock"], true);
        // An item the cart does not hold is no news.
        notify_local_item_out(shop.case.pubsub(), OTHER_SHOE);
        tab.refute_push(CART, json!({})).await;
    }

    #[tokio::test]
    async fn a_cart_listens_only_for_the_items_it_holds() {
        let shop = Shop::new().await;
        let pubsub = shop.case.pubsub().clone();
        let listeners = |item: u64| pubsub.subscriber_count(&format!("item_out:{item}"));
        let mut cart = ShoppingCart::new();
        cart.add_item(&shop.item(IN_STOCK, 1)).unwrap();
        let (mut tab, channel, _) = shop
            .joined_tab(json!({ "serialized": cart.serialize(&shop.signer) }))
            .await;
        assert_eq!(listeners(IN_STOCK), 1, "subscribed at join");

        let added = tab
            .push(&channel, "add_item", json!({ "item_id": OTHER_SHOE }))
            .await;
        tab.assert_reply(&added, Status::Ok, json!({})).await;
        assert_eq!(listeners(OTHER_SHOE), 1);
        let removed = tab
            .push(&channel, "remove_item", json!({ "item_id": IN_STOCK }))
            .await;
        tab.assert_reply(&removed, Status::Ok, json!({})).await;
        assert_eq!(listeners(IN_STOCK), 0, "unsubscribed on removal");

        let left = tab.leave(&channel).await;
        tab.assert_reply(&left, Status::Ok, json!({})).await;
        // terminate runs as the channel stops.
        for _ in 0..100 {
            if listeners(OTHER_SHOE) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(listeners(OTHER_SHOE), 0, "unsubscribed on leave");
    }
}

#[tokio::test]
async fn a_checkout_empties_the_cart_in_every_tab() {
    let shop = Shop::new().await;
    let mut cart = ShoppingCart::new();
    cart.add_item(&shop.item(IN_STOCK, 1)).unwrap();
    let params = json!({ "serialized": cart.serialize(&shop.signer) });
    let (mut tab, _, _) = shop.joined_tab(params.clone()).await;
    let (mut other_tab, _, _) = shop.joined_tab(params).await;

    // What `POST /checkout` broadcasts after the purchase.
    shop.case.pubsub().broadcast(
        &cart_topic(&shop.cart_id),
        CART_UPDATED,
        json!({ "serialized": ShoppingCart::new().serialize(&shop.signer), "added": [], "removed": [IN_STOCK] }),
    );
    for tab in [&mut tab, &mut other_tab] {
        let pushed = tab.assert_push(CART, json!({})).await;
        assert_eq!(ids(&pushed), Vec::<u64>::new());
    }
}
