//! The endpoint: one HTTP server for sockets, routes and static files.
//!
//! Phoenix's `Endpoint`: several sockets mounted at their paths (`/socket`,
//! `/auth_socket`, each answering `/websocket` and `/longpoll`), ordinary HTTP
//! routes, and static files, all on one port, served by hyper with upgrades
//! enabled. It also holds the node's PubSub, so `endpoint.broadcast(..)` works
//! as `Endpoint.broadcast/3` does.

use std::collections::HashMap;
use std::convert::Infallible;
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
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use runtime::process::ProcessSupervisor;
use tokio::net::TcpListener;

use crate::message::Payload;
use crate::metrics::Metrics;
use crate::mount::{Mount, SocketConfig};
use crate::pubsub::PubSub;
use crate::services::Services;
use crate::socket::Socket;
use crate::token::Signer;
use crate::transport::{longpoll, plain, websocket, Body};
use runtime::task::TaskSupervisor;

/// An HTTP route handler.
pub type Handler =
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

impl<S: Socket> MountedSocket for Arc<Mount<S>> {
    fn websocket(
        &self,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(websocket::serve(self.clone(), request, peer))
    }

    fn longpoll(
        &self,
        request: Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> Option<Pin<Box<dyn Future<Output = Response<Body>> + Send>>> {
        (self.config.longpoll && self.services.signer.is_some())
            .then(|| Box::pin(longpoll::serve(self.clone(), request, peer)) as Pin<Box<_>>)
    }
}

/// Mounts one socket once the endpoint's services are known.
type Mounter = Box<dyn FnOnce(Arc<Services>) -> Box<dyn MountedSocket>>;

/// Builds an [`Endpoint`].
pub struct EndpointBuilder {
    services: Services,
    sockets: Vec<(String, Mounter)>,
    routes: HashMap<(Method, String), Handler>,
    static_dirs: Vec<(String, PathBuf)>,
}

impl EndpointBuilder {
    /// Mounts `socket` at `path` (e.g. `/socket`, answering `/socket/websocket`
    /// and, when `config.longpoll` is set, `/socket/longpoll`).
    pub fn socket<S: Socket>(mut self, path: &str, socket: S, config: SocketConfig) -> Self {
        let mount: Mounter =
            Box::new(move |services| Box::new(Mount::new(socket, services, config)));
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
        let handler: Handler = Arc::new(move |request| Box::pin(handler(request)));
        self.routes.insert((method, path.to_string()), handler);
        self
    }

    /// Serves the files under `dir` at URLs starting with `prefix`.
    pub fn static_files(mut self, prefix: &str, dir: impl Into<PathBuf>) -> Self {
        self.static_dirs
            .push((prefix.trim_end_matches('/').to_string(), dir.into()));
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
        Arc::new(Endpoint {
            services,
            sockets,
            routes: self.routes,
            static_dirs: self.static_dirs,
        })
    }
}

/// An HTTP server for sockets, routes and static files.
pub struct Endpoint {
    services: Arc<Services>,
    sockets: HashMap<String, Box<dyn MountedSocket>>,
    routes: HashMap<(Method, String), Handler>,
    static_dirs: Vec<(String, PathBuf)>,
}

impl Endpoint {
    /// Starts building an endpoint whose channels run under `supervisor`.
    pub fn builder(pubsub: PubSub, supervisor: ProcessSupervisor) -> EndpointBuilder {
        EndpointBuilder {
            services: Services::new(pubsub, supervisor),
            sockets: Vec::new(),
            routes: HashMap::new(),
            static_dirs: Vec::new(),
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

    /// Binds `address`, logs `Running NAME at http://ADDRESS` (the line
    /// scripts and tests read the port from, when the port is 0), and serves
    /// in a task until `shutdown` completes.
    pub async fn spawn_on(
        self: Arc<Self>,
        name: &str,
        address: std::net::SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
        let listener = TcpListener::bind(address).await?;
        tracing::info!("Running {name} at http://{}", listener.local_addr()?);
        Ok(tokio::spawn(self.serve(listener, shutdown)))
    }

    /// Accepts connections until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
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
                _ = &mut shutdown => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            let endpoint = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let endpoint = endpoint.clone();
                    async move { Ok::<_, Infallible>(endpoint.handle(request, Some(peer)).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                if let Err(err) = connection.await {
                    tracing::debug!(%err, "HTTP connection ended with an error");
                }
            });
        }
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
            if let Ok(contents) = tokio::fs::read(&file).await {
                let mime = mime_guess::from_path(&file).first_or_octet_stream();
                return Some(
                    Response::builder()
                        .header(header::CONTENT_TYPE, mime.as_ref())
                        .body(Full::new(Bytes::from(contents)))
                        .expect("static response parts are valid"),
                );
            }
        }
        None
    }
}

/// `dir` joined with a URL path, or `None` if the path tries to leave `dir`.
fn safe_join(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for component in Path::new(url_path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
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
    }
}
