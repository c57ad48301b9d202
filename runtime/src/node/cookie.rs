//! The magic cookie: the shared secret two nodes must agree on to connect.
//!
//! ractor_cluster authenticates a connection with a challenge/response over the
//! cookie (as Erlang's distribution handshake does); this module only decides
//! *which* cookie a node uses, with Erlang's and Elixir releases' precedence:
//!
//! 1. an explicit cookie (a `--cookie` flag, [`super::NodeOptions::cookie`]);
//! 2. the environment: `RELEASE_COOKIE`, then `NODE_COOKIE`;
//! 3. a cookie file (`~/.node.cookie` by default, like `~/.erlang.cookie`),
//!    created on first start with a random 20-letter cookie and mode `0600`.
//!
//! Like Erlang, a cookie file that group or others can read or write is refused
//! rather than used: anyone who can read it can join the cluster and run code.
//! The file is created atomically (written under a temporary name, then
//! hard-linked into place), so two nodes starting at the same time agree on one
//! cookie.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Environment variables consulted, in order, when no cookie is given.
pub const COOKIE_ENV_VARS: [&str; 2] = ["RELEASE_COOKIE", "NODE_COOKIE"];
/// The cookie file's name inside the cookie directory (`$HOME` by default).
pub const COOKIE_FILE_NAME: &str = ".node.cookie";
/// Longest accepted cookie.
pub const MAX_COOKIE_LEN: usize = 255;
/// Length of a generated cookie (Erlang's: 20 upper-case letters).
pub const GENERATED_COOKIE_LEN: usize = 20;

/// A validated cookie: 1 to 255 printable ASCII characters, no whitespace.
/// Its `Debug` output is redacted so it never lands in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Cookie(String);

impl Cookie {
    /// Validates `value` as a cookie.
    pub fn new(value: impl Into<String>) -> Result<Self, CookieError> {
        let value = value.into();
        if value.is_empty() {
            return Err(CookieError::Invalid("the cookie is empty".into()));
        }
        if value.len() > MAX_COOKIE_LEN {
            return Err(CookieError::Invalid(format!(
                "the cookie is longer than {MAX_COOKIE_LEN} characters"
            )));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CookieError::Invalid(
                "the cookie must be printable ASCII without spaces".into(),
            ));
        }
        Ok(Cookie(value))
    }

    /// A fresh random cookie of [`GENERATED_COOKIE_LEN`] upper-case letters.
    pub fn generate() -> io::Result<Self> {
        let mut out = String::with_capacity(GENERATED_COOKIE_LEN);
        let mut urandom = std::fs::File::open("/dev/urandom")?;
        let mut buf = [0u8; 64];
        while out.len() < GENERATED_COOKIE_LEN {
            urandom.read_exact(&mut buf)?;
            // Rejection sampling keeps the letters uniform: 234 = 9 * 26.
            for b in buf.iter().filter(|b| **b < 234) {
                if out.len() == GENERATED_COOKIE_LEN {
                    break;
                }
                out.push((b'A' + b % 26) as char);
            }
        }
        Ok(Cookie(out))
    }

    /// The secret itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cookie(<redacted>)")
    }
}

/// Where the cookie in use came from (safe to log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieSource {
    /// Given explicitly.
    Explicit,
    /// Read from this environment variable.
    Env(&'static str),
    /// Read from an existing cookie file.
    File(PathBuf),
    /// Generated and written to a new cookie file.
    Created(PathBuf),
}

impl fmt::Display for CookieSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieSource::Explicit => f.write_str("given explicitly"),
            CookieSource::Env(var) => write!(f, "from ${var}"),
            CookieSource::File(p) => write!(f, "from {}", p.display()),
            CookieSource::Created(p) => write!(f, "created in {}", p.display()),
        }
    }
}

/// Why no cookie could be had.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// The cookie's text is not acceptable.
    #[error("invalid cookie: {0}")]
    Invalid(String),
    /// The cookie file is readable or writable by group or others.
    #[error(
        "cookie file {} must be accessible by its owner only (mode is {mode:o}; run chmod 600)",
        path.display()
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The cookie file holds no valid cookie.
    #[error("cookie file {}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or creating the cookie file failed.
    #[error("cookie file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// No cookie was given and there is no directory to keep a cookie file in.
    #[error(
        "no cookie: give one, set RELEASE_COOKIE or NODE_COOKIE, or set HOME for the cookie file"
    )]
    NoCookieDir,
}

/// The default directory of the cookie file: `$HOME`.
pub fn default_cookie_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Resolves the cookie with the process environment: explicit, then
/// [`COOKIE_ENV_VARS`], then the cookie file in `cookie_dir` (or `$HOME`).
pub fn resolve(
    explicit: Option<&str>,
    cookie_dir: Option<&Path>,
) -> Result<(Cookie, CookieSource), CookieError> {
    resolve_with(explicit, |var| std::env::var(var).ok(), cookie_dir)
}

/// [`resolve`] with the environment given as a function (for tests and for
/// callers that read configuration from elsewhere). Empty values count as unset.
pub fn resolve_with(
    explicit: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    cookie_dir: Option<&Path>,
) -> Result<(Cookie, CookieSource), CookieError> {
    if let Some(c) = explicit {
        return Ok((Cookie::new(c)?, CookieSource::Explicit));
    }
    for var in COOKIE_ENV_VARS {
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            let cookie =
                Cookie::new(value).map_err(|e| CookieError::Invalid(format!("${var}: {e}")))?;
            return Ok((cookie, CookieSource::Env(var)));
        }
    }
    let dir = match cookie_dir {
        Some(d) => d.to_path_buf(),
        None => default_cookie_dir().ok_or(CookieError::NoCookieDir)?,
    };
    let path = dir.join(COOKIE_FILE_NAME);
    let (cookie, created) = load_or_create(&path)?;
    let source = if created {
        CookieSource::Created(path)
    } else {
        CookieSource::File(path)
    };
    Ok((cookie, source))
}

/// Reads the cookie file at `path`, creating it (mode `0600`, random cookie)
/// if it does not exist. Returns the cookie and whether it was created.
pub fn load_or_create(path: &Path) -> Result<(Cookie, bool), CookieError> {
    let io_err = |source| CookieError::Io {
        path: path.to_path_buf(),
        source,
    };
    match read_file(path) {
        Err(CookieError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other.map(|c| (c, false)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(io_err)?;
    }
    let cookie = Cookie::generate().map_err(io_err)?;
    // Write under a private temporary name, then link it into place: the link
    // fails if another process created the file meanwhile, and nobody ever
    // reads a half-written cookie.
    static ATTEMPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let attempt = ATTEMPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{attempt}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = create_private_file(&tmp)?;
        f.write_all(cookie.as_str().as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((cookie, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_file(path).map(|c| (c, false)),
        Err(e) => Err(io_err(e)),
    }
}

/// Reads and checks an existing cookie file.
pub fn read_file(path: &Path) -> Result<Cookie, CookieError> {
    let io_err = |source| CookieError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(CookieError::BadFile {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CookieError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let text = std::fs::read_to_string(path).map_err(io_err)?;
    Cookie::new(text.trim_end_matches(['\n', '\r'])).map_err(|e| CookieError::BadFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn create_private_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testutil::TempDir;
    use std::os::unix::fs::PermissionsExt;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn explicit_beats_env_beats_file() {
        let dir = TempDir::new("cookie-precedence");
        std::fs::write(dir.path().join(COOKIE_FILE_NAME), "FROMFILE").unwrap();
        std::fs::set_permissions(
            dir.path().join(COOKIE_FILE_NAME),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let env = |v: &str| match v {
            "RELEASE_COOKIE" => Some("RELEASE".to_string()),
            "NODE_COOKIE" => Some("NODE".to_string()),
            _ => None,
        };
        let (c, s) = resolve_with(Some("EXPLICIT"), env, Some(dir.path())).unwrap();
        assert_eq!((c.as_str(), s), ("EXPLICIT", CookieSource::Explicit));
        let (c, s) = resolve_with(None, env, Some(dir.path())).unwrap();
        assert_eq!(
            (c.as_str(), s),
            ("RELEASE", CookieSource::Env("RELEASE_COOKIE"))
        );
        let node_only = |v: &str| (v == "NODE_COOKIE").then(|| "NODE".to_string());
        let (c, s) = resolve_with(None, node_only, Some(dir.path())).unwrap();
        assert_eq!((c.as_str(), s), ("NODE", CookieSource::Env("NODE_COOKIE")));
        let empty = |_: &str| Some(String::new());
        let (c, s) = resolve_with(None, empty, Some(dir.path())).unwrap();
        assert_eq!(c.as_str(), "FROMFILE");
        assert_eq!(s, CookieSource::File(dir.path().join(COOKIE_FILE_NAME)));
    }

    #[test]
    fn first_start_creates_a_private_random_cookie_file() {
        let dir = TempDir::new("cookie-create");
        let home = dir.path().join("home");
        let (c1, s1) = resolve_with(None, no_env, Some(&home)).unwrap();
        let path = home.join(COOKIE_FILE_NAME);
        assert_eq!(s1, CookieSource::Created(path.clone()));
        assert_eq!(c1.as_str().len(), GENERATED_COOKIE_LEN);
        assert!(c1.as_str().bytes().all(|b| b.is_ascii_uppercase()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The second start reads the same cookie back.
        let (c2, s2) = resolve_with(None, no_env, Some(&home)).unwrap();
        assert_eq!(c1, c2);
        assert_eq!(s2, CookieSource::File(path));
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 1);
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_cookie() {
        let dir = TempDir::new("cookie-race");
        let path = dir.path().join(COOKIE_FILE_NAME);
        let cookies: Vec<Cookie> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&path).unwrap().0))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(cookies.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn a_file_readable_by_others_is_refused() {
        let dir = TempDir::new("cookie-perms");
        let path = dir.path().join(COOKIE_FILE_NAME);
        std::fs::write(&path, "SECRET").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = resolve_with(None, no_env, Some(dir.path())).unwrap_err();
        assert!(
            matches!(err, CookieError::InsecurePermissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("owner only"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(read_file(&path).unwrap().as_str(), "SECRET");
    }

    #[test]
    fn bad_cookies_are_rejected_with_a_reason() {
        assert!(Cookie::new("").is_err());
        assert!(Cookie::new("has space").is_err());
        assert!(Cookie::new("x".repeat(MAX_COOKIE_LEN + 1)).is_err());
        let env = |v: &str| (v == "RELEASE_COOKIE").then(|| "a b".to_string());
        let err = resolve_with(None, env, None).unwrap_err().to_string();
        assert!(err.contains("RELEASE_COOKIE"), "{err}");
        let dir = TempDir::new("cookie-empty");
        let path = dir.path().join(COOKIE_FILE_NAME);
        std::fs::write(&path, "\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(read_file(&path), Err(CookieError::BadFile { .. })));
    }

    #[test]
    fn a_trailing_newline_is_not_part_of_the_cookie() {
        let dir = TempDir::new("cookie-newline");
        let path = dir.path().join(COOKIE_FILE_NAME);
        std::fs::write(&path, "ABC\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_file(&path).unwrap().as_str(), "ABC");
    }

    #[test]
    fn the_debug_output_hides_the_secret() {
        let c = Cookie::new("TOPSECRET").unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRET"));
    }
}
