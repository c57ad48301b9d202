//! The endpoint: one HTTP server for sockets, routes and static files.
//!
//! Phoenix's `Endpoint`: several sockets mounted at their paths (`/socket`,
//! `/auth_socket`, each answering `/websocket` and `/longpoll`), ordinary HTTP
//! routes, and static files, all on one port, served by hyper with upgrades
//! enabled. It also holds the node's PubSub, so `endpoint.broadcast(..)` works
//! as `Endpoint.broadcast/3` does.
//!
//! Its life has two ends. Each HTTP connection is bounded by the rules of
//! `http_connection.rs` (header and keep-alive timeouts, a cap on handshakes).
//! When the endpoint stops, it drains (`drain.rs`): no new connections, the
//! open sockets closed in batches with close code 1012 so that clients
//! reconnect and rejoin, HTTP connections closed once their request is done.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use runtime::process::ProcessSupervisor;
use runtime::release::Stop;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::connections::Connections;
use crate::drain::{DrainConfig, DrainReport};
use crate::http_connection::{self, HttpConfig, HttpConnections};
use crate::message::Payload;
use crate::metrics::Metrics;
use crate::mount::{Mount, SocketConfig};
use crate::pubsub::PubSub;
use crate::services::Services;
use crate::socket::Socket;
use crate::tls::Listen;
use crate::token::Signer;
use crate::transport::longpoll::{self, LongPollSessions};
use crate::transport::{plain, websocket, Body};
use runtime::task::TaskSupervisor;

/// An HTTP route handler.
pub type RouteHandler =
    Arc<dyn Fn(Request<Incoming>) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// A mounted socket, whatever its handler type.
trait MountedSocket: Send + Sync {
    fn websocket(
        &self,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
    fn longpoll(
        &self,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Option<Pin<Box<dyn Future<Output = Response<Body>> + Send>>>;
}

/// A socket as mounted: its handler and settings, and the state of its
/// transports (the long-poll sessions).
struct SocketMount<S: Socket> {
    mount: Arc<Mount<S>>,
    longpoll_sessions: Arc<LongPollSessions>,
}

impl<S: Socket> MountedSocket for SocketMount<S> {
    fn websocket(
        &self,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(websocket::serve(self.mount.clone(), request, peer))
    }

    fn longpoll(
        &self,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Option<Pin<Box<dyn Future<Output = Response<Body>> + Send>>> {
        (self.mount.config.longpoll && self.mount.services.signer.is_some()).then(|| {
            Box::pin(longpoll::serve(
                self.mount.clone(),
                self.longpoll_sessions.clone(),
                request,
                peer,
            )) as Pin<Box<_>>
        })
    }
}

/// Mounts one socket once the endpoint's services are known.
type Mounter = Box<dyn FnOnce(Arc<Services>) -> Box<dyn MountedSocket>>;

/// Endpoint-wide settings: HTTP connection limits and the drain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOptions {
    /// Timeouts and bounds of HTTP connections.
    pub http: HttpConfig,
    /// How sockets are drained when the endpoint stops.
    pub drain: DrainConfig,
}

/// Builds an [`Endpoint`].
pub struct EndpointBuilder {
    services: Services,
    sockets: Vec<(String, Mounter)>,
    routes: HashMap<(Method, String), RouteHandler>,
    static_dirs: Vec<(String, PathBuf)>,
    static_files: HashMap<String, PathBuf>,
    options: EndpointOptions,
}

impl EndpointBuilder {
    /// Mounts `socket` at `path` (e.g. `/socket`, answering `/socket/websocket`
    /// and, when `config.longpoll` is set, `/socket/longpoll`).
    pub fn socket<S: Socket>(mut self, path: &str, socket: S, config: SocketConfig) -> Self {
        let mount: Mounter = Box::new(move |services| {
            Box::new(SocketMount {
                mount: Mount::new(socket, services, config),
                longpoll_sessions: Arc::default(),
            })
        });
        self.sockets
            .push((path.trim_end_matches('/').to_string(), mount));
        self
    }

    /// The endpoint's signer (its `secret_key_base`); long-poll session tokens need it.
    pub fn signer(mut self, signer: Signer) -> Self {
        self.services = self.services.with_signer(signer);
        self
    }

    /// Where metrics go (default: kept for `/metrics` only).
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.services = self.services.with_metrics(metrics);
        self
    }

    /// The task supervisor async replies run under (default: one started on first use).
    pub fn tasks(mut self, tasks: TaskSupervisor) -> Self {
        self.services = self.services.with_tasks(tasks);
        self
    }

    /// Serves `method path` with `handler`.
    pub fn route<F, Fut>(mut self, method: Method, path: &str, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let handler: RouteHandler = Arc::new(move |request| Box::pin(handler(request)));
        self.routes.insert((method, path.to_string()), handler);
        self
    }

    /// Serves every file under `dir` at URLs starting with `prefix`: give it
    /// a folder that holds only what pages load (a build output, `images/`),
    /// never a source tree with `package.json` or `node_modules/`. Names
    /// starting with a dot are never served.
    pub fn static_files(mut self, prefix: &str, dir: impl Into<PathBuf>) -> Self {
        self.static_dirs
            .push((prefix.trim_end_matches('/').to_string(), dir.into()));
        self
    }

    /// Serves the one file `file` at the URL path `path` (e.g. the phoenix
    /// client out of its npm package, without the rest of the package).
    pub fn static_file(mut self, path: &str, file: impl Into<PathBuf>) -> Self {
        self.static_files.insert(path.to_string(), file.into());
        self
    }

    /// HTTP connection limits and drain settings (default:
    /// [`EndpointOptions::default`]).
    pub fn options(mut self, options: EndpointOptions) -> Self {
        self.options = options;
        self
    }

    /// The endpoint, ready to serve.
    pub fn build(self) -> Arc<Endpoint> {
        let services = Arc::new(self.services);
        let sockets = self
            .sockets
            .into_iter()
            .map(|(path, mount)| (path, mount(services.clone())))
            .collect();
        let http = Arc::new(HttpConnections::new(
            self.options.http,
            services.metrics.clone(),
        ));
        Arc::new(Endpoint {
            services,
            sockets,
            routes: self.routes,
            static_dirs: self.static_dirs,
            static_files: self.static_files,
            http,
            drain: self.options.drain,
            hurry: watch::channel(false).0,
        })
    }
}

/// An HTTP server for sockets, routes and static files.
pub struct Endpoint {
    services: Arc<Services>,
    sockets: HashMap<String, Box<dyn MountedSocket>>,
    routes: HashMap<(Method, String), RouteHandler>,
    static_dirs: Vec<(String, PathBuf)>,
    static_files: HashMap<String, PathBuf>,
    http: Arc<HttpConnections>,
    drain: DrainConfig,
    /// Set by a second stop request: the drain closes what is left at once.
    hurry: watch::Sender<bool>,
}

impl Endpoint {
    /// Starts building an endpoint whose channels run under `supervisor`.
    pub fn builder(pubsub: PubSub, supervisor: ProcessSupervisor) -> EndpointBuilder {
        EndpointBuilder {
            services: Services::new(pubsub, supervisor),
            sockets: Vec::new(),
            routes: HashMap::new(),
            static_dirs: Vec::new(),
            static_files: HashMap::new(),
            options: EndpointOptions::default(),
        }
    }

    /// The node's PubSub.
    pub fn pubsub(&self) -> &PubSub {
        &self.services.pubsub
    }

    /// The supervisor of this endpoint's channel processes.
    pub fn supervisor(&self) -> &ProcessSupervisor {
        &self.services.supervisor
    }

    /// The endpoint's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.services.metrics
    }

    /// `Endpoint.broadcast/3`: every subscriber of `topic` on every node.
    pub fn broadcast(&self, topic: &str, event: &str, payload: impl Into<Payload>) {
        self.services.pubsub.broadcast(topic, event, payload);
    }

    /// The endpoint's open socket connections (WebSocket and long poll).
    pub fn connections(&self) -> &Connections {
        &self.services.connections
    }

    /// Binds every listener, logs `Running NAME at http://ADDRESS` (or
    /// `https://`) for each (the line scripts and tests read the port from,
    /// when the port is 0), and serves in a task until `stop` is requested;
    /// then drains, and a second request finishes the drain at once.
    pub async fn spawn_on(
        self: Arc<Self>,
        name: &str,
        listen: Vec<Listen>,
        stop: Stop,
    ) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
        let mut bound = Vec::with_capacity(listen.len());
        for listen in listen {
            let listener = TcpListener::bind(listen.address).await?;
            tracing::info!(
                "Running {name} at {}://{}",
                listen.scheme(),
                listener.local_addr()?
            );
            bound.push((listener, listen));
        }
        let Stop {
            requested,
            requested_again,
        } = stop;
        let endpoint = self.clone();
        let hurry = tokio::spawn(async move {
            requested_again.await;
            endpoint.finish_drain_now();
        });
        Ok(tokio::spawn(async move {
            let served = self.serve_all(bound, requested).await;
            hurry.abort();
            served
        }))
    }

    /// Accepts plain HTTP connections until `shutdown` resolves, then drains
    /// ([`Self::drain`]).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let listen = Listen::http(listener.local_addr()?);
        self.serve_all(vec![(listener, listen)], shutdown).await
    }

    /// Accepts connections on every listener until `shutdown` resolves, then
    /// drains once for all of them ([`Self::drain`]).
    pub async fn serve_all(
        self: Arc<Self>,
        listeners: Vec<(TcpListener, Listen)>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let accepting: Vec<_> = listeners
            .into_iter()
            .map(|(listener, listen)| {
                tokio::spawn(self.clone().accept(listener, listen, stopped.clone()))
            })
            .collect();
        shutdown.await;
        stop.send_replace(true);
        // No new connections from here on: each loop drops its listener.
        for task in accepting {
            let _ = task.await;
        }
        self.drain().await;
        Ok(())
    }

    /// One listener's accept loop, until `stopped`.
    async fn accept(
        self: Arc<Self>,
        listener: TcpListener,
        listen: Listen,
        mut stopped: watch::Receiver<bool>,
    ) {
        let hsts = listen.hsts;
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Running out of file descriptors must not stop the server.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
                () = stop_requested(&mut stopped) => break,
            };
            let _ = stream.set_nodelay(true);
            let endpoint = self.clone();
            let handle = move |request, peer| {
                let endpoint = endpoint.clone();
                async move {
                    let mut response = endpoint.handle(request, Some(peer)).await;
                    if hsts {
                        response.headers_mut().insert(
                            http::header::STRICT_TRANSPORT_SECURITY,
                            http::HeaderValue::from_static(crate::tls::HSTS),
                        );
                    }
                    response
                }
            };
            match &listen.tls {
                None => tokio::spawn(http_connection::serve(
                    self.http.clone(),
                    stream,
                    peer,
                    handle,
                )),
                Some(acceptor) => tokio::spawn(http_connection::serve_tls(
                    self.http.clone(),
                    stream,
                    acceptor.clone(),
                    peer,
                    handle,
                )),
            };
        }
    }

    /// Drains the endpoint, as Phoenix's socket drainer does: refuses new
    /// socket connections, closes the open ones in batches (close code 1012,
    /// no `phx_close`: clients reconnect and rejoin), lets HTTP connections
    /// finish their request and close, and waits for all of them within the
    /// drain's deadline. [`Self::finish_drain_now`] closes the rest at once.
    pub async fn drain(&self) -> DrainReport {
        let started = tokio::time::Instant::now();
        self.http.stop();
        let mut hurry = self.hurry.subscribe();
        let report = crate::drain::drain(
            &self.services.connections,
            &self.drain,
            &self.services.metrics,
            async move {
                let _ = hurry.wait_for(|hurry| *hurry).await;
            },
        )
        .await;
        // HTTP requests in flight (a long poll waits up to its window) finish
        // within the drain's deadline, or a second after a second stop request.
        let deadline = (started + self.drain.deadline)
            .max(tokio::time::Instant::now() + std::time::Duration::from_secs(1));
        let mut hurry = self.hurry.subscribe();
        let hurried = async move {
            let _ = hurry.wait_for(|hurry| *hurry).await;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        };
        tokio::select! {
            () = self.http.all_closed() => {}
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!("HTTP requests still running after the drain's deadline: they end with the node");
            }
            () = hurried => {
                tracing::warn!("HTTP requests still running after a second stop request: they end with the node");
            }
        }
        tracing::info!(
            "drained {} socket(s) in {:?}",
            report.sockets,
            started.elapsed()
        );
        report
    }

    /// A second stop request: the drain closes what is left at once.
    pub fn finish_drain_now(&self) {
        self.hurry.send_replace(true);
    }

    /// Answers one request.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Response<Body> {
        let path = request.uri().path().to_string();
        if let Some((base, transport)) = path.rsplit_once('/') {
            if let Some(socket) = self.sockets.get(base) {
                if self.services.connections.is_draining()
                    && matches!(transport, "websocket" | "longpoll")
                {
                    // Stopping: the client reconnects to another node, or to
                    // this one once it is back.
                    return plain(StatusCode::SERVICE_UNAVAILABLE, "");
                }
                match (transport, request.method()) {
                    ("websocket", &Method::GET) => return socket.websocket(request, peer).await,
                    ("websocket", _) => return plain(StatusCode::METHOD_NOT_ALLOWED, ""),
                    ("longpoll", _) => match socket.longpoll(request, peer) {
                        Some(serving) => return serving.await,
                        None => return plain(StatusCode::NOT_FOUND, "not found"),
                    },
                    _ => {}
                }
            }
        }
        if let Some(handler) = self.routes.get(&(request.method().clone(), path.clone())) {
            return handler(request).await;
        }
        if request.method() == Method::GET || request.method() == Method::HEAD {
            if let Some(response) = self.static_file(&path).await {
                return response;
            }
        }
        plain(StatusCode::NOT_FOUND, "not found")
    }

    async fn static_file(&self, path: &str) -> Option<Response<Body>> {
        if let Some(file) = self.static_files.get(path) {
            return file_response(file).await;
        }
        for (prefix, dir) in &self.static_dirs {
            // Whole path segments only: `/assets` serves `/assets/app.js`,
            // not `/assetsapp.js`.
            let Some(rest) = path
                .strip_prefix(prefix.as_str())
                .filter(|rest| rest.is_empty() || rest.starts_with('/') || prefix.is_empty())
            else {
                continue;
            };
            let Some(file) = safe_join(dir, rest) else {
                return Some(plain(StatusCode::BAD_REQUEST, "bad path"));
            };
            let file = if file.is_dir() {
                file.join("index.html")
            } else {
                file
            };
            if let Some(response) = file_response(&file).await {
                return Some(response);
            }
        }
        None
    }
}

/// A file's contents with its MIME type, or `None` if it cannot be read.
async fn file_response(file: &Path) -> Option<Response<Body>> {
    let contents = tokio::fs::read(file).await.ok()?;
    let mime = mime_guess::from_path(file).first_or_octet_stream();
    Some(
        Response::builder()
            .header(header::CONTENT_TYPE, mime.as_ref())
            .body(Full::new(Bytes::from(contents)))
            .expect("static response parts are valid"),
    )
}

/// `dir` joined with a URL path, or `None` if the path tries to leave `dir`
/// or names a hidden file (`.env`, `.git/…`).
fn safe_join(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for component in Path::new(url_path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) if part.as_encoded_bytes().starts_with(b".") => return None,
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Resolves once `stopped` holds `true` (or its sender is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_cannot_escape_their_directory() {
        let dir = Path::new("/srv/static");
        assert_eq!(
            safe_join(dir, "/js/app.js"),
            Some(PathBuf::from("/srv/static/js/app.js"))
        );
        assert_eq!(safe_join(dir, "/../etc/passwd"), None);
        assert_eq!(safe_join(dir, "/a/../../b"), None);
        assert_eq!(safe_join(dir, "/.env"), None);
        assert_eq!(safe_join(dir, "/js/.git/config"), None);
    }
}
