//! The book's channel tests (`WildcardChannelTest`, `DedupeChannelTest`) and
//! the PingChannel and AuthChannel behaviour of chapters 3–4, on the channel
//! test kit.

use std::time::Duration;

use channels::message::Status;
use channels::secret;
use channels::testing::{ChannelCase, TestChannel, TestSocket};
use channels::token::Signer;
use hello_sockets::{AuthAssigns, AuthSocket, DedupeChannel, DedupeState, UserSocket};
use serde_json::json;

fn user_socket(case: &ChannelCase) -> TestSocket<UserSocket> {
    case.socket(UserSocket::new(Signer::new(secret::generate())), ())
}

mod wildcard_channel {
    use super::*;

    #[tokio::test]
    async fn ok_when_numbers_in_the_format_a_b_when_b_is_2a() {
        let case = ChannelCase::new().await;
        assert!(user_socket(&case)
            .subscribe_and_join("wild:2:4", json!({}))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn error_when_b_is_not_exactly_twice_a() {
        let case = ChannelCase::new().await;
        let joined = user_socket(&case)
            .subscribe_and_join("wild:1:3", json!({}))
            .await;
        assert_eq!(joined.unwrap_err(), json!({}));
    }

    #[tokio::test]
    async fn error_when_twice_a_is_past_any_machine_integer() {
        // Elixir's integers are unbounded: 2 × 2^62 is not -2^63.
        let case = ChannelCase::new().await;
        let joined = user_socket(&case)
            .subscribe_and_join("wild:4611686018427387904:-9223372036854775808", json!({}))
            .await;
        assert_eq!(joined.unwrap_err(), json!({}));
    }

    #[tokio::test]
    async fn error_when_3_numbers_are_provided() {
        let case = ChannelCase::new().await;
        let joined = user_socket(&case)
            .subscribe_and_join("wild:1:2:3", json!({}))
            .await;
        assert_eq!(joined.unwrap_err(), json!({}));
    }

    #[tokio::test]
    async fn an_invalid_format_topic_crashes_the_join() {
        let case = ChannelCase::new().await;
        let mut socket = user_socket(&case);
        let joined = socket.subscribe_and_join("wild:invalid", json!({})).await;
        assert_eq!(joined.unwrap_err(), json!({"reason": "join crashed"}));
        // The socket survives the crash.
        assert!(socket
            .subscribe_and_join("wild:2:4", json!({}))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_pong_response_is_provided() {
        let case = ChannelCase::new().await;
        let mut socket = user_socket(&case);
        let channel = socket
            .subscribe_and_join("wild:2:4", json!({}))
            .await
            .unwrap();
        let r = socket.push(&channel, "ping", json!({})).await;
        let reply = socket.assert_reply(&r, Status::Ok, json!({})).await;
        // `^reply` in the book: exactly this map, no extra keys.
        assert_eq!(reply, json!({"ping": "pong"}));
    }
}

mod dedupe_channel {
    use super::*;

    async fn connect(case: &ChannelCase) -> (TestSocket<UserSocket>, TestChannel) {
        let mut socket = user_socket(case);
        let channel = socket.subscribe_and_join("dupe", json!({})).await.unwrap();
        (socket, channel)
    }

    fn broadcast_number(socket: &TestSocket<UserSocket>, channel: &TestChannel, n: i64) {
        socket.broadcast_from(channel, "number", json!({"number": n}));
    }

    async fn buffer_of(socket: &TestSocket<UserSocket>, channel: &TestChannel) -> DedupeState {
        socket.channel_state::<DedupeChannel>(channel).await
    }

    #[tokio::test]
    async fn a_buffer_is_maintained_as_numbers_are_broadcasted() {
        let case = ChannelCase::new().await;
        let (mut socket, channel) = connect(&case).await;
        for (n, expected) in [(1, vec![1]), (1, vec![1, 1]), (2, vec![2, 1, 1])] {
            broadcast_number(&socket, &channel, n);
            assert_eq!(
                buffer_of(&socket, &channel).await,
                DedupeState {
                    buffer: expected,
                    awaiting_buffer: true
                }
            );
        }
        socket.refute_push("number", json!({})).await;
    }

    #[tokio::test]
    async fn the_buffer_is_drained_1_second_after_a_number_is_first_added() {
        let case = ChannelCase::new().await;
        let (mut socket, channel) = connect(&case).await;
        for n in [1, 1, 2] {
            broadcast_number(&socket, &channel, n);
        }
        let wait = Duration::from_secs(3);
        socket
            .assert_push_within("number", json!({"value": 1}), wait)
            .await;
        socket
            .assert_push_within("number", json!({"value": 2}), wait)
            .await;
        socket.refute_push("number", json!({"value": 1})).await;
    }

    #[tokio::test]
    async fn the_buffer_drains_with_unique_values_in_the_correct_order() {
        let case = ChannelCase::new().await;
        let (mut socket, channel) = connect(&case).await;
        for n in [1, 2, 3, 2] {
            broadcast_number(&socket, &channel, n);
        }
        socket
            .assert_push_within("number", json!({"value": 1}), Duration::from_secs(3))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let values: Vec<_> = socket
            .messages()
            .await
            .into_iter()
            .filter(|m| m.event == "number")
            .map(|m| m.payload.as_json().cloned().unwrap())
            .collect();
        assert_eq!(values, vec![json!({"value": 2}), json!({"value": 3})]);
    }
}

mod ping_channel {
    use super::*;

    #[tokio::test]
    async fn replies_to_every_kind_of_ping() {
        let case = ChannelCase::new().await;
        let mut socket = user_socket(&case);
        let ping = socket.subscribe_and_join("ping", json!({})).await.unwrap();
        for (event, payload, expected) in [
            ("ping", json!({}), json!({"ping": "pong"})),
            ("ping_hello", json!({}), json!({"ping": "hello"})),
            ("ping", json!({"phrase": "good"}), json!({"ping": "pong"})),
            (
                "ping",
                json!({"ack_phrase": "good"}),
                json!({"ping": "good"}),
            ),
        ] {
            let r = socket.push(&ping, event, payload).await;
            assert_eq!(
                socket.assert_reply(&r, Status::Ok, json!({})).await,
                expected
            );
        }
    }

    #[tokio::test]
    async fn pong_gets_no_reply_and_ding_stops_the_channel_with_a_reply() {
        let case = ChannelCase::new().await;
        let mut socket = user_socket(&case);
        let ping = socket.subscribe_and_join("ping", json!({})).await.unwrap();
        let pong = socket.push(&ping, "pong", json!({})).await;
        socket.refute_reply(&pong).await;
        let ding = socket.push(&ping, "ding", json!({})).await;
        socket
            .assert_reply(&ding, Status::Ok, json!({"msg": "shutting down"}))
            .await;
        socket.assert_event("ping", "phx_close").await;
    }

    #[tokio::test]
    async fn an_unknown_event_crashes_only_that_channel() {
        let case = ChannelCase::new().await;
        let mut socket = user_socket(&case);
        let ping = socket.subscribe_and_join("ping", json!({})).await.unwrap();
        let wild = socket
            .subscribe_and_join("wild:1:2", json!({}))
            .await
            .unwrap();
        socket.push(&ping, "ping2", json!({})).await;
        let error = socket.assert_event("ping", "phx_error").await;
        assert_eq!(error.join_ref, Some(ping.join_ref.clone()));
        assert_eq!(error.msg_ref, Some(ping.join_ref.clone()));
        let r = socket.push(&wild, "ping", json!({})).await;
        socket
            .assert_reply(&r, Status::Ok, json!({"ping": "pong"}))
            .await;
        // The crashed topic is no longer joined; a rejoin works.
        let r = socket.push(&ping, "ping", json!({})).await;
        socket
            .assert_reply(&r, Status::Error, json!({"reason": "unmatched topic"}))
            .await;
        assert!(socket.subscribe_and_join("ping", json!({})).await.is_ok());
    }

    #[tokio::test]
    async fn request_ping_is_intercepted_and_pushed_as_send_ping() {
        let case = ChannelCase::new().await;
        let mut socket = user_socket(&case);
        socket.subscribe_and_join("ping", json!({})).await.unwrap();
        case.pubsub().broadcast("ping", "request_ping", json!({}));
        socket
            .assert_push("send_ping", json!({"from_node": "nonode@nohost"}))
            .await;
        socket.assert_broadcast("request_ping", json!({})).await;
    }

    #[tokio::test]
    async fn leave_replies_ok_then_closes_and_a_leave_of_an_unjoined_topic_is_ok_too() {
        let case = ChannelCase::new().await;
        let mut socket = user_socket(&case);
        let ping = socket.subscribe_and_join("ping", json!({})).await.unwrap();
        let r = socket.leave(&ping).await;
        socket.assert_reply(&r, Status::Ok, json!({})).await;
        socket.assert_event("ping", "phx_close").await;
        let r = socket.leave(&ping).await;
        socket.assert_reply(&r, Status::Ok, json!({})).await;
    }
}

mod auth_channel {
    use super::*;

    #[tokio::test]
    async fn a_user_may_join_their_own_topic_only() {
        let case = ChannelCase::new().await;
        let mut socket = case.socket(
            AuthSocket::new(Signer::new(secret::generate())),
            AuthAssigns { user_id: 123 },
        );
        assert_eq!(
            socket
                .subscribe_and_join("user:1", json!({}))
                .await
                .unwrap_err(),
            json!({"reason": "unauthorized"})
        );
        assert!(socket
            .subscribe_and_join("user:123", json!({}))
            .await
            .is_ok());
        assert!(socket.subscribe_and_join("ping", json!({})).await.is_ok());
    }
}

#[tokio::test]
async fn broadcasts_reach_every_joined_socket_including_the_sender() {
    let case = ChannelCase::new().await;
    let mut a = user_socket(&case);
    let mut b = user_socket(&case);
    let bench_a = a.subscribe_and_join("bench:1", json!({})).await.unwrap();
    b.subscribe_and_join("bench:1", json!({})).await.unwrap();
    let r = a.push(&bench_a, "broadcast", json!({"n": 1})).await;
    a.assert_reply(&r, Status::Ok, json!({})).await;
    a.assert_push("bcast", json!({"n": 1})).await;
    b.assert_push("bcast", json!({"n": 1})).await;
}
