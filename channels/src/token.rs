//! Signed tokens with Phoenix.Token's layout.
//!
//! `base64url("HS256") . base64url(payload) . base64url(HMAC-SHA256)`, hence
//! every token starts with `SFMyNTY.`. The key is PBKDF2-HMAC-SHA256 of the
//! `secret_key_base` with the salt (1000 iterations, 32 bytes), as Plug.Crypto
//! derives it. Phoenix encodes the payload `{data, signed_at_ms, max_age_s}` in
//! Erlang's term format; we encode the same triple as a JSON array, so tokens
//! are not interchangeable with Elixir's, but they are built and checked the
//! same way. A token is signed, not encrypted: never put secrets in it.
//!
//! Derived keys are cached per salt: PBKDF2 is deliberately slow, and a socket
//! verifies a token on every connect.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Phoenix's default `max_age`: one day.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// The protected header, `"HS256"`, base64url-encoded.
const PROTECTED: &str = "SFMyNTY";

/// Why a token was not accepted (Phoenix's `:expired`, `:invalid`, `:missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Genuine, but older than its max age.
    #[error("expired")]
    Expired,
    /// Not signed with this secret and salt, or not a token at all.
    #[error("invalid")]
    Invalid,
    /// No token was given.
    #[error("missing")]
    Missing,
}

/// Options for [`Signer::sign_with`].
#[derive(Debug, Clone, Copy)]
pub struct SignOptions {
    /// When the token counts as signed; defaults to now.
    pub signed_at: Option<SystemTime>,
    /// Stored in the token; used when `verify` is given no max age.
    pub max_age: Duration,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            signed_at: None,
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

/// Signs and verifies tokens with one `secret_key_base`. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    secret_key_base: Arc<[u8]>,
    keys: Arc<Mutex<HashMap<String, [u8; 32]>>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { secret_key_base: <redacted> }")
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Signer {
    /// A signer for this secret (see [`crate::secret`] for where it comes from).
    pub fn new(secret_key_base: impl AsRef<[u8]>) -> Self {
        Signer {
            secret_key_base: Arc::from(secret_key_base.as_ref()),
            keys: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn key(&self, salt: &str) -> [u8; 32] {
        if let Some(key) = self.keys.lock().get(salt) {
            return *key;
        }
        let key =
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(&self.secret_key_base, salt.as_bytes(), 1000);
        self.keys.lock().insert(salt.to_string(), key);
        key
    }

    fn mac(&self, salt: &str) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(&self.key(salt))
            .expect("HMAC takes keys of any length")
    }

    /// Signs `data` now, with the default one-day max age (`Phoenix.Token.sign/3`).
    pub fn sign<T: Serialize>(&self, salt: &str, data: &T) -> String {
        self.sign_with(salt, data, SignOptions::default())
    }

    /// Signs `data` with explicit options (`Phoenix.Token.sign/4`).
    pub fn sign_with<T: Serialize>(&self, salt: &str, data: &T, options: SignOptions) -> String {
        let signed_at = unix_ms(options.signed_at.unwrap_or_else(SystemTime::now));
        let payload = serde_json::to_vec(&(data, signed_at, options.max_age.as_secs()))
            .expect("token data serializes to JSON");
        let plain = format!("{PROTECTED}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac(salt);
        mac.update(plain.as_bytes());
        let signature = mac.finalize().into_bytes();
        format!("{plain}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Verifies a token and returns its data (`Phoenix.Token.verify/4`).
    /// `max_age`, when given, wins over the one stored in the token.
    pub fn verify<T: DeserializeOwned>(
        &self,
        salt: &str,
        token: Option<&str>,
        max_age: Option<Duration>,
    ) -> Result<T, TokenError> {
        self.verify_at(salt, token, max_age, SystemTime::now())
    }

    /// [`verify`](Self::verify) as if it were `now`; for tests of expiry.
    pub fn verify_at<T: DeserializeOwned>(
        &self,
        salt: &str,
        token: Option<&str>,
        max_age: Option<Duration>,
        now: SystemTime,
    ) -> Result<T, TokenError> {
        let token = token.ok_or(TokenError::Missing)?;
        let mut parts = token.split('.');
        let (Some(protected), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        if protected != PROTECTED {
            return Err(TokenError::Invalid);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac(salt);
        mac.update(protected.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        // Constant-time comparison, so the signature cannot be guessed byte by byte.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Invalid)?;
        let (data, signed_at, stored_max_age): (T, u64, u64) =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        let max_age = max_age.unwrap_or(Duration::from_secs(stored_max_age));
        let expires_at = signed_at.saturating_add(max_age.as_millis() as u64);
        if unix_ms(now) > expires_at {
            return Err(TokenError::Expired);
        }
        Ok(data)
    }
}

#[cfg(fuzzing)]
impl Signer {
    /// A token whose payload is `payload` as given (any bytes, not
    /// necessarily the JSON `sign` writes), correctly signed: how the fuzz
    /// targets reach the decoding that only runs after the signature checks.
    pub fn sign_raw_payload(&self, salt: &str, payload: &[u8]) -> String {
        let plain = format!("{PROTECTED}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac(salt);
        mac.update(plain.as_bytes());
        format!(
            "{plain}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new("a".repeat(64))
    }

    #[test]
    fn a_token_has_phoenix_layout_and_round_trips() {
        let token = signer().sign("salt identifier", &123);
        assert!(token.starts_with("SFMyNTY."), "{token}");
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(
            signer().verify::<u64>("salt identifier", Some(&token), None),
            Ok(123)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_or_salt_is_invalid() {
        let token = signer().sign("salt identifier", &123);
        assert_eq!(
            Signer::new("b".repeat(64)).verify::<u64>("salt identifier", Some(&token), None),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            signer().verify::<u64>("other salt", Some(&token), None),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_tampered_token_is_invalid() {
        let token = signer().sign("s", &1);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&(2, 0u64, 86_400u64)).unwrap());
        parts[1] = &forged;
        assert_eq!(
            signer().verify::<u64>("s", Some(&parts.join(".")), None),
            Err(TokenError::Invalid)
        );
        for junk in ["", "xxx", "SFMyNTY..", "a.b.c.d"] {
            assert_eq!(
                signer().verify::<u64>("s", Some(junk), None),
                Err(TokenError::Invalid)
            );
        }
    }

    #[test]
    fn no_token_is_missing() {
        assert_eq!(
            signer().verify::<u64>("s", None, None),
            Err(TokenError::Missing)
        );
    }

    #[test]
    fn expiry_uses_the_verify_time_max_age_over_the_stored_one() {
        let signed_at = SystemTime::now() - Duration::from_secs(100);
        let token = signer().sign_with(
            "s",
            &"data",
            SignOptions {
                signed_at: Some(signed_at),
                max_age: Duration::from_secs(1000),
            },
        );
        assert_eq!(
            signer().verify::<String>("s", Some(&token), None),
            Ok("data".into())
        );
        assert_eq!(
            signer().verify::<String>("s", Some(&token), Some(Duration::from_secs(10))),
            Err(TokenError::Expired)
        );
        let later = SystemTime::now() + Duration::from_secs(2000);
        assert_eq!(
            signer().verify_at::<String>("s", Some(&token), None, later),
            Err(TokenError::Expired)
        );
    }
}
