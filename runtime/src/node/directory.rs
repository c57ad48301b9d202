//! The local name directory: which port each node of this host listens on.
//!
//! Erlang runs EPMD, a daemon that maps node names to ports so that
//! `net_adm:ping('back@host')` needs no port. A daemon is more machinery than a
//! single host needs, so this is EPMD as a directory of small files: a node
//! writes `<dir>/<name@host>` (`port=9101 pid=4242`) when it starts and removes
//! it when it stops cleanly; `connect("back@127.0.0.1")` reads the file.
//!
//! - Location: `$XDG_RUNTIME_DIR/runtime-nodes`, else `/tmp/<user>-nodes`
//!   (configurable; tests use their own). The directory is created `0700` and
//!   must belong to the current user — on a shared `/tmp` another user could
//!   otherwise pre-create it and redirect connections.
//! - Stale entries: a node killed with SIGKILL cannot remove its file. An entry
//!   whose process is gone is stale: [`NameDirectory::lookup`] deletes it, and
//!   [`NameDirectory::register`] replaces it. An entry whose process is alive
//!   *and* whose port accepts connections means the name is taken (Erlang
//!   refuses a second node with the same name on a host, and so do we).
//! - Writes are atomic (temporary file, then rename), so a reader never sees a
//!   half-written entry.
//!
//! Only nodes on this host are in the directory; a node on another host is
//! reached with an explicit port (`name@host:port`).

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::name::NodeName;

/// Where the directory lives by default: `$XDG_RUNTIME_DIR/runtime-nodes`, or
/// `/tmp/<user>-nodes` without `XDG_RUNTIME_DIR`.
pub fn default_directory() -> PathBuf {
    if let Some(runtime_dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(runtime_dir).join("runtime-nodes");
    }
    let user = std::env::var("USER")
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or_else(current_uid_string);
    std::env::temp_dir().join(format!("{user}-nodes"))
}

fn current_uid_string() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        format!("uid{uid}")
    }
    #[cfg(not(unix))]
    {
        "user".to_string()
    }
}

/// A problem with the directory or one of its entries.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory could not be created or read.
    #[error("name directory {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The directory belongs to another user or is open to others.
    #[error("name directory {}: {reason}", path.display())]
    Insecure {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A live node already has this name on this host.
    #[error("the name {node} is already in use on this host (pid {pid}, port {port})")]
    NameInUse {
        /// The name.
        node: NodeName,
        /// The process holding it.
        pid: u32,
        /// Its port.
        port: u16,
    },
}

/// One directory entry: a node's port and process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The node's distribution port.
    pub port: u16,
    /// The OS process that registered it.
    pub pid: u32,
}

impl Entry {
    fn encode(&self) -> String {
        format!("port={} pid={}\n", self.port, self.pid)
    }

    fn decode(text: &str) -> Option<Entry> {
        let mut port = None;
        let mut pid = None;
        for field in text.split_whitespace() {
            match field.split_once('=') {
                Some(("port", v)) => port = v.parse().ok(),
                Some(("pid", v)) => pid = v.parse().ok(),
                _ => {}
            }
        }
        Some(Entry {
            port: port.filter(|p| *p != 0)?,
            pid: pid?,
        })
    }
}

/// The directory of node names on this host.
#[derive(Debug, Clone)]
pub struct NameDirectory {
    dir: PathBuf,
}

impl NameDirectory {
    /// Opens (creating, mode `0700`) the directory at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, DirectoryError> {
        let dir = dir.into();
        let io_err = |source| DirectoryError::Io {
            path: dir.clone(),
            source,
        };
        if !dir.is_dir() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(&dir).map_err(io_err)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&dir).map_err(io_err)?;
            // SAFETY: getuid has no preconditions and cannot fail.
            let me = unsafe { libc::getuid() };
            if meta.uid() != me {
                return Err(DirectoryError::Insecure {
                    path: dir,
                    reason: format!("owned by uid {}, not by this user (uid {me})", meta.uid()),
                });
            }
            if meta.mode() & 0o022 != 0 {
                return Err(DirectoryError::Insecure {
                    path: dir,
                    reason: format!(
                        "writable by group or others (mode {:o}; run chmod 700)",
                        meta.mode() & 0o777
                    ),
                });
            }
        }
        Ok(NameDirectory { dir })
    }

    /// Opens the [`default_directory`].
    pub fn open_default() -> Result<Self, DirectoryError> {
        Self::open(default_directory())
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, node: &NodeName) -> PathBuf {
        self.dir.join(node.as_str())
    }

    /// Records that `node` listens on `port`, for this process. Fails with
    /// [`DirectoryError::NameInUse`] if a live node holds the name; replaces a
    /// stale entry. The entry is removed when the returned [`Registration`] is
    /// dropped (or [`Registration::remove`]d).
    pub fn register(&self, node: &NodeName, port: u16) -> Result<Registration, DirectoryError> {
        self.check_free(node)?;
        let me = std::process::id();
        let entry = Entry { port, pid: me };
        let path = self.entry_path(node);
        static ATTEMPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let attempt = ATTEMPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{}.tmp.{me}.{attempt}", node.as_str()));
        let io_err = |source| DirectoryError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&tmp, entry.encode()).map_err(io_err)?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(e)
        })?;
        Ok(Registration {
            path,
            entry,
            removed: false,
        })
    }

    /// Fails with [`DirectoryError::NameInUse`] if another live process holds
    /// `node` (its process exists and its port accepts connections).
    pub fn check_free(&self, node: &NodeName) -> Result<(), DirectoryError> {
        match self.read(node)? {
            Some(existing)
                if existing.pid != std::process::id()
                    && is_alive(existing.pid)
                    && port_accepts(node, existing.port) =>
            {
                Err(DirectoryError::NameInUse {
                    node: node.clone(),
                    pid: existing.pid,
                    port: existing.port,
                })
            }
            _ => Ok(()),
        }
    }

    /// The port `node` listens on, if it is registered and its process is
    /// alive. A stale entry (its process is gone) is deleted.
    pub fn lookup(&self, node: &NodeName) -> Result<Option<u16>, DirectoryError> {
        match self.read(node)? {
            Some(entry) if is_alive(entry.pid) => Ok(Some(entry.port)),
            Some(entry) => {
                tracing::debug!(%node, pid = entry.pid, "removing stale name directory entry");
                remove_if_same(&self.entry_path(node), &entry);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Every live entry, like `epmd -names` (stale ones are skipped).
    pub fn entries(&self) -> Result<Vec<(NodeName, Entry)>, DirectoryError> {
        let read_dir = std::fs::read_dir(&self.dir).map_err(|source| DirectoryError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut out: Vec<(NodeName, Entry)> = read_dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.parse::<NodeName>().ok())
            .filter_map(|node| {
                let entry = self.read(&node).ok()??;
                is_alive(entry.pid).then_some((node, entry))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The raw entry for `node`, live or not. An unreadable entry counts as absent.
    pub fn read(&self, node: &NodeName) -> Result<Option<Entry>, DirectoryError> {
        let path = self.entry_path(node);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Entry::decode(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DirectoryError::Io { path, source }),
        }
    }
}

/// A node's entry in the directory; removed on drop (a clean stop).
#[derive(Debug)]
pub struct Registration {
    path: PathBuf,
    entry: Entry,
    removed: bool,
}

impl Registration {
    /// The registered entry.
    pub fn entry(&self) -> Entry {
        self.entry
    }

    /// Removes the entry now.
    pub fn remove(mut self) {
        self.remove_now();
    }

    fn remove_now(&mut self) {
        if !self.removed {
            self.removed = true;
            remove_if_same(&self.path, &self.entry);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.remove_now();
    }
}

/// Removes `path` only if it still holds `entry` (a newer node with the same
/// name may have replaced it).
fn remove_if_same(path: &Path, entry: &Entry) {
    let current = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| Entry::decode(&t));
    if current.as_ref() == Some(entry) {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether process `pid` exists (a zombie counts as alive; its port then
/// refuses connections, which [`NameDirectory::register`] also checks).
pub fn is_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 performs only the existence and permission check.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Whether something accepts TCP connections at `node`'s host and `port`.
fn port_accepts(node: &NodeName, port: u16) -> bool {
    let Ok(addrs) = (node.host(), port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testutil::TempDir;

    fn name(s: &str) -> NodeName {
        s.parse().unwrap()
    }

    #[test]
    fn register_lookup_and_remove() {
        let tmp = TempDir::new("dir-basic");
        let dir = NameDirectory::open(tmp.path().join("nodes")).unwrap();
        let a = name("a@127.0.0.1");
        assert_eq!(dir.lookup(&a).unwrap(), None);
        let reg = dir.register(&a, 9101).unwrap();
        assert_eq!(dir.lookup(&a).unwrap(), Some(9101));
        let text = std::fs::read_to_string(dir.path().join("a@127.0.0.1")).unwrap();
        assert_eq!(text, format!("port=9101 pid={}\n", std::process::id()));
        assert_eq!(dir.entries().unwrap().len(), 1);
        drop(reg);
        assert_eq!(dir.lookup(&a).unwrap(), None);
        assert!(!dir.path().join("a@127.0.0.1").exists());
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = TempDir::new("dir-perms");
        let path = tmp.path().join("nodes");
        let dir = NameDirectory::open(&path).unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = NameDirectory::open(&path).unwrap_err();
        assert!(matches!(err, DirectoryError::Insecure { .. }), "{err}");
    }

    /// A pid that certainly does not exist: a child we spawned and reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn stale_entries_are_detected_and_replaced() {
        let tmp = TempDir::new("dir-stale");
        let dir = NameDirectory::open(tmp.path()).unwrap();
        let a = name("a@127.0.0.1");
        let stale = Entry {
            port: 9101,
            pid: dead_pid(),
        };
        std::fs::write(dir.path().join(a.as_str()), stale.encode()).unwrap();
        assert!(dir.entries().unwrap().is_empty());
        // Lookup deletes it ...
        assert_eq!(dir.lookup(&a).unwrap(), None);
        assert!(!dir.path().join(a.as_str()).exists());
        // ... and register replaces it.
        std::fs::write(dir.path().join(a.as_str()), stale.encode()).unwrap();
        let reg = dir.register(&a, 9200).unwrap();
        assert_eq!(dir.lookup(&a).unwrap(), Some(9200));
        drop(reg);
    }

    #[test]
    fn a_live_name_cannot_be_taken() {
        let tmp = TempDir::new("dir-in-use");
        let dir = NameDirectory::open(tmp.path()).unwrap();
        let a = name("a@127.0.0.1");
        // A live process (a sleeping child) whose port accepts connections.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let holder = Entry {
            port,
            pid: child.id(),
        };
        std::fs::write(dir.path().join(a.as_str()), holder.encode()).unwrap();
        let err = dir.register(&a, 9300).unwrap_err();
        assert!(
            matches!(err, DirectoryError::NameInUse { pid, .. } if pid == child.id()),
            "{err}"
        );
        assert!(err.to_string().contains("already in use"));
        // When its port accepts nothing, the entry counts as stale even though
        // the pid is alive (a reused pid, or a zombie). The port is held bound
        // but not listening, so no other test can start listening on it.
        drop(listener);
        let closed = tokio::net::TcpSocket::new_v4().unwrap();
        closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let stale = Entry {
            port: closed.local_addr().unwrap().port(),
            pid: child.id(),
        };
        std::fs::write(dir.path().join(a.as_str()), stale.encode()).unwrap();
        let reg = dir.register(&a, 9300).unwrap();
        assert_eq!(reg.entry().port, 9300);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_registration_does_not_remove_a_newer_entry() {
        let tmp = TempDir::new("dir-newer");
        let dir = NameDirectory::open(tmp.path()).unwrap();
        let a = name("a@127.0.0.1");
        let old = dir.register(&a, 9101).unwrap();
        // The same process registers the name again (a restarted node).
        let new = dir.register(&a, 9102).unwrap();
        drop(old);
        assert_eq!(dir.lookup(&a).unwrap(), Some(9102));
        new.remove();
        assert_eq!(dir.lookup(&a).unwrap(), None);
    }

    #[test]
    fn garbage_entries_are_ignored() {
        assert_eq!(Entry::decode("nonsense"), None);
        assert_eq!(Entry::decode("port=0 pid=1"), None);
        assert_eq!(
            Entry::decode("pid=7 port=80"),
            Some(Entry { port: 80, pid: 7 })
        );
    }
}
