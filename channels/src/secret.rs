//! Where `secret_key_base` comes from: the environment or a file, never the repo.
//!
//! `SECRET_KEY_BASE` holds the secret itself; `SECRET_KEY_BASE_FILE` names a
//! file holding it. In production mode a missing secret is an error, and the
//! app refuses to start. In development a random secret is made for this run
//! only, so tokens die with the process — loud in the log, harmless in a demo.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The shortest secret accepted, as `mix phx.gen.secret` makes 64 characters.
pub const MIN_SECRET_LEN: usize = 64;

/// Whether the app runs for real or for development.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A missing secret is fatal.
    Production,
    /// A missing secret is replaced by a fresh random one.
    Development,
}

impl Mode {
    /// The mode a binary's `--prod` flag asks for.
    pub fn from_prod_flag(prod: bool) -> Mode {
        if prod {
            Mode::Production
        } else {
            Mode::Development
        }
    }
}

/// Why no secret could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Production mode needs a secret.
    #[error("secret_key_base is required in production: set SECRET_KEY_BASE or SECRET_KEY_BASE_FILE (make one with `gen-secret`)")]
    Missing,
    /// Too short to be safe.
    #[error("secret_key_base must be at least {MIN_SECRET_LEN} bytes, got {0}")]
    TooShort(usize),
    /// The file could not be read.
    #[error("cannot read SECRET_KEY_BASE_FILE {path}: {error}")]
    Unreadable {
        /// The file.
        path: String,
        /// What went wrong.
        error: String,
    },
}

/// A fresh random secret of 64 URL-safe characters (`mix phx.gen.secret`).
pub fn generate() -> String {
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Loads the secret from `SECRET_KEY_BASE` or `SECRET_KEY_BASE_FILE`.
pub fn load(mode: Mode) -> Result<String, SecretError> {
    load_from(
        std::env::var("SECRET_KEY_BASE").ok(),
        std::env::var("SECRET_KEY_BASE_FILE").ok(),
        mode,
    )
}

fn load_from(
    value: Option<String>,
    file: Option<String>,
    mode: Mode,
) -> Result<String, SecretError> {
    let secret = match (value, file) {
        (Some(value), _) if !value.is_empty() => Some(value),
        (_, Some(path)) if !path.is_empty() => Some(
            std::fs::read_to_string(Path::new(&path))
                .map_err(|e| SecretError::Unreadable {
                    path: path.clone(),
                    error: e.to_string(),
                })?
                .trim()
                .to_string(),
        ),
        _ => None,
    };
    match (secret, mode) {
        (Some(secret), _) if secret.len() < MIN_SECRET_LEN => {
            Err(SecretError::TooShort(secret.len()))
        }
        (Some(secret), _) => Ok(secret),
        (None, Mode::Production) => Err(SecretError::Missing),
        (None, Mode::Development) => {
            tracing::warn!("no SECRET_KEY_BASE: using a random secret for this run; tokens will not survive a restart");
            Ok(generate())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_and_different() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn production_refuses_to_run_without_a_secret() {
        assert_eq!(
            load_from(None, None, Mode::Production),
            Err(SecretError::Missing)
        );
        assert_eq!(load_from(None, None, Mode::Development).unwrap().len(), 64);
    }

    #[test]
    fn the_value_wins_over_the_file_and_short_secrets_are_refused() {
        let secret = "s".repeat(64);
        assert_eq!(
            load_from(
                Some(secret.clone()),
                Some("/nonexistent".into()),
                Mode::Production
            ),
            Ok(secret)
        );
        assert_eq!(
            load_from(Some("short".into()), None, Mode::Production),
            Err(SecretError::TooShort(5))
        );
    }

    #[test]
    fn a_secret_can_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("skb-{}", std::process::id()));
        std::fs::write(&path, format!("{}\n", "f".repeat(70))).unwrap();
        let loaded = load_from(None, Some(path.display().to_string()), Mode::Production);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(loaded, Ok("f".repeat(70)));
        assert!(matches!(
            load_from(None, Some("/nonexistent/skb".into()), Mode::Production),
            Err(SecretError::Unreadable { .. })
        ));
    }
}
