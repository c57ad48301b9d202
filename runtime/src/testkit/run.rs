//! A client command (`rpc`, `remote`, `stop`, a `start` that must fail) run
//! to completion within a bound.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::EXIT_POLL;

/// What a command run by [`run_bounded`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Run {
    /// stdout then stderr (a node logs to one, a client reports on the other).
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` to completion and captures its exit code, stdout and stderr.
///
/// `stdin`: `Some(text)` is written to a pipe that is then closed (a script
/// for `remote`); `None` is `/dev/null`. Panics if the command cannot start,
/// or if it has not exited within `timeout` (it is killed first; the message
/// shows what it wrote so far).
pub fn run_bounded(mut cmd: Command, stdin: Option<&str>, timeout: Duration) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"));
    let writer = stdin.map(|text| {
        let mut input = child.stdin.take().expect("stdin is piped");
        let text = text.to_string();
        std::thread::spawn(move || {
            // The command may exit without reading it all: not an error here.
            let _ = input.write_all(text.as_bytes());
        })
    });
    let out = read_all(child.stdout.take().expect("stdout is piped"));
    let err = read_all(child.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("{cmd:?}: cannot wait for it: {e}"))
        {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // Bounded: a grandchild could keep the pipes open.
            let grace = Duration::from_secs(2);
            let so_far = |rx: &Receiver<String>| rx.recv_timeout(grace).unwrap_or_default();
            panic!(
                "{cmd:?} did not finish within {timeout:?} (killed); stdout so far:\n{}\nstderr so far:\n{}",
                so_far(&out),
                so_far(&err)
            );
        }
        std::thread::sleep(EXIT_POLL);
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Run {
        code: status.code(),
        stdout: out.recv().unwrap_or_default(),
        stderr: err.recv().unwrap_or_default(),
    }
}

/// Reads `pipe` to its end in a thread; the text arrives on the receiver.
fn read_all(mut pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}
