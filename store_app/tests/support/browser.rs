//! Headless Chromium for the browser tests, driven through WebDriver
//! (`fantoccini` against Debian's `chromium-driver`, started here on a free
//! port), behind a small synchronous API so that a scenario reads as the
//! steps a person would take: open a page, click, wait until the page shows.
//!
//! [`Chromium::find`] says loudly and returns `None` when Chromium or
//! chromedriver is missing, unless `BROWSER_TESTS=required` (what `.ci/run`
//! sets), where their absence fails the test. Every browser opened is closed
//! when [`Browsers`] drops; if the test is failing then, a screenshot of
//! every tab and each browser's console log are first saved under
//! `target/tmp/browser-failures/<test>/`, and their paths printed.
//!
//! Tests in one binary run one at a time here: each starts its own cluster of
//! node processes and its own browsers, and two such at once on a two-core
//! machine would only make every wait longer.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{WebDriverCompatibleCommand, WindowHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::{POLL, SOON};

/// One browser test at a time in this process (see the module comment).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

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
            std::thread::sleep(POLL);
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

/// A browser (one WebDriver session) as the test keeps it: its console log
/// so far (Chromium hands each entry over once).
struct Session {
    name: String,
    client: Client,
    console: Vec<String>,
}

/// What [`Browsers`] tracks for the failure report and the clean-up.
#[derive(Default)]
struct Opened {
    sessions: Vec<Session>,
    tabs: Vec<(String, Client, WindowHandle)>,
}

/// The browsers of one test; see the module comment.
pub struct Browsers {
    test: String,
    rt: Arc<tokio::runtime::Runtime>,
    chromium: PathBuf,
    opened: Arc<Mutex<Opened>>,
    // Dropped after the report and the sessions' closing (fields drop in order).
    driver: Driver,
    /// Each browser's profile (`--user-data-dir`), removed with the test:
    /// left to chromedriver, a profile outlives a driver stopped at once.
    profiles: tempfile::TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// This machine's Chromium and chromedriver, found for one test (and that
/// test's turn: see the module comment). Find it before starting the nodes a
/// test drives, and start the browsers after them, so that the browsers are
/// closed, and a failure reported, while those nodes still run.
pub struct Chromium {
    test: String,
    chromium: PathBuf,
    chromedriver: PathBuf,
    one_at_a_time: MutexGuard<'static, ()>,
}

impl Chromium {
    /// Chromium for the test named `test`, or `None` (said loudly) when this
    /// machine has none and the test is not required.
    pub fn find(test: &str) -> Option<Chromium> {
        let Some((chromium, chromedriver)) = browser_programs() else {
            let required = std::env::var("BROWSER_TESTS").is_ok_and(|v| v == "required");
            assert!(
                !required,
                "BROWSER_TESTS=required, but chromium and chromedriver are not installed"
            );
            eprintln!("\n*** browser test {test} SKIPPED: chromium and chromedriver are not installed (apt-get install chromium chromium-driver) ***\n");
            return None;
        };
        // A test that failed holding the lock poisons it; the next one may run.
        let one_at_a_time = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(Chromium {
            test: test.to_string(),
            chromium,
            chromedriver,
            one_at_a_time,
        })
    }

    /// chromedriver, ready to open browsers.
    pub fn start(self) -> Browsers {
        Browsers {
            test: self.test,
            rt: Arc::new(super::tokio_rt()),
            opened: Arc::default(),
            driver: Driver::start(&self.chromedriver),
            profiles: tempfile::tempdir().expect("a directory for browser profiles"),
            chromium: self.chromium,
            _one_at_a_time: self.one_at_a_time,
        }
    }
}

impl Browsers {
    /// A new browser — its own cookies, storage and cart — named `name` in
    /// reports, with one tab open at `url`.
    pub fn open(&self, name: &str, url: &str) -> Tab {
        let mut capabilities = serde_json::Map::new();
        let profile = self.profiles.path().join(name);
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        // Keeps the page's console for the failure report.
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = self.rt.block_on(async {
            ClientBuilder::rustls()
                .expect("a TLS setup for the WebDriver connection")
                .capabilities(capabilities)
                .connect(&self.driver.url)
                .await
                .expect("a Chromium session")
        });
        let window = self.rt.block_on(client.window()).unwrap();
        let session = {
            let mut opened = self.opened.lock().unwrap();
            opened.sessions.push(Session {
                name: name.to_string(),
                client: client.clone(),
                console: Vec::new(),
            });
            opened.sessions.len() - 1
        };
        let tab = self.track(Tab {
            name: name.to_string(),
            client,
            session,
            window,
            rt: self.rt.clone(),
            opened: self.opened.clone(),
        });
        tab.goto(url);
        tab
    }

    fn track(&self, tab: Tab) -> Tab {
        self.opened.lock().unwrap().tabs.push((
            tab.name.clone(),
            tab.client.clone(),
            tab.window.clone(),
        ));
        tab
    }

    /// A second tab of `tab`'s browser (same cookies and storage), at `url`.
    pub fn new_tab(&self, tab: &Tab, name: &str, url: &str) -> Tab {
        let handle = self.rt.block_on(async {
            tab.client.switch_to_window(tab.window.clone()).await?;
            tab.client.new_window(true).await
        });
        let window = handle.expect("a new tab").handle;
        let second = self.track(Tab {
            name: name.to_string(),
            client: tab.client.clone(),
            session: tab.session,
            window,
            rt: self.rt.clone(),
            opened: self.opened.clone(),
        });
        second.goto(url);
        second
    }

    /// Saves what a failing test leaves to look at: a screenshot of every
    /// tab, the console log of every browser.
    fn report_failure(&self) {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("browser-failures")
            .join(&self.test);
        let _ = std::fs::create_dir_all(&dir);
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        for (name, client, window) in &opened.tabs {
            let path = dir.join(format!("{name}.png"));
            let shot = self.rt.block_on(async {
                client.switch_to_window(window.clone()).await?;
                client.screenshot().await
            });
            match shot {
                Ok(png) if std::fs::write(&path, &png).is_ok() => {
                    eprintln!("browser test: screenshot of {name}: {}", path.display())
                }
                other => eprintln!("browser test: no screenshot of {name}: {:?}", other.err()),
            }
        }
        for session in &mut opened.sessions {
            let fresh = self.rt.block_on(console_entries(&session.client));
            session.console.extend(fresh);
            let path = dir.join(format!("{}.console.log", session.name));
            if std::fs::write(&path, session.console.join("\n") + "\n").is_ok() {
                eprintln!(
                    "browser test: console log of {}: {}",
                    session.name,
                    path.display()
                );
            }
        }
    }
}

impl Drop for Browsers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.report_failure();
        }
        // Closing a session ends its Chromium; killing chromedriver alone
        // would leave the browsers running.
        let sessions: Vec<Client> = {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            opened.sessions.iter().map(|s| s.client.clone()).collect()
        };
        for client in sessions {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), client.close()).await
            });
        }
    }
}

/// One tab of a browser. Every command first brings the tab to the front of
/// its browser (WebDriver talks to one window of a session at a time).
#[derive(Clone)]
pub struct Tab {
    name: String,
    client: Client,
    /// This tab's browser in [`Opened::sessions`].
    session: usize,
    window: WindowHandle,
    rt: Arc<tokio::runtime::Runtime>,
    opened: Arc<Mutex<Opened>>,
}

impl Tab {
    fn run<T>(
        &self,
        what: &str,
        step: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    ) -> T {
        self.rt
            .block_on(async {
                self.client.switch_to_window(self.window.clone()).await?;
                step.await
            })
            .unwrap_or_else(|err| panic!("{}: {what} failed: {err}", self.name))
    }

    /// Loads `url` in this tab.
    pub fn goto(&self, url: &str) {
        self.run(&format!("opening {url}"), self.client.goto(url));
    }

    /// Reloads the page.
    pub fn reload(&self) {
        self.run("reloading", self.client.refresh());
    }

    /// The value of the JavaScript expression `expression` on the page.
    pub fn eval(&self, expression: &str) -> Value {
        let script = format!("return ({expression});");
        self.run(
            &format!("evaluating `{expression}`"),
            self.client.execute(&script, vec![]),
        )
    }

    /// Waits until the JavaScript expression `check` is true on the page.
    pub fn until(&self, what: &str, check: &str) {
        let script = format!("return ({check}) === true;");
        let deadline = Instant::now() + SOON;
        loop {
            let holds = self.rt.block_on(async {
                self.client.switch_to_window(self.window.clone()).await?;
                self.client.execute(&script, vec![]).await
            });
            if matches!(holds, Ok(Value::Bool(true))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never showed {what} within {SOON:?} (`{check}`; last answer {holds:?})",
                self.name
            );
            std::thread::sleep(POLL);
        }
    }

    /// Clicks the element `css` finds.
    pub fn click(&self, css: &str) {
        let element: Element = self.run(
            &format!("finding {css}"),
            self.client.find(Locator::Css(css)),
        );
        self.run(&format!("clicking {css}"), element.click());
    }

    /// The text of the element `css` finds.
    pub fn text(&self, css: &str) -> String {
        let element: Element = self.run(
            &format!("finding {css}"),
            self.client.find(Locator::Css(css)),
        );
        self.run(&format!("reading {css}"), element.text())
    }

    /// Chromium's network emulation (DevTools' "Offline") for this tab: new
    /// connections fail, and the page's `offline` event fires (connections
    /// already open are left alone: the page itself closes its socket then).
    pub fn set_offline(&self, offline: bool) {
        let conditions = json!({
            "offline": offline,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": -1,
        });
        self.run("enabling DevTools' network domain", async {
            self.client
                .issue_cmd(DevTools::new("Network.enable", json!({})))
                .await?;
            self.client
                .issue_cmd(DevTools::new(
                    "Network.emulateNetworkConditions",
                    conditions,
                ))
                .await
        });
    }

    /// The browser's console entries logged since the last call, also kept
    /// for the failure report.
    pub fn console(&self) -> Vec<String> {
        let fresh = self.rt.block_on(console_entries(&self.client));
        self.opened.lock().unwrap().sessions[self.session]
            .console
            .extend(fresh.iter().cloned());
        fresh
    }
}

/// The browser's console log since the last read, one line per entry.
async fn console_entries(client: &Client) -> Vec<String> {
    let Ok(value) = client.issue_cmd(ConsoleLog).await else {
        return vec!["(the console log could not be read)".into()];
    };
    value
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let mut line = String::new();
                    let _ = write!(
                        line,
                        "{} {} {}",
                        e["timestamp"],
                        e["level"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("")
                    );
                    line
                })
                .collect()
        })
        .unwrap_or_default()
}

/// chromedriver's `POST /session/{id}/se/log` (type `browser`): the page's
/// console messages and failed loads, gathered because the session asked
/// for them (`goog:loggingPrefs`).
#[derive(Debug)]
struct ConsoleLog;

impl WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`: one DevTools
/// protocol command on the current tab's target.
#[derive(Debug)]
struct DevTools {
    body: String,
}

impl DevTools {
    fn new(cmd: &str, params: Value) -> DevTools {
        DevTools {
            body: json!({"cmd": cmd, "params": params}).to_string(),
        }
    }
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.clone()))
    }
}
