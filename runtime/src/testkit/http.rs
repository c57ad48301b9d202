//! A minimal HTTP/1.1 `GET` and form `POST` for tests of servers that embed
//! the runtime: the status line, the headers and the body of one request on
//! a fresh connection (`Connection: close`), bounded — without an HTTP
//! client crate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response as the test sees it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header block, lower-cased (for `contains` checks).
    pub headers: String,
    /// The body, as text (a chunked body would keep its chunk lines; the
    /// servers tested here send a length).
    pub body: String,
}

/// `GET path` on `address`; panics if no complete response comes within
/// `limit` (a broken server must fail the test, not hang it).
pub fn http_get(address: SocketAddr, path: &str, limit: Duration) -> HttpResponse {
    let mut stream = TcpStream::connect_timeout(&address, limit)
        .unwrap_or_else(|e| panic!("GET {path}: cannot connect to {address}: {e}"));
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.set_write_timeout(Some(limit)).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("GET {path}: request not sent: {e}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("GET {path}: no complete response within {limit:?}: {e}"));
    parse(path, &raw)
}

/// `POST path` with a form-encoded `form` body (`a=1&b=2`). Unlike
/// [`http_get`] it returns connection failures, for tests that expect some
/// (a server killed mid-run).
pub fn http_post_form(
    address: SocketAddr,
    path: &str,
    form: &str,
    limit: Duration,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&address, limit)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("POST {path}: the connection closed before a response"),
        ));
    }
    Ok(parse(path, &raw))
}

/// [`http_get`] from async code (on a blocking thread).
pub async fn http_get_async(address: SocketAddr, path: &str, limit: Duration) -> HttpResponse {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || http_get(address, &path, limit))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn parse(path: &str, raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no header block in {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: no status line in {head:?}"));
    HttpResponse {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_split_into_status_headers_and_body() {
        let r = parse(
            "/",
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnot found",
        );
        assert_eq!(r.status, 404);
        assert!(r.headers.contains("content-type: text/plain"));
        assert_eq!(r.body, "not found");
    }
}
