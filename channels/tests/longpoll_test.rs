//! The long-poll transport over real HTTP, as the wire specification describes it.

mod support;

use support::Server;

use std::net::SocketAddr;
use std::time::Duration;

use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request; returns the status line and the JSON body.
async fn request(address: SocketAddr, method: &str, path: &str, body: &str) -> (String, Value) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(15),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the server answers")
    .unwrap();
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const PATH: &str = "/socket/longpoll?vsn=2.0.0";

async fn new_session(server: &Server) -> String {
    let (status, body) = request(server.addr, "GET", PATH, "").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body["status"], 410, "{body}");
    assert_eq!(body["messages"], json!([]));
    body["token"].as_str().unwrap().to_string()
}

fn with_token(token: &str) -> String {
    format!("{PATH}&token={token}")
}

fn frames(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|s| serde_json::from_str(s.as_str().unwrap()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_session_joins_pushes_and_polls_its_replies() {
    let server = Server::with_config(SocketConfig::default()).await;
    let token = new_session(&server).await;
    let batch = "[\"1\",\"1\",\"ping\",\"phx_join\",{}]\n[\"1\",\"2\",\"ping\",\"ping\",{}]";
    let (_, posted) = request(server.addr, "POST", &with_token(&token), batch).await;
    assert_eq!(posted, json!({"status": 200}));
    let (_, polled) = request(server.addr, "GET", &with_token(&token), "").await;
    assert_eq!(polled["status"], 200);
    assert_eq!(
        frames(&polled),
        vec![
            json!(["1", "1", "ping", "phx_reply", {"response": {}, "status": "ok"}]),
            json!(["1", "2", "ping", "phx_reply", {"response": {"ping": "pong"}, "status": "ok"}]),
        ]
    );
    assert!(polled["token"].as_str().unwrap().starts_with("SFMyNTY."));
}

#[tokio::test]
async fn an_empty_poll_answers_204_after_the_window() {
    let server = Server::with_config(SocketConfig {
        longpoll_window: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let token = new_session(&server).await;
    let (_, polled) = request(server.addr, "GET", &with_token(&token), "").await;
    assert_eq!(polled["status"], 204);
    assert!(polled["token"].is_string());
}

#[tokio::test]
async fn a_waiting_poll_receives_a_broadcast() {
    let server = Server::with_config(SocketConfig::default()).await;
    let token = new_session(&server).await;
    let join = "[\"1\",\"1\",\"bench:9\",\"phx_join\",{}]";
    request(server.addr, "POST", &with_token(&token), join).await;
    let (_, polled) = request(server.addr, "GET", &with_token(&token), "").await;
    assert_eq!(frames(&polled).len(), 1, "the join reply");
    let poll = tokio::spawn({
        let address = server.addr;
        let path = with_token(&token);
        async move { request(address, "GET", &path, "").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server
        .endpoint
        .pubsub()
        .broadcast("bench:9", "bcast", json!({"n": 1}));
    let (_, polled) = poll.await.unwrap();
    assert_eq!(
        frames(&polled),
        vec![json!([null, null, "bench:9", "bcast", {"n": 1}])]
    );
}

#[tokio::test]
async fn unknown_sessions_get_410_and_a_get_starts_over() {
    let server = Server::with_config(SocketConfig::default()).await;
    let (_, posted) = request(server.addr, "POST", &with_token("SFMyNTY.bogus.x"), "[]").await;
    assert_eq!(posted, json!({"status": 410}));
    let (_, polled) = request(server.addr, "GET", &with_token("nonsense"), "").await;
    assert_eq!(polled["status"], 410, "a fresh session");
}

#[tokio::test]
async fn an_unpolled_session_closes_and_its_channels_stop() {
    let server = Server::with_config(SocketConfig {
        longpoll_window: Duration::from_millis(100),
        longpoll_session_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let token = new_session(&server).await;
    let join = "[\"1\",\"1\",\"ping\",\"phx_join\",{}]";
    request(server.addr, "POST", &with_token(&token), join).await;
    assert_eq!(server.channels.count_children().unwrap().active, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.channels.count_children().unwrap().active > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.channels.count_children().unwrap().active, 0);
    let (_, posted) = request(server.addr, "POST", &with_token(&token), join).await;
    assert_eq!(posted, json!({"status": 410}));
}

#[tokio::test]
async fn malformed_posts_are_refused_without_closing_the_session() {
    let server = Server::with_config(SocketConfig::default()).await;
    let token = new_session(&server).await;
    let (_, posted) = request(server.addr, "POST", &with_token(&token), "not json").await;
    assert_eq!(posted["status"], 400);
    assert!(posted["reason"].as_str().unwrap().contains("invalid JSON"));
    let heartbeat = "[null,\"1\",\"phoenix\",\"heartbeat\",{}]";
    let (_, posted) = request(server.addr, "POST", &with_token(&token), heartbeat).await;
    assert_eq!(posted, json!({"status": 200}));
}

#[tokio::test]
async fn a_refused_connect_answers_403() {
    use channels::endpoint::Endpoint;
    use hello_sockets::AuthSocket;
    let signer = Signer::new(secret::generate());
    let channels = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let endpoint = Endpoint::builder(PubSub::new(), channels)
        .signer(signer.clone())
        .socket(
            "/auth_socket",
            AuthSocket::new(signer.clone()),
            SocketConfig {
                longpoll: true,
                ..Default::default()
            },
        )
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener, std::future::pending()));
    let (_, refused) = request(
        address,
        "GET",
        "/auth_socket/longpoll?vsn=2.0.0&token=bad",
        "",
    )
    .await;
    assert_eq!(refused, json!({"status": 403}));
    let token = signer.sign(hello_sockets::TOKEN_SALT, &7u64);
    let (_, accepted) = request(
        address,
        "GET",
        &format!("/auth_socket/longpoll?vsn=2.0.0&token={token}"),
        "",
    )
    .await;
    assert_eq!(accepted["status"], 410);
}
