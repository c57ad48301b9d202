//! The store's web side (the book's `Sneakers23Web`): the page shoppers load,
//! the socket and channel that keep it live, and the endpoint serving both.
//!
//! - [`StoreWeb::endpoint`]: `GET /` (the store page, rendered from the
//!   inventory server's memory), `/product_socket` (WebSocket and long poll),
//!   `/assets/*` and `/images/*` (static files, phoenix.js included), and
//!   `GET /health` (a trivial route to compare the page's rate against).
//! - [`ProductSocket`] and [`ProductChannel`] (`product:<id>`), with the
//!   notifications the inventory context sends through them:
//!   [`notify_product_released`] and [`notify_item_stock_change`] (the book's
//!   `defdelegate`s on `Sneakers23Web`).
//! - [`StockLevel`]: counts as the page shows them; [`render_page`] and
//!   [`render_sizes`]: the askama templates in `store_app/templates/`.

mod level;
mod product_channel;
mod product_socket;
mod view;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use channels::endpoint::Endpoint;
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::token::Signer;
use channels::transport::{plain, Body};
use http::{header, Method, Response, StatusCode};
use http_body_util::Full;
use parking_lot::Mutex;
use runtime::process::ProcessSupervisor;
use runtime::{server, CallError, Pid};

pub use level::{StockLevel, HIGH_FROM, MEDIUM_FROM};
pub use product_channel::{
    notify_item_stock_change, notify_product_released, product_topic, ProductChannel, StockNotice,
    RELEASED, STOCK_CHANGE, TOPIC_PREFIX,
};
pub use product_socket::{ProductSocket, PRODUCT_SOCKET_PATH};
pub use view::{page_size_estimate, render_page, render_page_into, render_sizes, Price};

use crate::inventory::{CompleteProduct, InventoryCall, InventoryReply, InventoryServer};

/// The environment variable that overrides where the static files are.
pub const ASSETS_DIR_ENV: &str = "STORE_ASSETS_DIR";

/// Where phoenix.js is inside the assets directory (installed by
/// `npm ci` in `store_app/assets`), served as `/assets/phoenix.min.js`.
pub const PHOENIX_JS_DIR: &str = "node_modules/phoenix/priv/static";

/// The assets directory: `$STORE_ASSETS_DIR` if set, else `store_app/assets`
/// in the source tree this crate was built from.
pub fn default_assets_dir() -> PathBuf {
    std::env::var_os(ASSETS_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("assets"))
}

/// How the page reaches the inventory server.
#[derive(Clone, Debug)]
pub enum InventoryRef {
    /// This process. If it is restarted, the page answers 503 from then on:
    /// use [`InventoryRef::Named`] for a supervised server.
    Pid(Pid<InventoryServer>),
    /// Whatever process is registered under this name when a page is asked
    /// for, so a server restarted by its supervisor is found again.
    Named(String),
}

impl From<Pid<InventoryServer>> for InventoryRef {
    fn from(pid: Pid<InventoryServer>) -> Self {
        InventoryRef::Pid(pid)
    }
}

/// Why the page could not get the products.
#[derive(Debug, thiserror::Error)]
pub enum InventoryUnavailable {
    /// No process is registered under the name (e.g. mid-restart).
    #[error("no inventory server is registered as {0:?}")]
    NotRegistered(String),
    /// The call failed (process gone, or too slow).
    #[error("the inventory server did not answer: {0}")]
    Call(#[from] CallError),
    /// The server answered something else: a bug.
    #[error("the inventory server answered {0}")]
    UnexpectedReply(String),
}

impl InventoryRef {
    /// Every product with its sizes and stock (`InventoryCall::CompleteProducts`).
    pub async fn complete_products(&self) -> Result<Arc<[CompleteProduct]>, InventoryUnavailable> {
        let reply = match self {
            InventoryRef::Pid(pid) => pid.call(InventoryCall::CompleteProducts).await?,
            InventoryRef::Named(name) => {
                server::whereis::<InventoryServer>(name)
                    .ok_or_else(|| InventoryUnavailable::NotRegistered(name.clone()))?
                    .call(InventoryCall::CompleteProducts)
                    .await?
            }
        };
        match reply {
            InventoryReply::Products(products) => Ok(products),
            other => Err(InventoryUnavailable::UnexpectedReply(format!("{other:?}"))),
        }
    }
}

/// Everything the store's endpoint is built from.
pub struct StoreWeb {
    /// The node's PubSub (the channels' broadcasts, and the `notify_*` functions').
    pub pubsub: PubSub,
    /// Where channel processes run.
    pub supervisor: ProcessSupervisor,
    /// Where the page reads the products.
    pub inventory: InventoryRef,
    /// Signs long-poll session tokens (the endpoint's `secret_key_base`).
    pub signer: Signer,
    /// Settings for `/product_socket` (long poll is turned on whatever this says).
    pub config: SocketConfig,
    /// Where metrics go.
    pub metrics: Metrics,
    /// The static files: `js/`, `css/`, `images/` and `node_modules/phoenix`
    /// (usually [`default_assets_dir`]).
    pub assets_dir: PathBuf,
}

impl StoreWeb {
    /// The endpoint: `GET /`, `GET /health`, `/product_socket`, `/assets/*`
    /// (including `/assets/phoenix.min.js`) and `/images/*` (the catalogue's
    /// image paths).
    pub fn endpoint(self) -> Arc<Endpoint> {
        let StoreWeb {
            pubsub,
            supervisor,
            inventory,
            signer,
            config,
            metrics,
            assets_dir,
        } = self;
        let phoenix_js = assets_dir.join(PHOENIX_JS_DIR);
        if !phoenix_js.join("phoenix.min.js").is_file() {
            tracing::warn!(
                dir = %phoenix_js.display(),
                "phoenix.min.js is missing: the page will not be live (run `npm ci` in store_app/assets)"
            );
        }
        let socket_config = SocketConfig {
            longpoll: true,
            ..config
        };
        let page = Arc::new(StorePage {
            inventory,
            rendered: Mutex::new(None),
        });
        Endpoint::builder(pubsub, supervisor)
            .signer(signer)
            .metrics(metrics)
            .socket(PRODUCT_SOCKET_PATH, ProductSocket, socket_config)
            .route(Method::GET, "/", move |_request| {
                let page = page.clone();
                async move { page.respond().await }
            })
            .route(Method::GET, "/health", |_request| async {
                plain(StatusCode::OK, "ok")
            })
            .static_files("/assets", &assets_dir)
            .static_files("/assets", phoenix_js)
            .static_files("/images", assets_dir.join("images"))
            .build()
    }
}

/// The `GET /` handler's state.
struct StorePage {
    inventory: InventoryRef,
    /// The last page rendered, and the product list it was rendered from.
    /// The inventory server hands out the same shared list until the next
    /// release or sale, so until then every request is answered with the
    /// same bytes: a page is rendered once per change, not once per view.
    rendered: Mutex<Option<(Arc<[CompleteProduct]>, Bytes)>>,
}

impl StorePage {
    async fn respond(&self) -> Response<Body> {
        let products = match self.inventory.complete_products().await {
            Ok(products) => products,
            Err(err) => {
                tracing::warn!(%err, "store page unavailable");
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("The store is unavailable right now: {err}. Please try again shortly."),
                );
            }
        };
        let html = match self.rendered_for(&products) {
            Some(html) => html,
            None => {
                let mut html = String::with_capacity(page_size_estimate(&products));
                if let Err(err) = render_page_into(&products, &mut html) {
                    tracing::error!(%err, "store page failed to render");
                    return plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The store page failed to render.",
                    );
                }
                let html = Bytes::from(html);
                *self.rendered.lock() = Some((products, html.clone()));
                html
            }
        };
        Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(Full::new(html))
            .expect("static response parts are valid")
    }

    /// The cached page, if it was rendered from this very product list.
    fn rendered_for(&self, products: &Arc<[CompleteProduct]>) -> Option<Bytes> {
        match &*self.rendered.lock() {
            Some((from, html)) if Arc::ptr_eq(from, products) => Some(html.clone()),
            _ => None,
        }
    }
}
