//! The endpoint's plain HTTP side: routes and static files on the socket's port.

use std::time::Duration;

use channels::endpoint::Endpoint;
use channels::pubsub::PubSub;
use channels::transport::plain;
use http::{Method, StatusCode};
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}

#[tokio::test]
async fn routes_and_static_files_share_the_port() {
    let dir = std::env::temp_dir().join(format!("endpoint-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>hello</h1>").unwrap();
    std::fs::write(dir.join("js/app.js"), "console.log(1)").unwrap();

    let supervisor = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let endpoint = Endpoint::builder(PubSub::new(), supervisor)
        .route(Method::GET, "/health", |_| async {
            plain(StatusCode::OK, "ok")
        })
        .static_files("/assets", &dir)
        .static_files("/", &dir)
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener, std::future::pending()));

    let health = get(address, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok"));

    let index = get(address, "/").await;
    assert!(index.contains("content-type: text/html"), "{index}");
    assert!(index.ends_with("<h1>hello</h1>"));

    let script = get(address, "/js/app.js").await;
    assert!(script.contains("javascript"), "{script}");
    let mounted = get(address, "/assets/js/app.js").await;
    assert!(mounted.ends_with("console.log(1)"), "{mounted}");
    // A prefix matches whole path segments only.
    assert!(get(address, "/assetsjs/app.js")
        .await
        .starts_with("HTTP/1.1 404"));

    assert!(get(address, "/../etc/passwd")
        .await
        .starts_with("HTTP/1.1 400"));
    assert!(get(address, "/nope.txt").await.starts_with("HTTP/1.1 404"));
    assert!(get(address, "/socket/websocket")
        .await
        .starts_with("HTTP/1.1 404"));
    std::fs::remove_dir_all(&dir).unwrap();
}
