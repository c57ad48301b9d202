//! Where a test's nodes keep their files: a temporary directory, and a
//! cluster's own name and cookie directories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{COOKIE_DIR_ENV, COOKIE_ENV_VARS, NAME_DIR_ENV};

/// A fresh temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<temp dir>/<label>-<pid>-<n>`, empty (`n` counts the
    /// directories this test process made, so labels may repeat).
    ///
    /// Panics if the directory cannot be created.
    pub fn new(label: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create the test directory {path:?}: {e}"));
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One isolated cluster environment: a [`TempDir`] holding the cluster's name
/// directory (`names/`) and cookie directory (`cookie/`).
///
/// Neither subdirectory is created: a node creates them on its first start, as
/// it would in a user's environment. Create them first where a test needs them
/// to exist before any node runs.
#[derive(Debug)]
pub struct NodeDirs {
    tmp: TempDir,
}

impl NodeDirs {
    /// A fresh environment in a new [`TempDir`] named after `label`.
    pub fn new(label: &str) -> Self {
        NodeDirs {
            tmp: TempDir::new(label),
        }
    }

    /// The environment's directory, for whatever else a test keeps there.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The local name directory (name → port, and `control/` sockets).
    pub fn names(&self) -> PathBuf {
        self.root().join("names")
    }

    /// The cookie directory (where the cookie file is created on first start).
    pub fn cookies(&self) -> PathBuf {
        self.root().join("cookie")
    }

    /// Points `cmd` at this environment's directories ([`NAME_DIR_ENV`],
    /// [`COOKIE_DIR_ENV`]) and removes the cookie variables
    /// ([`COOKIE_ENV_VARS`]), so that neither the user's nodes nor their
    /// cookie leak into the test. A later `cmd.env(...)` can still set either.
    pub fn isolate<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env(NAME_DIR_ENV, self.names())
            .env(COOKIE_DIR_ENV, self.cookies());
        clear_cookie_env(cmd)
    }

    /// `bin` as a [`crate::release`] binary run in this environment:
    /// [isolated](Self::isolate), logging at `info` (`RUST_LOG`) without
    /// colours (`NO_COLOR`), so that its log lines can be matched as text.
    /// Application variables (`PORT`, a data directory, …) are the caller's.
    pub fn command(&self, bin: impl AsRef<Path>) -> Command {
        let mut cmd = Command::new(bin.as_ref());
        self.isolate(&mut cmd);
        cmd.env("NO_COLOR", "1").env("RUST_LOG", "info");
        cmd
    }
}

/// Removes the cookie variables ([`COOKIE_ENV_VARS`]) from `cmd`'s
/// environment: a node started by it uses the cookie it is given or its
/// cookie file, never the one of the user running the tests.
pub fn clear_cookie_env(cmd: &mut Command) -> &mut Command {
    for var in COOKIE_ENV_VARS {
        cmd.env_remove(var);
    }
    cmd
}
