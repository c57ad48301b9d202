//! A node started as a child process: its output lines read by threads as
//! they come, waited for with a bound, and the process killed and reaped on
//! drop.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use super::{EXIT_POLL, RECENT_LINES};

/// Which of a node's standard streams [`NodeProcess::try_spawn`] wires up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    /// A pipe to stdin, for [`NodeProcess::send`] (else `/dev/null`).
    pub piped_stdin: bool,
    /// stderr's lines go to the log with stdout's (else stderr is inherited:
    /// it shows on the test's own stderr).
    pub log_stderr: bool,
}

impl Default for Streams {
    /// No stdin; stdout and stderr both logged (how a `start`ed release runs).
    fn default() -> Self {
        Streams {
            piped_stdin: false,
            log_stderr: true,
        }
    }
}

/// Why [`NodeProcess::try_wait_for`] or [`NodeProcess::try_next_line`] found
/// no matching line.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    /// No matching line arrived in time.
    #[error("{node}: no matching log line within {timeout:?}; {}", show_recent(recent, *total))]
    Timeout {
        /// The process's name.
        node: String,
        /// How long the wait was.
        timeout: Duration,
        /// Its last log lines (at most [`RECENT_LINES`]).
        recent: Vec<String>,
        /// How many lines it logged in all.
        total: usize,
    },
    /// The process closed its output (it exited) before a matching line.
    #[error("{node}: exited without a matching log line; {}", show_recent(recent, *total))]
    Exited {
        /// The process's name.
        node: String,
        /// Its last log lines (at most [`RECENT_LINES`]).
        recent: Vec<String>,
        /// How many lines it logged in all.
        total: usize,
    },
}

fn show_recent(recent: &[String], total: usize) -> String {
    let mut text = match total - recent.len() {
        0 => format!("its log ({total} lines):"),
        earlier => format!(
            "the last {} of its {total} log lines ({earlier} earlier not shown):",
            recent.len()
        ),
    };
    for line in recent {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text
}

/// A node (or any long-running program) started as an OS process, its output
/// read line by line into a log as it comes.
///
/// Two ways to wait for a line:
/// - [`wait_for`](Self::wait_for) returns the first line of the whole log that
///   matches, waiting for new ones if none does: for states ("listening",
///   "stopped"), which stay true.
/// - [`next_line`](Self::next_line) returns the oldest line not returned by it
///   before that matches, with the time it arrived: for events that can
///   happen several times ("NODEUP b", "NODEDOWN b"), each taken once.
///
/// Killed (SIGKILL, which also ends a stopped process) and reaped on drop.
pub struct NodeProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    /// Every line received, oldest first.
    log: Vec<String>,
    /// When each line of `log` was read.
    arrived: Vec<Instant>,
    /// Whether `next_line` returned each line of `log`.
    taken: Vec<bool>,
    http_port: Option<u16>,
}

impl NodeProcess {
    /// Starts `cmd` with the default [`Streams`] (stdin closed, stdout and
    /// stderr logged), named `name` in messages. Panics if it cannot start.
    pub fn spawn(name: impl Into<String>, cmd: Command) -> NodeProcess {
        let name = name.into();
        let program = cmd.get_program().to_owned();
        NodeProcess::try_spawn(name.clone(), cmd, Streams::default())
            .unwrap_or_else(|e| panic!("{name}: {program:?} did not start: {e}"))
    }

    /// Starts `cmd` with `streams`, named `name` in messages; the error is the
    /// one of [`Command::spawn`]. Nothing is awaited: wait for the line that
    /// says the node is ready ([`wait_for`](Self::wait_for),
    /// [`wait_for_http`](Self::wait_for_http)).
    pub fn try_spawn(
        name: impl Into<String>,
        mut cmd: Command,
        streams: Streams,
    ) -> io::Result<NodeProcess> {
        cmd.stdin(if streams.piped_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(if streams.log_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
        let mut child = cmd.spawn()?;
        let (tx, rx) = mpsc::channel();
        let mut pipes: Vec<Box<dyn Read + Send>> =
            vec![Box::new(child.stdout.take().expect("stdout is piped"))];
        if let Some(stderr) = child.stderr.take() {
            pipes.push(Box::new(stderr));
        }
        for pipe in pipes {
            let tx = tx.clone();
            // Drains the pipe for the process's whole life, so that it never
            // blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((Instant::now(), line)).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(NodeProcess {
            name: name.into(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            log: Vec::new(),
            arrived: Vec::new(),
            taken: Vec::new(),
            http_port: None,
        })
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The OS process id (for `kill`, `ps`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line logged so far, oldest first (without reading new ones).
    pub fn log(&self) -> &[String] {
        &self.log
    }

    /// The last [`RECENT_LINES`] lines of the log, one per line, for a
    /// test's own failure messages.
    pub fn recent_log(&self) -> String {
        show_recent(self.recent(), self.log.len())
    }

    fn recent(&self) -> &[String] {
        &self.log[self.log.len().saturating_sub(RECENT_LINES)..]
    }

    /// The HTTP port read by [`wait_for_http`](Self::wait_for_http), if any.
    pub fn http_port(&self) -> Option<u16> {
        self.http_port
    }

    /// Waits for the line `ready` says the node's web server is up (or that
    /// it runs none), and reads the port from its `http://127.0.0.1:PORT`
    /// (see [`http_port_in`]); `None` if the line has no such URL. The port is
    /// kept for [`http_port`](Self::http_port). Panics as
    /// [`wait_for`](Self::wait_for) does.
    pub fn wait_for_http(
        &mut self,
        ready: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<u16> {
        let line = self.wait_for(ready, timeout);
        self.http_port = http_port_in(&line);
        self.http_port
    }

    /// Reads one line, waiting until `deadline` at the most.
    fn receive(&mut self, deadline: Instant) -> Result<usize, RecvTimeoutError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let (at, line) = self.lines.recv_timeout(left)?;
        Ok(self.push(at, line))
    }

    fn push(&mut self, at: Instant, line: String) -> usize {
        self.log.push(line);
        self.arrived.push(at);
        self.taken.push(false);
        self.log.len() - 1
    }

    /// Reads the lines that have arrived, without waiting.
    fn receive_arrived(&mut self) {
        loop {
            match self.lines.try_recv() {
                Ok((at, line)) => {
                    self.push(at, line);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    fn wait_error(&self, error: RecvTimeoutError, timeout: Duration) -> WaitError {
        let (node, recent, total) = (self.name.clone(), self.recent().to_vec(), self.log.len());
        match error {
            RecvTimeoutError::Timeout => WaitError::Timeout {
                node,
                timeout,
                recent,
                total,
            },
            RecvTimeoutError::Disconnected => WaitError::Exited {
                node,
                recent,
                total,
            },
        }
    }

    /// Reads new lines until one satisfies `pred`, for at most `timeout`;
    /// its index in the log.
    fn receive_match(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<usize, WaitError> {
        let deadline = Instant::now() + timeout;
        loop {
            let i = self
                .receive(deadline)
                .map_err(|e| self.wait_error(e, timeout))?;
            if pred(&self.log[i]) {
                return Ok(i);
            }
        }
    }

    /// The first line of the log satisfying `pred` — lines logged before
    /// count — waiting at most `timeout` for it.
    pub fn try_wait_for(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, WaitError> {
        let i = match self.log.iter().position(|l| pred(l)) {
            Some(i) => i,
            None => self.receive_match(&pred, timeout)?,
        };
        Ok(self.log[i].clone())
    }

    /// [`try_wait_for`](Self::try_wait_for), panicking (with the last log
    /// lines) if no line matches in time.
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        self.try_wait_for(pred, timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The oldest line satisfying `pred` that this method did not return
    /// before, with the time it was read, waiting at most `timeout` for it.
    /// Each line is returned at most once.
    pub fn try_next_line(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<(Instant, String), WaitError> {
        let old = (0..self.log.len()).find(|&i| !self.taken[i] && pred(&self.log[i]));
        let i = match old {
            Some(i) => i,
            None => self.receive_match(&pred, timeout)?,
        };
        self.taken[i] = true;
        Ok((self.arrived[i], self.log[i].clone()))
    }

    /// [`try_next_line`](Self::try_next_line), panicking (with the last log
    /// lines) if no line matches in time.
    pub fn next_line(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> (Instant, String) {
        self.try_next_line(pred, timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// How many lines logged so far satisfy `pred` (reads what has arrived,
    /// does not wait).
    pub fn count(&mut self, pred: impl Fn(&str) -> bool) -> usize {
        self.receive_arrived();
        self.log.iter().filter(|l| pred(l)).count()
    }

    /// Waits until `n` lines of the log satisfy `pred`. Panics (with the last
    /// log lines) if fewer do within `timeout`, or if the process exits first.
    pub fn wait_for_count(&mut self, pred: impl Fn(&str) -> bool, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut count = self.count(&pred);
        while count < n {
            match self.receive(deadline) {
                Ok(i) => count += usize::from(pred(&self.log[i])),
                Err(e) => panic!(
                    "{}: {count} of the {n} expected such log lines; {}",
                    self.name,
                    self.wait_error(e, timeout)
                ),
            }
        }
    }

    /// Reads the log until the process closes its output (it exited), for at
    /// most `timeout`; then [`log`](Self::log) is complete.
    pub fn drain_log(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.receive(deadline).is_ok() {}
    }

    /// Writes `line` and a newline to the process's stdin. Panics if stdin
    /// is not piped ([`Streams::piped_stdin`]) or the write fails.
    pub fn send(&mut self, line: &str) {
        let Some(stdin) = self.stdin.as_mut() else {
            panic!(
                "{}: cannot send {line:?}: stdin is not piped (or was closed)",
                self.name
            )
        };
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            panic!(
                "{}: cannot send {line:?}: {e}; {}",
                self.name,
                self.recent_log()
            );
        }
    }

    /// Closes the process's stdin (end of input), if piped.
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Sends `signal` (`libc::SIGSTOP`, …) to the process. Panics if it
    /// cannot be sent.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) has no memory effects; the pid is our own child,
        // not reaped yet (dropping reaps it), so it is not another process's.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "{}: kill({pid}, {signal}) failed: {}",
            self.name,
            io::Error::last_os_error()
        );
    }

    /// Kills the process (SIGKILL, as `kill -9`) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Err(e) = self.child.kill().and_then(|()| self.child.wait().map(drop)) {
            panic!("{}: cannot kill it: {e}", self.name);
        }
    }

    /// Waits for the process to exit, for at most `timeout`; its status.
    /// Panics (with the last log lines) if it is still running then.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) => {}
                Err(e) => panic!("{}: cannot wait for it: {e}", self.name),
            }
            if Instant::now() >= deadline {
                self.receive_arrived();
                panic!(
                    "{} did not exit within {timeout:?}; {}",
                    self.name,
                    self.recent_log()
                );
            }
            std::thread::sleep(EXIT_POLL);
        }
    }
}

impl std::fmt::Debug for NodeProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeProcess")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("http_port", &self.http_port)
            .field("log_lines", &self.log.len())
            .finish_non_exhaustive()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // SIGKILL ends a stopped (SIGSTOP) process too. Already gone: fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of the first `http://127.0.0.1:PORT` in `line`, if any.
///
/// ```
/// use runtime::testkit::http_port_in;
/// let line = "Running Web.Endpoint at http://127.0.0.1:41234 (http)";
/// assert_eq!(http_port_in(line), Some(41234));
/// assert_eq!(http_port_in("no web server (--no-http)"), None);
/// ```
pub fn http_port_in(line: &str) -> Option<u16> {
    let rest = line.split("http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
