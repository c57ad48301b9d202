//! `HelloSocketsWeb.StatsSocket` and `StatsChannel` (book chapter 6): a socket
//! whose connects and joins are counted, with a timed `ping`, a `slow_ping`
//! that blocks its channel for 3 s, and a `parallel_slow_ping` that answers
//! after 3 s without blocking it.

use runtime::log_text::bounded;
use std::time::Duration;

use serde_json::json;

use channels::channel::{Channel, ChannelSocket, HandleIn, Join, Reply};
use channels::message::Payload;
use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use runtime::ProcessError;

/// How long the slow pings take.
pub const SLOW_PING: Duration = Duration::from_secs(3);

/// The book's `StatsSocket`: `channel "*", StatsChannel`. Its `socket_connect`
/// and `channel_join` counters come from the endpoint, which counts them for
/// every socket with the book's names and tags.
pub struct StatsSocket;

impl Socket for StatsSocket {
    type Assigns = ();

    async fn connect(&self, _params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        Ok(())
    }

    fn channels(&self, routes: &mut Routes<()>) {
        routes.channel("*", StatsChannel);
    }
}

/// The book's `StatsChannel`.
pub struct StatsChannel;

impl Channel<()> for StatsChannel {
    type State = ();
    type Info = ();

    async fn join(
        &self,
        topic: &str,
        _payload: Payload,
        _socket: &ChannelSocket<()>,
    ) -> Result<Join<()>, ProcessError> {
        match topic {
            "valid" => Ok(Join::Ok(())),
            "invalid" => Ok(Join::Error(json!({"reason": "always fails"}))),
            other => Err(format!("no join clause for \"{}\"", bounded(other)).into()),
        }
    }

    async fn handle_in(
        &self,
        event: &str,
        _payload: Payload,
        socket: &ChannelSocket<()>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        match event {
            "ping" => {
                let reply = socket
                    .metrics()
                    .measure("stats_channel.ping", async {
                        // `Process.sleep(:rand.uniform(1000))`
                        let mut byte = [0u8; 2];
                        getrandom::fill(&mut byte).map_err(|e| e.to_string())?;
                        let millis = 1 + u64::from(u16::from_le_bytes(byte)) % 1000;
                        tokio::time::sleep(Duration::from_millis(millis)).await;
                        Ok::<_, String>(HandleIn::Reply(Reply::ok(json!({"ping": "pong"}))))
                    })
                    .await?;
                Ok(reply)
            }
            "slow_ping" => {
                tokio::time::sleep(SLOW_PING).await;
                Ok(HandleIn::Reply(Reply::ok(json!({"ping": "pong"}))))
            }
            "parallel_slow_ping" => {
                socket
                    .reply_async(async {
                        tokio::time::sleep(SLOW_PING).await;
                        Reply::ok(json!({"ping": "pong"}))
                    })
                    .await;
                Ok(HandleIn::NoReply)
            }
            other => Err(format!("no handle_in clause for \"{}\"", bounded(other)).into()),
        }
    }
}
