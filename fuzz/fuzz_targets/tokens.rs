//! Every token a client hands the store, verified as the store verifies it:
//! socket tokens (cart socket, admin), the cart session cookie (the whole
//! `Cookie` header), and the serialized cart. The first byte picks whether
//! the rest is the token as sent (forgeries: the signature must fail) or a
//! payload correctly signed here (what only the secret's holder could send:
//! the decoding after the signature check).
#![no_main]

use std::sync::OnceLock;

use channels::token::Signer;
use http::header::{HeaderMap, HeaderValue, COOKIE};
use libfuzzer_sys::fuzz_target;
use store_app::checkout::ShoppingCart;
use store_app::web::{
    cart_id_of_socket_token, cart_session, ADMIN_TOKEN_SALT, CART_COOKIE, CART_SESSION_SALT,
    CART_SOCKET_SALT,
};

const SALTS: [&str; 4] = [
    CART_SOCKET_SALT,
    CART_SESSION_SALT,
    ADMIN_TOKEN_SALT,
    store_app::checkout::CART_SALT,
];

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| Signer::new(channels::fuzzing::SECRET_KEY_BASE))
}

fn verify_everywhere(token: &str) {
    let signer = signer();
    let _ = cart_id_of_socket_token(signer, token);
    let _ = ShoppingCart::deserialize(signer, Some(token));
    let _ = signer.verify::<String>(ADMIN_TOKEN_SALT, Some(token), None);
    let _ = signer.verify::<serde_json::Value>("user socket", Some(token), None);
    if let Ok(value) = HeaderValue::from_str(&format!("{CART_COOKIE}={token}")) {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, value);
        let _ = cart_session(&headers, signer);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            verify_everywhere(token);
            // The raw text as the whole Cookie header too.
            if let Ok(value) = HeaderValue::from_bytes(rest) {
                let mut headers = HeaderMap::new();
                headers.insert(COOKIE, value);
                let _ = cart_session(&headers, signer());
            }
        }
    } else {
        let salt = SALTS[(pick as usize / 2) % SALTS.len()];
        verify_everywhere(&signer().sign_raw_payload(salt, rest));
    }
});
