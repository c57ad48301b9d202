//! The control socket: how `rpc`, `remote` and `stop` drive a running node.
//!
//! A node listens on a Unix socket next to its name directory entry:
//! `<name directory>/control/<name@host>.sock` (see [`socket_path`]). Three
//! locks are on that door:
//!
//! 1. the name directory is `0700` and owned by the user (checked by
//!    [`crate::node::NameDirectory::open`]), the `control/` directory is
//!    created `0700` and the socket is `chmod 0600`: other users cannot reach it;
//! 2. the server reads the connecting process's credentials (`SO_PEERCRED`)
//!    and hangs up on any other user (root's processes included);
//! 3. every request carries the node's cookie, which the server compares in
//!    constant time before it runs anything. A wrong cookie is answered with
//!    a refusal, logged, and the connection is closed.
//!
//! The protocol is line-delimited JSON, one request and one response per line,
//! any number per connection:
//!
//! ```text
//! → {"cookie":"…","command":"node.connect back@127.0.0.1"}
//! ← {"ok":true,"output":"connected to back@127.0.0.1"}
//! → {"cookie":"…","command":"nope"}
//! ← {"ok":false,"output":"","error":"unknown command \"nope\" …","kind":"unknown_command"}
//! → {"cookie":"…","complete":{"line":"node.connect b","pos":14}}
//! ← {"ok":true,"output":"","completion":[13,["back@127.0.0.1"]]}
//! → {"cookie":"wrong","command":"processes"}
//! ← {"ok":false,"output":"","error":"refused: wrong cookie","kind":"refused"}   (then closed)
//! ```
//!
//! `quit` answers `{"ok":true,"quit":true}` (a remote console detaches);
//! `node.stop` answers before the node starts stopping.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::registry::{Console, Outcome};
use crate::node::{Cookie, NodeName};

/// Longest request line accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// The subdirectory of the name directory that holds control sockets.
pub const CONTROL_DIR: &str = "control";

/// Where the control socket of `node` is, given its name directory.
pub fn socket_path(name_dir: &Path, node: &NodeName) -> PathBuf {
    name_dir
        .join(CONTROL_DIR)
        .join(format!("{}.sock", node.as_str()))
}

/// A request: the cookie and one operation.
#[derive(Serialize, Deserialize, Default)]
pub struct Request {
    /// The node's cookie.
    pub cookie: String,
    /// A console line to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A line to complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<Completion>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("cookie", &"<redacted>")
            .field("command", &self.command)
            .field("complete", &self.complete)
            .finish()
    }
}

/// A completion request: the line and the cursor's byte offset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completion {
    /// The line as typed so far.
    pub line: String,
    /// The cursor.
    pub pos: usize,
}

/// A response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the command succeeded.
    pub ok: bool,
    /// Its output.
    #[serde(default)]
    pub output: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `unknown_command`, `bad_arguments`, `failed`, `refused` or `protocol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The command was `quit`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quit: bool,
    /// A completion's start offset and candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<(usize, Vec<String>)>,
}

impl Response {
    fn error(kind: &str, error: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(error.into()),
            kind: Some(kind.to_string()),
            ..Default::default()
        }
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// A node's control socket server. Stop it with [`ControlServer::stop`] (the
/// last step of a clean shutdown: `stop` waits for the socket to go away).
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    accept: JoinHandle<()>,
    identity: Option<(u64, u64)>,
}

impl ControlServer {
    /// Listens on `path` (its directory is created `0700` if missing); a stale
    /// socket file of a dead node is replaced, a live one is an error.
    pub async fn start(
        path: impl Into<PathBuf>,
        cookie: Cookie,
        console: Console,
    ) -> io::Result<ControlServer> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            if !dir.is_dir() {
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(dir)?;
            }
        }
        if path.exists() {
            match StdUnixStream::connect(&path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("a running node already listens on {}", path.display()),
                    ))
                }
                Err(_) => std::fs::remove_file(&path)?,
            }
        }
        let listener = UnixListener::bind(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("control socket {}: {e}", path.display()))
        })?;
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let identity = std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
        let shown = path.clone();
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream, cookie.clone(), console.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(socket = %shown.display(), "control socket accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tracing::debug!(socket = %path.display(), "control socket listening");
        Ok(ControlServer {
            path,
            accept,
            identity,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops listening and removes the socket file.
    pub fn stop(self) {
        // Drop does it.
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.accept.abort();
        use std::os::unix::fs::MetadataExt;
        let ours = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if ours.is_some() && ours == self.identity {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// One connection: check who it is, then answer requests until it closes or
/// presents a wrong cookie.
async fn serve(stream: UnixStream, cookie: Cookie, console: Console) {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == current_uid() => {}
        Ok(cred) => {
            tracing::warn!(
                uid = cred.uid(),
                "control socket: refused a connection from another user"
            );
            return;
        }
        Err(e) => {
            tracing::warn!("control socket: cannot read the peer's credentials: {e}");
            return;
        }
    }
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_REQUEST_BYTES as u64 + 1)
            .read_line(&mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (response, close) = if !line.ends_with('\n') && line.len() > MAX_REQUEST_BYTES {
            (Response::error("protocol", "request line too long"), true)
        } else {
            answer(line.trim_end(), &cookie, &console).await
        };
        let mut text = serde_json::to_string(&response).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

/// Answers one request line; `true` to close the connection after it.
async fn answer(line: &str, cookie: &Cookie, console: &Console) -> (Response, bool) {
    let request: Request = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => {
            return (
                Response::error("protocol", format!("not a request: {e}")),
                true,
            )
        }
    };
    if !constant_time_eq(request.cookie.as_bytes(), cookie.as_str().as_bytes()) {
        tracing::warn!("control socket: refused a request with a wrong cookie");
        return (Response::error("refused", "refused: wrong cookie"), true);
    }
    if let Some(c) = request.complete {
        return (
            Response {
                ok: true,
                completion: Some(console.complete(&c.line, c.pos)),
                ..Default::default()
            },
            false,
        );
    }
    let Some(command) = request.command else {
        return (
            Response::error("protocol", "a request needs a command or a completion"),
            false,
        );
    };
    tracing::info!(command = %command, "control socket: running");
    let response = match console.run(&command).await {
        Ok(Outcome::Output(output)) => Response {
            ok: true,
            output,
            ..Default::default()
        },
        Ok(Outcome::Quit) => Response {
            ok: true,
            quit: true,
            ..Default::default()
        },
        Err(e) => Response::error(e.kind(), e.to_string()),
    };
    (response, false)
}

/// Why talking to a node's control socket failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("{node} is not running (no control socket at {}: {reason})", path.display())]
    NotRunning {
        /// The node.
        node: String,
        /// The socket.
        path: PathBuf,
        /// The connect error.
        reason: String,
    },
    /// The node refused the cookie.
    #[error("the node refused the request: {0} (give the node's cookie: --cookie, RELEASE_COOKIE or the cookie file)")]
    Refused(String),
    /// The connection broke, or timed out.
    #[error("lost the connection to the node: {0}")]
    Io(#[from] io::Error),
    /// The node answered something unreadable.
    #[error("bad answer from the node: {0}")]
    Protocol(String),
}

/// A blocking client of a control socket.
pub struct ControlClient {
    reader: BufReader<StdUnixStream>,
    writer: StdUnixStream,
    cookie: Cookie,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient").finish_non_exhaustive()
    }
}

impl ControlClient {
    /// Connects to `node`'s socket at `path`; each answer must come within `timeout`.
    pub fn connect(
        node: &str,
        path: &Path,
        cookie: Cookie,
        timeout: Duration,
    ) -> Result<ControlClient, ClientError> {
        let stream = StdUnixStream::connect(path).map_err(|e| ClientError::NotRunning {
            node: node.to_string(),
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        Ok(ControlClient {
            reader: BufReader::new(stream),
            writer,
            cookie,
        })
    }

    /// Sends one request and reads its response. A refusal is [`ClientError::Refused`].
    pub fn request(&mut self, mut request: Request) -> Result<Response, ClientError> {
        request.cookie = self.cookie.as_str().to_string();
        let mut text =
            serde_json::to_string(&request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        text.push('\n');
        self.writer.write_all(text.as_bytes())?;
        self.writer.flush()?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the node closed the connection",
            )));
        }
        let response: Response = serde_json::from_str(line.trim_end())
            .map_err(|e| ClientError::Protocol(format!("{e}: {line:?}")))?;
        if response.kind.as_deref() == Some("refused") {
            return Err(ClientError::Refused(
                response.error.unwrap_or_else(|| "refused".into()),
            ));
        }
        Ok(response)
    }

    /// Runs one console line on the node.
    pub fn run(&mut self, command: &str) -> Result<Response, ClientError> {
        self.request(Request {
            command: Some(command.to_string()),
            ..Default::default()
        })
    }

    /// Asks the node to complete `line` at `pos`.
    pub fn complete(
        &mut self,
        line: &str,
        pos: usize,
    ) -> Result<(usize, Vec<String>), ClientError> {
        let response = self.request(Request {
            complete: Some(Completion {
                line: line.to_string(),
                pos,
            }),
            ..Default::default()
        })?;
        Ok(response.completion.unwrap_or((pos, Vec::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn requests_never_show_the_cookie() {
        let r = Request {
            cookie: "TOPSECRET".into(),
            command: Some("node.list".into()),
            complete: None,
        };
        assert!(!format!("{r:?}").contains("TOPSECRET"));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"cookie":"TOPSECRET","command":"node.list"}"#
        );
    }

    #[test]
    fn responses_are_compact() {
        let ok = Response {
            ok: true,
            output: "x".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"ok":true,"output":"x"}"#
        );
        let back: Response = serde_json::from_str(r#"{"ok":false,"error":"e"}"#).unwrap();
        assert_eq!(back.error.as_deref(), Some("e"));
        assert!(!back.quit);
    }
}
