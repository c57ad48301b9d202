//! The node API within one process: start, the name directory entry, local
//! services, connect errors that need no peer, stop. (Clusters are tested with
//! real processes in `node_cluster.rs`.)

use std::time::Duration;

use runtime::node::{
    ConnectError, CookieError, DirectoryOption, HeartbeatConfig, Node, NodeName, NodeOptions,
    ServiceError, StartError,
};
use runtime::ractor::{Actor, ActorProcessingErr, ActorRef};
use runtime::testkit::TempDir;

struct Idle;
struct Nothing;
impl runtime::ractor::Message for Nothing {}

impl Actor for Idle {
    type Msg = Nothing;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Nothing>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

fn options(tmp: &TempDir, name: &str) -> NodeOptions {
    let mut o = NodeOptions::new(name.parse().unwrap());
    o.cookie = Some("secret".into());
    o.directory = DirectoryOption::At(tmp.path().join("names"));
    o.connect_timeout = Duration::from_secs(2);
    o
}

#[tokio::test]
async fn a_node_starts_registers_its_port_and_stops_cleanly() {
    let tmp = TempDir::new("node-local-lifecycle");
    let node = Node::start(options(&tmp, "solo@127.0.0.1")).await.unwrap();
    let me: NodeName = "solo@127.0.0.1".parse().unwrap();
    assert_eq!(node.self_name(), &me);
    assert!(node.port() > 0);
    assert!(node.list().is_empty());
    let dir = node.directory().unwrap().clone();
    assert_eq!(dir.lookup(&me).unwrap(), Some(node.port()));
    // The port is really ours.
    std::net::TcpStream::connect(("127.0.0.1", node.port())).unwrap();

    node.stop().await;
    assert_eq!(dir.lookup(&me).unwrap(), None);
    assert!(matches!(
        node.connect("other@127.0.0.1:1").await,
        Err(ConnectError::Stopped | ConnectError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn connect_errors_are_precise() {
    let tmp = TempDir::new("node-local-connect-errors");
    let node = Node::start(options(&tmp, "lonely@127.0.0.1"))
        .await
        .unwrap();
    assert!(matches!(
        node.connect("not a name").await,
        Err(ConnectError::InvalidName(_))
    ));
    assert!(matches!(
        node.connect("lonely@127.0.0.1").await,
        Err(ConnectError::SelfConnect(_))
    ));
    let err = node.connect("ghost@127.0.0.1").await.unwrap_err();
    assert!(matches!(err, ConnectError::NotRegistered(_)), "{err}");
    assert!(err.to_string().contains("ghost@127.0.0.1:PORT"), "{err}");
    // A port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let err = node
        .connect(&format!("ghost@127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");
    // Our own port under another name is still ourselves.
    let err = node
        .connect(&format!("twin@127.0.0.1:{}", node.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::SelfConnect(_)), "{err}");
    assert!(node.list().is_empty());
    assert!(node
        .disconnect(&"ghost@127.0.0.1".parse().unwrap())
        .is_err());
    node.stop().await;
}

#[tokio::test]
async fn local_services_come_and_go_with_their_actor() {
    let tmp = TempDir::new("node-local-services");
    let node = Node::start(options(&tmp, "svc@127.0.0.1")).await.unwrap();
    let (actor, handle) = Actor::spawn(None, Idle, ()).await.unwrap();
    node.register_service("db", actor.clone()).unwrap();
    let found = node.whereis_service("db").unwrap();
    assert_eq!(found.node, *node.self_name());
    assert_eq!(found.actor.as_ref().unwrap().get_id(), actor.get_id());
    assert!(found.actor_ref::<Nothing>().is_some());
    assert_eq!(
        node.services(),
        vec![("db".to_string(), node.self_name().clone())]
    );
    let (other, other_handle) = Actor::spawn(None, Idle, ()).await.unwrap();
    assert!(matches!(
        node.register_service("db", other.clone()),
        Err(ServiceError::AlreadyRegistered { .. })
    ));
    assert!(matches!(
        node.register_service("", other.clone()),
        Err(ServiceError::InvalidName(_))
    ));

    // Stopping the actor unregisters it.
    actor.stop(None);
    handle.await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while node.whereis_service("db").is_some() {
        assert!(std::time::Instant::now() < deadline, "db still registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.register_service("db", other.clone()).unwrap();
    node.unregister_service("db").unwrap();
    assert!(node.whereis_service("db").is_none());
    assert!(matches!(
        node.unregister_service("db"),
        Err(ServiceError::NotRegistered(_))
    ));
    other.stop(None);
    other_handle.await.unwrap();
    node.stop().await;
}

#[tokio::test]
async fn bad_options_are_refused_before_anything_starts() {
    let tmp = TempDir::new("node-local-bad-options");
    let mut o = options(&tmp, "bad@127.0.0.1");
    o.heartbeat = HeartbeatConfig {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(1),
    };
    assert!(matches!(
        Node::start(o).await,
        Err(StartError::InvalidOptions(_))
    ));

    // A cookie file others can read is refused, as Erlang does.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let cookie_dir = tmp.path().join("home");
        std::fs::create_dir_all(&cookie_dir).unwrap();
        let file = cookie_dir.join(runtime::node::cookie::COOKIE_FILE_NAME);
        std::fs::write(&file, "LEAKY").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut o = options(&tmp, "bad@127.0.0.1");
        o.cookie = None;
        o.cookie_dir = Some(cookie_dir);
        // (RELEASE_COOKIE / NODE_COOKIE would win over the file.)
        if std::env::var_os("RELEASE_COOKIE").is_none() && std::env::var_os("NODE_COOKIE").is_none()
        {
            let err = Node::start(o).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    StartError::Cookie(CookieError::InsecurePermissions { .. })
                ),
                "{err}"
            );
        }
    }

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = options(&tmp, "bad@127.0.0.1");
    o.port = taken.local_addr().unwrap().port();
    assert!(matches!(
        Node::start(o).await,
        Err(StartError::Listen { .. })
    ));
}
