//! The REPL: a rustyline line editor (history, Tab completion) on a terminal,
//! one command per line otherwise.
//!
//! The REPL does not care where commands run: a [`Backend`] runs them — the
//! node's own [`Console`] ([`Local`], in a foreground node) or a running node
//! through its control socket ([`Remote`], `bin/app remote`). Both complete
//! commands and arguments (node names, topics) with what the node knows.
//!
//! Everything here blocks: run it on a thread of its own, not on a tokio
//! worker (a foreground node starts it with [`spawn_local_repl`]).

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use super::control::{ClientError, ControlClient};
use super::registry::{Console, Outcome};

/// Why a line did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplError {
    /// The command failed; the REPL goes on.
    Command(String),
    /// The backend is gone (the node stopped); the REPL ends.
    Fatal(String),
}

/// Where the REPL's commands run.
pub trait Backend: Send + Sync {
    /// Runs one line.
    fn run(&self, line: &str) -> Result<Outcome, ReplError>;
    /// Completes `line` at byte `pos`: the start of the word and the candidates.
    fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>);
}

/// Commands run by this process's [`Console`], on a tokio runtime.
pub struct Local {
    console: Console,
    handle: tokio::runtime::Handle,
}

impl Local {
    /// Runs `console`'s commands on the runtime of `handle`.
    pub fn new(console: Console, handle: tokio::runtime::Handle) -> Self {
        Local { console, handle }
    }
}

impl Backend for Local {
    fn run(&self, line: &str) -> Result<Outcome, ReplError> {
        self.handle
            .block_on(self.console.run(line))
            .map_err(|e| ReplError::Command(e.to_string()))
    }

    fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        self.console.complete(line, pos)
    }
}

/// Commands run by another node, through its control socket.
pub struct Remote {
    client: Mutex<ControlClient>,
}

impl Remote {
    /// A backend over a connected client.
    pub fn new(client: ControlClient) -> Self {
        Remote {
            client: Mutex::new(client),
        }
    }
}

impl Backend for Remote {
    fn run(&self, line: &str) -> Result<Outcome, ReplError> {
        match self.client.lock().run(line) {
            Ok(r) if r.ok && r.quit => Ok(Outcome::Quit),
            Ok(r) if r.ok => Ok(Outcome::Output(r.output)),
            Ok(r) => Err(ReplError::Command(
                r.error.unwrap_or_else(|| "the command failed".into()),
            )),
            Err(e @ ClientError::Protocol(_)) => Err(ReplError::Command(e.to_string())),
            Err(e) => Err(ReplError::Fatal(e.to_string())),
        }
    }

    fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        self.client
            .lock()
            .complete(line, pos)
            .unwrap_or((pos, Vec::new()))
    }
}

/// How a REPL session ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Commands run (empty lines and comments not counted).
    pub commands: usize,
    /// Commands that failed.
    pub failures: usize,
    /// `quit` (or end of input on a terminal) ended it.
    pub quit: bool,
    /// The backend went away; why.
    pub fatal: Option<String>,
}

impl Summary {
    /// Whether every command succeeded and the backend stayed up.
    pub fn success(&self) -> bool {
        self.failures == 0 && self.fatal.is_none()
    }
}

/// Runs one line and prints what came of it; `false` to stop.
fn step(
    backend: &dyn Backend,
    line: &str,
    summary: &mut Summary,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return true;
    }
    summary.commands += 1;
    match backend.run(trimmed) {
        Ok(Outcome::Output(text)) => {
            if !text.is_empty() {
                let _ = writeln!(out, "{}", text.trim_end_matches('\n'));
            }
            let _ = out.flush();
            true
        }
        Ok(Outcome::Quit) => {
            summary.quit = true;
            false
        }
        Err(ReplError::Command(e)) => {
            summary.failures += 1;
            let _ = writeln!(err, "error: {e}");
            let _ = err.flush();
            true
        }
        Err(ReplError::Fatal(e)) => {
            let _ = writeln!(err, "error: {e}");
            let _ = err.flush();
            summary.fatal = Some(e);
            false
        }
    }
}

/// One command per line from `input`, for scripts: outputs go to `out`,
/// errors (`error: …`) to `err`; runs to the end of input, `quit`, or until
/// the backend is gone. A failed command does not stop the run.
pub fn run_lines(
    backend: &dyn Backend,
    input: impl BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Summary {
    let mut summary = Summary::default();
    for line in input.lines() {
        let Ok(line) = line else { break };
        if !step(backend, &line, &mut summary, out, err) {
            break;
        }
    }
    summary
}

/// How an interactive REPL looks.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The prompt, e.g. `web@127.0.0.1> `.
    pub prompt: String,
    /// Printed once at the start.
    pub banner: Option<String>,
    /// Where history is kept between sessions (created `0600`).
    pub history: Option<PathBuf>,
}

/// `~/.<app>_console_history`, if `HOME` is set.
pub fn default_history(app: &str) -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(format!(".{app}_console_history")))
}

struct ConsoleHelper {
    backend: Arc<dyn Backend>,
}

impl Completer for ConsoleHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, candidates) = self.backend.complete(line, pos);
        // A completed word is followed by a space, as in a shell.
        let pairs = candidates
            .into_iter()
            .map(|c| Pair {
                replacement: format!("{c} "),
                display: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ConsoleHelper {
    type Hint = String;
}
impl Highlighter for ConsoleHelper {}
impl Validator for ConsoleHelper {}
impl Helper for ConsoleHelper {}

/// The line editor on a terminal: history (kept in `options.history`), Tab
/// completion, Ctrl-C clears the line, Ctrl-D or `quit` ends.
pub fn run_interactive(backend: Arc<dyn Backend>, options: &Options) -> Summary {
    let mut summary = Summary::default();
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<ConsoleHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            summary.fatal = Some(format!("cannot start the line editor: {e}"));
            return summary;
        }
    };
    editor.set_helper(Some(ConsoleHelper {
        backend: backend.clone(),
    }));
    if let Some(path) = &options.history {
        let _ = editor.load_history(path);
    }
    if let Some(banner) = &options.banner {
        println!("{banner}");
    }
    let (mut out, mut err) = (io::stdout(), io::stderr());
    loop {
        match editor.readline(&options.prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if !step(backend.as_ref(), &line, &mut summary, &mut out, &mut err) {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                println!("(quit or Ctrl-D leaves)");
            }
            Err(ReadlineError::Eof) => {
                summary.quit = true;
                break;
            }
            Err(ReadlineError::Signal(_)) => {}
            Err(e) => {
                summary.fatal = Some(format!("the terminal failed: {e}"));
                break;
            }
        }
    }
    if let Some(path) = &options.history {
        save_history(&mut editor, path);
    }
    summary
}

fn save_history(editor: &mut Editor<ConsoleHelper, DefaultHistory>, path: &Path) {
    // History can hold payloads: keep it private.
    if !path.exists() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_0600()
            .open(path);
    }
    if let Err(e) = editor.save_history(path) {
        tracing::debug!(path = %path.display(), "console history not saved: {e}");
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// The interactive REPL if stdin is a terminal, else [`run_lines`] on stdin.
pub fn run(backend: Arc<dyn Backend>, options: &Options) -> Summary {
    if io::stdin().is_terminal() {
        run_interactive(backend, options)
    } else {
        let stdin = io::stdin();
        run_lines(
            backend.as_ref(),
            stdin.lock(),
            &mut io::stdout(),
            &mut io::stderr(),
        )
    }
}

/// The terminal's settings, saved before the line editor changes them, put
/// back when dropped. A node can stop while its REPL waits in `readline`
/// (a `stop` from another shell): the REPL's thread then never restores the
/// terminal itself.
pub struct TerminalGuard {
    saved: Option<libc::termios>,
}

impl TerminalGuard {
    /// Saves stdin's terminal settings, if stdin is a terminal.
    pub fn save() -> Self {
        if !io::stdin().is_terminal() {
            return TerminalGuard { saved: None };
        }
        // SAFETY: tcgetattr writes a termios for a valid fd; the struct is plain data.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } == 0;
        TerminalGuard {
            saved: ok.then_some(t),
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restores settings read from the same fd by tcgetattr.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
            }
        }
    }
}

/// Starts the interactive REPL of a foreground node on a thread of its own.
/// When it ends (`quit`, Ctrl-D) it asks the node to stop. Returns `None`
/// when stdin is not a terminal (a node in the background has no console).
pub fn spawn_local_repl(console: &Console, options: Options) -> Option<TerminalGuard> {
    if !io::stdin().is_terminal() {
        return None;
    }
    let guard = TerminalGuard::save();
    let backend: Arc<dyn Backend> = Arc::new(Local::new(
        console.clone(),
        tokio::runtime::Handle::current(),
    ));
    let console = console.clone();
    let spawned = std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            let summary = run_interactive(backend, &options);
            if let Some(e) = summary.fatal {
                tracing::warn!("console: {e}");
            }
            if !console.is_shutting_down() {
                println!("stopping the node");
                console.request_shutdown();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("console not started: {e}");
    }
    Some(guard)
}
