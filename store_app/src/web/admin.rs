//! The admin dashboard's access (book ch10): `GET /admin` behind HTTP basic
//! auth, an `AdminSocket` at `/admin_socket` that takes only a short-lived
//! token the page was given, and `AdminChannel` on `admin:cart_tracker`.
//!
//! The user and password come from `ADMIN_USER` and `ADMIN_PASSWORD`; when
//! either is unset the dashboard is refused to everyone (403), and the node
//! says so once in its log. A page that passed basic auth renders a token
//! signed with the admin salt (a shopper's cart token, or any other, is
//! refused), valid [`ADMIN_TOKEN_MAX_AGE`]; the page fetches a fresh one
//! from `GET /admin/token` before it expires, so reconnects keep working.
//!
//! The channel pushes the cart tracker's `presence_state` after the join;
//! the tracker's diffs reach the page as `presence_diff` (phoenix.js's
//! `Presence` keeps the page's view).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use channels::channel::{Channel, ChannelSocket, Continue, HandleIn, Join, Reply};
use channels::message::Payload;
use channels::presence::{Presence, PRESENCE_STATE};
use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use channels::token::{SignOptions, Signer};
use http::{header, HeaderMap};
use runtime::ProcessError;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::shopping_cart_channel::CART_TRACKER_TOPIC;

/// Where the admin socket is mounted.
pub const ADMIN_SOCKET_PATH: &str = "/admin_socket";
/// The salt of admin tokens: no other token of the store verifies with it.
pub const ADMIN_TOKEN_SALT: &str = "admin socket";
/// How long an admin token opens the socket.
pub const ADMIN_TOKEN_MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// The environment variables holding the dashboard's credentials.
pub const ADMIN_USER_ENV: &str = "ADMIN_USER";
/// See [`ADMIN_USER_ENV`].
pub const ADMIN_PASSWORD_ENV: &str = "ADMIN_PASSWORD";
/// A file holding the password instead (scripts prefer files for secrets:
/// a restarted node reads it again, and it is never in a command line).
pub const ADMIN_PASSWORD_FILE_ENV: &str = "ADMIN_PASSWORD_FILE";

/// Who may open the dashboard.
#[derive(Clone)]
pub struct AdminAccess {
    user: String,
    password: String,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AdminAccess {{ user: {:?}, password: [FILTERED] }}",
            self.user
        )
    }
}

/// Whether a request may see the dashboard.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminCheck {
    /// The right user and password.
    Allowed,
    /// No or wrong credentials: ask for them (401).
    Unauthorized,
    /// The dashboard is off: no credentials are configured (403).
    Disabled,
}

impl AdminAccess {
    /// Access for `user` with `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        AdminAccess {
            user: user.into(),
            password: password.into(),
        }
    }

    /// From `ADMIN_USER` and `ADMIN_PASSWORD` (or `ADMIN_PASSWORD_FILE`);
    /// `None` (and a log line) when either is unset or empty.
    pub fn from_env() -> Option<AdminAccess> {
        let user = std::env::var(ADMIN_USER_ENV).ok().filter(|u| !u.is_empty());
        let password = std::env::var(ADMIN_PASSWORD_ENV)
            .ok()
            .or_else(|| {
                let path = std::env::var(ADMIN_PASSWORD_FILE_ENV).ok()?;
                match std::fs::read_to_string(&path) {
                    Ok(text) => Some(text.trim().to_string()),
                    Err(err) => {
                        tracing::warn!(%path, %err, "cannot read the admin password file");
                        None
                    }
                }
            })
            .filter(|p| !p.is_empty());
        match (user, password) {
            (Some(user), Some(password)) => Some(AdminAccess::new(user, password)),
            _ => {
                tracing::warn!(
                    "the admin dashboard (/admin) is refused to everyone: set {ADMIN_USER_ENV} and {ADMIN_PASSWORD_ENV} (or {ADMIN_PASSWORD_FILE_ENV}) to open it"
                );
                None
            }
        }
    }

    /// Checks a request's `Authorization: Basic …` against `access`.
    pub fn check(access: Option<&AdminAccess>, headers: &HeaderMap) -> AdminCheck {
        let Some(access) = access else {
            return AdminCheck::Disabled;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b64| STANDARD.decode(b64.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok());
        let Some((user, password)) = given.as_deref().and_then(|g| g.split_once(':')) else {
            return AdminCheck::Unauthorized;
        };
        // Both compared in constant time, and both always compared.
        let user_ok = user.as_bytes().ct_eq(access.user.as_bytes());
        let password_ok = password.as_bytes().ct_eq(access.password.as_bytes());
        if bool::from(user_ok & password_ok) {
            AdminCheck::Allowed
        } else {
            AdminCheck::Unauthorized
        }
    }
}

/// A token for the admin socket, signed now.
pub fn admin_token(signer: &Signer) -> String {
    let options = SignOptions {
        max_age: ADMIN_TOKEN_MAX_AGE,
        ..SignOptions::default()
    };
    signer.sign_with(ADMIN_TOKEN_SALT, &"admin", options)
}

/// The admin's socket: only a valid admin token connects.
pub struct AdminSocket {
    signer: Signer,
    cart_tracker: Presence,
}

impl AdminSocket {
    /// The socket, verifying tokens with `signer`, its channel reading `cart_tracker`.
    pub fn new(signer: Signer, cart_tracker: Presence) -> Self {
        AdminSocket {
            signer,
            cart_tracker,
        }
    }
}

impl Socket for AdminSocket {
    type Assigns = ();

    async fn connect(&self, params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        let token = params.get("token").map(String::as_str);
        match self
            .signer
            .verify::<String>(ADMIN_TOKEN_SALT, token, Some(ADMIN_TOKEN_MAX_AGE))
        {
            Ok(who) if who == "admin" => Ok(()),
            Ok(_) => Err(Refused("not an admin token".into())),
            Err(err) => Err(Refused(format!("admin token refused: {err}"))),
        }
    }

    fn channels(&self, routes: &mut Routes<()>) {
        routes.channel(
            CART_TRACKER_TOPIC,
            AdminChannel {
                cart_tracker: self.cart_tracker.clone(),
            },
        );
    }
}

/// `admin:cart_tracker`: the carts of every node, as the cart tracker holds them.
pub struct AdminChannel {
    cart_tracker: Presence,
}

/// Sent to itself after the join: push the state.
pub struct SendState;

impl Channel<()> for AdminChannel {
    type State = ();
    type Info = SendState;

    async fn join(
        &self,
        _topic: &str,
        _payload: Payload,
        socket: &ChannelSocket<(), SendState>,
    ) -> Result<Join<()>, ProcessError> {
        socket.myself().send(SendState);
        Ok(Join::Ok(()))
    }

    async fn handle_info(
        &self,
        _message: SendState,
        socket: &ChannelSocket<(), SendState>,
        _state: &mut (),
    ) -> Result<Continue, ProcessError> {
        let state = self
            .cart_tracker
            .list(CART_TRACKER_TOPIC)
            .await
            .map_err(|err| err.to_string())?;
        socket.push(PRESENCE_STATE, state);
        Ok(Continue::NoReply)
    }

    async fn handle_in(
        &self,
        event: &str,
        _payload: Payload,
        _socket: &ChannelSocket<(), SendState>,
        _state: &mut (),
    ) -> Result<HandleIn, ProcessError> {
        Ok(HandleIn::Reply(Reply::error(json!({
            "reason": format!("the admin channel takes no events (got {event:?})")
        }))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(user_password));
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn basic_auth_lets_in_only_the_configured_admin() {
        let access = AdminAccess::new("ops", "s3cret:with:colons");
        let check = |headers: &HeaderMap| AdminAccess::check(Some(&access), headers);
        assert_eq!(check(&basic("ops:s3cret:with:colons")), AdminCheck::Allowed);
        assert_eq!(check(&basic("ops:wrong")), AdminCheck::Unauthorized);
        assert_eq!(
            check(&basic("other:s3cret:with:colons")),
            AdminCheck::Unauthorized
        );
        assert_eq!(check(&HeaderMap::new()), AdminCheck::Unauthorized);
        assert_eq!(
            AdminAccess::check(None, &basic("ops:s3cret:with:colons")),
            AdminCheck::Disabled
        );
        assert!(!format!("{access:?}").contains("s3cret"));
    }
}
