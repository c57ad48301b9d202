//! The store in a real browser (book ch8, "break your application"):
//! headless Chromium driven through WebDriver (`fantoccini` against
//! Debian's `chromium-driver`), against real nodes started as separate
//! processes as `scripts/demo.sh` starts them — `app` (the store, web),
//! `app2` (web) and `back` (no web).
//!
//! The test starts `chromedriver` itself on a free port. Without Chromium
//! and chromedriver on the machine it says so loudly and does nothing —
//! unless `BROWSER_TESTS=required` (what `.ci/run` sets), where their
//! absence fails the test. On a failure, a screenshot of every open page is
//! saved next to the test's output, and its path printed.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{tokio_rt, Env, NodeProc, SOON};

const BACK: &str = "back@127.0.0.1";

/// The programs the browser tests need, if this machine has them.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        names.iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        })
    };
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"])?;
    let driver = find(&["chromedriver"])?;
    Some((chromium, driver))
}

/// `chromedriver` on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(program: &PathBuf) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + SOON;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session (one browser: its own cookies and storage).
async fn browser(driver: &Driver, chromium: &PathBuf) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"],
        }),
    );
    ClientBuilder::rustls()
        .expect("a TLS setup for the WebDriver connection")
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Saves a screenshot of every open page when the test is failing.
struct ShotsOnFailure<'a> {
    rt: &'a tokio::runtime::Runtime,
    pages: Vec<(&'static str, Client)>,
}

impl Drop for ShotsOnFailure<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-failures");
        let _ = std::fs::create_dir_all(&dir);
        for (name, page) in &self.pages {
            let path = dir.join(format!("{name}.png"));
            match self.rt.block_on(page.screenshot()) {
                Ok(png) if std::fs::write(&path, &png).is_ok() => {
                    eprintln!(
                        "browser test: screenshot of {name} saved to {}",
                        path.display()
                    );
                }
                other => eprintln!("browser test: no screenshot of {name}: {:?}", other.err()),
            }
        }
    }
}

/// Polls `check` on the page until it holds.
async fn until(page: &Client, what: &str, check: &str) {
    let deadline = Instant::now() + SOON;
    loop {
        let holds = page
            .execute(check, vec![])
            .await
            .map(|v| v.as_bool() == Some(true))
            .unwrap_or(false);
        if holds {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {what} (`{check}`)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_demo(env: &Env) -> (NodeProc, NodeProc, NodeProc) {
    let app = env.start_owner("app");
    let app2 = env.start("app2", &[]);
    let back = env.start("back", &["--no-http"]);
    env.connect_to_store(BACK, "app@127.0.0.1");
    env.connect_to_store("app2@127.0.0.1", "app@127.0.0.1");
    (app, app2, back)
}

#[test]
fn the_store_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser_programs() else {
        let required = std::env::var("BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "BROWSER_TESTS=required, but chromium and chromedriver are not installed"
        );
        eprintln!("\n*** browser tests SKIPPED: chromium and chromedriver are not installed (apt-get install chromium chromium-driver) ***\n");
        return;
    };
    let env = Env::new("browser");
    let (app, app2, _back) = start_demo(&env);
    let driver = Driver::start(&chromedriver);
    let rt = tokio_rt();
    let on_app = rt.block_on(browser(&driver, &chromium));
    let on_app2 = rt.block_on(browser(&driver, &chromium));
    let shots = ShotsOnFailure {
        rt: &rt,
        pages: vec![
            ("page-on-app", on_app.clone()),
            ("page-on-app2", on_app2.clone()),
        ],
    };

    rt.block_on(async {
        let app_url = format!("http://127.0.0.1:{}/", app.http_port().unwrap());
        let app2_url = format!("http://127.0.0.1:{}/", app2.http_port().unwrap());
        on_app.goto(&app_url).await.unwrap();
        on_app2.goto(&app2_url).await.unwrap();

        // The page shows every product, sizes only for released ones.
        let products = on_app
            .find_all(Locator::Css("[data-product-id]"))
            .await
            .unwrap();
        assert_eq!(products.len(), 4);
        let sizes = on_app
            .find_all(Locator::Css(
                "[data-product-id=\"1\"] .size-container__entry",
            ))
            .await
            .unwrap();
        assert_eq!(sizes.len(), 10, "product 1 is released with ten sizes");
        for coming in 2..=4 {
            let soon = on_app
                .find_all(Locator::Css(&format!(".product-soon-{coming}")))
                .await
                .unwrap();
            assert_eq!(soon.len(), 1, "product {coming} is coming soon");
        }
    });
    // Both pages are live: once each node counts its page's channel, a
    // release typed at the back node's console appears on both, without a
    // reload.
    for node in ["app@127.0.0.1", "app2@127.0.0.1"] {
        env.rpc_until(node, "pubsub.subscribers product:2", |n| n.trim() == "1");
    }
    let released = env.rpc_ok(BACK, "inventory.release 2");
    assert!(released.contains("released 2"), "{released}");
    rt.block_on(async {
        for page in [&on_app, &on_app2] {
            until(
                page,
                "product 2's sizes, live",
                "return document.querySelectorAll('[data-product-id=\"2\"] .size-container__entry').length === 10 && !document.querySelector('.product-soon-2')",
            )
            .await;
        }
    });
    drop(shots);
    rt.block_on(async {
        on_app.close().await.unwrap();
        on_app2.close().await.unwrap();
    });
}
