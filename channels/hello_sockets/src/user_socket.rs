//! `HelloSocketsWeb.UserSocket`: open to anyone, no id.

use channels::presence::Presence;
use channels::socket::{ConnectInfo, Params, Refused, Routes, Socket};
use channels::token::Signer;

use super::{
    BenchChannel, DedupeChannel, PingChannel, PresenceChannel, RecurringChannel, UserId,
    WildcardChannel,
};

/// The book's `UserSocket`, and the presence example's room.
pub struct UserSocket {
    signer: Signer,
    presence: Option<Presence>,
}

impl UserSocket {
    /// A user socket whose `recurring` channel signs tokens with `signer`.
    pub fn new(signer: Signer) -> Self {
        UserSocket {
            signer,
            presence: None,
        }
    }

    /// Mounts `presence:*` on this presence tracker (none: not mounted).
    pub fn with_presence(mut self, presence: Option<Presence>) -> Self {
        self.presence = presence;
        self
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
        if let Some(presence) = &self.presence {
            routes.channel("presence:*", PresenceChannel::new(presence.clone()));
        }
    }
}
