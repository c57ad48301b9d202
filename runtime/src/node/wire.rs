//! Encoding of messages that cross nodes: bincode 2 over serde.
//!
//! With ractor's `cluster` feature a message type is remote-capable when its
//! [`ractor::Message`] impl says `serializable() == true` and can turn itself
//! into a [`SerializedMessage`]. ractor_cluster's own derive
//! (`RactorClusterMessage`) wants every field to be `BytesConvertable`, which
//! does not fit structured payloads; instead a remote-capable message here has
//! one variant that carries a serde type, and these helpers put that type on the
//! wire as a `Cast` with bincode 2 (`standard()` config: varint integers,
//! little endian). Local-only variants (timers, internal notices) refuse to
//! serialize, so they can never leave the node by mistake.
//!
//! A request that needs an answer travels as a ractor `Call`: [`to_call`] /
//! [`from_call`] carry the request and a reply port of encoded bytes, which
//! ractor_cluster routes back to the caller's node. [`call`] is the caller's
//! side: it works the same whether the actor is local or a remote proxy.
//!
//! The node monitor and the cluster PubSub use casts; the store service of
//! `store_app` uses calls.

use std::time::Duration;

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::RpcReplyPort;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The most a decoded message may claim: every string, byte buffer and
/// collection it holds, together. bincode allocates a string or buffer
/// before reading it, at the length its prefix announces; without a limit,
/// a 13-byte message announcing an exabyte string aborts the node (found by
/// the `cluster_wire` fuzz target). The largest real messages (a store
/// snapshot, a tracker transfer of ten thousand presences) are a few MB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// bincode 2's standard configuration (varint integers, little endian),
/// with decoding bounded by [`MAX_MESSAGE_BYTES`].
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encodes `value` with bincode 2's standard configuration.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, config())
}

/// Decodes a whole buffer produced by [`encode`]; trailing bytes are an
/// error, and so is a message claiming more than [`MAX_MESSAGE_BYTES`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::error::DecodeError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())?;
    if used != bytes.len() {
        return Err(bincode::error::DecodeError::OtherString(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// `value` as a ractor cast for a remote actor (for `Message::serialize`).
pub fn to_cast<T: Serialize>(value: &T) -> Result<SerializedMessage, BoxedDowncastErr> {
    let args = encode(value).map_err(|e| {
        tracing::warn!("cannot encode a cluster message: {e}");
        BoxedDowncastErr
    })?;
    Ok(SerializedMessage::Cast {
        variant: String::new(),
        args,
        metadata: None,
    })
}

/// The value of a cast produced by [`to_cast`] (for `Message::deserialize`).
/// Anything else — a call, an undecodable payload — is refused and logged.
pub fn from_cast<T: DeserializeOwned>(message: SerializedMessage) -> Result<T, BoxedDowncastErr> {
    match message {
        SerializedMessage::Cast { args, .. } => decode(&args).map_err(|e| {
            tracing::warn!("dropping an undecodable cluster message: {e}");
            BoxedDowncastErr
        }),
        _ => {
            tracing::warn!("dropping a cluster message that is not a cast");
            Err(BoxedDowncastErr)
        }
    }
}

/// `value` as a ractor call for a remote actor, answered on `reply` with
/// bytes produced by [`encode`].
pub fn to_call<T: Serialize>(
    value: &T,
    reply: RpcReplyPort<Vec<u8>>,
) -> Result<SerializedMessage, BoxedDowncastErr> {
    let args = encode(value).map_err(|e| {
        tracing::warn!("cannot encode a cluster call: {e}");
        BoxedDowncastErr
    })?;
    Ok(SerializedMessage::Call {
        variant: String::new(),
        args,
        reply,
        metadata: None,
    })
}

/// The request and reply port of a call produced by [`to_call`].
pub fn from_call<T: DeserializeOwned>(
    message: SerializedMessage,
) -> Result<(T, RpcReplyPort<Vec<u8>>), BoxedDowncastErr> {
    match message {
        SerializedMessage::Call { args, reply, .. } => match decode(&args) {
            Ok(value) => Ok((value, reply)),
            Err(e) => {
                tracing::warn!("dropping an undecodable cluster call: {e}");
                Err(BoxedDowncastErr)
            }
        },
        _ => {
            tracing::warn!("dropping a cluster message that is not a call");
            Err(BoxedDowncastErr)
        }
    }
}

/// Why a [`call`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The actor (or its node) is gone, or it dropped the request.
    #[error("the process is not reachable")]
    Unreachable,
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An answer came but could not be decoded.
    #[error("undecodable answer: {0}")]
    Undecodable(String),
}

/// Sends the message built by `build` (around a fresh reply port) to `actor`
/// and decodes the bytes it answers — the same for a local actor and for a
/// remote one, whose proxy serializes the message with [`to_call`].
pub async fn call<M, R>(
    actor: &ractor::ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<Vec<u8>>) -> M,
    timeout: Duration,
) -> Result<R, CallError>
where
    M: ractor::Message,
    R: DeserializeOwned,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let port = RpcReplyPort::from((tx, timeout));
    actor
        .send_message(build(port))
        .map_err(|_| CallError::Unreachable)?;
    let bytes = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(CallError::Unreachable),
        Err(_) => return Err(CallError::Timeout(timeout)),
    };
    decode(&bytes).map_err(|e| CallError::Undecodable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Sample {
        A { from: String, n: u64 },
        B(Vec<String>),
    }

    #[test]
    fn round_trips_through_a_cast() {
        let v = Sample::A {
            from: "a@h".into(),
            n: 300,
        };
        let cast = to_cast(&v).unwrap();
        assert_eq!(from_cast::<Sample>(cast).unwrap(), v);
        let v = Sample::B(vec!["x".into(), "y".into()]);
        assert_eq!(decode::<Sample>(&encode(&v).unwrap()).unwrap(), v);
    }

    #[test]
    fn a_call_round_trips_with_its_reply_port() {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let v = Sample::B(vec!["q".into()]);
        let call = to_call(&v, RpcReplyPort::from(tx)).unwrap();
        let (decoded, reply) = from_call::<Sample>(call).unwrap();
        assert_eq!(decoded, v);
        reply.send(encode(&7u32).unwrap()).unwrap();
        assert_eq!(decode::<u32>(&rx.try_recv().unwrap()).unwrap(), 7);
        let cast = to_cast(&v).unwrap();
        assert!(from_call::<Sample>(cast).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode::<Sample>(&[9, 9, 9]).is_err());
        let mut bytes = encode(&Sample::B(vec![])).unwrap();
        bytes.push(0);
        assert!(decode::<Sample>(&bytes).is_err());
        let call_like = SerializedMessage::CallReply(1, vec![]);
        assert!(from_cast::<Sample>(call_like).is_err());
    }

    #[test]
    fn a_length_prefix_past_the_limit_is_refused_before_anything_is_allocated() {
        // The `cluster_wire` fuzz target's find: variant B, one string,
        // announced at ~2^57 bytes (varint 253: a u64 follows).
        let announced = [1, 1, 253, 0x42, 0x03, 0x2e, 0x00, 0xe0, 0x30, 0x2e, 0x02];
        assert!(matches!(
            decode::<Sample>(&announced),
            Err(bincode::error::DecodeError::LimitExceeded)
        ));
        // As many strings as the limit allows, each announced but absent.
        let mut many = vec![1, 253];
        many.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(decode::<Sample>(&many).is_err());
        // A real message near the limit still decodes.
        let big = Sample::B(vec!["x".repeat(1 << 20); 8]);
        assert_eq!(decode::<Sample>(&encode(&big).unwrap()).unwrap(), big);
    }
}
