//! The store's endpoint over real HTTP on a loopback port: the page rendered
//! from an inventory server fed by the demo catalogue, the static files, the
//! health route, escaping, a 503 when the inventory is gone, and a live
//! `stock_change` reaching a client of `/product_socket`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use channels::client::{Client, ClientOptions};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::secret;
use channels::token::Signer;
use runtime::process::ProcessSupervisor;
use runtime::supervisor::SupervisorOptions;
use runtime::testkit::{http_get_async, HttpResponse};
use runtime::{server, ExitReason, Pid};
use serde_json::json;
use store_app::app::PageNotifier;
use store_app::catalogue;
use store_app::checkout::Checkout;
use store_app::inventory::{InventoryServer, Snapshot};
use store_app::model::Availability;
use store_app::replication::Replication;
use store_app::sneakers23::Sneakers23;
use store_app::store_client::StoreClient;
use store_app::web::{
    default_assets_dir, notify_item_stock_change, InventoryRef, StockLevel, StockNotice, StoreWeb,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[path = "support/page.rs"]
mod page;
use page::shared_page;

const WAIT: Duration = Duration::from_secs(5);

async fn start_inventory(snapshot: Snapshot) -> Pid<InventoryServer> {
    server::start(InventoryServer::new(Arc::new(snapshot)), ())
        .await
        .expect("the inventory server starts")
}

/// Serves the store's endpoint on a free loopback port; its address and PubSub.
async fn start_web(inventory: InventoryRef) -> (SocketAddr, PubSub) {
    let pubsub = PubSub::new();
    let supervisor = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .expect("the channel supervisor starts");
    let endpoint = StoreWeb {
        pubsub: pubsub.clone(),
        supervisor,
        inventory,
        signer: Signer::new(secret::generate()),
        config: SocketConfig::default(),
        metrics: Metrics::local(),
        assets_dir: default_assets_dir(),
        options: Default::default(),
        checkout: no_store_checkout(&pubsub),
        cart_tracker: None,
        admin: None,
    }
    .endpoint();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(endpoint.serve(listener, std::future::pending()));
    (address, pubsub)
}

/// Checkout with no store behind it: these tests do not buy.
fn no_store_checkout(pubsub: &PubSub) -> Checkout {
    let context = Sneakers23::new(
        "no-inventory-registered",
        StoreClient::new(None, None),
        Replication::new(pubsub.clone()),
        Arc::new(PageNotifier(pubsub.clone())),
    );
    Checkout::new(context)
}

/// `GET path`: status, lower-cased headers, body.
async fn get(address: SocketAddr, path: &str) -> HttpResponse {
    http_get_async(address, path, WAIT).await
}

#[tokio::test]
async fn the_page_lists_every_product_with_sizes_or_coming_soon() {
    let snapshot = catalogue::demo();
    let (address, _) = start_web(start_inventory(snapshot.clone()).await.into()).await;

    let page = get(address, "/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .headers
        .contains("content-type: text/html; charset=utf-8"));
    let html = &page.body;
    for product in &snapshot.products {
        assert!(html.contains(&product.name), "{} missing", product.name);
        assert!(html.contains(&format!(r#"data-product-id="{}""#, product.id)));
        assert!(html.contains(&format!(r#"src="{}""#, product.image)));
    }
    assert!(html.contains("$160.00"), "prices in dollars");
    let unreleased = snapshot.products.iter().filter(|p| !p.released).count();
    assert_eq!(html.matches("Coming soon").count(), unreleased);

    let released: Vec<_> = snapshot.products.iter().filter(|p| p.released).collect();
    for product in released {
        for item in snapshot.items.iter().filter(|i| i.product_id == product.id) {
            let count = snapshot
                .availability
                .iter()
                .find(|a| a.item_id == item.id)
                .map_or(0, |a| a.available_count);
            let level = StockLevel::from_count(count);
            let entry = format!(r#"value="{}" data-level="{level}""#, item.id);
            assert!(html.contains(&entry), "{entry} missing");
        }
    }
    assert!(html.contains("size-container__entry"));
    let phoenix = html.find(r#"src="/assets/phoenix.min.js""#).unwrap();
    let app = html.find(r#"src="/assets/js/app.js""#).unwrap();
    assert!(phoenix < app, "phoenix.js loads before app.js");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from a CDN"
    );
}

#[tokio::test]
async fn static_files_and_health_are_served() {
    let (address, _) = start_web(start_inventory(catalogue::demo()).await.into()).await;

    let app = get(address, "/assets/js/app.js").await;
    assert_eq!(app.status, 200);
    assert!(app.headers.contains("javascript"), "{}", app.headers);
    assert!(app.body.contains("new Phoenix.Socket(\"/product_socket\""));

    let css = get(address, "/assets/css/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.headers.contains("text/css"));

    let phoenix = get(address, "/assets/phoenix.min.js").await;
    assert_eq!(
        phoenix.status, 200,
        "phoenix.min.js is missing: run `npm ci` in store_app/assets"
    );
    assert!(phoenix.body.contains("Socket"));

    for (_, shoe) in catalogue::demo().products.iter().map(|p| (p.id, &p.image)) {
        let image = get(address, shoe).await;
        assert_eq!(image.status, 200, "{shoe}");
        assert!(image.headers.contains("image/svg+xml"), "{shoe}");
        assert!(image.body.contains("<svg"));
    }

    let longpoll = get(address, "/product_socket/longpoll?vsn=2.0.0").await;
    assert_eq!(
        longpoll.status, 200,
        "long poll is served: {}",
        longpoll.body
    );
    assert!(longpoll.body.contains("\"token\""), "{}", longpoll.body);

    let health = get(address, "/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "ok");

    assert_eq!(get(address, "/assets/nope.js").await.status, 404);
    assert_eq!(
        get(address, "/assets/js/../../Cargo.toml").await.status,
        400
    );
}

#[tokio::test]
async fn only_the_files_the_page_loads_are_public() {
    let (address, _) = start_web(start_inventory(catalogue::demo()).await.into()).await;
    // They exist in the assets folder, but the page does not load them.
    for private in [
        "/assets/package.json",
        "/assets/package-lock.json",
        "/assets/node_modules/phoenix/package.json",
        "/assets/node_modules/phoenix/priv/static/phoenix.js",
        "/assets/node_modules/.package-lock.json",
        "/assets/phoenix.js",
        "/assets/phoenix.cjs.js.map",
        "/images/../package.json",
    ] {
        let status = get(address, private).await.status;
        assert!(
            status == 404 || status == 400,
            "{private} is answered {status}"
        );
    }
    assert!(default_assets_dir().join("package.json").is_file());
}

#[tokio::test]
async fn catalogue_strings_are_escaped_on_the_page() {
    let mut snapshot = catalogue::demo();
    snapshot.products[0].name = "<script>alert('x')</script> & Co".into();
    snapshot.products[1].color = r#""><img src=x onerror=alert(1)>"#.into();
    let (address, _) = start_web(start_inventory(snapshot).await.into()).await;

    let html = get(address, "/").await.body;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; Co"));
    // The page's own scripts are still there.
    assert_eq!(html.matches("<script src=").count(), 2);
}

#[tokio::test]
async fn without_an_inventory_the_page_is_503_with_a_reason() {
    let pid = start_inventory(catalogue::demo()).await;
    let (address, _) = start_web(pid.clone().into()).await;
    assert_eq!(get(address, "/").await.status, 200);
    pid.stop_and_wait(ExitReason::Shutdown, WAIT).await;

    let page = get(address, "/").await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("inventory"), "{}", page.body);
    assert_eq!(get(address, "/health").await.status, 200);

    let (address, _) = start_web(InventoryRef::Named("no-such-inventory".into())).await;
    let page = get(address, "/").await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("no-such-inventory"), "{}", page.body);
}

#[tokio::test]
async fn a_named_inventory_is_found_by_name() {
    let name = format!("web-test-inventory-{}", std::process::id());
    let options = server::StartOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let _pid = server::start_with(
        options,
        InventoryServer::new(Arc::new(catalogue::demo())),
        (),
    )
    .await
    .unwrap();
    let (address, _) = start_web(InventoryRef::Named(name)).await;
    let page = get(address, "/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Air Stride"));
}

#[tokio::test]
async fn a_page_client_hears_stock_changes_over_the_product_socket() {
    let (address, pubsub) = start_web(start_inventory(catalogue::demo()).await.into()).await;
    let client = tokio::time::timeout(
        WAIT,
        Client::connect(
            &format!("ws://{address}/product_socket"),
            &[],
            ClientOptions::default(),
        ),
    )
    .await
    .expect("connects in time")
    .expect("the product socket accepts anyone");
    let channel = client.channel("product:1", json!({}));
    let mut changes = channel.on("stock_change");
    tokio::time::timeout(WAIT, channel.join())
        .await
        .expect("joins in time")
        .expect("product:1 is joinable");

    let notice = notify_item_stock_change(
        &pubsub,
        1,
        Availability {
            item_id: 2,
            available_count: 1,
        },
        Availability {
            item_id: 2,
            available_count: 0,
        },
    );
    assert_eq!(notice, StockNotice::Broadcast(StockLevel::Out));
    let change = tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("the change arrives")
        .expect("the subscription is open");
    assert_eq!(
        change,
        json!({"product_id": 1, "item_id": 2, "level": "out"})
    );
    client.close().await;
}

#[tokio::test]
async fn a_page_rendered_once_is_served_until_the_inventory_changes() {
    use store_app::inventory::InventoryCall;
    let inventory = start_inventory(catalogue::demo()).await;
    let (address, _) = start_web(inventory.clone().into()).await;

    let first = shared_page(&get(address, "/").await.body);
    assert_eq!(
        shared_page(&get(address, "/").await.body),
        first,
        "same inventory, same page"
    );
    assert_eq!(first.matches("Coming soon").count(), 3);

    let reply = inventory
        .request(|r| InventoryCall::MarkReleased(2, r))
        .await
        .unwrap();
    assert!(reply.is_ok(), "{reply:?}");
    let after = shared_page(&get(address, "/").await.body);
    assert_ne!(after, first, "a release shows at once");
    assert_eq!(after.matches("Coming soon").count(), 2);

    let sale = Availability {
        item_id: 2,
        available_count: 3,
    };
    let reply = inventory
        .request(|r| InventoryCall::ApplySale(sale, r))
        .await
        .unwrap();
    assert!(reply.is_ok(), "{reply:?}");
    let sold = get(address, "/").await.body;
    assert!(
        sold.contains(r#"value="2" data-level="low""#),
        "a sale shows at once"
    );
}

#[tokio::test]
async fn a_browser_that_accepts_gzip_gets_the_page_compressed() {
    use std::io::Read;
    let (address, _) = start_web(start_inventory(catalogue::demo()).await.into()).await;
    let plain = get(address, "/").await;
    assert!(
        !plain.headers.contains("content-encoding"),
        "{}",
        plain.headers
    );
    assert!(plain.headers.contains("vary: accept-encoding"));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = "GET / HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("the response arrives")
        .unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut html = String::new();
    flate2::read::GzDecoder::new(&raw[split + 4..])
        .read_to_string(&mut html)
        .unwrap();
    assert_eq!(
        shared_page(&html),
        shared_page(&plain.body),
        "the same page"
    );
    assert!(raw.len() - split < plain.body.len(), "and smaller");
}
