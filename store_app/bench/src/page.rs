//! `store_bench page`: requests per second and latency of HTTP paths, the way
//! `wrk` measures them, but with one request in flight per connection.
//!
//! Each of `--connections` tasks holds one keep-alive HTTP/1.1 connection and
//! loops: write `GET PATH`, read the complete response (headers with
//! `httparse`, then exactly `Content-Length` body bytes), record the time from
//! the first byte written to the last byte read. A connection the server
//! closes (or that fails) counts one error and is reopened. The paths run one
//! after the other, each on fresh connections, each with a warm-up whose
//! requests are not counted. Requests are counted when they *start* inside the
//! measured window (the ones in flight at its end still complete).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use loadgen::stats::{round2, Percentiles};

#[derive(Args)]
pub struct PageArgs {
    /// The server, http://HOST:PORT.
    #[arg(long, default_value = "http://127.0.0.1:4000")]
    url: String,
    /// Paths to measure, comma-separated, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "/,/health")]
    paths: Vec<String>,
    /// Keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds per path.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured seconds per path before the measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Send `Accept-Encoding: gzip`, as browsers do (the page is then sent
    /// compressed; the bytes are counted as received, not decompressed).
    #[arg(long)]
    gzip: bool,
}

/// One path's summary line.
#[derive(Serialize)]
pub struct PageSummary {
    workload: &'static str,
    url: String,
    path: String,
    connections: usize,
    seconds: f64,
    requests: u64,
    requests_per_s: f64,
    latency: Percentiles,
    /// Connections broken or closed by the server, and unreadable responses.
    errors: u64,
    /// Responses with a status other than 2xx.
    non_2xx: u64,
    /// Mean body bytes per response.
    body_bytes_per_response: u64,
    /// Mean bytes per response, headers included.
    response_bytes_per_response: u64,
}

/// Runs every path; one summary per path.
pub async fn run(args: PageArgs) -> Result<Vec<PageSummary>, String> {
    if args.connections == 0 || args.seconds <= 0.0 || args.warmup_seconds < 0.0 {
        return Err("--connections and --seconds must be positive".into());
    }
    let (host, addr) = resolve(&args.url).await?;
    let mut summaries = Vec::new();
    for path in &args.paths {
        if !path.starts_with('/') {
            return Err(format!("path {path:?} must start with /"));
        }
        let accept = if args.gzip {
            "Accept-Encoding: gzip\r\n"
        } else {
            ""
        };
        let request: Arc<[u8]> = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: store_bench\r\n{accept}\r\n"
        )
        .into_bytes()
        .into();
        probe(addr, &request, path).await?;
        eprintln!(
            "store_bench page: GET {path}, {} connections, {} s (+{} s warm-up)",
            args.connections, args.seconds, args.warmup_seconds
        );
        summaries.push(measure(&args, addr, path, request).await?);
    }
    Ok(summaries)
}

/// `http://HOST:PORT[/...]` -> the Host header and the address.
pub(crate) async fn resolve(url: &str) -> Result<(String, SocketAddr), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad --url {url:?}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("--url must be an http:// URL, not {url:?}"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("no host in {url:?}"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    Ok((authority.as_str().to_string(), addr))
}

/// One request before the run: the server must be there and answer 2xx.
async fn probe(addr: SocketAddr, request: &[u8], path: &str) -> Result<(), String> {
    let mut stream = open(addr).await?;
    let mut buf = Vec::with_capacity(64 * 1024);
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let response = read_response(&mut stream, &mut buf)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    if !(200..300).contains(&response.status) {
        let body = String::from_utf8_lossy(&buf[response.head_len..]);
        return Err(format!(
            "GET {path} answered {}: {}",
            response.status,
            body.chars().take(200).collect::<String>()
        ));
    }
    Ok(())
}

pub(crate) async fn open(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// What one connection task counted.
#[derive(Default)]
struct Counts {
    samples: Vec<u64>,
    errors: u64,
    non_2xx: u64,
    body_bytes: u64,
    response_bytes: u64,
}

async fn measure(
    args: &PageArgs,
    addr: SocketAddr,
    path: &str,
    request: Arc<[u8]>,
) -> Result<PageSummary, String> {
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(args.warmup_seconds);
    let deadline = measured_from + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(connection(addr, request, measured_from, deadline))
        })
        .collect();
    let mut total = Counts::default();
    for task in tasks {
        let counts = task.await.map_err(|e| format!("connection task: {e}"))?;
        total.samples.extend_from_slice(&counts.samples);
        total.errors += counts.errors;
        total.non_2xx += counts.non_2xx;
        total.body_bytes += counts.body_bytes;
        total.response_bytes += counts.response_bytes;
    }
    let requests = total.samples.len() as u64;
    let per_response = |bytes: u64| bytes.checked_div(requests).unwrap_or(0);
    Ok(PageSummary {
        workload: "page",
        url: args.url.clone(),
        path: path.to_string(),
        connections: args.connections,
        seconds: args.seconds,
        requests,
        requests_per_s: round2(requests as f64 / args.seconds),
        latency: Percentiles::of_ns(&mut total.samples).unwrap_or_default(),
        errors: total.errors,
        non_2xx: total.non_2xx,
        body_bytes_per_response: per_response(total.body_bytes),
        response_bytes_per_response: per_response(total.response_bytes),
    })
}

/// One connection's loop until `deadline`; counts from `measured_from` on.
async fn connection(
    addr: SocketAddr,
    request: Arc<[u8]>,
    measured_from: Instant,
    deadline: Instant,
) -> Counts {
    let mut counts = Counts {
        samples: Vec::with_capacity(64 * 1024),
        ..Counts::default()
    };
    let mut conn = KeepAlive::new(addr);
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            break;
        }
        let counted = sent >= measured_from;
        let result = conn.exchange(&request).await;
        let elapsed = sent.elapsed();
        match result {
            Ok(response) => {
                if counted {
                    counts.samples.push(elapsed.as_nanos() as u64);
                    if !(200..300).contains(&response.status) {
                        counts.non_2xx += 1;
                    }
                    counts.body_bytes += response.body_len as u64;
                    counts.response_bytes += (response.head_len + response.body_len) as u64;
                }
            }
            Err(failure) => {
                if counted {
                    counts.errors += 1;
                }
                failure.back_off("page").await;
            }
        }
    }
    counts
}

/// One keep-alive connection, opened on first use and again after the
/// server closes it or it breaks: one request in flight at a time.
pub(crate) struct KeepAlive {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// Why an exchange failed.
pub(crate) enum ExchangeFailure {
    /// The connection could not be opened (the server refused it mid-run).
    Open(String),
    /// The connection broke, or the answer was unreadable; it is reopened
    /// for the next request.
    Broken,
}

impl ExchangeFailure {
    /// After a refused connect, waits a moment before the next try (and
    /// says why); after a broken one, goes on at once.
    pub(crate) async fn back_off(&self, workload: &str) {
        if let ExchangeFailure::Open(err) = self {
            eprintln!("store_bench {workload}: {err}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl KeepAlive {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        KeepAlive {
            addr,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Writes `request` and reads the whole response.
    pub(crate) async fn exchange(
        &mut self,
        request: &[u8],
    ) -> Result<ResponseInfo, ExchangeFailure> {
        let conn = match &mut self.stream {
            Some(conn) => conn,
            None => self
                .stream
                .insert(open(self.addr).await.map_err(ExchangeFailure::Open)?),
        };
        let result = match conn.write_all(request).await {
            Ok(()) => read_response(conn, &mut self.buf).await,
            Err(err) => Err(err.to_string()),
        };
        match result {
            Ok(response) => {
                if response.close {
                    self.stream = None;
                }
                Ok(response)
            }
            Err(_) => {
                self.stream = None;
                Err(ExchangeFailure::Broken)
            }
        }
    }
}

/// A response read off the connection (its bytes are in the buffer).
pub(crate) struct ResponseInfo {
    pub(crate) status: u16,
    pub(crate) head_len: usize,
    pub(crate) body_len: usize,
    /// The server will close the connection after it.
    pub(crate) close: bool,
}

/// Reads one complete response into `buf` (cleared first). Bodies must have a
/// `Content-Length` (the endpoint's responses all do); chunked ones are an error.
pub(crate) async fn read_response(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<ResponseInfo, String> {
    buf.clear();
    let (head_len, status, body_len, close) = loop {
        if read_more(stream, buf).await? == 0 {
            return Err("the server closed the connection".into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = response.code.unwrap_or(0);
                let mut body_len = None;
                let mut close = false;
                for header in response.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        body_len = std::str::from_utf8(header.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err("chunked responses are not supported".into());
                    } else if header.name.eq_ignore_ascii_case("connection") {
                        close = header.value.eq_ignore_ascii_case(b"close");
                    }
                }
                let body_len = body_len.ok_or("a response without Content-Length")?;
                break (head_len, status, body_len, close);
            }
            Ok(httparse::Status::Partial) => continue,
            Err(err) => return Err(format!("unreadable response: {err}")),
        }
    };
    let total = head_len + body_len;
    buf.reserve(total.saturating_sub(buf.len()));
    while buf.len() < total {
        if read_more(stream, buf).await? == 0 {
            return Err("the server closed the connection mid-body".into());
        }
    }
    if buf.len() > total {
        return Err("more bytes than one response (nothing was pipelined)".into());
    }
    Ok(ResponseInfo {
        status,
        head_len,
        body_len,
        close,
    })
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, String> {
    if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
    }
    stream.read_buf(buf).await.map_err(|e| e.to_string())
}
