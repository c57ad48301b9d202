//! `Supervisor` with real actors: start and stop order, the three strategies
//! (checked by which children got a new actor id), restart policies, restart
//! intensity and its escalation through a nested supervisor, shutdown timeouts,
//! the child-management calls, and the tree as introspection shows it.
//!
//! Tests run in parallel in one process and ractor's registry is global, so
//! every registered name is unique to its test. Nothing waits on timing except
//! bounded polls for an expected state.

mod common;

use std::time::Duration;

use common::{
    count, ids, poll, registered, restarts, send, spec_of, worker, worker_handler, Cmd, Journal,
    Watcher, Worker,
};
use runtime::introspect::{self, ChildKind};
use runtime::process::ProcessSupervisor;
use runtime::ractor::{self, Actor, ActorId, ActorProcessingErr, ActorRef};
use runtime::server::StartError;
use runtime::supervisor::{
    ChildSpec, ChildStatus, Restart, Shutdown, Strategy, Supervisor, SupervisorError,
    SupervisorOptions,
};

/// Waits until every child runs and `changed` says which ones have a new actor
/// id compared to `before`; returns the new children.
async fn children_after(
    sup: &Supervisor,
    before: &[Option<ActorId>],
    changed: &[bool],
) -> Vec<ChildStatus> {
    poll("the restarted children", || async {
        let now = sup.which_children().unwrap();
        let now_ids = ids(&now);
        let all_running = now_ids.iter().all(Option::is_some);
        let expected = before
            .iter()
            .zip(&now_ids)
            .map(|(old, new)| old != new)
            .eq(changed.iter().copied());
        (all_running && now_ids.len() == before.len() && expected).then_some(now)
    })
    .await
}

/// A plain ractor actor (not a GenServer) that fails on any message.
#[derive(Clone)]
struct Fragile;

struct Boom;
impl ractor::Message for Boom {}

impl Actor for Fragile {
    type Msg = Boom;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Boom>,
        _args: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Boom>,
        _message: Boom,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        Err("boom".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_start_in_order_and_stop_in_reverse_order() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            worker("order_a", &log),
            worker("order_b", &log),
            worker("order_c", &log),
        ],
    )
    .await
    .unwrap();
    // `start` returns once every child's init ran.
    assert_eq!(
        log.entries(),
        ["start order_a", "start order_b", "start order_c"]
    );
    sup.stop().await;
    assert_eq!(
        log.entries(),
        [
            "start order_a",
            "start order_b",
            "start order_c",
            "stop order_c",
            "stop order_b",
            "stop order_a"
        ]
    );
    assert!(!sup.is_alive());
    for name in ["order_a", "order_b", "order_c"] {
        assert_eq!(registered(name), None, "{name} outlived its supervisor");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_crashed_child_under_its_name() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::new(Strategy::OneForOne),
        vec![
            worker("o4o_a", &log),
            worker("o4o_b", &log),
            worker("o4o_c", &log),
        ],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());

    send("o4o_b", Cmd::Crash);
    let after = children_after(&sup, &before, &[false, true, false]).await;
    assert_eq!(restarts(&after), [0, 1, 0]);
    // The new incarnation took over the registered name.
    assert_eq!(registered("o4o_b"), after[1].actor_id());
    assert_eq!(
        log.entries()[3..],
        ["stop o4o_b".to_string(), "start o4o_b".to_string()]
    );
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_child_is_restarted() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![worker("panic_a", &log), worker("panic_b", &log)],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());

    send("panic_a", Cmd::Panic);
    let after = children_after(&sup, &before, &[true, false]).await;
    assert_eq!(restarts(&after), [1, 0]);
    assert_eq!(registered("panic_a"), after[0].actor_id());
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_restarts_every_child_in_order() {
    let log = Journal::default();
    // One restart allowed: the exits of the siblings the supervisor stops itself
    // must not count as crashes, or it would give up.
    let sup = Supervisor::start(
        SupervisorOptions::new(Strategy::OneForAll).intensity(1, Duration::from_secs(5)),
        vec![
            worker("o4a_a", &log),
            worker("o4a_b", &log),
            worker("o4a_c", &log),
        ],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());

    send("o4a_b", Cmd::Crash);
    let after = children_after(&sup, &before, &[true, true, true]).await;
    assert_eq!(restarts(&after), [1, 1, 1]);
    assert_eq!(
        log.entries()[3..],
        [
            // b's own terminate as it crashes, then the others in reverse order,
            // then all of them again in order.
            "stop o4a_b",
            "stop o4a_c",
            "stop o4a_a",
            "start o4a_a",
            "start o4a_b",
            "start o4a_c"
        ]
    );
    assert!(sup.is_alive());
    assert_eq!(ids(&sup.which_children().unwrap()), ids(&after));
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_the_crashed_child_and_those_after_it() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::new(Strategy::RestForOne).intensity(2, Duration::from_secs(60)),
        vec![
            worker("r41_a", &log),
            worker("r41_b", &log),
            worker("r41_c", &log),
            worker("r41_d", &log),
        ],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());

    send("r41_b", Cmd::Crash);
    let after = children_after(&sup, &before, &[false, true, true, true]).await;
    assert_eq!(restarts(&after), [0, 1, 1, 1]);
    assert_eq!(
        log.entries()[4..],
        [
            "stop r41_b",
            "stop r41_d",
            "stop r41_c",
            "start r41_b",
            "start r41_c",
            "start r41_d"
        ]
    );
    assert!(sup.is_alive());

    // The last child has nobody after it: only it restarts.
    send("r41_d", Cmd::Crash);
    let last = children_after(&sup, &ids(&after), &[false, false, false, true]).await;
    assert_eq!(restarts(&last), [0, 1, 1, 2]);
    assert!(sup.is_alive());
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_on_normal_exit() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default().intensity(10, Duration::from_secs(5)),
        vec![
            worker("norm_perm", &log),
            worker("norm_trans", &log).restart(Restart::Transient),
            worker("norm_temp", &log).restart(Restart::Temporary),
        ],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());

    // Permanent: restarted even after a normal exit.
    send("norm_perm", Cmd::StopNormal);
    children_after(&sup, &before, &[true, false, false]).await;

    // Transient: not restarted after a normal exit; its spec stays, not running.
    send("norm_trans", Cmd::StopNormal);
    let children = poll("the transient child to stop", || async {
        let children = sup.which_children().unwrap();
        children[1].actor.is_none().then_some(children)
    })
    .await;
    assert_eq!(children[1].id, "norm_trans");
    assert_eq!(children[1].restarts, 0);

    // Temporary: not restarted, and forgotten.
    send("norm_temp", Cmd::StopNormal);
    let children = poll("the temporary child to be forgotten", || async {
        let children = sup.which_children().unwrap();
        (children.len() == 2).then_some(children)
    })
    .await;
    assert_eq!(
        children.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["norm_perm", "norm_trans"]
    );
    assert_eq!(sup.count_children().unwrap(), count(2, 1, 0, 2));
    assert_eq!(registered("norm_trans"), None);
    assert_eq!(registered("norm_temp"), None);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_on_crash() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default().intensity(10, Duration::from_secs(5)),
        vec![
            worker("crash_perm", &log),
            worker("crash_trans", &log).restart(Restart::Transient),
            worker("crash_temp", &log).restart(Restart::Temporary),
        ],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());

    send("crash_perm", Cmd::Crash);
    let before = ids(&children_after(&sup, &before, &[true, false, false]).await);
    send("crash_trans", Cmd::Crash);
    children_after(&sup, &before, &[false, true, false]).await;

    send("crash_temp", Cmd::Crash);
    let children = poll("the temporary child to be forgotten", || async {
        let children = sup.which_children().unwrap();
        (children.len() == 2).then_some(children)
    })
    .await;
    assert_eq!(restarts(&children), [1, 1]);
    assert_eq!(registered("crash_temp"), None);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_the_intensity_stops_a_top_level_supervisor() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default().intensity(2, Duration::from_secs(60)),
        vec![worker("top_w", &log), worker("top_other", &log)],
    )
    .await
    .unwrap();

    for _ in 0..2 {
        let before = ids(&sup.which_children().unwrap());
        send("top_w", Cmd::Crash);
        children_after(&sup, &before, &[true, false]).await;
    }
    // The third restart within the period is one too many.
    send("top_w", Cmd::Crash);
    tokio::time::timeout(Duration::from_secs(5), sup.wait())
        .await
        .expect("the supervisor gave up");
    assert!(!sup.is_alive());
    assert_eq!(registered("top_w"), None);
    assert_eq!(registered("top_other"), None);
    // The surviving child was stopped (its terminate ran) before the supervisor exited.
    assert_eq!(log.entries().last().unwrap(), "stop top_other");
    assert_eq!(
        sup.which_children().unwrap_err(),
        SupervisorError::SupervisorDown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giving_up_is_an_abnormal_exit_its_parent_sees() {
    let log = Journal::default();
    let events = Journal::default();
    let watcher = Watcher::start(&events).await;
    let sup = Supervisor::start_linked(
        SupervisorOptions::default().intensity(0, Duration::from_secs(60)),
        vec![worker("abn_w", &log)],
        watcher.get_cell(),
    )
    .await
    .unwrap();

    send("abn_w", Cmd::Crash);
    let event = poll("the parent to see the supervisor exit", || async {
        events.entries().first().cloned()
    })
    .await;
    assert_eq!(
        event,
        format!("failed {}: reached max restart intensity", sup.id())
    );
    watcher.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_supervisor_that_gives_up_is_restarted_by_its_parent() {
    let log = Journal::default();
    let top = Supervisor::start(
        SupervisorOptions::default().named("esc_top"),
        vec![
            worker("esc_w0", &log),
            Supervisor::child_spec(
                "mid",
                SupervisorOptions::default()
                    .named("esc_mid")
                    .intensity(1, Duration::from_secs(60)),
                vec![worker("esc_w", &log)],
            ),
        ],
    )
    .await
    .unwrap();
    let before = ids(&top.which_children().unwrap());
    let mid = Supervisor::lookup("esc_mid").unwrap();
    assert_eq!(Some(mid.id()), before[1]);

    // The nested supervisor absorbs one crash ...
    let w = registered("esc_w").unwrap();
    send("esc_w", Cmd::Crash);
    poll("esc_w to restart", || async {
        registered("esc_w").filter(|now| *now != w)
    })
    .await;
    assert_eq!(mid.which_children().unwrap()[0].restarts, 1);

    // ... the second one is too many: it gives up, and its parent restarts it.
    send("esc_w", Cmd::Crash);
    let after = children_after(&top, &before, &[false, true]).await;
    assert_eq!(restarts(&after), [0, 1]);
    assert_eq!(after[1].kind, ChildKind::Supervisor);
    assert!(top.is_alive());
    assert!(!mid.is_alive());

    // The new incarnation runs under the same name with a fresh child.
    let new_mid = Supervisor::lookup("esc_mid").unwrap();
    assert_eq!(Some(new_mid.id()), after[1].actor_id());
    let nested = new_mid.which_children().unwrap();
    assert_eq!(restarts(&nested), [0]);
    assert_eq!(registered("esc_w"), nested[0].actor_id());
    assert_eq!(
        log.entries().iter().filter(|e| *e == "start esc_w").count(),
        3
    );

    top.stop().await;
    assert!(!new_mid.is_alive());
    assert_eq!(registered("esc_w"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_supervisors_stop_depth_first_in_reverse_order() {
    let log = Journal::default();
    let top = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            worker("depth_a", &log),
            Supervisor::child_spec(
                "mid",
                SupervisorOptions::default(),
                vec![worker("depth_b", &log), worker("depth_c", &log)],
            ),
            worker("depth_d", &log),
        ],
    )
    .await
    .unwrap();
    top.stop().await;
    assert_eq!(
        log.entries(),
        [
            "start depth_a",
            "start depth_b",
            "start depth_c",
            "start depth_d",
            "stop depth_d",
            "stop depth_c",
            "stop depth_b",
            "stop depth_a"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_does_not_stop_in_time_is_killed() {
    let log = Journal::default();
    let slow = Worker {
        terminate_delay: Some(Duration::from_secs(60)),
        ..worker_handler("sd_slow", &log)
    };
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            worker("sd_fast", &log),
            spec_of("sd_slow", slow).shutdown(Shutdown::Timeout(Duration::from_millis(300))),
        ],
    )
    .await
    .unwrap();
    let slow_cell = sup.which_children().unwrap()[1].actor.clone().unwrap();

    tokio::time::timeout(Duration::from_secs(5), sup.stop())
        .await
        .expect("the shutdown timeout bounds the stop");
    assert_eq!(slow_cell.get_status(), ractor::ActorStatus::Stopped);
    // Killed before its terminate could finish; the next child still stopped
    // after it. (Whether the kill came before or after terminate began depends
    // on timing, so "stop sd_slow" may or may not be there.)
    let log: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|entry| entry != "stop sd_slow")
        .collect();
    assert_eq!(log, ["start sd_fast", "start sd_slow", "stop sd_fast"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brutal_kill_skips_terminate() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            worker("bk_a", &log),
            worker("bk_b", &log).shutdown(Shutdown::BrutalKill),
        ],
    )
    .await
    .unwrap();
    sup.stop().await;
    assert_eq!(log.entries(), ["start bk_a", "start bk_b", "stop bk_a"]);
    assert_eq!(registered("bk_b"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_failing_to_start_stops_the_others_and_fails_the_start() {
    let log = Journal::default();
    let bad = Worker {
        fail_init: true,
        ..worker_handler("fail_b", &log)
    };
    let result = Supervisor::start(
        SupervisorOptions::default().named("fail_sup"),
        vec![
            worker("fail_a", &log),
            worker("fail_a2", &log),
            spec_of("fail_b", bad),
            worker("fail_c", &log),
        ],
    )
    .await;
    match result {
        Err(StartError::InitFailed(why)) => assert!(why.contains("fail_b"), "{why}"),
        other => panic!("expected a failed start, got {other:?}"),
    }
    assert_eq!(
        log.entries(),
        [
            "start fail_a",
            "start fail_a2",
            "stop fail_a2",
            "stop fail_a"
        ]
    );
    for name in ["fail_sup", "fail_a", "fail_a2", "fail_c"] {
        assert_eq!(registered(name), None, "{name} is still registered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_child_ids_are_refused() {
    let result = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            ChildSpec::gen_server(
                "same",
                || worker_handler("dup_1", &Journal::default()),
                || (),
            ),
            ChildSpec::gen_server(
                "same",
                || worker_handler("dup_2", &Journal::default()),
                || (),
            ),
        ],
    )
    .await;
    assert!(matches!(result, Err(StartError::InitFailed(why)) if why.contains("same")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn which_children_and_count_children() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            worker("wc_a", &log),
            Supervisor::child_spec(
                "wc_mid",
                SupervisorOptions::default(),
                vec![worker("wc_inner", &log)],
            ),
            worker("wc_temp", &log).restart(Restart::Temporary),
        ],
    )
    .await
    .unwrap();
    let children = sup.which_children().unwrap();
    assert_eq!(
        children
            .iter()
            .map(|c| (c.id.as_str(), c.kind, c.restart))
            .collect::<Vec<_>>(),
        [
            ("wc_a", ChildKind::Worker, Restart::Permanent),
            ("wc_mid", ChildKind::Supervisor, Restart::Permanent),
            ("wc_temp", ChildKind::Worker, Restart::Temporary),
        ]
    );
    assert_eq!(children[0].actor_id(), registered("wc_a"));
    assert_eq!(children[2].actor_id(), registered("wc_temp"));
    assert_eq!(sup.count_children().unwrap(), count(3, 3, 1, 2));
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_restart_delete_and_start_child() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            worker("mgmt_a", &log),
            worker("mgmt_b", &log),
            worker("mgmt_temp", &log).restart(Restart::Temporary),
        ],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());

    // terminate_child stops it (terminate runs) and does not restart it.
    sup.terminate_child("mgmt_b").await.unwrap();
    assert_eq!(log.entries().last().unwrap(), "stop mgmt_b");
    assert_eq!(registered("mgmt_b"), None);
    let children = sup.which_children().unwrap();
    assert_eq!(ids(&children), [before[0], None, before[2]]);
    assert_eq!(sup.count_children().unwrap().active, 2);

    // restart_child starts it again under its name; a running child cannot be.
    let b = sup.restart_child("mgmt_b").await.unwrap();
    assert_eq!(registered("mgmt_b"), Some(b.get_id()));
    assert_eq!(
        sup.restart_child("mgmt_b").await.unwrap_err(),
        SupervisorError::Running("mgmt_b".into())
    );

    // delete_child needs the child terminated first.
    assert_eq!(
        sup.delete_child("mgmt_a").await.unwrap_err(),
        SupervisorError::Running("mgmt_a".into())
    );
    sup.terminate_child("mgmt_a").await.unwrap();
    sup.delete_child("mgmt_a").await.unwrap();

    // A terminated temporary child is forgotten at once.
    sup.terminate_child("mgmt_temp").await.unwrap();
    let children = sup.which_children().unwrap();
    assert_eq!(
        children.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["mgmt_b"]
    );

    for missing in ["mgmt_a", "nope"] {
        let not_found = SupervisorError::NotFound(missing.into());
        assert_eq!(sup.terminate_child(missing).await.unwrap_err(), not_found);
        assert_eq!(sup.restart_child(missing).await.unwrap_err(), not_found);
        assert_eq!(sup.delete_child(missing).await.unwrap_err(), not_found);
    }

    // start_child appends a child; ids are unique.
    let c = sup.start_child(worker("mgmt_c", &log)).await.unwrap();
    assert_eq!(registered("mgmt_c"), Some(c.get_id()));
    assert_eq!(
        sup.start_child(worker("mgmt_c", &log)).await.unwrap_err(),
        SupervisorError::AlreadyPresent("mgmt_c".into())
    );
    let failing = Worker {
        fail_init: true,
        ..worker_handler("mgmt_bad", &log)
    };
    assert!(matches!(
        sup.start_child(spec_of("mgmt_bad", failing)).await,
        Err(SupervisorError::StartFailed(_))
    ));
    let children = sup.which_children().unwrap();
    assert_eq!(
        children.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["mgmt_b", "mgmt_c"]
    );
    sup.stop().await;
    assert_eq!(
        log.entries()[log.entries().len() - 2..],
        ["stop mgmt_c".to_string(), "stop mgmt_b".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_ractor_actor_is_supervised_too() {
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![ChildSpec::actor("fragile", Fragile, ()).named("plain_fragile")],
    )
    .await
    .unwrap();
    let before = ids(&sup.which_children().unwrap());
    ActorRef::<Boom>::where_is("plain_fragile")
        .unwrap()
        .send_message(Boom)
        .unwrap();
    let after = children_after(&sup, &before, &[true]).await;
    assert_eq!(registered("plain_fragile"), after[0].actor_id());
    sup.stop().await;
    assert_eq!(registered("plain_fragile"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_shows_the_nested_tree_with_paths_and_restarts() {
    let log = Journal::default();
    let top = Supervisor::start(
        SupervisorOptions::default().named("intro_top"),
        vec![
            worker("intro_w", &log),
            Supervisor::child_spec(
                "mid",
                SupervisorOptions::default().named("intro_mid"),
                vec![worker("intro_leaf", &log)],
            ),
            ProcessSupervisor::child_spec(
                "procs",
                SupervisorOptions::default().named("intro_procs"),
            ),
        ],
    )
    .await
    .unwrap();
    let procs = ProcessSupervisor::lookup("intro_procs").unwrap();
    procs
        .spawn(worker_handler("intro_light", &log), ())
        .unwrap();

    let leaf = registered("intro_leaf").unwrap();
    send("intro_leaf", Cmd::Crash);
    poll("intro_leaf to restart", || async {
        registered("intro_leaf").filter(|now| *now != leaf)
    })
    .await;

    let mine = poll("the tree in introspection", || async {
        let mine: Vec<(String, String, usize, ChildKind, u32)> = introspect::processes()
            .into_iter()
            .filter(|p| p.name == "intro_top" || p.path.starts_with("intro_top"))
            .map(|p| (p.name, p.path, p.depth, p.kind, p.restarts))
            .collect();
        let leaf_restarted = mine
            .iter()
            .any(|(name, _, _, _, restarts)| name == "intro_leaf" && *restarts == 1);
        let light_listed = mine.iter().any(|(_, path, ..)| path == "intro_top/procs");
        (leaf_restarted && light_listed).then_some(mine)
    })
    .await;
    let light = mine
        .iter()
        .find(|(_, path, ..)| path == "intro_top/procs")
        .unwrap()
        .0
        .clone();
    let expected: Vec<(String, String, usize, ChildKind, u32)> = vec![
        ("intro_top".into(), "".into(), 0, ChildKind::Supervisor, 0),
        (
            "intro_w".into(),
            "intro_top".into(),
            1,
            ChildKind::Worker,
            0,
        ),
        (
            "mid".into(),
            "intro_top".into(),
            1,
            ChildKind::Supervisor,
            0,
        ),
        (
            "intro_leaf".into(),
            "intro_top/mid".into(),
            2,
            ChildKind::Worker,
            1,
        ),
        (
            "procs".into(),
            "intro_top".into(),
            1,
            ChildKind::Supervisor,
            0,
        ),
        (light, "intro_top/procs".into(), 2, ChildKind::Worker, 0),
    ];
    assert_eq!(mine, expected);

    top.stop().await;
    assert!(introspect::processes()
        .iter()
        .all(|p| p.name != "intro_top" && !p.path.starts_with("intro_top")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_supervisor_can_be_a_child() {
    let log = Journal::default();
    let sup = Supervisor::start(
        SupervisorOptions::default(),
        vec![ProcessSupervisor::child_spec(
            "procs",
            SupervisorOptions::default().named("ps_child"),
        )],
    )
    .await
    .unwrap();
    let children = sup.which_children().unwrap();
    assert_eq!(children[0].kind, ChildKind::Supervisor);
    let procs = ProcessSupervisor::lookup("ps_child").unwrap();
    assert_eq!(Some(procs.actor().get_id()), children[0].actor_id());
    let pid = procs
        .start_child(worker_handler("ps_light", &log), ())
        .await
        .unwrap();
    sup.stop().await;
    assert!(!pid.is_alive());
    assert_eq!(log.entries(), ["start ps_light", "stop ps_light"]);
}
