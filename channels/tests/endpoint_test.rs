//! The endpoint's plain HTTP side: routes and static files on the socket's port.

use std::time::Duration;

use channels::endpoint::Endpoint;
use channels::pubsub::PubSub;
use channels::transport::plain;
use http::{Method, StatusCode};
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use runtime::testkit::{http_get_async, HttpResponse};

async fn get(address: std::net::SocketAddr, path: &str) -> HttpResponse {
    http_get_async(address, path, Duration::from_secs(5)).await
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
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, "ok"),
        "{health:?}"
    );

    let index = get(address, "/").await;
    assert!(
        index.headers.contains("content-type: text/html"),
        "{index:?}"
    );
    assert_eq!(index.body, "<h1>hello</h1>");

    let script = get(address, "/js/app.js").await;
    assert!(script.headers.contains("javascript"), "{script:?}");
    let mounted = get(address, "/assets/js/app.js").await;
    assert_eq!(mounted.body, "console.log(1)", "{mounted:?}");
    // A prefix matches whole path segments only.
    assert_eq!(get(address, "/assetsjs/app.js").await.status, 404);

    assert_eq!(get(address, "/../etc/passwd").await.status, 400);
    assert_eq!(get(address, "/nope.txt").await.status, 404);
    assert_eq!(get(address, "/socket/websocket").await.status, 404);
    std::fs::remove_dir_all(&dir).unwrap();
}
