//! Which cart a browser has (the book's `CartIdPlug`), and the proof its
//! socket shows to join that cart's channel.
//!
//! Every page request reads the cart id from a signed, `HttpOnly`,
//! `SameSite=Lax` session cookie, or makes a new id and sets the cookie, so
//! every tab of one browser shares one cart and page scripts cannot read the
//! cookie. The page renders the id as `window.cartId`, and beside it
//! `window.cartToken`: the id signed for the socket. The socket's connect
//! carries that token, and the cart channel joins `cart:<id>` only for the id
//! it proves — where the book lets anyone who learns an id join that cart.

use std::time::Duration;

use channels::token::{SignOptions, Signer};
use cookie::Cookie;
use http::{header, HeaderMap, HeaderValue};

use crate::checkout::{generate_cart_id, is_cart_id, CART_MAX_AGE};

/// The session cookie holding the signed cart id.
pub const CART_COOKIE: &str = "_sneakers23_cart";
/// The salt of the cookie's token.
pub const CART_SESSION_SALT: &str = "cart session";
/// The salt of the socket's token (`window.cartToken`).
pub const CART_SOCKET_SALT: &str = "cart socket";
/// How long either token is accepted: as long as a serialized cart.
pub const CART_SESSION_MAX_AGE: Duration = CART_MAX_AGE;

/// A request's cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartSession {
    /// The browser's cart id.
    pub cart_id: String,
    /// The cookie to set, when the id is new (first visit, or a cookie that
    /// was forged, expired or malformed).
    pub set_cookie: Option<HeaderValue>,
}

/// The cart id of the request's session cookie, or a new one with its cookie.
pub fn cart_session(headers: &HeaderMap, signer: &Signer) -> CartSession {
    if let Some(cart_id) = cookie_value(headers, CART_COOKIE)
        .and_then(|token| verify(signer, CART_SESSION_SALT, token))
    {
        return CartSession {
            cart_id,
            set_cookie: None,
        };
    }
    let cart_id = generate_cart_id();
    let token = sign(signer, CART_SESSION_SALT, &cart_id);
    // A session cookie (no Max-Age), as Phoenix's session is: the cart itself
    // outlives it in the page's localStorage.
    let cookie = Cookie::build((CART_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .build();
    let set_cookie = HeaderValue::from_str(&cookie.to_string())
        .expect("a signed token and these attributes are valid header characters");
    CartSession {
        cart_id,
        set_cookie: Some(set_cookie),
    }
}

/// The token the page hands its socket for `cart_id` (`window.cartToken`).
pub fn socket_token(signer: &Signer, cart_id: &str) -> String {
    sign(signer, CART_SOCKET_SALT, cart_id)
}

/// The cart id a socket token proves, if it is genuine and unexpired.
pub fn cart_id_of_socket_token(signer: &Signer, token: &str) -> Option<String> {
    verify(signer, CART_SOCKET_SALT, token)
}

/// The page's lines for one browser: `window.cartId` and `window.cartToken`.
/// Both are URL-safe base64 (and dots), so they need no escaping in a script.
pub fn shopper_script(signer: &Signer, cart_id: &str) -> String {
    debug_assert!(is_cart_id(cart_id));
    format!(
        "<script>window.cartId = \"{cart_id}\"; window.cartToken = \"{}\";</script>",
        socket_token(signer, cart_id)
    )
}

fn sign(signer: &Signer, salt: &str, cart_id: &str) -> String {
    let options = SignOptions {
        max_age: CART_SESSION_MAX_AGE,
        ..SignOptions::default()
    };
    signer.sign_with(salt, &cart_id, options)
}

fn verify(signer: &Signer, salt: &str, token: &str) -> Option<String> {
    let cart_id: String = signer
        .verify(salt, Some(token), Some(CART_SESSION_MAX_AGE))
        .ok()?;
    is_cart_id(&cart_id).then_some(cart_id)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Cookie::split_parse(value).filter_map(Result::ok))
        .find(|cookie| cookie.name() == name)
        .and_then(|cookie| cookie.value_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new("c".repeat(64))
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value.parse().unwrap());
        headers
    }

    /// The `name=value` part of a `Set-Cookie`.
    fn pair(set_cookie: &HeaderValue) -> String {
        set_cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_first_visit_gets_a_new_cart_id_in_an_http_only_lax_cookie() {
        let session = cart_session(&HeaderMap::new(), &signer());
        assert!(is_cart_id(&session.cart_id));
        let cookie = session.set_cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("_sneakers23_cart="), "{cookie}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        assert!(
            !cookie.contains(&session.cart_id),
            "the id is signed, not shown: {cookie}"
        );
    }

    #[test]
    fn the_cookie_brings_back_the_same_cart_in_every_tab() {
        let first = cart_session(&HeaderMap::new(), &signer());
        let cookie = pair(first.set_cookie.as_ref().unwrap());
        for other_cookies in ["", "theme=dark; "] {
            let again = cart_session(&with_cookie(&format!("{other_cookies}{cookie}")), &signer());
            assert_eq!(again.cart_id, first.cart_id);
            assert_eq!(again.set_cookie, None);
        }
    }

    #[test]
    fn a_forged_or_foreign_cookie_gets_a_fresh_cart() {
        let first = cart_session(&HeaderMap::new(), &signer());
        let cookie = pair(first.set_cookie.as_ref().unwrap());
        let stranger = Signer::new("d".repeat(64));
        let foreign = cart_session(&with_cookie(&cookie), &stranger);
        assert_ne!(foreign.cart_id, first.cart_id);
        assert!(foreign.set_cookie.is_some());
        let forged = cart_session(
            &with_cookie(&format!("{CART_COOKIE}={}", "a".repeat(64))),
            &signer(),
        );
        assert_ne!(forged.cart_id, "a".repeat(64));
        // A socket token is not a session cookie, nor the other way round.
        let token = socket_token(&signer(), &first.cart_id);
        let swapped = cart_session(&with_cookie(&format!("{CART_COOKIE}={token}")), &signer());
        assert_ne!(swapped.cart_id, first.cart_id);
    }

    #[test]
    fn a_socket_token_proves_its_cart_id_only() {
        let id = generate_cart_id();
        let token = socket_token(&signer(), &id);
        assert_eq!(cart_id_of_socket_token(&signer(), &token), Some(id.clone()));
        assert_eq!(
            cart_id_of_socket_token(&Signer::new("d".repeat(64)), &token),
            None
        );
        assert_eq!(cart_id_of_socket_token(&signer(), "garbage"), None);
        let script = shopper_script(&signer(), &id);
        assert!(
            script.contains(&format!("window.cartId = \"{id}\"")),
            "{script}"
        );
        assert!(script.contains("window.cartToken = \""), "{script}");
    }
}
