//! Phoenix Channels in Rust: the server side of the protocol that the official
//! `phoenix` JavaScript client speaks.
//!
//! - [`message`]: the protocol's messages, independent of encoding.
//! - [`serializer`]: the V1 and V2 wire formats.
//! - [`token`]: Phoenix.Token-style signed tokens; [`secret`]: where their key comes from.

pub mod message;
pub mod secret;
pub mod serializer;
pub mod token;
pub mod topic;
