//! `Channel::handle_in_now`: events answered in the connection's task keep
//! the order of the client's events, and a panic there crashes the channel
//! like one in `handle_in`.

use channels::channel::{Channel, ChannelSocket, HandleIn, HandleNow, Reply};
use channels::message::{Payload, Status};
use channels::secret;
use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use channels::testing::{ChannelCase, TestSocket};
use channels::token::Signer;
use hello_sockets::UserSocket;
use runtime::ProcessError;
use serde_json::json;

#[tokio::test]
async fn a_ping_answered_at_once_does_not_overtake_an_earlier_event() {
    let case = ChannelCase::new().await;
    let mut socket: TestSocket<UserSocket> =
        case.socket(UserSocket::new(Signer::new(secret::generate())), ());
    let bench = socket
        .subscribe_and_join("bench:order", json!({}))
        .await
        .unwrap();
    // `broadcast` goes to the channel's process; the `ping` right behind it
    // must wait for it rather than be answered first.
    socket.push(&bench, "broadcast", json!({"n": 1})).await;
    socket.push(&bench, "ping", json!({"n": 2})).await;
    let mut replies = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while replies.len() < 2 && tokio::time::Instant::now() < deadline {
        let messages = socket.messages().await;
        replies.extend(
            messages
                .into_iter()
                .filter(|m| m.event == "phx_reply")
                .map(|m| m.payload.as_json().cloned().unwrap_or_default()),
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        replies,
        vec![
            json!({"status": "ok", "response": {}}),
            json!({"status": "ok", "response": {"n": 2}}),
        ]
    );
    // With the process idle, a ping is answered at once, and again and again.
    for n in 0..3 {
        let ping = socket.push(&bench, "ping", json!({"n": n})).await;
        socket
            .assert_reply(&ping, Status::Ok, json!({"n": n}))
            .await;
    }
}

/// Panics in `handle_in_now` on `boom`.
struct Fragile;

impl Channel<()> for Fragile {
    type State = ();
    type Info = ();

    fn handle_in_now(&self, event: &str, payload: Payload) -> HandleNow {
        match event {
            "boom" => panic!("boom in handle_in_now"),
            "now" => HandleNow::Reply(Reply::Ok(payload)),
            _ => HandleNow::Process(payload),
        }
    }

    async fn handle_in(
        &self,
        _event: &str,
        payload: Payload,
        _socket: &ChannelSocket<()>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        Ok(HandleIn::Reply(Reply::Ok(payload)))
    }
}

struct FragileSocket;

impl Socket for FragileSocket {
    type Assigns = ();

    async fn connect(&self, _params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        Ok(())
    }

    fn channels(&self, routes: &mut Routes<()>) {
        routes.channel("fragile", Fragile);
    }
}

#[tokio::test]
async fn a_panic_in_handle_in_now_crashes_the_channel_with_phx_error() {
    let case = ChannelCase::new().await;
    let mut socket = case.socket(FragileSocket, ());
    let channel = socket
        .subscribe_and_join("fragile", json!({}))
        .await
        .unwrap();
    let now = socket.push(&channel, "now", json!({"a": 1})).await;
    socket.assert_reply(&now, Status::Ok, json!({"a": 1})).await;
    let boom = socket.push(&channel, "boom", json!({})).await;
    socket.assert_event("fragile", "phx_error").await;
    socket.refute_reply(&boom).await;
    // The topic can be joined again.
    let again = socket
        .subscribe_and_join("fragile", json!({}))
        .await
        .unwrap();
    let later = socket.push(&again, "later", json!({"b": 2})).await;
    socket
        .assert_reply(&later, Status::Ok, json!({"b": 2}))
        .await;
}
