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
//!   Every join is answered with the product's current state
//!   ([`product_state`]), so a page that reconnects catches up.
//! - [`InventoryRef`]: how the page and the channel reach the inventory server.
//! - [`StockLevel`]: counts as the page shows them; [`render_page`] and
//!   [`render_sizes`]: the askama templates in `store_app/templates/`.

mod admin;
mod cart_session;
mod cart_view;
mod checkout_page;
mod inventory_ref;
mod item_out;
mod level;
mod product_channel;
mod product_socket;
mod product_state;
mod shopping_cart_channel;
mod spliced_page;
mod view;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use channels::endpoint::{Endpoint, EndpointOptions};
use channels::metrics::Metrics;
use channels::mount::SocketConfig;
use channels::pubsub::PubSub;
use channels::token::Signer;
use channels::transport::{plain, Body};
use http::{header, Method, Response, StatusCode};
use http_body_util::Full;
use parking_lot::Mutex;
use runtime::process::ProcessSupervisor;

pub use admin::{
    admin_token, AdminAccess, AdminChannel, AdminCheck, AdminSocket, ADMIN_PASSWORD_ENV,
    ADMIN_SOCKET_PATH, ADMIN_TOKEN_MAX_AGE, ADMIN_TOKEN_SALT, ADMIN_USER_ENV,
};
pub use cart_session::{
    cart_id_of_socket_token, cart_session, shopper_script, socket_token, CartSession, CART_COOKIE,
    CART_SESSION_SALT, CART_SOCKET_SALT,
};
pub use cart_view::{cart_to_map, find as find_cart_line};
pub use checkout_page::{CheckoutPages, CHECKOUT_MAX_BODY};
pub use inventory_ref::{InventoryRef, InventoryUnavailable};
pub use item_out::{item_out_topic, notify_local_item_out, ITEM_OUT, ITEM_OUT_PREFIX};
pub use level::{StockLevel, HIGH_FROM, MEDIUM_FROM};
pub use product_channel::{
    notify_item_stock_change, notify_memory_reloaded, notify_product_released, product_topic,
    ProductChannel, StockNotice, RELEASED, STOCK_CHANGE, TOPIC_PREFIX,
};
pub use product_socket::{ProductSocket, Shopper, CART_TOKEN_PARAM, PRODUCT_SOCKET_PATH};
pub use product_state::product_state;
pub use shopping_cart_channel::{
    cart_topic, CartInfo, CartState, ShoppingCartChannel, CART, CART_TOPIC_PREFIX,
    CART_TRACKER_TOPIC, CART_UPDATED,
};
pub use spliced_page::SHOPPER_MARKER;
pub use view::{page_size_estimate, render_page, render_page_into, render_sizes, Price};

use crate::checkout::Checkout;
use crate::inventory::CompleteProduct;
use bytes::Bytes;
use channels::presence::Presence;
use spliced_page::{GzipParts, SplicedPage};

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
    /// HTTP connection limits and drain settings.
    pub options: EndpointOptions,
    /// Buys carts (`POST /checkout`).
    pub checkout: Checkout,
    /// Where carts are tracked for the admin dashboard (`None`: not tracked,
    /// no `/admin_socket`).
    pub cart_tracker: Option<Presence>,
    /// Who may open `/admin` (`None`: nobody).
    pub admin: Option<AdminAccess>,
}

impl StoreWeb {
    /// The endpoint: `GET /`, `GET /health`, `GET` and `POST /checkout`,
    /// `/product_socket`, `/assets/js/*`,
    /// `/assets/css/*`, `/assets/phoenix.min.js` (from the npm package) and
    /// `/images/*` (the catalogue's image paths); nothing else of the assets
    /// folder is public.
    pub fn endpoint(self) -> Arc<Endpoint> {
        let StoreWeb {
            pubsub,
            supervisor,
            inventory,
            signer,
            config,
            metrics,
            assets_dir,
            options,
            checkout,
            cart_tracker,
            admin,
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
        let socket = ProductSocket::new(inventory.clone(), signer.clone())
            .with_cart_tracker(cart_tracker.clone());
        let admin_pages = Arc::new(AdminPages {
            access: admin,
            signer: signer.clone(),
            inventory: inventory.clone(),
        });
        let (admin_page, admin_token_page) = (admin_pages.clone(), admin_pages);
        let checkout_pages = CheckoutPages {
            checkout,
            inventory: inventory.clone(),
            signer: signer.clone(),
            pubsub: pubsub.clone(),
        };
        let (show, buy) = (checkout_pages.clone(), checkout_pages);
        let page = Arc::new(StorePage {
            inventory,
            signer: signer.clone(),
            rendered: Mutex::new(None),
        });
        let mut builder = Endpoint::builder(pubsub, supervisor)
            .options(options)
            .signer(signer.clone())
            .metrics(metrics)
            .socket(PRODUCT_SOCKET_PATH, socket, socket_config.clone());
        if let Some(cart_tracker) = cart_tracker {
            builder = builder.socket(
                ADMIN_SOCKET_PATH,
                AdminSocket::new(signer, cart_tracker),
                socket_config,
            );
        }
        builder
            .route(Method::GET, "/", move |request| {
                let page = page.clone();
                async move { page.respond(request.headers()).await }
            })
            .route(Method::GET, "/checkout", move |request| {
                let pages = show.clone();
                async move { pages.show(request).await }
            })
            .route(Method::POST, "/checkout", move |request| {
                let pages = buy.clone();
                async move { pages.buy(request).await }
            })
            .route(Method::GET, "/admin", move |request| {
                let pages = admin_page.clone();
                async move { pages.page(request.headers()).await }
            })
            .route(Method::GET, "/admin/token", move |request| {
                let pages = admin_token_page.clone();
                async move { pages.token(request.headers()) }
            })
            .route(Method::GET, "/health", |_request| async {
                plain(StatusCode::OK, "ok")
            })
            // Only what the page loads: never package.json or node_modules/.
            .static_files("/assets/js", assets_dir.join("js"))
            .static_files("/assets/css", assets_dir.join("css"))
            .static_file("/assets/phoenix.min.js", phoenix_js.join("phoenix.min.js"))
            .static_files("/images", assets_dir.join("images"))
            .build()
    }
}

/// `GET /admin` and `GET /admin/token`.
struct AdminPages {
    access: Option<AdminAccess>,
    signer: Signer,
    inventory: InventoryRef,
}

/// `templates/admin.html`.
#[derive(askama::Template)]
#[template(path = "admin.html", whitespace = "minimize")]
struct AdminView<'a> {
    products: &'a [CompleteProduct],
    token: String,
}

impl AdminPages {
    /// The answer when the request may not see the dashboard.
    fn refusal(&self, headers: &http::HeaderMap) -> Option<Response<Body>> {
        match AdminAccess::check(self.access.as_ref(), headers) {
            AdminCheck::Allowed => None,
            AdminCheck::Disabled => Some(plain(
                StatusCode::FORBIDDEN,
                "The admin dashboard is off: the node has no ADMIN_USER and ADMIN_PASSWORD.",
            )),
            AdminCheck::Unauthorized => {
                let mut response = plain(StatusCode::UNAUTHORIZED, "Admin credentials required.");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static(
                        "Basic realm=\"Sneakers23 admin\", charset=\"UTF-8\"",
                    ),
                );
                Some(response)
            }
        }
    }

    async fn page(&self, headers: &http::HeaderMap) -> Response<Body> {
        if let Some(refused) = self.refusal(headers) {
            return refused;
        }
        let products = match self.inventory.complete_products().await {
            Ok(products) => products,
            Err(err) => {
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("The store is unavailable right now: {err}."),
                )
            }
        };
        let view = AdminView {
            products: &products,
            token: admin_token(&self.signer),
        };
        match askama::Template::render(&view) {
            Ok(html) => Response::builder()
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-store")
                .body(Full::new(Bytes::from(html)))
                .expect("static response parts are valid"),
            Err(err) => {
                tracing::error!(%err, "admin page failed to render");
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The admin page failed to render.",
                )
            }
        }
    }

    fn token(&self, headers: &http::HeaderMap) -> Response<Body> {
        match self.refusal(headers) {
            Some(refused) => refused,
            None => plain(StatusCode::OK, admin_token(&self.signer)),
        }
    }
}

/// The `GET /` handler's state.
struct StorePage {
    inventory: InventoryRef,
    /// Signs the cart session cookie and the page's cart token.
    signer: Signer,
    /// The last page rendered, and the product list it was rendered from.
    /// The inventory server hands out the same shared list until the next
    /// release or sale, so until then every request is answered with the
    /// same bytes: a page is rendered once per change, not once per view.
    rendered: Mutex<Option<Arc<Rendered>>>,
}

/// One rendering of the page, shared by every browser until the next
/// change; each response splices in the browser's own cart lines.
struct Rendered {
    from: Arc<[CompleteProduct]>,
    page: SplicedPage,
    /// The same page gzip-compressed, made on the first request that accepts
    /// it (a 311 KB page of 100 products compresses to ~4 %).
    gzip: OnceLock<GzipParts>,
}

/// Pages smaller than this are sent as they are: compressing them saves less
/// than a packet.
const GZIP_FROM_BYTES: usize = 1400;

impl StorePage {
    async fn respond(&self, headers: &http::HeaderMap) -> Response<Body> {
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
        let rendered = match self.rendered_for(&products) {
            Some(rendered) => rendered,
            None => {
                let mut html = String::with_capacity(page_size_estimate(&products));
                if let Err(err) = render_page_into(&products, &mut html) {
                    tracing::error!(%err, "store page failed to render");
                    return plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The store page failed to render.",
                    );
                }
                let rendered = Arc::new(Rendered {
                    from: products,
                    page: SplicedPage::new(html),
                    gzip: OnceLock::new(),
                });
                *self.rendered.lock() = Some(rendered.clone());
                rendered
            }
        };
        let session = cart_session(headers, &self.signer);
        let shopper = shopper_script(&self.signer, &session.cart_id);
        let mut response = Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::VARY, "accept-encoding");
        if let Some(cookie) = session.set_cookie {
            response = response.header(header::SET_COOKIE, cookie);
        }
        let response =
            if accepts_gzip(headers) && rendered.page.len_without_insert() >= GZIP_FROM_BYTES {
                let gzip = rendered.gzip.get_or_init(|| rendered.page.gzip());
                response
                    .header(header::CONTENT_ENCODING, "gzip")
                    .body(Full::new(gzip.body(&shopper)))
            } else {
                response.body(Full::new(rendered.page.body(&shopper)))
            };
        response.expect("static response parts are valid")
    }

    /// The cached page, if it was rendered from this very product list.
    fn rendered_for(&self, products: &Arc<[CompleteProduct]>) -> Option<Arc<Rendered>> {
        match &*self.rendered.lock() {
            Some(rendered) if Arc::ptr_eq(&rendered.from, products) => Some(rendered.clone()),
            _ => None,
        }
    }
}

/// Whether the request's `Accept-Encoding` takes gzip (`gzip` or `*`, with
/// a non-zero quality).
fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(values: &[&str]) -> bool {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT_ENCODING, value.parse().unwrap());
        }
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts(&["gzip, deflate, br"]));
        assert!(accepts(&["br;q=1.0, GZIP;q=0.5"]));
        assert!(accepts(&["identity", "*"]));
        assert!(!accepts(&[]));
        assert!(!accepts(&["br, deflate"]));
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzips"]));
    }
}
