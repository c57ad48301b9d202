//! `DynamicSupervisor` with real actors: children started on demand, restarted
//! by their policy (checked by actor identity), `max_children`,
//! `terminate_child`, the counts, restart intensity and its escalation to a
//! parent `Supervisor`, and stopping every child when it stops.
//!
//! Tests run in parallel in one process and ractor's registry is global, so
//! every registered name is unique to its test. Nothing waits on timing except
//! bounded polls for an expected state.

mod common;

use std::time::Duration;

use common::{
    count, ids, names, poll, registered, send, worker, worker_handler, Cmd, Journal, Worker,
};
use runtime::introspect::{self, ChildKind};
use runtime::ractor;
use runtime::supervisor::{
    ChildCount, ChildSpec, DynamicSupervisor, Restart, Supervisor, SupervisorError,
    SupervisorOptions,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_start_on_demand_and_only_the_crashed_one_restarts() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    assert_eq!(sup.count_children().unwrap(), ChildCount::default());

    let a = sup.start_child(worker("dyn_a", &log)).await.unwrap();
    let b = sup.start_child(worker("dyn_b", &log)).await.unwrap();
    assert_eq!(registered("dyn_a"), Some(a.get_id()));
    assert_eq!(log.entries(), ["start dyn_a", "start dyn_b"]);

    send("dyn_a", Cmd::Crash);
    let children = poll("dyn_a to restart", || async {
        let children = sup.which_children().unwrap();
        let restarted = children[0].actor_id().is_some_and(|now| now != a.get_id());
        restarted.then_some(children)
    })
    .await;
    assert_eq!(names(&children), ["dyn_a", "dyn_b"]);
    assert_eq!(children[1].actor_id(), Some(b.get_id()));
    assert_eq!(
        children.iter().map(|c| c.restarts).collect::<Vec<_>>(),
        [1, 0]
    );
    assert_eq!(registered("dyn_a"), children[0].actor_id());
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_decide_who_comes_back() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(
        SupervisorOptions::default().intensity(10, Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let temp = sup
        .start_child(worker("pol_temp", &log).restart(Restart::Temporary))
        .await
        .unwrap();
    let trans_normal = sup
        .start_child(worker("pol_trans_n", &log).restart(Restart::Transient))
        .await
        .unwrap();
    let trans_crash = sup
        .start_child(worker("pol_trans_c", &log).restart(Restart::Transient))
        .await
        .unwrap();
    let perm = sup.start_child(worker("pol_perm", &log)).await.unwrap();
    let started = vec![
        Some(temp.get_id()),
        Some(trans_normal.get_id()),
        Some(trans_crash.get_id()),
        Some(perm.get_id()),
    ];
    assert_eq!(ids(&sup.which_children().unwrap()), started);

    send("pol_temp", Cmd::Crash);
    send("pol_trans_n", Cmd::StopNormal);
    send("pol_trans_c", Cmd::Crash);
    send("pol_perm", Cmd::StopNormal);
    let children = poll("the exits to be handled", || async {
        let children = sup.which_children().unwrap();
        let done = children.len() == 2
            && children
                .iter()
                .all(|c| c.actor_id().is_some() && c.restarts == 1);
        done.then_some(children)
    })
    .await;
    // Temporary (crashed) and transient (clean exit) are gone; the others run anew.
    assert_eq!(names(&children), ["pol_trans_c", "pol_perm"]);
    assert!(!started.contains(&children[0].actor_id()));
    assert!(!started.contains(&children[1].actor_id()));
    assert_eq!(registered("pol_temp"), None);
    assert_eq!(registered("pol_trans_n"), None);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_children_is_enforced() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(SupervisorOptions::default().max_children(2))
        .await
        .unwrap();
    let a = sup.start_child(worker("max_a", &log)).await.unwrap();
    sup.start_child(worker("max_b", &log)).await.unwrap();
    assert_eq!(
        sup.start_child(worker("max_c", &log)).await.unwrap_err(),
        SupervisorError::MaxChildren
    );
    // Refused before starting anything.
    assert_eq!(registered("max_c"), None);
    assert_eq!(sup.count_children().unwrap().specs, 2);

    sup.terminate_child(a.get_id()).await.unwrap();
    sup.start_child(worker("max_c", &log)).await.unwrap();
    assert_eq!(names(&sup.which_children().unwrap()), ["max_b", "max_c"]);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_child_stops_and_forgets_it() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let a = sup.start_child(worker("term_a", &log)).await.unwrap();
    let b = sup.start_child(worker("term_b", &log)).await.unwrap();

    sup.terminate_child(a.get_id()).await.unwrap();
    assert_eq!(a.get_status(), ractor::ActorStatus::Stopped);
    assert_eq!(log.entries().last().unwrap(), "stop term_a");
    assert_eq!(registered("term_a"), None);
    let children = sup.which_children().unwrap();
    assert_eq!(ids(&children), [Some(b.get_id())]);

    // Already gone, or never a child: not found.
    assert_eq!(
        sup.terminate_child(a.get_id()).await.unwrap_err(),
        SupervisorError::NotFound(a.get_id().to_string())
    );
    assert!(matches!(
        sup.terminate_child(sup.id()).await,
        Err(SupervisorError::NotFound(_))
    ));
    // The supervisor does not restart a child it terminated.
    assert_eq!(sup.count_children().unwrap(), count(1, 1, 0, 1));
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_fails_to_start_is_not_added() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let bad = Worker {
        fail_init: true,
        ..worker_handler("fail_dyn", &log)
    };
    let result = sup
        .start_child(ChildSpec::gen_server("bad", move || bad.clone(), || ()))
        .await;
    assert!(matches!(result, Err(SupervisorError::StartFailed(why)) if why.contains("fail_dyn")));
    assert_eq!(sup.count_children().unwrap(), ChildCount::default());
    assert!(sup.is_alive());
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_distinguish_supervisors_from_workers() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(SupervisorOptions::default().named("cnt_dyn"))
        .await
        .unwrap();
    sup.start_child(worker("cnt_a", &log)).await.unwrap();
    let nested = sup
        .start_child(DynamicSupervisor::child_spec(
            "nested",
            SupervisorOptions::default().named("cnt_nested"),
        ))
        .await
        .unwrap();
    sup.start_child(worker("cnt_b", &log)).await.unwrap();
    assert_eq!(sup.count_children().unwrap(), count(3, 3, 1, 2));
    let children = sup.which_children().unwrap();
    assert_eq!(
        children.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [ChildKind::Worker, ChildKind::Supervisor, ChildKind::Worker]
    );
    let inner = DynamicSupervisor::lookup("cnt_nested").unwrap();
    assert_eq!(inner.id(), nested.get_id());
    inner.start_child(worker("cnt_inner", &log)).await.unwrap();

    // Introspection descends into the nested dynamic supervisor.
    let tree = introspect::processes();
    let leaf = tree.iter().find(|p| p.name == "cnt_inner").unwrap();
    assert_eq!(leaf.path, "cnt_dyn/nested");
    assert_eq!(leaf.depth, 2);

    sup.stop().await;
    assert!(!inner.is_alive());
    assert_eq!(registered("cnt_inner"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_stops_every_child() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let mut cells = Vec::new();
    for name in ["all_a", "all_b", "all_c"] {
        cells.push(sup.start_child(worker(name, &log)).await.unwrap());
    }
    sup.stop().await;
    assert!(!sup.is_alive());
    for cell in &cells {
        assert_eq!(cell.get_status(), ractor::ActorStatus::Stopped);
    }
    // In parallel, so in no particular order, but every terminate ran.
    let mut stops: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("stop"))
        .collect();
    stops.sort();
    assert_eq!(stops, ["stop all_a", "stop all_b", "stop all_c"]);
    assert_eq!(
        sup.start_child(worker("all_d", &log)).await.unwrap_err(),
        SupervisorError::SupervisorDown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_the_intensity_stops_it() {
    let log = Journal::default();
    let sup = DynamicSupervisor::start(
        SupervisorOptions::default().intensity(1, Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let first = sup.start_child(worker("int_a", &log)).await.unwrap();
    sup.start_child(worker("int_b", &log)).await.unwrap();

    send("int_a", Cmd::Crash);
    poll("int_a to restart", || async {
        registered("int_a").filter(|now| *now != first.get_id())
    })
    .await;
    send("int_a", Cmd::Crash);
    tokio::time::timeout(Duration::from_secs(5), sup.wait())
        .await
        .expect("the supervisor gave up");
    assert!(!sup.is_alive());
    assert_eq!(registered("int_b"), None);
    assert!(log.entries().contains(&"stop int_b".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_supervisor_that_gives_up_is_restarted_empty_by_its_parent() {
    let log = Journal::default();
    let top = Supervisor::start(
        SupervisorOptions::default(),
        vec![DynamicSupervisor::child_spec(
            "dyn",
            SupervisorOptions::default()
                .named("esc_dyn")
                .intensity(0, Duration::from_secs(60)),
        )],
    )
    .await
    .unwrap();
    let dyn_sup = DynamicSupervisor::lookup("esc_dyn").unwrap();
    dyn_sup
        .start_child(worker("esc_dyn_w", &log))
        .await
        .unwrap();

    send("esc_dyn_w", Cmd::Crash);
    let children = poll("the parent to restart the dynamic supervisor", || async {
        let children = top.which_children().unwrap();
        let restarted = children[0]
            .actor_id()
            .is_some_and(|now| now != dyn_sup.id());
        restarted.then_some(children)
    })
    .await;
    assert_eq!(children[0].restarts, 1);
    assert!(!dyn_sup.is_alive());
    let again = DynamicSupervisor::lookup("esc_dyn").unwrap();
    assert_eq!(Some(again.id()), children[0].actor_id());
    assert_eq!(again.count_children().unwrap(), ChildCount::default());
    assert_eq!(registered("esc_dyn_w"), None);
    top.stop().await;
}
