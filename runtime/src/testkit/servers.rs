//! Real servers from Debian's packages, started by a test on a free loopback
//! port with a private data directory: what the Redis PubSub tests and the
//! PostgreSQL store tests run against, never a mock.
//!
//! A missing server program is not a failure on a developer's machine: the
//! test says so loudly and skips — unless `REDIS_TESTS=required` /
//! `POSTGRES_TESTS=required` (what `.ci/run` sets, after installing the
//! packages), where it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TempDir;

/// How long a server may take to answer after its start.
const READY: Duration = Duration::from_secs(20);

/// A `redis-server` on `127.0.0.1:<free port>`, persisting nothing; killed on
/// drop.
pub struct RedisServer {
    program: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or returns `None` after saying why when `redis-server` is
    /// not installed (panics instead under `REDIS_TESTS=required`).
    pub fn start(test: &str) -> Option<RedisServer> {
        let Some(program) = find_program("redis-server") else {
            skip_or_fail(test, "REDIS_TESTS", "redis-server", "redis-server");
            return None;
        };
        let mut server = RedisServer {
            program,
            port: free_port(),
            dir: TempDir::new("redis"),
            child: None,
        };
        server.launch();
        Some(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its address.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops it (SIGKILL: every connection cut at once, as in a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("redis.log"))
            .expect("the test directory is writable");
        let child = Command::new(&self.program)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file can be shared"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        while !ping(self.address()) {
            if Instant::now() > deadline {
                panic!(
                    "redis-server did not answer on {} within {READY:?}; its log:\n{}",
                    self.address(),
                    std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL server (Debian's `postgresql` package) on
/// `127.0.0.1:<free port>` with a fresh cluster in a private directory
/// (`initdb`, trust authentication for the `postgres` role, fsync on), run
/// as the `postgres` user when the test runs as root (PostgreSQL refuses
/// root); killed on drop.
pub struct PostgresServer {
    bin: PathBuf,
    port: u16,
    dir: TempDir,
    as_postgres: bool,
    child: Option<Child>,
}

impl PostgresServer {
    /// Starts one, or returns `None` after saying why when PostgreSQL is not
    /// installed (panics instead under `POSTGRES_TESTS=required`).
    pub fn start(test: &str) -> Option<PostgresServer> {
        let Some(bin) = postgres_bin() else {
            skip_or_fail(test, "POSTGRES_TESTS", "PostgreSQL", "postgresql");
            return None;
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let server = PostgresServer {
            bin,
            port: free_port(),
            dir: TempDir::new("postgres"),
            as_postgres,
            child: None,
        };
        let data = server.data_dir();
        std::fs::create_dir_all(&data).expect("the test directory is writable");
        if as_postgres {
            let mut chown = Command::new("chown");
            chown
                .args(["-R", "postgres:postgres"])
                .arg(server.dir.path());
            server.run_checked(&mut chown);
        }
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]);
        server.run_checked(&mut initdb);
        let mut server = server;
        server.launch();
        Some(server)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Its address.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops it at once, as in a crash: SIGKILL to the postmaster and every
    /// backend (a backend outliving its postmaster for a moment could still
    /// answer a connected client). The next start recovers from the
    /// write-ahead log.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Every backend calls setsid(), so the group reaches only the
            // postmaster: its children are found by their parent pid and
            // killed with it, and waited for until they are gone.
            let children = children_of(child.id());
            // SAFETY: kill has no memory preconditions; the pids are this
            // server's postmaster (its group) and its children.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
                for &pid in &children {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
            let _ = child.wait();
            let deadline = Instant::now() + READY;
            while children
                .iter()
                .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts it again on the same port and data (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        // A killed postmaster leaves its pid file; the next start checks
        // that the pid is gone, which it is.
        self.launch();
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `program` from PostgreSQL's folder, as the `postgres` user when the
    /// test runs as root (set on the process itself, so that a kill reaches
    /// the postmaster, not a wrapper).
    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bin.join(program));
        if self.as_postgres {
            let (uid, gid) = postgres_ids().expect("the postgresql package made a postgres user");
            cmd.gid(gid).uid(uid);
        }
        cmd
    }

    fn run_checked(&self, cmd: &mut Command) {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn launch(&mut self) {
        let log_path = self.dir.path().join("postgres.log");
        let log = std::fs::File::create(&log_path).expect("the test directory is writable");
        let mut cmd = self.command("postgres");
        // Its own process group, so that `kill` reaches every backend.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file can be shared"))
            .stderr(log);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start postgres: {e}")),
        );
        let deadline = Instant::now() + READY;
        while !self.accepts_connections() {
            if Instant::now() > deadline {
                panic!(
                    "postgres did not accept connections on {} within {READY:?}; its log:\n{}",
                    self.address(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn accepts_connections(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `postgres` user's uid and gid.
fn postgres_ids() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: getpwnam takes a NUL-terminated name and returns a pointer to
    // static storage or null; the fields are read at once, before any other
    // call could overwrite it.
    unsafe {
        let entry = libc::getpwnam(name.as_ptr());
        (!entry.is_null()).then(|| ((*entry).pw_uid, (*entry).pw_gid))
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` in it.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            is_executable(&bin.join("initdb")).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A missing server: loud skip, or a failure when `{var}=required`.
fn skip_or_fail(test: &str, var: &str, what: &str, package: &str) {
    if std::env::var(var).as_deref() == Ok("required") {
        panic!("{var}=required, but {what} is not installed (apt-get install {package})");
    }
    eprintln!("*** {test} SKIPPED: {what} is not installed (apt-get install {package}) ***");
}

/// Whether a Redis at `address` answers `PING`.
fn ping(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

/// A port nothing listens on now (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a loopback port is free")
}

/// `name` on `PATH`, or in Debian's `/usr/sbin` / `/usr/bin`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The pids whose parent is `parent` (from `/proc/<pid>/stat`).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                // The parent pid is the second field after the command's ")".
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psql(server: &PostgresServer, sql: &str) -> String {
        let out = Command::new(server.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &server.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-tAc", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn a_postgres_server_starts_keeps_committed_rows_across_a_kill_and_restarts() {
        let Some(mut server) = PostgresServer::start("a_postgres_server_starts") else {
            return;
        };
        psql(
            &server,
            "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2);",
        );
        server.kill();
        assert!(!server.accepts_connections());
        server.restart();
        assert_eq!(psql(&server, "SELECT sum(n) FROM t"), "3");
        assert_eq!(psql(&server, "SHOW fsync"), "on");
    }

    #[test]
    fn a_redis_server_answers_and_restarts_on_its_port() {
        let Some(mut server) = RedisServer::start("a_redis_server_answers") else {
            return;
        };
        assert!(ping(server.address()));
        server.kill();
        assert!(!ping(server.address()));
        server.restart();
        assert!(ping(server.address()));
    }
}
