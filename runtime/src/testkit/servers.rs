//! Real servers from Debian's packages, started by a test on a free loopback
//! port with a private data directory: what the Redis PubSub tests (and any
//! later adapter's) run against, never a mock.
//!
//! A missing server program is not a failure on a developer's machine: the
//! test says so loudly and skips — unless `REDIS_TESTS=required` (what
//! `.ci/run` sets, after installing the package), where it fails.

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
            if std::env::var("REDIS_TESTS").as_deref() == Ok("required") {
                panic!("REDIS_TESTS=required, but redis-server is not installed (apt-get install redis-server)");
            }
            eprintln!(
                "*** {test} SKIPPED: redis-server is not installed (apt-get install redis-server) ***"
            );
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
