//! The book's `ProductChannelTest` (chapter 7) and the `stock_change` rule, on
//! the channel test kit: what `notify_product_released` and
//! `notify_item_stock_change` broadcast, and who may join `product:*`.

use channels::message::Status;
use channels::testing::{ChannelCase, TestSocket};
use serde_json::json;
use store_app::catalogue;
use store_app::inventory::{CompleteProduct, Inventory};
use store_app::model::Availability;
use store_app::web::{
    notify_item_stock_change, notify_product_released, product_topic, ProductSocket, StockLevel,
    StockNotice,
};

fn complete_products() -> Vec<CompleteProduct> {
    let (products, items, availability) = catalogue::demo();
    Inventory::new(products, items, availability).complete_products()
}

/// A page's socket joined to `product:<id>`; the test sees the topic's broadcasts.
async fn joined(case: &ChannelCase, product_id: u64) -> TestSocket<ProductSocket> {
    let mut socket = case.socket(ProductSocket, ());
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
    async fn any_product_topic_can_be_joined() {
        let case = ChannelCase::new().await;
        let mut socket = case.socket(ProductSocket, ());
        let channel = socket.join("product:1", json!({})).await.unwrap();
        assert_eq!(channel.reply, json!({}));
        assert!(socket
            .join("product:2", json!({"any": "params"}))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn other_topics_are_refused() {
        let case = ChannelCase::new().await;
        let mut socket = case.socket(ProductSocket, ());
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
        let mut socket = case.socket(ProductSocket, ());
        for topic in ["product:", "product:abc", "product:-1"] {
            let refused = socket.join(topic, json!({})).await.unwrap_err();
            let reason = refused["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("numeric id"), "{topic}: {refused}");
        }
    }

    #[tokio::test]
    async fn params_that_are_not_an_object_are_refused_and_the_socket_lives_on() {
        let case = ChannelCase::new().await;
        let mut socket = case.socket(ProductSocket, ());
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
        let mut socket = case.socket(ProductSocket, ());
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
