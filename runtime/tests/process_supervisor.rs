//! Lightweight processes under their ractor-based parent: restart or clean-up,
//! restart intensity with escalation, isolation, and introspection.

mod common;

use std::time::Duration;

use common::{active, eventually, Counter, CounterCall, CounterCast, Journal, Watcher};
use runtime::process::supervisor::SpawnError;
use runtime::process::{ProcessSpec, ProcessSupervisor};
use runtime::supervisor::{Restart, SupervisorOptions};
use runtime::{introspect, ExitReason, Pid, Registry};

const WAIT: Duration = Duration::from_secs(5);

fn counter(journal: &Journal) -> Counter {
    Counter {
        journal: journal.clone(),
    }
}

/// A counter that registers itself, so a test can find its next incarnation.
fn registered_spec(registry: &Registry, name: &str, restart: Restart) -> ProcessSpec<Named> {
    let registry = registry.clone();
    let name = name.to_string();
    ProcessSpec::new(restart, move || {
        (
            Named {
                registry: registry.clone(),
                name: name.clone(),
            },
            0,
        )
    })
    .named("named counter")
}

struct Named {
    registry: Registry,
    name: String,
}

impl runtime::GenServer for Named {
    type Args = i64;
    type State = i64;
    type Call = ();
    type Reply = i64;
    type Cast = CounterCast;
    type Info = ();

    async fn init(&self, myself: &Pid<Self>, n: i64) -> Result<i64, runtime::ProcessError> {
        self.registry.register(self.name.clone(), myself)?;
        Ok(n)
    }

    async fn handle_call(
        &self,
        _: &Pid<Self>,
        _: (),
        state: &mut i64,
    ) -> Result<runtime::CallFlow<i64>, runtime::ProcessError> {
        Ok(runtime::CallFlow::Reply(*state))
    }

    async fn handle_cast(
        &self,
        _: &Pid<Self>,
        message: CounterCast,
        _: &mut i64,
    ) -> Result<runtime::Flow, runtime::ProcessError> {
        match message {
            CounterCast::Crash => Err("crash".into()),
            CounterCast::Stop => Ok(runtime::Flow::Stop(ExitReason::Normal)),
            _ => Ok(runtime::Flow::Continue),
        }
    }
}

async fn supervisor(max_restarts: u32) -> ProcessSupervisor {
    ProcessSupervisor::start(SupervisorOptions {
        max_restarts,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn next_incarnation(registry: &Registry, name: &str, old: &Pid<Named>) -> Pid<Named> {
    let mut found = None;
    assert!(
        eventually(WAIT, || {
            found = registry.lookup::<Named>(name).filter(|p| p != old);
            found.is_some()
        })
        .await,
        "{name} was not restarted"
    );
    found.unwrap()
}

#[tokio::test]
async fn a_crashed_temporary_child_is_cleaned_up_not_restarted() {
    let sup = supervisor(3).await;
    let journal = Journal::default();
    let pid = sup.spawn(counter(&journal), 1).unwrap();
    assert_eq!(active(&sup), 1);
    let exited = pid.monitor();
    pid.cast(CounterCast::Crash).unwrap();
    assert_eq!(exited.await, ExitReason::Error("crash requested".into()));
    assert!(eventually(WAIT, || active(&sup) == 0).await);
    assert_eq!(
        journal.entries(),
        vec!["init 1", "terminate crash requested at 1"]
    );
}

#[tokio::test]
async fn a_crashed_permanent_child_is_restarted_with_a_new_identity() {
    let sup = supervisor(3).await;
    let registry = Registry::new();
    let first = sup
        .spawn_spec(registered_spec(&registry, "perm", Restart::Permanent))
        .unwrap();
    assert!(eventually(WAIT, || registry.lookup::<Named>("perm").is_some()).await);
    first.cast(CounterCast::Crash).unwrap();
    let second = next_incarnation(&registry, "perm", &first).await;
    assert_ne!(first.id(), second.id());
    assert_eq!(second.call(()).await, Ok(0));
    let children = sup.which_children().unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].restarts, 1);
    assert_eq!(children[0].pid, Some(second.id()));
}

#[tokio::test]
async fn a_transient_child_is_restarted_after_a_crash_but_not_after_a_normal_exit() {
    let sup = supervisor(3).await;
    let registry = Registry::new();
    let first = sup
        .spawn_spec(registered_spec(&registry, "trans", Restart::Transient))
        .unwrap();
    assert!(eventually(WAIT, || registry.lookup::<Named>("trans").is_some()).await);
    first.cast(CounterCast::Crash).unwrap();
    let second = next_incarnation(&registry, "trans", &first).await;

    let exited = second.monitor();
    second.cast(CounterCast::Stop).unwrap();
    assert_eq!(exited.await, ExitReason::Normal);
    assert!(eventually(WAIT, || active(&sup) == 0).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(registry.lookup::<Named>("trans").is_none());
}

#[tokio::test]
async fn a_permanent_child_is_restarted_even_after_a_normal_exit() {
    let sup = supervisor(3).await;
    let registry = Registry::new();
    let first = sup
        .spawn_spec(registered_spec(&registry, "always", Restart::Permanent))
        .unwrap();
    assert!(eventually(WAIT, || registry.lookup::<Named>("always").is_some()).await);
    first.cast(CounterCast::Stop).unwrap();
    next_incarnation(&registry, "always", &first).await;
}

#[tokio::test]
async fn exceeding_restart_intensity_stops_the_children_and_escalates_to_the_parent() {
    let log = Journal::default();
    let parent = Watcher::start(&log).await;
    let sup = ProcessSupervisor::start_linked(
        SupervisorOptions {
            max_restarts: 2,
            max_period: Duration::from_secs(60),
            ..Default::default()
        },
        parent.get_cell(),
    )
    .await
    .unwrap();
    let registry = Registry::new();
    let journal = Journal::default();
    let bystander = sup
        .spawn_spec(ProcessSpec::new(Restart::Permanent, {
            let journal = journal.clone();
            move || (counter(&journal), 100)
        }))
        .unwrap();
    let mut current = sup
        .spawn_spec(registered_spec(&registry, "flaky", Restart::Permanent))
        .unwrap();
    assert!(eventually(WAIT, || registry.lookup::<Named>("flaky").is_some()).await);
    for _ in 0..2 {
        current.cast(CounterCast::Crash).unwrap();
        current = next_incarnation(&registry, "flaky", &current).await;
    }
    // The third crash within the period is one restart too many.
    let bystander_exit = bystander.monitor();
    current.cast(CounterCast::Crash).unwrap();
    assert_eq!(bystander_exit.await, ExitReason::Shutdown);
    assert!(eventually(WAIT, || !log.entries().is_empty()).await);
    assert_eq!(
        log.entries(),
        vec![format!(
            "failed {}: reached max restart intensity",
            sup.id()
        )]
    );
    assert!(matches!(
        sup.spawn(counter(&journal), 1),
        Err(SpawnError::SupervisorDown)
    ));
    parent.stop(None);
}

#[tokio::test]
async fn max_children_refuses_new_children() {
    let sup = ProcessSupervisor::start(SupervisorOptions {
        max_children: Some(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let journal = Journal::default();
    let a = sup.spawn(counter(&journal), 0).unwrap();
    sup.spawn(counter(&journal), 0).unwrap();
    assert_eq!(
        sup.spawn(counter(&journal), 0).unwrap_err(),
        SpawnError::MaxChildren
    );
    a.stop_and_wait(ExitReason::Normal, WAIT).await;
    assert!(eventually(WAIT, || active(&sup) == 1).await);
    sup.spawn(counter(&journal), 0).unwrap();
}

#[tokio::test]
async fn start_child_reports_a_failed_init() {
    let sup = supervisor(3).await;
    let err = sup
        .start_child(counter(&Journal::default()), -5)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SpawnError::InitFailed(ExitReason::Error("negative start".into()))
    );
    assert!(eventually(WAIT, || active(&sup) == 0).await);
}

#[tokio::test]
async fn terminate_child_stops_it_for_good_and_stopping_the_supervisor_stops_the_rest() {
    let sup = supervisor(3).await;
    let journal = Journal::default();
    let a = sup
        .spawn_spec(ProcessSpec::new(Restart::Permanent, {
            let journal = journal.clone();
            move || (counter(&journal), 1)
        }))
        .unwrap();
    let b = sup.start_child(counter(&journal), 2).await.unwrap();
    assert_eq!(a.call(CounterCall::Get).await, Ok(1));
    assert!(sup.terminate_child(a.id()).await);
    assert!(!a.is_alive());
    assert_eq!(active(&sup), 1, "a terminated child is not restarted");
    assert!(!sup.terminate_child(a.id()).await);

    let b_exit = b.monitor();
    sup.stop().await;
    assert_eq!(b_exit.await, ExitReason::Shutdown);
    let entries = journal.entries();
    assert!(entries.contains(&"terminate shutdown at 1".to_string()));
    assert!(entries.contains(&"terminate shutdown at 2".to_string()));
}

#[tokio::test]
async fn one_crash_among_many_processes_leaves_the_others_running() {
    let sup = supervisor(3).await;
    let journal = Journal::default();
    let pids: Vec<Pid<Counter>> = (0..1000)
        .map(|n| sup.spawn(counter(&journal), n).unwrap())
        .collect();
    pids[500].cast(CounterCast::Panic).unwrap();
    assert_eq!(
        pids[500].monitor().await,
        ExitReason::Panic("panic requested".into())
    );
    for (n, pid) in pids.iter().enumerate().filter(|(n, _)| *n != 500) {
        assert_eq!(pid.call(CounterCall::Get).await, Ok(n as i64));
    }
    assert!(eventually(WAIT, || active(&sup) == 999).await);
}

#[tokio::test]
async fn introspection_lists_the_supervisor_and_its_processes() {
    let sup = ProcessSupervisor::start(SupervisorOptions {
        name: Some("introspected_procs".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let registry = Registry::new();
    let pid = sup
        .spawn_spec(registered_spec(&registry, "shown", Restart::Permanent))
        .unwrap();
    assert!(eventually(WAIT, || registry.lookup::<Named>("shown").is_some()).await);
    pid.cast(CounterCast::Crash).unwrap();
    next_incarnation(&registry, "shown", &pid).await;

    let tree = introspect::processes();
    let root = tree
        .iter()
        .position(|p| p.name == "introspected_procs")
        .expect("supervisor listed");
    let child = &tree[root + 1];
    assert_eq!(child.name, "named counter");
    assert_eq!(child.path, "introspected_procs");
    assert_eq!(child.depth, 1);
    assert_eq!(child.restarts, 1);
    assert_eq!(child.queue_len, Some(0));
    assert!(introspect::render(&tree).contains("named counter"));

    sup.stop().await;
    assert!(!introspect::processes()
        .iter()
        .any(|p| p.name == "introspected_procs"));
}

#[tokio::test]
async fn a_supervisor_can_be_found_by_name() {
    let sup = ProcessSupervisor::start(SupervisorOptions {
        name: Some("findable_procs".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let found = ProcessSupervisor::lookup("findable_procs").unwrap();
    found.spawn(counter(&Journal::default()), 0).unwrap();
    assert_eq!(active(&sup), 1);
    assert!(ProcessSupervisor::lookup("no_such_supervisor").is_none());
}
