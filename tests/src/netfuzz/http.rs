//! A minimal HTTP/1.1 client over one kept-alive TCP connection, written by
//! hand because the fuzzer must send what no HTTP client library would: a
//! `Content-Length` the body does not match, a body cut off half-way, a method
//! the route does not take, a head with garbage in it. It reads the server's
//! answers (status, headers, a `Content-Length` or chunked body, or a body
//! that ends with the connection) within a bound.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response the client keeps (long-poll answers are far smaller;
/// anything bigger is a server fault worth seeing as an error).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names lower-cased, values as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A connection that carries requests one after the other.
pub struct HttpConn {
    stream: TcpStream,
    host: String,
    /// Bytes read past the previous response.
    buffered: Vec<u8>,
}

fn invalid(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

fn timed_out(what: &str, limit: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what}: nothing within {limit:?}"),
    )
}

impl HttpConn {
    /// Wraps a connected stream to `server`.
    pub fn new(stream: TcpStream, server: SocketAddr) -> Self {
        HttpConn {
            stream,
            host: server.to_string(),
            buffered: Vec::new(),
        }
    }

    /// The value for a `Host` header.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Writes bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Closes the writing half: the server reads end-of-stream.
    pub async fn shutdown_write(&mut self) -> std::io::Result<()> {
        self.stream.shutdown().await
    }

    /// Sends `method target` with `headers`, a `Content-Length` for `body`
    /// (unless `headers` has its own length or transfer encoding), and `body`;
    /// then reads the response.
    pub async fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: &[u8],
        limit: Duration,
    ) -> std::io::Result<Response> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        let framed = headers.iter().any(|(name, _)| {
            name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
        });
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !framed && (method != "GET" || !body.is_empty()) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        // A server may answer before the body has arrived (413 for a body
        // too large) and close: what it answered before closing is read even
        // though the rest of the request could not be written.
        let written = self.send_raw(&request).await;
        // A `HEAD` answer says the length of a body it does not send.
        let response = self.read_within(limit, method == "HEAD").await;
        match (written, response) {
            (_, Ok(response)) => Ok(response),
            (Err(write_error), Err(_)) => Err(write_error),
            (Ok(()), Err(read_error)) => Err(read_error),
        }
    }

    /// Reads one response, within `limit` in all.
    pub async fn response(&mut self, limit: Duration) -> std::io::Result<Response> {
        self.read_within(limit, false).await
    }

    async fn read_within(&mut self, limit: Duration, no_body: bool) -> std::io::Result<Response> {
        tokio::time::timeout(limit, self.read_response(no_body))
            .await
            .map_err(|_| timed_out("HTTP response", limit))?
    }

    /// Reads until `buffered` holds at least `n` bytes; `false` at end of stream.
    async fn fill_to(&mut self, n: usize) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        while self.buffered.len() < n {
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(false);
            }
            self.buffered.extend_from_slice(&chunk[..read]);
            if self.buffered.len() > MAX_RESPONSE_BYTES {
                return Err(invalid("response larger than 64 MiB"));
            }
        }
        Ok(true)
    }

    /// Reads until `needle` is buffered; its end offset.
    async fn fill_until(&mut self, needle: &[u8], from: usize) -> std::io::Result<usize> {
        loop {
            if let Some(at) = self.buffered[from.min(self.buffered.len())..]
                .windows(needle.len())
                .position(|w| w == needle)
            {
                return Ok(from + at + needle.len());
            }
            let want = self.buffered.len() + 1;
            if !self.fill_to(want).await? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed mid-response",
                ));
            }
        }
    }

    async fn read_response(&mut self, no_body: bool) -> std::io::Result<Response> {
        let head_end = self.fill_until(b"\r\n\r\n", 0).await?;
        let head = String::from_utf8_lossy(&self.buffered[..head_end]).into_owned();
        self.buffered.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| invalid(format!("no status line in {:?}", head.lines().next())))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let length = response
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        response.body = if no_body || status == 101 || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(length) = length {
            if length > MAX_RESPONSE_BYTES {
                return Err(invalid(format!("Content-Length {length}")));
            }
            if !self.fill_to(length).await? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed inside the body",
                ));
            }
            self.buffered.drain(..length).collect()
        } else if chunked {
            self.read_chunked().await?
        } else {
            // The body ends with the connection.
            while self.fill_to(self.buffered.len() + 1).await? {}
            std::mem::take(&mut self.buffered)
        };
        Ok(response)
    }

    async fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = self.fill_until(b"\r\n", 0).await?;
            let line = String::from_utf8_lossy(&self.buffered[..line_end - 2]).into_owned();
            self.buffered.drain(..line_end);
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            if body.len() + size > MAX_RESPONSE_BYTES {
                return Err(invalid("chunked response larger than 64 MiB"));
            }
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                let end = self.fill_until(b"\r\n", 0).await?;
                self.buffered.drain(..end);
                return Ok(body);
            }
            if !self.fill_to(size + 2).await? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed inside a chunk",
                ));
            }
            body.extend(self.buffered.drain(..size));
            self.buffered.drain(..2);
        }
    }

    /// Waits (at most `limit`) for the server to close the connection,
    /// discarding what it sends; `true` if it closed.
    pub async fn wait_closed(&mut self, limit: Duration) -> bool {
        let drain = async {
            let mut chunk = [0u8; 4096];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(limit, drain).await.is_ok()
    }
}

/// `GET path` on a fresh connection (from the kernel's choice of source
/// address), `Connection: close`; the response.
pub async fn get(server: SocketAddr, path: &str, limit: Duration) -> std::io::Result<Response> {
    let stream = super::dial::connect_from(server, None).await?;
    let mut conn = HttpConn::new(stream, server);
    conn.request(
        "GET",
        path,
        &[("Connection", "close".to_string())],
        b"",
        limit,
    )
    .await
}
