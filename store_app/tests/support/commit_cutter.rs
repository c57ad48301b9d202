//! A TCP proxy in front of PostgreSQL that, once armed, cuts the client's
//! connection at its next `COMMIT`: the client is disconnected before the
//! `COMMIT` is passed on, and the server still gets it and commits. That is
//! the one failure whose outcome a client cannot know — the write was
//! applied, but the answer never came — made to happen on demand instead of
//! by a lucky `kill -9`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The simple-protocol query message tokio-postgres sends for
/// `Transaction::commit`: `Q`, its length (4 + 7), `COMMIT\0`.
const COMMIT: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";

/// The running proxy; it stops with the test process.
pub struct CommitCutter {
    address: SocketAddr,
    armed: Arc<AtomicBool>,
    cut: Arc<AtomicUsize>,
}

impl CommitCutter {
    /// Listens on a loopback port and passes every connection on to `server`.
    pub fn start(server: SocketAddr) -> CommitCutter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicUsize::new(0));
        let (a, c) = (armed.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect(server) else {
                    continue;
                };
                let (a, c) = (a.clone(), c.clone());
                std::thread::spawn(move || relay(client, upstream, a, c));
            }
        });
        CommitCutter {
            address,
            armed,
            cut,
        }
    }

    /// `url` (the server's) with the host and port of this proxy instead.
    pub fn url(&self, url: &str) -> String {
        let (scheme_user, rest) = url.split_once('@').expect("a URL with a user");
        let path = &rest[rest.find('/').unwrap_or(rest.len())..];
        format!("{scheme_user}@{}{path}", self.address)
    }

    /// Cuts the next `COMMIT` that goes through (only that one).
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// How many `COMMIT`s were cut.
    pub fn cut(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }
}

fn relay(client: TcpStream, upstream: TcpStream, armed: Arc<AtomicBool>, cut: Arc<AtomicUsize>) {
    let (mut from_server, mut to_client) =
        (upstream.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let (mut from_client, mut to_server) = (client, upstream);
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from_client.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buffer[..n];
        let is_commit = chunk.windows(COMMIT.len()).any(|w| w == COMMIT);
        if is_commit && armed.swap(false, Ordering::SeqCst) {
            // The client first, so no answer can reach it; then the server
            // gets the COMMIT and time to run it before the socket closes.
            let _ = from_client.shutdown(Shutdown::Both);
            let _ = to_server.write_all(chunk);
            cut.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
        if to_server.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = to_server.shutdown(Shutdown::Both);
}
