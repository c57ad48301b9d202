//! The presence example's channel on the channel test kit: the state pushed
//! after a join, the diffs other clients get as users come, change and go —
//! the messages phoenix.js's `Presence` consumes.

use std::time::Duration;

use channels::message::Status;
use channels::presence::Presence;
use channels::testing::{ChannelCase, TestChannel, TestSocket};
use channels::token::Signer;
use channels::tracker::TrackerOptions;
use hello_sockets::UserSocket;
use serde_json::{json, Value};

async fn presence(case: &ChannelCase) -> Presence {
    Presence::start(TrackerOptions::new("test"), case.pubsub().clone())
        .await
        .expect("the tracker starts")
}

async fn joined(
    case: &ChannelCase,
    presence: &Presence,
    user: &str,
) -> (TestSocket<UserSocket>, TestChannel) {
    let socket = UserSocket::new(Signer::new("s".repeat(64))).with_presence(Some(presence.clone()));
    let mut socket = case.socket(socket, ());
    let channel = socket
        .join("presence:lobby", json!({ "user": user }))
        .await
        .expect("a user joins the room");
    (socket, channel)
}

fn metas<'a>(presences: &'a Value, key: &str) -> &'a Vec<Value> {
    presences[key]["metas"]
        .as_array()
        .unwrap_or_else(|| panic!("no metas for {key} in {presences}"))
}

#[tokio::test]
async fn a_join_pushes_the_rooms_presences_with_the_user_in_it() {
    let case = ChannelCase::new().await;
    let presence = presence(&case).await;
    let (mut alice, _) = joined(&case, &presence, "alice").await;
    let state = alice.assert_push("presence_state", json!({})).await;
    let meta = &metas(&state, "alice")[0];
    assert!(
        meta["phx_ref"].as_str().is_some_and(|r| !r.is_empty()),
        "{meta}"
    );
    assert_eq!(meta["node"], "nonode@nohost");
    assert!(meta["online_at"].as_u64().is_some());
}

#[tokio::test]
async fn others_get_joins_updates_and_leaves_as_diffs() {
    let case = ChannelCase::new().await;
    let presence = presence(&case).await;
    let (mut alice, _) = joined(&case, &presence, "alice").await;
    alice.assert_push("presence_state", json!({})).await;
    // Her own join reaches her as a diff too, as in Phoenix (phoenix.js
    // applies it to the state it already has).
    let own = alice
        .assert_push("presence_diff", json!({"leaves": {}}))
        .await;
    assert_eq!(metas(&own["joins"], "alice").len(), 1);

    let (mut bob, bob_channel) = joined(&case, &presence, "bob").await;
    let state = bob.assert_push("presence_state", json!({})).await;
    assert_eq!(metas(&state, "alice").len(), 1);
    assert_eq!(metas(&state, "bob").len(), 1);
    let diff = alice
        .assert_push("presence_diff", json!({"leaves": {}}))
        .await;
    assert_eq!(metas(&diff["joins"], "bob").len(), 1);

    let status = bob
        .push(&bob_channel, "status", json!({"status": "away"}))
        .await;
    bob.assert_reply(&status, Status::Ok, json!({})).await;
    let diff = alice.assert_push("presence_diff", json!({})).await;
    let (left, joined) = (
        &metas(&diff["leaves"], "bob")[0],
        &metas(&diff["joins"], "bob")[0],
    );
    assert_eq!(joined["status"], "away");
    assert_eq!(
        joined["phx_ref_prev"], left["phx_ref"],
        "an update names the ref it replaces"
    );

    let left_room = bob.leave(&bob_channel).await;
    bob.assert_reply(&left_room, Status::Ok, json!({})).await;
    let diff = alice
        .assert_push("presence_diff", json!({"joins": {}}))
        .await;
    assert_eq!(metas(&diff["leaves"], "bob").len(), 1);
    assert_eq!(
        presence
            .list("presence:lobby")
            .await
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["alice"]
    );
}

#[tokio::test]
async fn a_join_without_a_user_is_refused() {
    let case = ChannelCase::new().await;
    let presence = presence(&case).await;
    let socket = UserSocket::new(Signer::new("s".repeat(64))).with_presence(Some(presence));
    let mut socket = case.socket(socket, ());
    for params in [
        json!({}),
        json!({"user": ""}),
        json!({"user": "x".repeat(65)}),
        json!({"user": 7}),
    ] {
        assert!(socket.join("presence:lobby", params).await.is_err());
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}
