//! `HelloSocketsWeb.AuthSocket`: connecting needs a token signed by this app.

use std::time::Duration;

use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use channels::token::Signer;

use super::{AuthChannel, PingChannel, RecurringChannel, UserId};

/// The salt of the book's user tokens.
pub const TOKEN_SALT: &str = "salt identifier";
/// Tokens are good for one day (`@one_day 86400`).
pub const TOKEN_MAX_AGE: Duration = Duration::from_secs(86_400);

/// The book's `AuthSocket`.
pub struct AuthSocket {
    signer: Signer,
}

impl AuthSocket {
    /// An auth socket verifying tokens with `signer`.
    pub fn new(signer: Signer) -> Self {
        AuthSocket { signer }
    }
}

/// What an `AuthSocket` connection carries: the verified user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthAssigns {
    /// From the token.
    pub user_id: u64,
}

impl UserId for AuthAssigns {
    fn user_id(&self) -> Option<u64> {
        Some(self.user_id)
    }
}

impl Socket for AuthSocket {
    type Assigns = AuthAssigns;

    async fn connect(&self, params: &Params, _info: &ConnectInfo) -> Result<AuthAssigns, Refused> {
        let Some(token) = params.get("token") else {
            tracing::error!("AuthSocket connect error missing params");
            return Err(Refused("missing params".into()));
        };
        match self
            .signer
            .verify::<u64>(TOKEN_SALT, Some(token), Some(TOKEN_MAX_AGE))
        {
            Ok(user_id) => Ok(AuthAssigns { user_id }),
            Err(err) => {
                tracing::error!("AuthSocket connect error :{err}");
                Err(Refused(err.to_string()))
            }
        }
    }

    fn id(&self, assigns: &AuthAssigns) -> Option<String> {
        Some(format!("auth_socket:{}", assigns.user_id))
    }

    fn channels(&self, routes: &mut Routes<AuthAssigns>) {
        routes
            .channel("ping", PingChannel)
            .channel("user:*", AuthChannel)
            .channel("recurring", RecurringChannel::new(self.signer.clone()));
    }
}
