//! The console's REPL in line mode (stdin that is not a terminal) and its
//! control socket, in process: commands run by a local console and by one
//! reached through the socket, the cookie check, completion, the socket's
//! permissions and its removal.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use runtime::console::control::{ClientError, ControlClient, ControlServer, Request};
use runtime::console::repl::{self, Backend, Local, Remote};
use runtime::console::{CommandError, Console, Outcome};
use runtime::node::Cookie;
use runtime::testkit::TempDir;

fn console() -> Console {
    let console = Console::new("test");
    console
        .register(
            "echo",
            "[WORDS...]",
            "prints its arguments",
            |args| async move { Ok(args.all().join(" ")) },
        )
        .register("add", "A B", "adds two integers", |args| async move {
            let a: i64 = args.parse(0, "A")?;
            let b: i64 = args.parse(1, "B")?;
            Ok((a + b).to_string())
        })
        .register("fail", "", "fails", |_| async {
            Err(CommandError::failed("it broke"))
        })
        .register("slow", "", "takes a while", |_| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok("done".to_string())
        });
    console.complete_param(
        "WORDS",
        Arc::new(|| vec!["alpha".to_string(), "beta".to_string()]),
    );
    console
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Starts a control server for `console` on `path`, as a node does: every
/// socket test needs one.
fn serve(
    rt: &tokio::runtime::Runtime,
    path: &Path,
    cookie: &Cookie,
    console: Console,
) -> std::io::Result<ControlServer> {
    rt.block_on(ControlServer::start(path, cookie.clone(), console))
}

/// Runs `script` through `backend` in line mode: (summary, stdout, stderr).
fn drive(backend: &dyn Backend, script: &str) -> (repl::Summary, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let summary = repl::run_lines(backend, Cursor::new(script.to_string()), &mut out, &mut err);
    (
        summary,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

const SCRIPT: &str = "echo hello 'big world'\n\
                      \n\
                      # a comment\n\
                      add 2 40\n\
                      add 2\n\
                      add two 3\n\
                      ecko hi\n\
                      fail\n\
                      slow\n\
                      quit\n\
                      echo never\n";

fn check_script_run(summary: &repl::Summary, out: &str, err: &str) {
    assert_eq!(out, "hello big world\n42\ndone\n");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(
        errors,
        [
            "error: add: missing B",
            "error: add: A \"two\": invalid digit found in string",
            "error: unknown command \"ecko\"; did you mean \"echo\"? (help lists the commands)",
            "error: it broke",
        ],
        "{err}"
    );
    assert!(err.contains("usage: add A B"), "{err}");
    assert_eq!(summary.commands, 8);
    assert_eq!(summary.failures, 4);
    assert!(summary.quit);
    assert!(!summary.success());
}

#[test]
fn line_mode_runs_one_command_per_line() {
    let rt = runtime();
    let backend = Local::new(console(), rt.handle().clone());
    let (summary, out, err) = drive(&backend, SCRIPT);
    check_script_run(&summary, &out, &err);

    // End of input ends the run too; all succeeded.
    let (summary, out, _) = drive(&backend, "echo a\necho b");
    assert_eq!(out, "a\nb\n");
    assert!(summary.success() && !summary.quit);
}

#[test]
fn the_control_socket_runs_the_same_commands() {
    let rt = runtime();
    let tmp = TempDir::new("console-socket");
    let path = tmp.path().join("control").join("a@127.0.0.1.sock");
    let cookie = Cookie::new("RIGHTCOOKIE").unwrap();
    let server = serve(&rt, &path, &cookie, console()).unwrap();

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);

    let timeout = Duration::from_secs(10);
    let client = ControlClient::connect("a@127.0.0.1", &path, cookie.clone(), timeout).unwrap();
    let remote = Remote::new(client);
    let (summary, out, err) = drive(&remote, SCRIPT);
    check_script_run(&summary, &out, &err);

    // Completion is answered by the node's console.
    let mut client = ControlClient::connect("a@127.0.0.1", &path, cookie.clone(), timeout).unwrap();
    assert_eq!(
        client.complete("ec", 2).unwrap(),
        (0, vec!["echo".to_string()])
    );
    assert_eq!(
        client.complete("echo al", 7).unwrap(),
        (5, vec!["alpha".to_string()])
    );
    let r = client.run("add 1 1").unwrap();
    assert!(r.ok);
    assert_eq!(r.output, "2");
    let r = client.run("add 1").unwrap();
    assert!(!r.ok);
    assert_eq!(r.kind.as_deref(), Some("bad_arguments"));

    // A wrong cookie is refused, nothing runs, and the connection is closed.
    let wrong = Cookie::new("WRONGCOOKIE").unwrap();
    let mut intruder = ControlClient::connect("a@127.0.0.1", &path, wrong, timeout).unwrap();
    match intruder.run("echo pwned") {
        Err(ClientError::Refused(msg)) => assert!(msg.contains("wrong cookie"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        intruder.run("echo again"),
        Err(ClientError::Io(_))
    ));
    // A prefix of the cookie is no better.
    let prefix = Cookie::new("RIGHT").unwrap();
    let mut intruder = ControlClient::connect("a@127.0.0.1", &path, prefix, timeout).unwrap();
    assert!(matches!(intruder.run("echo"), Err(ClientError::Refused(_))));

    // A request without a command is a protocol error, not a crash.
    let r = client.request(Request::default()).unwrap();
    assert_eq!(r.kind.as_deref(), Some("protocol"));

    // Stopping removes the socket; a client then finds nobody.
    drop(client);
    drop(server);
    assert!(!path.exists());
    let err = ControlClient::connect("a@127.0.0.1", &path, cookie, timeout).unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err}");
    assert!(err.to_string().contains("is not running"), "{err}");
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_kept() {
    let rt = runtime();
    let tmp = TempDir::new("console-stale");
    let path = tmp.path().join("n@127.0.0.1.sock");
    // A socket file nobody listens on: what a killed node leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let cookie = Cookie::new("C").unwrap();
    let server = serve(&rt, &path, &cookie, console()).unwrap();
    // A second server on the same path is refused while the first runs.
    let err = serve(&rt, &path, &cookie, console()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let mut client =
        ControlClient::connect("n@127.0.0.1", &path, cookie, Duration::from_secs(5)).unwrap();
    assert_eq!(client.run("echo still here").unwrap().output, "still here");
    drop(server);
}

#[test]
fn quit_ends_a_remote_console_without_stopping_anything() {
    let rt = runtime();
    let tmp = TempDir::new("console-quit");
    let path = tmp.path().join("q@127.0.0.1.sock");
    let cookie = Cookie::new("C").unwrap();
    let console = console();
    let _server = serve(&rt, &path, &cookie, console.clone()).unwrap();
    let client =
        ControlClient::connect("q@127.0.0.1", &path, cookie, Duration::from_secs(5)).unwrap();
    let (summary, out, _) = drive(&Remote::new(client), "echo one\nquit\necho two\n");
    assert_eq!(out, "one\n");
    assert!(summary.quit && summary.success());
    assert!(!console.is_shutting_down());
    assert_eq!(
        rt.block_on(console.run("echo alive")),
        Ok(Outcome::Output("alive".into()))
    );
}
