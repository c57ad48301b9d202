//! The channels layer on the runtime: an endpoint whose channel processes live
//! under an OTP supervision tree, seen through introspection and cleaned up
//! when their connection goes away.

use std::time::Duration;

use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use futures::{SinkExt, StreamExt};
use runtime::introspect;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::{Strategy, Supervisor, SupervisorOptions};
use runtime::testkit::eventually;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn joined_channels_show_in_the_tree_and_die_with_their_connection() {
    let root = Supervisor::start(
        SupervisorOptions::new(Strategy::OneForOne).named("tree_test.root"),
        vec![ProcessSupervisor::child_spec(
            "channels",
            SupervisorOptions::default().named("tree_test.channels"),
        )],
    )
    .await
    .unwrap();
    let channels = ProcessSupervisor::lookup("tree_test.channels").unwrap();
    let endpoint = hello_sockets::endpoint(
        PubSub::new(),
        channels.clone(),
        Signer::new(secret::generate()),
        SocketConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener, std::future::pending()));

    let url = format!("ws://{address}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    for (join_ref, topic) in [("1", "ping"), ("2", "bench:7")] {
        let join = format!(r#"["{join_ref}","{join_ref}","{topic}","phx_join",{{}}]"#);
        ws.send(Message::text(join)).await.unwrap();
        let reply = ws.next().await.unwrap().unwrap().into_text().unwrap();
        assert!(reply.contains(r#""status":"ok""#), "{reply}");
    }

    assert_eq!(channels.count_children().unwrap().active, 2);
    let tree = introspect::processes();
    let ping = tree
        .iter()
        .find(|p| p.name == "PingChannel ping")
        .expect("the ping channel is listed");
    assert_eq!(ping.path, "tree_test.root/channels");
    assert_eq!(ping.depth, 2);
    assert!(tree.iter().any(|p| p.name == "BenchChannel bench:7"));

    drop(ws);
    assert!(
        eventually(WAIT, || channels.count_children().unwrap().active == 0).await,
        "channel processes outlived their connection"
    );
    root.stop().await;
    assert!(!introspect::processes()
        .iter()
        .any(|p| p.name == "tree_test.root"));
}
