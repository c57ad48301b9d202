//! The book's `Integration.PipelineTest`: events go from the producer to the
//! right user's channel, never to another, and their delivery is timed.

use channels::secret;
use channels::testing::{ChannelCase, TestSocket};
use channels::token::Signer;
use hello_sockets::{AuthAssigns, AuthSocket, Pipeline};
use serde_json::json;

async fn connect_auth_socket(case: &ChannelCase, user_id: u64) -> TestSocket<AuthSocket> {
    let mut socket = case.socket(
        AuthSocket::new(Signer::new(secret::generate())),
        AuthAssigns { user_id },
    );
    socket
        .subscribe_and_join(&format!("user:{user_id}"), json!({}))
        .await
        .unwrap();
    socket
}

#[tokio::test]
async fn events_are_pushed_from_beginning_to_end_correctly() {
    let case = ChannelCase::new().await;
    let pipeline = Pipeline::start(case.pubsub().clone(), None).await.unwrap();
    let mut socket = connect_auth_socket(&case, 1).await;
    for n in 1..=10 {
        assert!(pipeline.push_timed(json!({"n": n}), 1));
        socket.assert_push("push_timed", json!({"n": n})).await;
    }
}

#[tokio::test]
async fn an_event_is_not_delivered_to_the_wrong_user() {
    let case = ChannelCase::new().await;
    let pipeline = Pipeline::start(case.pubsub().clone(), None).await.unwrap();
    let mut socket = connect_auth_socket(&case, 2).await;
    pipeline.push_timed(json!({"test": true}), 1);
    socket
        .refute_push("push_timed", json!({"test": true}))
        .await;
}

#[tokio::test]
async fn events_are_timed_on_delivery() {
    let case = ChannelCase::new().await;
    let pipeline = Pipeline::start(case.pubsub().clone(), None).await.unwrap();
    let mut socket = connect_auth_socket(&case, 1).await;
    pipeline.push_timed(json!({"test": true}), 1);
    socket
        .assert_push("push_timed", json!({"test": true}))
        .await;
    let page = case.metrics().prometheus();
    assert!(
        page.contains("pipeline_push_delivered_milliseconds_count 1"),
        "{page}"
    );
}

#[tokio::test]
async fn untimed_pushes_arrive_as_push() {
    let case = ChannelCase::new().await;
    let pipeline = Pipeline::start(case.pubsub().clone(), None).await.unwrap();
    let mut socket = connect_auth_socket(&case, 3).await;
    for n in 0..50 {
        pipeline.push(json!({"n": n}), 3);
    }
    for n in 0..50 {
        socket.assert_push("push", json!({"n": n})).await;
    }
    assert_eq!(pipeline.dropped(), 0);
}
