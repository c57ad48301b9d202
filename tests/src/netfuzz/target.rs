//! What the fuzzer knows about the server it attacks: every socket the server
//! mounts (path, connect params worth trying, topics, events, payload keys),
//! its limits, its health page, and what its well-behaved clients do.
//!
//! Real credentials are fetched from the running server before the attack
//! (hello_sockets' `GET /token?user_id=N`; the store page's `window.cartToken`
//! and its cart cookie), so that attacks reach past the connect into joined
//! channels; beside them go tokens that must be refused — garbage, signed
//! with another secret, tampered with, signed for another purpose.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use channels::token::Signer;

use super::http;

/// How long the fuzzer waits for the server's pages while preparing.
const PAGE_LIMIT: Duration = Duration::from_secs(30);

/// The servers the fuzzer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// The book's `hello_sockets` server (`channels/hello_sockets`).
    HelloSockets,
    /// A `sneakers23` store node (`store_app`).
    Sneakers23,
}

impl TargetKind {
    /// The binary's name.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::HelloSockets => "hello_sockets",
            TargetKind::Sneakers23 => "sneakers23",
        }
    }
}

/// One socket the server mounts, as the fuzzer attacks it.
#[derive(Debug, Clone)]
pub struct SocketSpec {
    /// Where it is mounted (`/socket`): `/websocket` and `/longpoll` follow.
    pub path: String,
    /// Connect params to try, each a query string without `vsn`.
    pub params: Vec<String>,
    /// Whether it serves long poll.
    pub longpoll: bool,
    /// Topic patterns; each `*` is filled with ids, numbers, junk.
    pub topics: Vec<String>,
    /// Events its channels take (others are drawn too).
    pub events: Vec<&'static str>,
    /// Keys its channels read from payloads.
    pub payload_keys: Vec<&'static str>,
    /// Ids that exist on the server (products, items, carts, users).
    pub known_ids: Vec<String>,
    /// Topics the attack must never touch: the good clients' own.
    pub forbidden_topics: Vec<String>,
}

/// What the well-behaved clients broadcast and check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// hello_sockets' `bench:*`: the broadcaster pushes `broadcast {"i": k}`
    /// and every member gets `bcast {"i": k}`; `ping` echoes its payload.
    Bench,
    /// The store's cart: one tab adds and removes a size in turn, every
    /// other tab of the same cart gets the whole `cart` after each change;
    /// pushes to a product channel are refused with a reason.
    Cart {
        /// The size the changing tab adds and removes.
        item_id: u64,
    },
}

/// The well-behaved clients' socket and topics.
#[derive(Debug, Clone)]
pub struct GoodPlan {
    /// The socket they connect to.
    pub socket_path: String,
    /// Their connect params (a query string without `vsn`).
    pub params: String,
    /// Where the broadcasts go.
    pub broadcast_topic: String,
    /// Where each client pushes and checks replies.
    pub echo_topic: String,
    /// What they push and expect.
    pub flavor: Flavor,
}

/// The server under attack.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which server it is.
    pub kind: TargetKind,
    /// Its address.
    pub server: SocketAddr,
    /// Every socket it mounts.
    pub sockets: Vec<Arc<SocketSpec>>,
    /// A page that answers 200 while the server is healthy.
    pub health_path: &'static str,
    /// Its Prometheus page, if it has one.
    pub metrics_path: Option<&'static str>,
    /// Its page of the live supervision tree (`runtime::introspect`), if it
    /// has one.
    pub processes_path: Option<&'static str>,
    /// The well-behaved clients' plan.
    pub good: GoodPlan,
    /// The largest WebSocket frame it takes (`SocketConfig::max_frame_bytes`).
    pub max_frame_bytes: usize,
    /// The largest long-poll body it takes (`--longpoll-max-body-bytes`).
    pub longpoll_max_body_bytes: usize,
}

/// Tokens that must be refused, for a socket whose real ones are `real`
/// signed with `salt`: garbage, signed with another secret, tampered with.
fn refused_tokens(salt: &str, data: &serde_json::Value, real: &str) -> Vec<String> {
    let forged = Signer::new("netfuzz-another-secret-".repeat(4)).sign(salt, data);
    let mut tampered = real.as_bytes().to_vec();
    if let Some(middle) = tampered.get_mut(real.len() / 2) {
        *middle = if *middle == b'A' { b'B' } else { b'A' };
    }
    vec![
        "garbage".into(),
        forged,
        String::from_utf8_lossy(&tampered).into_owned(),
        "a".repeat(5000),
        "%ff%fe".into(),
        String::new(),
    ]
}

fn query(name: &str, value: &str) -> String {
    format!("{name}={}", form_encode(value))
}

/// Percent-encodes what a query value may not hold as it is.
fn form_encode(value: &str) -> String {
    // Tokens are URL-safe base64 and dots; the attack's own junk is kept as
    // it is when it is already escaped (`%ff`), to reach the server raw.
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'%' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// What the store page tells one browser.
struct Shopper {
    cart_id: String,
    cart_token: String,
    /// The cart session cookie: a token of another purpose.
    cookie_token: Option<String>,
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some(&text[from..to])
}

async fn store_shopper(server: SocketAddr) -> Result<(Shopper, String), String> {
    let page = http::get(server, "/", PAGE_LIMIT)
        .await
        .map_err(|e| format!("GET / on {server}: {e}"))?;
    if page.status != 200 {
        return Err(format!("GET / on {server}: status {}", page.status));
    }
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let cart_id = between(&html, "window.cartId = \"", "\"")
        .ok_or("the store page has no window.cartId")?
        .to_string();
    let cart_token = between(&html, "window.cartToken = \"", "\"")
        .ok_or("the store page has no window.cartToken")?
        .to_string();
    let cookie_token = page
        .header("set-cookie")
        .and_then(|c| between(c, "=", ";").or_else(|| c.split_once('=').map(|(_, v)| v)))
        .map(str::to_string);
    Ok((
        Shopper {
            cart_id,
            cart_token,
            cookie_token,
        },
        html,
    ))
}

/// Product ids and the sizes that can be bought, from the store page.
fn store_catalogue(html: &str) -> (Vec<u64>, Vec<u64>) {
    let products = html
        .split("data-product-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect();
    let sizes = html
        .split("<button")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            if !tag.contains("name=\"size\"") || tag.contains(" disabled") {
                return None;
            }
            between(tag, "value=\"", "\"")?.parse().ok()
        })
        .collect();
    (products, sizes)
}

impl Target {
    /// Learns what `kind` at `server` needs: its tokens, ids and the good
    /// clients' topics (named after `seed`, so that runs never share them).
    pub async fn prepare(
        kind: TargetKind,
        server: SocketAddr,
        seed: u64,
    ) -> Result<Target, String> {
        match kind {
            TargetKind::HelloSockets => Self::hello_sockets(server, seed).await,
            TargetKind::Sneakers23 => Self::sneakers23(server).await,
        }
    }

    async fn hello_sockets(server: SocketAddr, seed: u64) -> Result<Target, String> {
        let mut user_tokens = Vec::new();
        for user_id in ["7", "18446744073709551615"] {
            let path = format!("/token?user_id={user_id}");
            let answer = http::get(server, &path, PAGE_LIMIT)
                .await
                .map_err(|e| format!("GET {path} on {server}: {e}"))?;
            if answer.status != 200 {
                return Err(format!("GET {path} on {server}: status {}", answer.status));
            }
            user_tokens.push(String::from_utf8_lossy(&answer.body).into_owned());
        }
        let mut auth_params: Vec<String> = user_tokens.iter().map(|t| query("token", t)).collect();
        auth_params.extend(
            refused_tokens("salt identifier", &serde_json::json!(7), &user_tokens[0])
                .iter()
                .map(|t| query("token", t)),
        );
        auth_params.push(String::new());
        let good_topic = format!("bench:netfuzz-good-{seed:x}");
        let anyone = vec![
            String::new(),
            "user_id=1".into(),
            "token=garbage".into(),
            format!("x={}", "y".repeat(4000)),
            "%zz=%zz&&=&a".into(),
        ];
        let sockets = vec![
            SocketSpec {
                path: "/socket".into(),
                params: anyone.clone(),
                longpoll: true,
                topics: [
                    "ping",
                    "ping:*",
                    "wild:*",
                    "wild:*:*",
                    "dupe",
                    "recurring",
                    "bench:*",
                    "presence:*",
                ]
                .map(String::from)
                .to_vec(),
                events: vec![
                    "ping",
                    "pong",
                    "ding",
                    "ping_fuzz",
                    "broadcast",
                    "request_ping",
                    "param_ping",
                    "slow_ping",
                ],
                payload_keys: vec!["ack_phrase", "i", "n", "name", "user_id", "data"],
                known_ids: vec!["1".into(), "2".into(), "3".into()],
                forbidden_topics: vec![good_topic.clone()],
            },
            SocketSpec {
                path: "/auth_socket".into(),
                params: auth_params,
                longpoll: false,
                topics: ["ping", "user:*", "recurring"].map(String::from).to_vec(),
                events: vec!["ping", "pong", "ding", "ping_fuzz"],
                payload_keys: vec!["ack_phrase", "user_id"],
                known_ids: vec!["7".into(), "18446744073709551615".into()],
                forbidden_topics: vec![],
            },
            SocketSpec {
                path: "/stats_socket".into(),
                params: anyone,
                longpoll: false,
                topics: ["valid", "invalid", "*"].map(String::from).to_vec(),
                events: vec!["ping", "parallel_slow_ping", "slow_ping"],
                payload_keys: vec!["n"],
                known_ids: vec![],
                forbidden_topics: vec![],
            },
        ];
        Ok(Target {
            kind: TargetKind::HelloSockets,
            server,
            sockets: sockets.into_iter().map(Arc::new).collect(),
            health_path: "/metrics",
            metrics_path: Some("/metrics"),
            processes_path: Some("/processes"),
            good: GoodPlan {
                socket_path: "/socket".into(),
                params: String::new(),
                broadcast_topic: good_topic.clone(),
                echo_topic: good_topic,
                flavor: Flavor::Bench,
            },
            max_frame_bytes: 1 << 20,
            longpoll_max_body_bytes: 2 << 20,
        })
    }

    async fn sneakers23(server: SocketAddr) -> Result<Target, String> {
        // The good clients' browser, and a few for the attack.
        let (good, html) = store_shopper(server).await?;
        let mut attackers = Vec::new();
        for _ in 0..3 {
            attackers.push(store_shopper(server).await?.0);
        }
        let (products, sizes) = store_catalogue(&html);
        let (Some(&product), Some(&item_id)) = (products.first(), sizes.first()) else {
            return Err(format!(
                "the store page lists no product or no size in stock (products {products:?}, sizes {sizes:?})"
            ));
        };
        let mut params: Vec<String> = attackers
            .iter()
            .map(|s| query("cart_token", &s.cart_token))
            .collect();
        params.extend(
            refused_tokens(
                store_app::web::CART_SOCKET_SALT,
                &serde_json::json!(attackers[0].cart_id),
                &attackers[0].cart_token,
            )
            .iter()
            .map(|t| query("cart_token", t)),
        );
        // A real token of another purpose: the cart session cookie.
        params.extend(
            attackers
                .iter()
                .filter_map(|s| s.cookie_token.as_deref())
                .map(|t| query("cart_token", t)),
        );
        params.push(query("cart_token", &good.cart_id));
        let mut known_ids: Vec<String> = products.iter().map(u64::to_string).collect();
        known_ids.extend(sizes.iter().take(20).map(u64::to_string));
        known_ids.extend(attackers.iter().map(|s| s.cart_id.clone()));
        let good_cart_topic = format!("cart:{}", good.cart_id);
        let admin_params = refused_tokens(
            store_app::web::ADMIN_TOKEN_SALT,
            &serde_json::json!("admin"),
            &attackers[0].cart_token,
        )
        .iter()
        .map(|t| query("token", t))
        .collect();
        let sockets = vec![
            SocketSpec {
                path: store_app::web::PRODUCT_SOCKET_PATH.into(),
                params,
                longpoll: true,
                topics: ["product:*", "cart:*", "item_out:*"]
                    .map(String::from)
                    .to_vec(),
                events: vec!["add_item", "remove_item", "checkout", "ping"],
                payload_keys: vec!["item_id", "serialized"],
                known_ids,
                // The good clients' cart, and the product they push to: an
                // attacker never proves the good cart, but stays off both.
                forbidden_topics: vec![good_cart_topic.clone(), format!("product:{product}")],
            },
            SocketSpec {
                path: store_app::web::ADMIN_SOCKET_PATH.into(),
                params: admin_params,
                longpoll: true,
                topics: [store_app::web::CART_TRACKER_TOPIC, "admin:*"]
                    .map(String::from)
                    .to_vec(),
                events: vec!["ping"],
                payload_keys: vec!["cart_id"],
                known_ids: vec![],
                forbidden_topics: vec![],
            },
        ];
        Ok(Target {
            kind: TargetKind::Sneakers23,
            server,
            sockets: sockets.into_iter().map(Arc::new).collect(),
            health_path: "/health",
            metrics_path: None,
            processes_path: None,
            good: GoodPlan {
                socket_path: store_app::web::PRODUCT_SOCKET_PATH.into(),
                params: query("cart_token", &good.cart_token),
                broadcast_topic: good_cart_topic,
                echo_topic: format!("product:{product}"),
                flavor: Flavor::Cart { item_id },
            },
            max_frame_bytes: 1 << 20,
            longpoll_max_body_bytes: 2 << 20,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_page_gives_products_and_the_sizes_in_stock() {
        let html = r#"<article class="product-listing" data-product-id="1">
            <button type="button" name="size" class="e" value="3" data-level="out" disabled>
            <button type="button" name="size" class="e" value="4" data-level="low">
            <button type="button" class="other" value="9">
            <article class="product-listing" data-product-id="2">"#;
        assert_eq!(store_catalogue(html), (vec![1, 2], vec![4]));
    }

    #[test]
    fn query_values_are_escaped_unless_already_escaped() {
        assert_eq!(query("t", "a b/c"), "t=a%20b%2Fc");
        assert_eq!(query("t", "%ff"), "t=%ff");
    }

    #[test]
    fn refused_tokens_differ_from_the_real_one() {
        let real = Signer::new("s".repeat(64)).sign("salt", &7);
        let refused = refused_tokens("salt", &serde_json::json!(7), &real);
        assert!(refused.iter().all(|t| *t != real));
        assert_eq!(refused[2].len(), real.len());
    }
}
