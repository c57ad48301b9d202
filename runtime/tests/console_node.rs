//! The built-in node commands and the release machinery, on one real node in
//! this process (one node per process: everything is in one test). The
//! multi-node behaviour — connect, list, broadcasts, stop — is tested with
//! real OS processes in `channels/tests/cluster_console.rs`.

use std::path::PathBuf;
use std::time::Duration;

use runtime::console::builtins::NO_NODES;
use runtime::console::Outcome;
use runtime::release::{self, NodeArgs, Release, TargetArgs};

async fn out(release: &Release, line: &str) -> Result<String, String> {
    match release.console().run(line).await {
        Ok(Outcome::Output(s)) => Ok(s),
        Ok(Outcome::Quit) => Ok("<quit>".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_node_with_its_console_and_control_socket() {
    let tmp: PathBuf = std::env::temp_dir().join(format!("console-node-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let names = tmp.join("names");
    let args = NodeArgs {
        name: "solo@127.0.0.1".parse().unwrap(),
        cookie: Some("SOLOCOOKIE".into()),
        cookie_dir: Some(tmp.join("cookie")),
        name_dir: Some(names.clone()),
        dist_port: 0,
    };
    let release = Release::start("test_app", &args).await.unwrap();
    let socket = release.control_path().unwrap().to_path_buf();
    assert_eq!(
        socket,
        names.join("control").join("solo@127.0.0.1.sock"),
        "the socket is found from the name"
    );

    // The built-in commands.
    assert_eq!(out(&release, "node.self").await.unwrap(), "solo@127.0.0.1");
    assert_eq!(out(&release, "node.list").await.unwrap(), NO_NODES);
    let names_out = out(&release, "node.names").await.unwrap();
    assert!(names_out.starts_with("solo@127.0.0.1 port "), "{names_out}");
    let err = out(&release, "node.connect ghost@127.0.0.1")
        .await
        .unwrap_err();
    assert!(err.contains("not registered"), "{err}");
    let err = out(&release, "node.connect not-a-name").await.unwrap_err();
    assert!(err.contains("expected name@host"), "{err}");
    let err = out(&release, "node.disconnect ghost@127.0.0.1")
        .await
        .unwrap_err();
    assert_eq!(err, "ghost@127.0.0.1 is not connected");
    let err = out(&release, "node.connect").await.unwrap_err();
    assert_eq!(err, "node.connect: missing NODE\nusage: node.connect NODE");
    let tree = out(&release, "processes").await.unwrap();
    assert!(tree.starts_with("PROCESS"), "{tree}");
    let help = out(&release, "help").await.unwrap();
    for c in [
        "node.connect NODE",
        "node.disconnect NODE",
        "node.list",
        "node.self",
        "node.stop",
        "processes",
        "quit",
    ] {
        assert!(help.contains(c), "{c} missing from help:\n{help}");
    }
    // NODE completes from the name directory (itself excluded) and peers.
    assert!(release
        .console()
        .complete("node.connect s", 14)
        .1
        .is_empty());

    // A client finds the node by name and presents the cookie.
    let target = TargetArgs {
        node: "solo@127.0.0.1".parse().unwrap(),
        cookie: Some("SOLOCOOKIE".into()),
        cookie_dir: None,
        name_dir: Some(names.clone()),
        timeout: 10,
    };
    let response = tokio::task::spawn_blocking({
        let target = target.clone();
        move || release::connect(&target).unwrap().run("node.self").unwrap()
    })
    .await
    .unwrap();
    assert_eq!(response.output, "solo@127.0.0.1");
    let refused = tokio::task::spawn_blocking({
        let mut target = target.clone();
        target.cookie = Some("WRONG".into());
        move || release::connect(&target).unwrap().run("node.self")
    })
    .await
    .unwrap();
    assert!(refused.is_err());

    // node.stop asks for a shutdown; shutting down removes the directory
    // entry and the control socket.
    assert!(!release.console().is_shutting_down());
    assert_eq!(
        out(&release, "node.stop").await.unwrap(),
        "stopping solo@127.0.0.1"
    );
    tokio::time::timeout(
        Duration::from_secs(5),
        release.console().shutdown_requested(),
    )
    .await
    .unwrap();
    release.shutdown().await;
    assert!(!socket.exists());
    assert!(!names.join("solo@127.0.0.1").exists());
    let gone = tokio::task::spawn_blocking(move || release::connect(&target).map(|_| ()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(gone.contains("is not running"), "{gone}");
    let _ = std::fs::remove_dir_all(&tmp);
}
