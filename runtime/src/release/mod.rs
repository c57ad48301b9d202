//! Release-style CLI machinery: what an Elixir release's `bin/app` does, for a
//! binary built on this runtime.
//!
//! ```text
//! app start --name app@127.0.0.1 [--cookie C] [--name-dir DIR] [--dist-port P]
//!                                   foreground; a console when stdin is a terminal
//! app rpc app@127.0.0.1 'node.connect back@127.0.0.1'
//!                                   runs one console command on the running node
//! app remote app@127.0.0.1          a console attached to the running node
//! app stop app@127.0.0.1            clean shutdown; returns once the node is gone
//! ```
//!
//! An application flattens [`NodeArgs`] into its `start` subcommand and
//! [`TargetArgs`] into `rpc` / `remote` / `stop`, then:
//!
//! ```no_run
//! # async fn demo(args: runtime::release::NodeArgs) -> Result<(), Box<dyn std::error::Error>> {
//! use runtime::release::Release;
//! let mut release = Release::start("my_app", &args).await?;  // node, console, control socket
//! // … start the supervision tree, register the app's console commands …
//! release.run_until_stopped(true).await;  // quit / node.stop / stop / SIGINT / SIGTERM
//! // … stop the app's supervision tree …
//! release.shutdown().await;               // the node, then the control socket
//! # Ok(()) }
//! ```
//!
//! `rpc`, `remote` and `stop` find the node's control socket through the name
//! directory ([`crate::console::control::socket_path`]) and present the cookie
//! resolved as the node resolves it — `--cookie`, then `RELEASE_COOKIE` /
//! `NODE_COOKIE`, then the cookie file — except that a client never *creates*
//! a cookie file. Exit status: [`EXIT_OK`], [`EXIT_COMMAND_FAILED`],
//! [`EXIT_UNREACHABLE`] (not running, or refused).

use std::future::Future;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::console::control::{socket_path, ClientError, ControlClient, ControlServer};
use crate::console::repl::{self, Remote, TerminalGuard};
use crate::console::{builtins, Console, ShutdownRequests};
use crate::node::cookie::{self, Cookie, CookieError, COOKIE_ENV_VARS, COOKIE_FILE_NAME};
use crate::node::directory::{default_directory, DirectoryError, NameDirectory};
use crate::node::{DirectoryOption, Node, NodeName, NodeOptions, StartError};

/// Success.
pub const EXIT_OK: u8 = 0;
/// The node ran the command and it failed (unknown command, bad arguments, an error).
pub const EXIT_COMMAND_FAILED: u8 = 1;
/// The node could not be driven: not running, no cookie, cookie refused, connection lost.
pub const EXIT_UNREACHABLE: u8 = 2;

/// The environment variable for `--name-dir`.
pub const NAME_DIR_ENV: &str = "NODE_NAME_DIR";
/// The environment variable for `--cookie-dir`.
pub const COOKIE_DIR_ENV: &str = "NODE_COOKIE_DIR";

/// How to start a named node: flatten into the application's `start` command.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// This node's name, name@host (the host is what other nodes connect to).
    #[arg(long, value_name = "NAME@HOST")]
    pub name: NodeName,
    /// The cookie. Visible to other users in `ps`: prefer RELEASE_COOKIE or the
    /// cookie file (~/.node.cookie, created on first start).
    #[arg(long)]
    pub cookie: Option<String>,
    /// Where the cookie file is (default: $HOME).
    #[arg(long, env = COOKIE_DIR_ENV, value_name = "DIR")]
    pub cookie_dir: Option<PathBuf>,
    /// The local name directory (default: $XDG_RUNTIME_DIR/runtime-nodes or /tmp/$USER-nodes).
    #[arg(long, env = NAME_DIR_ENV, value_name = "DIR")]
    pub name_dir: Option<PathBuf>,
    /// The distribution port (0: any free port; peers find it in the name directory).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub dist_port: u16,
}

/// Which running node to drive: flatten into `rpc`, `remote` and `stop`.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// The node, name@host.
    #[arg(value_name = "NAME@HOST")]
    pub node: NodeName,
    /// The node's cookie (else RELEASE_COOKIE / NODE_COOKIE, else the cookie file).
    #[arg(long)]
    pub cookie: Option<String>,
    /// Where the cookie file is (default: $HOME).
    #[arg(long, env = COOKIE_DIR_ENV, value_name = "DIR")]
    pub cookie_dir: Option<PathBuf>,
    /// The local name directory the node registered in.
    #[arg(long, env = NAME_DIR_ENV, value_name = "DIR")]
    pub name_dir: Option<PathBuf>,
    /// Seconds to wait for an answer (and, for stop, for the node to be gone).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Why a release did not start.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The node did not start.
    #[error(transparent)]
    Node(#[from] StartError),
    /// No cookie.
    #[error(transparent)]
    Cookie(#[from] CookieError),
    /// The control socket could not be opened.
    #[error("control socket: {0}")]
    Control(std::io::Error),
}

/// A running named node with its console and control socket.
pub struct Release {
    node: Node,
    console: Console,
    control: Option<ControlServer>,
    terminal: Option<TerminalGuard>,
    /// SIGINT and SIGTERM, caught from the start: a signal that arrives
    /// before [`Release::run_until_stopped`] still stops the node cleanly.
    signals: Option<Signals>,
}

/// SIGINT and SIGTERM as streams.
struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl Signals {
    fn install() -> Signals {
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// The next SIGINT or SIGTERM; its name.
    async fn next(&mut self) -> &'static str {
        async fn recv(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.interrupt) => "SIGINT",
            _ = recv(&mut self.terminate) => "SIGTERM",
        }
    }
}

impl std::fmt::Debug for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Release")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Release {
    /// Starts the node (registered in the name directory), a console with the
    /// built-in commands, and the control socket.
    pub async fn start(app: &str, args: &NodeArgs) -> Result<Release, ReleaseError> {
        let signals = Signals::install();
        // The node resolves the cookie the same way; the control socket needs
        // the value too.
        let (cookie, _) = cookie::resolve(args.cookie.as_deref(), args.cookie_dir.as_deref())?;
        let mut options = NodeOptions::new(args.name.clone());
        options.cookie = args.cookie.clone();
        options.cookie_dir = args.cookie_dir.clone();
        options.port = args.dist_port;
        options.directory = match &args.name_dir {
            Some(dir) => DirectoryOption::At(dir.clone()),
            None => DirectoryOption::Default,
        };
        let node = Node::start(options).await?;
        let console = Console::new(app);
        builtins::register_node(&console, &node);
        let dir = node
            .directory()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_else(default_directory);
        let path = socket_path(&dir, node.self_name());
        let control = match ControlServer::start(path, cookie, console.clone()).await {
            Ok(c) => c,
            Err(e) => {
                node.stop().await;
                return Err(ReleaseError::Control(e));
            }
        };
        tracing::info!(
            node = %node.self_name(),
            control = %control.path().display(),
            "console ready: {app} rpc|remote|stop {}",
            node.self_name()
        );
        Ok(Release {
            node,
            console,
            control: Some(control),
            terminal: None,
            signals: Some(signals),
        })
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The console: register the application's commands here.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The control socket's path.
    pub fn control_path(&self) -> Option<&Path> {
        self.control.as_ref().map(ControlServer::path)
    }

    /// Waits until the node is asked to stop — `node.stop` (what `stop`
    /// sends), `quit` or Ctrl-D in the foreground console, SIGINT, SIGTERM —
    /// and marks the console as shutting down (so everything that waits for
    /// [`Console::shutdown_requested`] stops too). With `interactive` and a
    /// terminal on stdin, the console runs meanwhile. A second SIGINT or
    /// SIGTERM during the shutdown hurries it ([`Stop::requested_again`]); a
    /// third exits at once.
    pub async fn run_until_stopped(&mut self, interactive: bool) {
        if interactive && std::io::stdin().is_terminal() {
            let name = self.node.self_name().to_string();
            self.terminal = repl::spawn_local_repl(
                &self.console,
                repl::Options {
                    prompt: format!("{name}> "),
                    banner: Some(format!(
                        "{} console on {name}: help lists the commands, Tab completes; \
                         quit or Ctrl-D stops the node",
                        self.console.app()
                    )),
                    history: repl::default_history(self.console.app()),
                },
            );
        }
        let mut signals = self.signals.take().unwrap_or_else(Signals::install);
        tokio::select! {
            _ = self.console.shutdown_requested() => tracing::info!("stop requested"),
            name = signals.next() => tracing::info!("{name}: stop requested"),
        }
        self.console.request_shutdown();
        // Later signals: the second hurries the stop (an endpoint closes every
        // socket it is still draining), the third exits at once.
        let shutdown = self.console.shutdown_requests();
        tokio::spawn(async move {
            let name = signals.next().await;
            tracing::warn!("{name} again: finishing the stop at once (once more exits)");
            shutdown.request();
            let name = signals.next().await;
            eprintln!("{name} a third time: exiting without a clean shutdown");
            std::process::exit(130);
        });
    }

    /// The last steps of a clean shutdown, after the application stopped its
    /// supervision tree: the node (peers see it go down, its name directory
    /// entry goes), then the control socket (`stop` returns once it is gone),
    /// then the terminal's settings are restored.
    pub async fn shutdown(mut self) {
        self.console.request_shutdown();
        self.node.stop().await;
        tracing::info!(node = %self.node.self_name(), "node stopped");
        drop(self.control.take());
        drop(self.terminal.take());
    }
}

/// The cookie a client presents: `--cookie`, then [`COOKIE_ENV_VARS`], then an
/// existing cookie file (never created here: a client without the node's
/// cookie must fail, not invent one).
pub fn client_cookie(explicit: Option<&str>, cookie_dir: Option<&Path>) -> Result<Cookie, String> {
    if let Some(c) = explicit {
        return Cookie::new(c).map_err(|e| e.to_string());
    }
    for var in COOKIE_ENV_VARS {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            return Cookie::new(v).map_err(|e| format!("${var}: {e}"));
        }
    }
    let dir = cookie_dir
        .map(Path::to_path_buf)
        .or_else(cookie::default_cookie_dir)
        .ok_or("no cookie: give --cookie, set RELEASE_COOKIE, or set HOME for the cookie file")?;
    let path = dir.join(COOKIE_FILE_NAME);
    if !path.exists() {
        return Err(format!(
            "no cookie: give --cookie, set RELEASE_COOKIE, or create {} (a node creates it on its first start)",
            path.display()
        ));
    }
    cookie::read_file(&path).map_err(|e| e.to_string())
}

/// The control socket of `args.node`, after checking that the name directory
/// is private and the socket belongs to this user (the cookie is sent to
/// whatever listens there).
fn target_socket(args: &TargetArgs) -> Result<PathBuf, String> {
    let dir = match &args.name_dir {
        Some(d) => NameDirectory::open(d.clone()),
        None => NameDirectory::open_default(),
    }
    .map_err(|e: DirectoryError| e.to_string())?;
    let path = socket_path(dir.path(), &args.node);
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: getuid has no preconditions and cannot fail.
        let me = unsafe { libc::getuid() };
        if meta.uid() != me {
            return Err(format!(
                "{} belongs to uid {}, not to this user: refusing to send it the cookie",
                path.display(),
                meta.uid()
            ));
        }
    }
    Ok(path)
}

/// Connects to the node named in `args`.
pub fn connect(args: &TargetArgs) -> Result<ControlClient, String> {
    let cookie = client_cookie(args.cookie.as_deref(), args.cookie_dir.as_deref())?;
    let path = target_socket(args)?;
    ControlClient::connect(
        args.node.as_str(),
        &path,
        cookie,
        Duration::from_secs(args.timeout.max(1)),
    )
    .map_err(|e| e.to_string())
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

// The subcommands that drive a running node — `rpc`, `remote`, `stop` — for
// an app to flatten into its own subcommands:
//
//     #[derive(clap::Subcommand)]
//     enum Command {
//         /// Start a named node.
//         Start(runtime::release::NodeArgs),
//         #[command(flatten)]
//         Drive(runtime::release::Drive),
//     }
//
// (A plain comment, not a doc comment: clap would take a doc comment here as
// the description of the app that flattens it.)
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Drive {
    /// Run one console command on a running node and print its result.
    Rpc {
        #[command(flatten)]
        target: TargetArgs,
        /// The command, e.g. 'node.connect back@127.0.0.1' (several words are joined by spaces).
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Attach a console to a running node (one command per line when stdin is not a terminal).
    Remote(TargetArgs),
    /// Stop a running node cleanly and wait until it is gone.
    Stop(TargetArgs),
}

impl Drive {
    /// Runs the subcommand; its exit status.
    pub fn run(&self) -> ExitCode {
        match self {
            Drive::Rpc { target, command } => rpc(target, &command.join(" ")),
            Drive::Remote(target) => remote(target),
            Drive::Stop(target) => stop(target),
        }
    }
}

/// Runs an app binary's `main` future the way every app here does: logs to
/// stderr (filtered by `RUST_LOG`, default `info`), a multi-threaded tokio
/// runtime, and an error logged and turned into a failure exit status. The
/// runtime is not waited for at the end beyond 1 s (a console thread may still
/// be waiting for a line).
pub fn main<F>(main: F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Freed heap goes back to the OS after a burst (`memory.rs`).
    let trimmer = {
        let _in_runtime = runtime.enter();
        crate::memory::spawn_trimmer(crate::memory::TRIM_PERIOD, crate::memory::TRIM_FREE_BYTES)
    };
    let result = runtime.block_on(main);
    trimmer.abort();
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// What stops an app, in two steps: the first request starts a graceful stop
/// (an endpoint drains its sockets in batches), the second asks it to finish
/// at once. A named node's requests are its console's (`quit`, `node.stop`,
/// `stop`, SIGINT, SIGTERM: see [`Release::run_until_stopped`]); an unnamed
/// one's are SIGINT and SIGTERM ([`stop_signals`]).
pub struct Stop {
    /// Resolves at the first request.
    pub requested: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Resolves at the second request.
    pub requested_again: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop").finish_non_exhaustive()
    }
}

impl Stop {
    /// A stop that is requested through `shutdown`.
    pub fn from_shutdown(shutdown: &ShutdownRequests) -> Stop {
        Stop {
            requested: Box::pin(shutdown.requested()),
            requested_again: Box::pin(shutdown.requested_again()),
        }
    }
}

/// The stop requests of an app: a named node's, or for an unnamed one SIGINT
/// and SIGTERM ([`stop_signals`]).
pub fn stop_requested(node: Option<&Release>) -> std::io::Result<Stop> {
    Ok(match node {
        Some(release) => Stop::from_shutdown(&release.console().shutdown_requests()),
        None => stop_signals()?,
    })
}

/// SIGINT and SIGTERM as stop requests, registered when called so that a
/// signal that arrives before it is awaited is not lost: the first stops, the
/// second hurries the stop, the third exits at once.
pub fn stop_signals() -> std::io::Result<Stop> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let shutdown = ShutdownRequests::default();
    let stop = Stop::from_shutdown(&shutdown);
    tokio::spawn(async move {
        for count in 1.. {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            match count {
                1 => tracing::info!("{name}: stop requested"),
                2 => tracing::warn!("{name} again: finishing the stop at once (once more exits)"),
                _ => {
                    eprintln!("{name} a third time: exiting without a clean shutdown");
                    std::process::exit(130);
                }
            }
            shutdown.request();
        }
    });
    Ok(stop)
}

/// `app rpc NODE COMMAND`: runs one console line on a running node, prints
/// its output (stdout) or error (stderr).
pub fn rpc(args: &TargetArgs, command: &str) -> ExitCode {
    let mut client = match connect(args) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_UNREACHABLE, e),
    };
    match client.run(command) {
        Ok(r) if r.ok => {
            if !r.output.is_empty() {
                // Not println!: a closed pipe (`rpc … | head`) is not a panic.
                use std::io::Write;
                let _ = writeln!(std::io::stdout(), "{}", r.output.trim_end_matches('\n'));
            }
            ExitCode::from(EXIT_OK)
        }
        Ok(r) => fail(
            EXIT_COMMAND_FAILED,
            r.error.unwrap_or_else(|| "the command failed".into()),
        ),
        Err(e) => fail(EXIT_UNREACHABLE, e),
    }
}

/// `app remote NODE`: a console attached to a running node. On a terminal it
/// is interactive (`quit` or Ctrl-D detaches; the node keeps running);
/// otherwise it runs stdin one command per line and exits non-zero if one failed.
pub fn remote(args: &TargetArgs) -> ExitCode {
    let client = match connect(args) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_UNREACHABLE, e),
    };
    let name = args.node.to_string();
    let backend: Arc<dyn repl::Backend> = Arc::new(Remote::new(client));
    let summary = repl::run(
        backend,
        &repl::Options {
            prompt: format!("{name}(remote)> "),
            banner: Some(format!(
                "attached to {name}: help lists the commands, Tab completes; \
                 quit or Ctrl-D detaches (the node keeps running)"
            )),
            history: repl::default_history("remote_console"),
        },
    );
    if summary.fatal.is_some() {
        ExitCode::from(EXIT_UNREACHABLE)
    } else if summary.failures > 0 {
        ExitCode::from(EXIT_COMMAND_FAILED)
    } else {
        ExitCode::from(EXIT_OK)
    }
}

/// `app stop NODE`: asks the node to stop cleanly and waits (up to
/// `--timeout`) until it is gone.
pub fn stop(args: &TargetArgs) -> ExitCode {
    let mut client = match connect(args) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_UNREACHABLE, e),
    };
    let path = match target_socket(args) {
        Ok(p) => p,
        Err(e) => return fail(EXIT_UNREACHABLE, e),
    };
    match client.run("node.stop") {
        Ok(r) if r.ok => println!("{}", r.output),
        Ok(r) => {
            return fail(
                EXIT_COMMAND_FAILED,
                r.error.unwrap_or_else(|| "refused to stop".into()),
            )
        }
        // The node may close the connection as it stops.
        Err(ClientError::Io(_)) => println!("stopping {}", args.node),
        Err(e) => return fail(EXIT_UNREACHABLE, e),
    }
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(args.timeout.max(1));
    while Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(&path).is_err() {
            println!("{} stopped", args.node);
            return ExitCode::from(EXIT_OK);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fail(
        EXIT_COMMAND_FAILED,
        format!("{} did not stop within {} s", args.node, args.timeout),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_never_creates_a_cookie_file() {
        if COOKIE_ENV_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        {
            return; // the environment decides; nothing to test here
        }
        let dir = std::env::temp_dir().join(format!("release-cookie-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = client_cookie(None, Some(&dir)).unwrap_err();
        assert!(err.contains("no cookie"), "{err}");
        assert!(!dir.join(COOKIE_FILE_NAME).exists());
        assert_eq!(
            client_cookie(Some("ABC"), Some(&dir)).unwrap().as_str(),
            "ABC"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
