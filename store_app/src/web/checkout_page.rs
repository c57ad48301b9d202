//! The checkout page (the book's checkout flow, ch9): `GET /checkout` shows
//! the cart the page sends (`?serialized=`, the cart's signed token the store
//! page keeps), `POST /checkout` buys it.
//!
//! A purchase goes through [`Checkout::purchase_cart`]: all or nothing, in
//! one store transaction on the store's node, durable before this page says
//! so. Then the browser's other tabs are told: the emptied cart is broadcast
//! as `cart_updated` on the browser's `cart:<id>` (the session cookie's id),
//! and every tab's cart channel pushes it to its page. A refused purchase
//! names what sold out, and sells nothing.

use std::time::Duration;

use askama::Template;
use bytes::Bytes;
use channels::pubsub::PubSub;
use channels::token::Signer;
use channels::transport::{plain, Body};
use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::cart_session::cart_session;
use super::cart_view::find;
use super::inventory_ref::InventoryRef;
use super::shopping_cart_channel::{cart_topic, CART_UPDATED};
use super::view::Price;
use crate::checkout::{order_key, restore_cart, Checkout, CheckoutError, ShoppingCart};
use crate::inventory::CompleteProduct;

/// The largest `POST /checkout` body read (a cart token is well under 2 KB).
pub const CHECKOUT_MAX_BODY: usize = 16 * 1024;
/// How long a `POST /checkout` body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The checkout pages' dependencies.
#[derive(Clone)]
pub struct CheckoutPages {
    /// Buys carts.
    pub checkout: Checkout,
    /// Renders the lines.
    pub inventory: InventoryRef,
    /// Reads cart tokens and session cookies.
    pub signer: Signer,
    /// Tells the browser's tabs their cart was emptied.
    pub pubsub: PubSub,
}

/// `templates/checkout.html`.
#[derive(Template)]
#[template(path = "checkout.html", whitespace = "minimize")]
struct CheckoutView<'a> {
    title: &'a str,
    notice: Option<Notice>,
    lines: Vec<Line<'a>>,
    total: Price,
    /// The token the "Place order" form posts, when the cart can be bought.
    buy_with: Option<&'a str>,
    /// The cart was bought: the page forgets it (`localStorage`).
    purchased: bool,
}

struct Notice {
    /// `error` or `success` (a CSS modifier).
    kind: &'static str,
    text: String,
}

struct Line<'a> {
    item_id: u64,
    brand: &'a str,
    name: &'a str,
    color: &'a str,
    size: &'a str,
    image: &'a str,
    price: Price,
    out_of_stock: bool,
}

impl CheckoutPages {
    /// `GET /checkout?serialized=TOKEN`: the cart and its "Place order" form.
    pub async fn show(&self, request: Request<Incoming>) -> Response<Body> {
        let serialized = request
            .uri()
            .query()
            .and_then(|q| form_field(q.as_bytes(), "serialized"));
        let cart = restore_cart(&self.signer, serialized.as_deref());
        let Some(products) = self.products(&cart).await else {
            return unavailable();
        };
        let lines = lines(&cart, &products);
        let buyable = !lines.is_empty()
            && lines.len() == cart.items().len()
            && lines.iter().all(|l| !l.out_of_stock);
        let notice = (lines.iter().any(|l| l.out_of_stock)).then(|| Notice {
            kind: "error",
            text: "Some sizes in your cart have sold out: remove them from your cart to check out."
                .into(),
        });
        render(
            StatusCode::OK,
            CheckoutView {
                title: "Checkout",
                notice,
                total: total(&lines),
                lines,
                buy_with: buyable.then_some(serialized.as_deref().unwrap_or_default()),
                purchased: false,
            },
        )
    }

    /// `POST /checkout` with the form field `serialized`: buys the cart.
    pub async fn buy(&self, request: Request<Incoming>) -> Response<Body> {
        if !same_origin(request.headers()) {
            return plain(
                StatusCode::FORBIDDEN,
                "Checkout is only taken from this store's own pages.",
            );
        }
        let session = cart_session(request.headers(), &self.signer);
        let body = tokio::time::timeout(
            BODY_TIMEOUT,
            Limited::new(request.into_body(), CHECKOUT_MAX_BODY).collect(),
        )
        .await;
        let body = match body {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(err)) => {
                return plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("The checkout form could not be read: {err}"),
                )
            }
            Err(_) => {
                return plain(
                    StatusCode::REQUEST_TIMEOUT,
                    "The checkout form did not arrive in time.",
                )
            }
        };
        let serialized = form_field(&body, "serialized");
        let cart = restore_cart(&self.signer, serialized.as_deref());
        // One order per browser and cart: sent twice, it is bought once.
        let order = order_key(&session.cart_id, serialized.as_deref().unwrap_or_default());
        let outcome = self.checkout.purchase_cart(&cart, order).await;
        let Some(products) = self.products(&cart).await else {
            // The purchase's outcome stands; only its page cannot be drawn.
            return match outcome {
                Ok(_) => plain(StatusCode::OK, "Thank you: your order is confirmed."),
                Err(err) => plain(
                    status_of(&err),
                    format!("Your order was not placed: {err}."),
                ),
            };
        };
        let lines = lines(&cart, &products);
        match outcome {
            Ok(_) | Err(CheckoutError::AlreadyPurchased) => {
                let again = outcome.is_err();
                // Every tab of this browser empties its cart (again, for an
                // order sent twice: its tabs may have missed the first time).
                let emptied = ShoppingCart::new();
                self.pubsub.broadcast(
                    &cart_topic(&session.cart_id),
                    CART_UPDATED,
                    json!({
                        "serialized": emptied.serialize(&self.signer),
                        "added": [],
                        "removed": cart.item_ids(),
                    }),
                );
                let lines = lines
                    .into_iter()
                    .map(|l| Line {
                        out_of_stock: false,
                        ..l
                    })
                    .collect::<Vec<_>>();
                let (status, title, text) = if again {
                    (
                        StatusCode::CONFLICT,
                        "Order already placed",
                        "This order was already placed: nothing more was bought.".to_string(),
                    )
                } else {
                    (
                        StatusCode::OK,
                        "Order confirmed",
                        format!("Thank you! {} pair(s) are yours.", lines.len()),
                    )
                };
                render(
                    status,
                    CheckoutView {
                        title,
                        notice: Some(Notice {
                            kind: "success",
                            text,
                        }),
                        total: total(&lines),
                        lines,
                        buy_with: None,
                        purchased: true,
                    },
                )
            }
            Err(err) => {
                let text = match &err {
                    CheckoutError::SoldOut(items) => format!(
                        "Sold out before you checked out: {}. Nothing was bought; remove {} from your cart and try again.",
                        names(items, &products),
                        if items.len() == 1 { "it" } else { "them" }
                    ),
                    CheckoutError::EmptyCart => "Your cart is empty: nothing to buy.".into(),
                    // Answered with the order above; here for completeness.
                    CheckoutError::AlreadyPurchased => {
                        "This order was already placed: nothing more was bought.".into()
                    }
                    CheckoutError::Failed(err) => {
                        format!("Your order could not be placed right now ({err}). Please try again in a moment.")
                    }
                };
                let out: &[u64] = match &err {
                    CheckoutError::SoldOut(items) => items,
                    _ => &[],
                };
                let lines = lines
                    .into_iter()
                    .map(|l| Line {
                        out_of_stock: l.out_of_stock || out.contains(&l.item_id),
                        ..l
                    })
                    .collect::<Vec<_>>();
                render(
                    status_of(&err),
                    CheckoutView {
                        title: "Checkout",
                        notice: Some(Notice {
                            kind: "error",
                            text,
                        }),
                        total: total(&lines),
                        lines,
                        buy_with: None,
                        purchased: false,
                    },
                )
            }
        }
    }

    /// The cart's products as this node's memory holds them.
    async fn products(&self, cart: &ShoppingCart) -> Option<Vec<CompleteProduct>> {
        match self.inventory.cart_products(cart).await {
            Ok(products) => Some(products),
            Err(err) => {
                tracing::warn!(%err, "checkout page unavailable");
                None
            }
        }
    }
}

fn status_of(err: &CheckoutError) -> StatusCode {
    match err {
        CheckoutError::SoldOut(_) | CheckoutError::AlreadyPurchased => StatusCode::CONFLICT,
        CheckoutError::EmptyCart => StatusCode::UNPROCESSABLE_ENTITY,
        CheckoutError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The cart's lines, as this node's memory holds them.
fn lines<'a>(cart: &ShoppingCart, products: &'a [CompleteProduct]) -> Vec<Line<'a>> {
    cart.items()
        .iter()
        .filter_map(|line| find(products, line))
        .map(|(product, entry)| Line {
            item_id: entry.item.id,
            brand: &product.product.brand,
            name: &product.product.name,
            color: &product.product.color,
            size: &entry.item.size,
            image: &product.product.image,
            price: Price(product.product.price_cents),
            out_of_stock: entry.available_count == 0,
        })
        .collect()
}

fn total(lines: &[Line<'_>]) -> Price {
    Price(lines.iter().map(|l| l.price.0).sum())
}

/// "Runner 23 size 9, Court Classic size 10": the items named for a shopper.
fn names(items: &[u64], products: &[CompleteProduct]) -> String {
    items
        .iter()
        .map(|&id| {
            products
                .iter()
                .find_map(|p| {
                    p.items
                        .iter()
                        .find(|i| i.item.id == id)
                        .map(|i| format!("{} size {}", p.product.name, i.item.size))
                })
                .unwrap_or_else(|| format!("item {id}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A field of a form-encoded body or query string.
fn form_field(form: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(form)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A browser's cross-site form post carries another site's `Origin`: refused.
/// Requests without one (curl, the benchmark) are not cross-site forms.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

fn render(status: StatusCode, view: CheckoutView<'_>) -> Response<Body> {
    match view.render() {
        Ok(html) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(Full::new(Bytes::from(html)))
            .expect("static response parts are valid"),
        Err(err) => {
            tracing::error!(%err, "checkout page failed to render");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The checkout page failed to render.",
            )
        }
    }
}

fn unavailable() -> Response<Body> {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "The store is unavailable right now. Please try again shortly.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_form_posts_are_taken() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            map
        };
        assert!(same_origin(&headers(&[("host", "127.0.0.1:4000")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:4000"),
            ("origin", "http://127.0.0.1:4000")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:4000"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:4000"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(
            form_field(b"a=1&serialized=x%2By+z", "serialized").as_deref(),
            Some("x+y z")
        );
        assert_eq!(form_field(b"a=1", "serialized"), None);
    }
}
