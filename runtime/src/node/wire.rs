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
//! The node monitor uses this; the cluster PubSub will too.

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes `value` with bincode 2's standard configuration.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
}

/// Decodes a whole buffer produced by [`encode`]; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::error::DecodeError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
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
    fn garbage_is_refused() {
        assert!(decode::<Sample>(&[9, 9, 9]).is_err());
        let mut bytes = encode(&Sample::B(vec![])).unwrap();
        bytes.push(0);
        assert!(decode::<Sample>(&bytes).is_err());
        let call_like = SerializedMessage::CallReply(1, vec![]);
        assert!(from_cast::<Sample>(call_like).is_err());
    }
}
