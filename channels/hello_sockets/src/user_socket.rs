//! `HelloSocketsWeb.UserSocket`: open to anyone, no id.

use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use channels::token::Signer;

use super::{BenchChannel, DedupeChannel, PingChannel, RecurringChannel, UserId, WildcardChannel};

/// The book's `UserSocket`.
pub struct UserSocket {
    signer: Signer,
}

impl UserSocket {
    /// A user socket whose `recurring` channel signs tokens with `signer`.
    pub fn new(signer: Signer) -> Self {
        UserSocket { signer }
    }
}

/// A `UserSocket` connection knows no user.
impl UserId for () {
    fn user_id(&self) -> Option<u64> {
        None
    }
}

impl Socket for UserSocket {
    type Assigns = ();

    async fn connect(&self, _params: &Params, _info: &ConnectInfo) -> Result<(), Refused> {
        Ok(())
    }

    fn channels(&self, routes: &mut channels::socket::Routes<()>) {
        let routes: &mut Routes<()> = routes;
        routes
            .channel("ping", PingChannel)
            .channel("ping:*", PingChannel)
            .channel("wild:*", WildcardChannel)
            .channel("dupe", DedupeChannel)
            .channel("recurring", RecurringChannel::new(self.signer.clone()))
            .channel("bench:*", BenchChannel);
    }
}
