//! The book's `ProductChannelTest` (chapter 7) and the `stock_change` rule, on
//! the channel test kit: what `notify_product_released` and
//! `notify_item_stock_change` broadcast, who may join `product:*`, and the
//! state every join is answered with (what a page that reconnects catches up
//! on).

use std::sync::Arc;

use channels::message::Status;
use channels::testing::{ChannelCase, TestSocket};
use runtime::{server, ExitReason, Pid};
use serde_json::{json, Value};
use store_app::catalogue;
use store_app::inventory::{CompleteProduct, Inventory, InventoryCall, InventoryServer, Snapshot};
use store_app::model::Availability;
use store_app::web::{
    notify_item_stock_change, notify_memory_reloaded, notify_product_released, product_topic,
    render_sizes, InventoryRef, ProductSocket, Shopper, StockLevel, StockNotice,
};

/// The node's secret, as the endpoint's signer holds it.
fn signer() -> channels::token::Signer {
    channels::token::Signer::new("s".repeat(64))
}

fn complete_products() -> Vec<CompleteProduct> {
    Inventory::new(catalogue::demo()).complete_products()
}

/// An inventory server holding `snapshot`, as a node's is after its load.
async fn inventory(snapshot: Snapshot) -> Pid<InventoryServer> {
    server::start(InventoryServer::new(Arc::new(snapshot)), ())
        .await
        .expect("the inventory server starts")
}

/// A page's socket whose channels read the demo catalogue.
async fn demo_socket(case: &ChannelCase) -> TestSocket<ProductSocket> {
    let inventory = inventory(catalogue::demo()).await;
    case.socket(
        ProductSocket::new(inventory.into(), signer()),
        Shopper::default(),
    )
}

/// A page's socket joined to `product:<id>`; the test sees the topic's broadcasts.
async fn joined(case: &ChannelCase, product_id: u64) -> TestSocket<ProductSocket> {
    let mut socket = demo_socket(case).await;
    socket
        .subscribe_and_join(&product_topic(product_id), json!({}))
        .await
        .expect("product channels accept joins");
    socket
}

fn stock(item_id: u64, available_count: u32) -> Availability {
    Availability {
        item_id,
        available_count,
    }
}

mod notify_product_released {
    use super::*;

    #[tokio::test]
    async fn the_size_selector_for_the_product_is_broadcast() {
        let case = ChannelCase::new().await;
        let products = complete_products();
        let product = &products[1];
        let mut socket = joined(&case, product.product.id).await;

        notify_product_released(case.pubsub(), product);

        let broadcast = socket.assert_broadcast("released", json!({})).await;
        let html = broadcast["size_html"]
            .as_str()
            .expect("size_html is a string");
        assert!(html.contains("size-container__entry"), "{html}");
        for entry in &product.items {
            assert!(
                html.contains(&format!(r#"value="{}""#, entry.item.id)),
                "item {} missing from {html}",
                entry.item.id
            );
        }
        // And the page joined to the topic gets it pushed.
        socket
            .assert_push("released", json!({"size_html": html}))
            .await;
    }

    #[tokio::test]
    async fn other_products_pages_hear_nothing() {
        let case = ChannelCase::new().await;
        let products = complete_products();
        let mut other = joined(&case, products[0].product.id).await;
        notify_product_released(case.pubsub(), &products[1]);
        other.refute_push("released", json!({})).await;
    }
}

mod notify_item_stock_change {
    use super::*;

    const PRODUCT: u64 = 1;
    const ITEM: u64 = 3;

    #[tokio::test]
    async fn the_same_level_that_is_not_out_is_not_broadcast() {
        let case = ChannelCase::new().await;
        let mut socket = joined(&case, PRODUCT).await;
        for (before, after) in [(40, 39), (12, 11), (5, 4)] {
            assert_eq!(
                notify_item_stock_change(
                    case.pubsub(),
                    PRODUCT,
                    stock(ITEM, before),
                    stock(ITEM, after)
                ),
                StockNotice::NoChange,
                "{before} -> {after}"
            );
        }
        socket.refute_push("stock_change", json!({})).await;
    }

    #[tokio::test]
    async fn a_level_change_is_broadcast_with_product_item_and_level() {
        let case = ChannelCase::new().await;
        let mut socket = joined(&case, PRODUCT).await;
        assert_eq!(
            notify_item_stock_change(case.pubsub(), PRODUCT, stock(ITEM, 10), stock(ITEM, 9)),
            StockNotice::Broadcast(StockLevel::Low)
        );
        let expected = json!({"product_id": PRODUCT, "item_id": ITEM, "level": "low"});
        let broadcast = socket.assert_broadcast("stock_change", json!({})).await;
        assert_eq!(broadcast, expected);
        socket.assert_push("stock_change", expected).await;
    }

    #[tokio::test]
    async fn selling_the_last_one_broadcasts_out() {
        let case = ChannelCase::new().await;
        let mut socket = joined(&case, PRODUCT).await;
        assert_eq!(
            notify_item_stock_change(case.pubsub(), PRODUCT, stock(ITEM, 1), stock(ITEM, 0)),
            StockNotice::Broadcast(StockLevel::Out)
        );
        socket
            .assert_broadcast(
                "stock_change",
                json!({"product_id": PRODUCT, "item_id": ITEM, "level": "out"}),
            )
            .await;
    }

    #[tokio::test]
    async fn out_is_broadcast_even_when_it_was_already_out() {
        let case = ChannelCase::new().await;
        let mut socket = joined(&case, PRODUCT).await;
        assert_eq!(
            notify_item_stock_change(case.pubsub(), PRODUCT, stock(ITEM, 0), stock(ITEM, 0)),
            StockNotice::Broadcast(StockLevel::Out)
        );
        socket
            .assert_broadcast("stock_change", json!({"item_id": ITEM, "level": "out"}))
            .await;
    }
}

mod joining {
    use super::*;

    #[tokio::test]
    async fn every_product_in_memory_can_be_joined_with_any_params_object() {
        let case = ChannelCase::new().await;
        let mut socket = demo_socket(&case).await;
        for product in complete_products() {
            let topic = product_topic(product.product.id);
            assert!(socket.join(&topic, json!({})).await.is_ok(), "{topic}");
        }
        let mut other = demo_socket(&case).await;
        assert!(other
            .join("product:2", json!({"any": "params"}))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn other_topics_are_refused() {
        let case = ChannelCase::new().await;
        let mut socket = demo_socket(&case).await;
        assert_eq!(
            socket.join("ping", json!({})).await.unwrap_err(),
            json!({"reason": "unmatched topic"})
        );
        assert_eq!(
            socket.join("products:1", json!({})).await.unwrap_err(),
            json!({"reason": "unmatched topic"})
        );
    }

    #[tokio::test]
    async fn a_product_topic_without_a_numeric_id_is_refused_with_a_reason() {
        let case = ChannelCase::new().await;
        let mut socket = demo_socket(&case).await;
        for topic in ["product:", "product:abc", "product:-1"] {
            let refused = socket.join(topic, json!({})).await.unwrap_err();
            let reason = refused["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("numeric id"), "{topic}: {refused}");
        }
    }

    #[tokio::test]
    async fn params_that_are_not_an_object_are_refused_and_the_socket_lives_on() {
        let case = ChannelCase::new().await;
        let mut socket = demo_socket(&case).await;
        for params in [json!([1, 2]), json!("hi"), json!(null)] {
            assert_eq!(
                socket.join("product:1", params).await.unwrap_err(),
                json!({"reason": "join params must be a JSON object"})
            );
        }
        assert!(socket.join("product:1", json!({})).await.is_ok());
    }

    #[tokio::test]
    async fn events_from_the_page_get_an_error_reply_not_a_crash() {
        let case = ChannelCase::new().await;
        let mut socket = demo_socket(&case).await;
        let channel = socket.join("product:1", json!({})).await.unwrap();
        let r = socket.push(&channel, "buy", json!({"item_id": 3})).await;
        let reply = socket.assert_reply(&r, Status::Error, json!({})).await;
        assert!(reply["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no client events")));
        // Still joined: a broadcast still arrives.
        notify_item_stock_change(case.pubsub(), 1, stock(3, 1), stock(3, 0));
        socket
            .assert_push("stock_change", json!({"level": "out"}))
            .await;
    }
}

/// The reply to every join: the product as the node's memory holds it now,
/// so that a page that was disconnected catches up on what it missed.
mod join_reply {
    use super::*;

    /// The `items` of a join reply as (item id, level) pairs.
    fn levels(reply: &Value) -> Vec<(u64, String)> {
        reply["items"]
            .as_array()
            .unwrap_or_else(|| panic!("items is a list: {reply}"))
            .iter()
            .map(|item| {
                (
                    item["item_id"].as_u64().expect("item_id is a number"),
                    item["level"].as_str().expect("level is a string").into(),
                )
            })
            .collect()
    }

    fn expected_levels(product: &CompleteProduct) -> Vec<(u64, String)> {
        product
            .items
            .iter()
            .map(|entry| {
                let level = StockLevel::from_count(entry.available_count);
                (entry.item.id, level.as_str().to_string())
            })
            .collect()
    }

    #[tokio::test]
    async fn a_released_product_is_answered_with_its_sizes_and_every_level() {
        let case = ChannelCase::new().await;
        let products = complete_products();
        let product = products.iter().find(|p| p.product.released).unwrap();
        let mut socket = demo_socket(&case).await;
        let channel = socket
            .join(&product_topic(product.product.id), json!({}))
            .await
            .unwrap();
        assert_eq!(channel.reply["released"], json!(true));
        assert_eq!(channel.reply["size_html"], json!(render_sizes(product)));
        assert_eq!(levels(&channel.reply), expected_levels(product));
        let shown: Vec<_> = levels(&channel.reply).into_iter().map(|(_, l)| l).collect();
        assert!(
            shown.iter().any(|l| l != &shown[0]),
            "the demo's first product has several levels: {shown:?}"
        );
    }

    #[tokio::test]
    async fn a_product_coming_soon_is_answered_without_sizes() {
        let case = ChannelCase::new().await;
        let products = complete_products();
        let product = products.iter().find(|p| !p.product.released).unwrap();
        let mut socket = demo_socket(&case).await;
        let channel = socket
            .join(&product_topic(product.product.id), json!({}))
            .await
            .unwrap();
        assert_eq!(channel.reply["released"], json!(false));
        assert!(
            channel.reply.get("size_html").is_none(),
            "{}",
            channel.reply
        );
        assert_eq!(levels(&channel.reply), expected_levels(product));
    }

    #[tokio::test]
    async fn a_rejoin_is_answered_with_what_changed_while_the_page_was_away() {
        let case = ChannelCase::new().await;
        let inventory = inventory(catalogue::demo()).await;
        let products = complete_products();
        let released = products.iter().find(|p| p.product.released).unwrap();
        let last_one = released
            .items
            .iter()
            .find(|i| i.available_count == 1)
            .expect("the demo has a size with one unit left");
        let soon = products.iter().find(|p| !p.product.released).unwrap();

        // The page joins, and its connection goes away.
        let mut page = case.socket(
            ProductSocket::new(inventory.clone().into(), signer()),
            Shopper::default(),
        );
        let before = page
            .join(&product_topic(released.product.id), json!({}))
            .await
            .unwrap();
        assert!(levels(&before.reply).contains(&(last_one.item.id, "low".into())));
        drop(page);

        // Meanwhile the last unit is sold and another product released.
        let sale = Availability {
            item_id: last_one.item.id,
            available_count: 0,
        };
        let reply = inventory
            .request(|r| InventoryCall::ApplySale(sale, r))
            .await
            .unwrap();
        assert!(reply.is_ok(), "{reply:?}");
        let reply = inventory
            .request(|r| InventoryCall::MarkReleased(soon.product.id, r))
            .await
            .unwrap();
        assert!(reply.is_ok(), "{reply:?}");

        // phoenix.js reconnects and rejoins: the replies carry both changes.
        let mut page = case.socket(
            ProductSocket::new(inventory.into(), signer()),
            Shopper::default(),
        );
        let after = page
            .join(&product_topic(released.product.id), json!({}))
            .await
            .unwrap();
        let mut want = expected_levels(released);
        for (item_id, level) in &mut want {
            if *item_id == last_one.item.id {
                *level = "out".into();
            }
        }
        assert_eq!(levels(&after.reply), want);
        let now_released = page
            .join(&product_topic(soon.product.id), json!({}))
            .await
            .unwrap();
        assert_eq!(now_released.reply["released"], json!(true));
        let html = now_released.reply["size_html"].as_str().unwrap_or_default();
        for entry in &soon.items {
            assert!(
                html.contains(&format!(r#"value="{}""#, entry.item.id)),
                "item {} missing from {html}",
                entry.item.id
            );
        }
    }

    #[tokio::test]
    async fn a_product_this_node_does_not_hold_is_refused_so_the_page_retries() {
        let case = ChannelCase::new().await;
        // A web node just restarted, before it reloaded from the store.
        let empty = inventory(Snapshot::default()).await;
        let mut socket = case.socket(
            ProductSocket::new(empty.into(), signer()),
            Shopper::default(),
        );
        let refused = socket.join("product:1", json!({})).await.unwrap_err();
        assert_eq!(
            refused,
            json!({"reason": "product 1 is not in this node's memory (yet)"})
        );
        let mut demo = demo_socket(&case).await;
        let unknown = demo.join("product:999", json!({})).await.unwrap_err();
        assert!(
            unknown["reason"].as_str().unwrap().contains("999"),
            "{unknown}"
        );
    }

    #[tokio::test]
    async fn without_an_inventory_server_the_join_succeeds_without_state() {
        let case = ChannelCase::new().await;
        let missing = InventoryRef::Named("no-such-inventory".into());
        let gone = inventory(catalogue::demo()).await;
        gone.stop_and_wait(ExitReason::Normal, std::time::Duration::from_secs(5))
            .await;
        for inventory in [missing, gone.into()] {
            let mut socket = case.socket(
                ProductSocket::new(inventory.clone(), signer()),
                Shopper::default(),
            );
            let channel = socket
                .subscribe_and_join("product:1", json!({}))
                .await
                .unwrap_or_else(|e| panic!("{inventory:?}: refused {e}"));
            assert_eq!(channel.reply, json!({}), "{inventory:?}");
            // Joined all the same: later changes still reach the page.
            notify_item_stock_change(case.pubsub(), 1, stock(3, 1), stock(3, 0));
            socket
                .assert_push("stock_change", json!({"item_id": 3, "level": "out"}))
                .await;
        }
    }
}

/// A node's memory loaded again from the store: its pages hear what changed.
mod memory_reloaded {
    use super::*;

    #[tokio::test]
    async fn releases_and_level_changes_are_told_and_nothing_else() {
        let case = ChannelCase::new().await;
        let before = complete_products();
        let mut after = before.clone();
        let soon = after.iter().position(|p| !p.product.released).unwrap();
        after[soon].product.released = true;
        let released = after
            .iter()
            .position(|p| p.product.released && p.product.id != after[soon].product.id)
            .unwrap();
        let items = &mut after[released].items;
        let last = items.iter().position(|i| i.available_count == 1).unwrap();
        items[last].available_count = 0;
        let plenty = items.iter().position(|i| i.available_count >= 26).unwrap();
        items[plenty].available_count -= 1;
        let (last_id, plenty_id) = (items[last].item.id, items[plenty].item.id);
        let mut soon_page = joined(&case, after[soon].product.id).await;
        let mut released_page = joined(&case, after[released].product.id).await;

        assert_eq!(notify_memory_reloaded(case.pubsub(), &before, &after), 2);

        soon_page
            .assert_push("released", json!({"size_html": render_sizes(&after[soon])}))
            .await;
        released_page
            .assert_push("stock_change", json!({"item_id": last_id, "level": "out"}))
            .await;
        released_page
            .refute_push("stock_change", json!({"item_id": plenty_id}))
            .await;
        soon_page.refute_push("stock_change", json!({})).await;
    }

    #[tokio::test]
    async fn products_memory_did_not_hold_before_are_skipped() {
        let case = ChannelCase::new().await;
        let after = complete_products();
        let mut page = joined(&case, after[0].product.id).await;
        assert_eq!(notify_memory_reloaded(case.pubsub(), &[], &after), 0);
        assert_eq!(notify_memory_reloaded(case.pubsub(), &after, &after), 0);
        page.refute_push("stock_change", json!({})).await;
        page.refute_push("released", json!({})).await;
    }
}
