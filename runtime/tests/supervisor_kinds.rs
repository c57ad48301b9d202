//! What the supervisor core gives every kind alike: the same options, `lookup`
//! by name, `which_children` / `count_children` with the same types, and a
//! `child_spec` of its own to run under a `Supervisor` — for `Supervisor`,
//! `DynamicSupervisor`, `ProcessSupervisor`, `TaskSupervisor`,
//! `ConsumerSupervisor`, and the GenStage stages.
//!
//! Tests run in parallel in one process and ractor's registry is global, so
//! every registered name is unique to its test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{count, poll, registered, worker, Counter, CounterCast, Journal, Queue, QueueCmd};
use runtime::gen_stage::{
    ConsumerSupervisor, ConsumerSupervisorOptions, ProducerOptions, ProducerRef, SubscribeOptions,
};
use runtime::introspect::ChildKind;
use runtime::pid::ProcessId;
use runtime::process::ProcessSupervisor;
use runtime::server::StartError;
use runtime::supervisor::{
    ChildCount, Children, DynamicSupervisor, Restart, Strategy, Supervisor, SupervisorOptions,
    SupervisorRef,
};
use runtime::task::{TaskError, TaskSupervisor};
use tokio::sync::{oneshot, Notify};

const WAIT: Duration = Duration::from_secs(5);

fn named(name: &str) -> SupervisorOptions {
    SupervisorOptions::default().named(name)
}

/// What every kind answers, through one generic function: the same type.
fn counts<T: Children>(supervisor: &SupervisorRef<T>) -> ChildCount {
    supervisor.count_children().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_supervisor_child_spec_runs_under_a_supervisor_and_is_restarted() {
    let root = Supervisor::start(
        SupervisorOptions::default(),
        vec![TaskSupervisor::child_spec(
            "tasks",
            named("kinds_tasks").max_children(1),
        )],
    )
    .await
    .unwrap();
    let children = root.which_children().unwrap();
    assert_eq!(children[0].id, "tasks");
    assert_eq!(children[0].kind, ChildKind::Supervisor);

    // Found by name, the current incarnation, with its options.
    let tasks = TaskSupervisor::lookup("kinds_tasks").expect("the task supervisor runs");
    assert_eq!(Some(tasks.id()), children[0].actor_id());
    assert_eq!(tasks.name(), "kinds_tasks");
    let release = Arc::new(Notify::new());
    let wait = release.clone();
    let running = tasks
        .async_named("held", async move { wait.notified().await })
        .unwrap();
    assert_eq!(
        tasks.async_nolink(async {}).err(),
        Some(TaskError::MaxChildren)
    );
    let rows = tasks.which_children().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, "held");
    assert!(matches!(rows[0].pid, Some(ProcessId::Task(_))));
    assert_eq!(rows[0].restart, Restart::Temporary);
    release.notify_one();
    assert_eq!(running.join().await, Ok(()));

    // A crash of the task supervisor is its parent's business: a new one, same name.
    tasks.actor().kill();
    let again = poll("the task supervisor's restart", || async {
        TaskSupervisor::lookup("kinds_tasks").filter(|now| now.id() != tasks.id())
    })
    .await;
    assert_eq!(root.which_children().unwrap()[0].restarts, 1);
    assert_eq!(
        again.async_nolink(async { 6 * 7 }).unwrap().join().await,
        Ok(42)
    );

    root.stop().await;
    assert!(!again.is_alive());
    assert!(TaskSupervisor::lookup("kinds_tasks").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_finds_each_kind_by_name_and_only_as_its_own_kind() {
    let log = Journal::default();
    let root = Supervisor::start(named("kinds_root"), vec![worker("kinds_w", &log)])
        .await
        .unwrap();
    let dynamic = DynamicSupervisor::start(named("kinds_dynamic"))
        .await
        .unwrap();
    let processes = ProcessSupervisor::start(named("kinds_processes"))
        .await
        .unwrap();
    let tasks = TaskSupervisor::start(named("kinds_lookup_tasks"))
        .await
        .unwrap();

    assert_eq!(Supervisor::lookup("kinds_root").unwrap().id(), root.id());
    assert_eq!(
        DynamicSupervisor::lookup("kinds_dynamic").unwrap().id(),
        dynamic.id()
    );
    assert_eq!(
        ProcessSupervisor::lookup("kinds_processes").unwrap().id(),
        processes.id()
    );
    assert_eq!(
        TaskSupervisor::lookup("kinds_lookup_tasks").unwrap().id(),
        tasks.id()
    );
    // A name held by another kind, or by a plain worker, or by nobody: nothing.
    assert!(Supervisor::lookup("kinds_dynamic").is_none());
    assert!(DynamicSupervisor::lookup("kinds_processes").is_none());
    assert!(ProcessSupervisor::lookup("kinds_lookup_tasks").is_none());
    assert!(TaskSupervisor::lookup("kinds_root").is_none());
    assert!(Supervisor::lookup("kinds_w").is_none());
    assert!(registered("kinds_w").is_some());
    assert!(ProcessSupervisor::lookup("kinds_nobody").is_none());
    // The default name says the kind.
    let unnamed = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    assert_eq!(
        unnamed.name(),
        format!("ProcessSupervisor {}", unnamed.id())
    );
    assert_eq!(
        format!("{dynamic:?}"),
        format!("DynamicSupervisor({})", dynamic.id())
    );

    root.stop().await;
    dynamic.stop().await;
    processes.stop().await;
    tasks.stop().await;
    unnamed.stop().await;
    assert!(Supervisor::lookup("kinds_root").is_none());
    assert!(ProcessSupervisor::lookup("kinds_processes").is_none());
    assert_eq!(
        processes.count_children().unwrap_err(),
        runtime::supervisor::SupervisorError::SupervisorDown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_children_is_one_type_for_every_kind() {
    let log = Journal::default();
    let root = Supervisor::start(
        SupervisorOptions::default(),
        vec![
            worker("kinds_count_a", &log),
            DynamicSupervisor::child_spec("nested", named("kinds_count_nested")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(counts(&root), count(2, 2, 1, 1));

    let nested = DynamicSupervisor::lookup("kinds_count_nested").unwrap();
    nested
        .start_child(worker("kinds_count_b", &log))
        .await
        .unwrap();
    assert_eq!(counts(&nested), ChildCount::workers(1));

    let processes = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let journal = Journal::default();
    for n in 0..3 {
        processes
            .spawn(
                Counter {
                    journal: journal.clone(),
                },
                n,
            )
            .unwrap();
    }
    assert_eq!(counts(&processes), ChildCount::workers(3));
    let rows = processes.which_children().unwrap();
    assert!(rows
        .iter()
        .all(|row| matches!(row.pid, Some(ProcessId::Light(_))) && row.queue_len.is_some()));

    let tasks = TaskSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let (release, held) = oneshot::channel::<()>();
    let task = tasks
        .async_nolink(async move { held.await.is_ok() })
        .unwrap();
    assert_eq!(counts(&tasks), ChildCount::workers(1));
    release.send(()).unwrap();
    assert_eq!(task.join().await, Ok(true));

    // A consumer supervisor answers with the same type, a worker per event.
    let producer = ProducerRef::start(Queue, (), ProducerOptions::default())
        .await
        .unwrap();
    let gate = Arc::new(Notify::new());
    let open = gate.clone();
    let workers = ConsumerSupervisor::start(
        ConsumerSupervisorOptions::new(move |_: u64| {
            let open = open.clone();
            async move {
                open.notified().await;
                Ok(())
            }
        })
        .subscribe_to(&producer, SubscribeOptions::new(10, 5)),
    )
    .await
    .unwrap();
    producer.push_all(vec![1, 2]).unwrap();
    let count: ChildCount = poll("two workers", || async {
        workers
            .count_children()
            .ok()
            .filter(|count| count.active == 2)
    })
    .await;
    assert_eq!(count, ChildCount::workers(2));
    assert_eq!(workers.which_children().unwrap().len(), 2);
    gate.notify_waiters();

    root.stop().await;
    processes.stop().await;
    tasks.stop().await;
    workers.kill();
    producer.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_a_kind_cannot_honour_are_refused() {
    let refused = |result: Result<(), StartError>, what: &str| match result {
        Err(StartError::InitFailed(why)) => assert!(why.contains(what), "{why}"),
        other => panic!("expected a refusal naming {what}, got {other:?}"),
    };
    let limited = SupervisorOptions::default().max_children(3);
    refused(
        Supervisor::start(limited, vec![]).await.map(drop),
        "max_children",
    );
    let one_for_all = SupervisorOptions::new(Strategy::OneForAll);
    refused(
        DynamicSupervisor::start(one_for_all.clone())
            .await
            .map(drop),
        "one_for_one",
    );
    refused(
        ProcessSupervisor::start(one_for_all.clone())
            .await
            .map(drop),
        "one_for_one",
    );
    refused(
        TaskSupervisor::start(one_for_all).await.map(drop),
        "one_for_one",
    );
    let per_event = ConsumerSupervisorOptions::new(|_: u64| async { Ok(()) })
        .supervisor(SupervisorOptions::default().max_children(3));
    refused(
        ConsumerSupervisor::start(per_event).await.map(drop),
        "max_demand",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_and_consumer_supervisors_make_their_own_child_specs() {
    const PRODUCER: &str = "kinds_queue";
    let done = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let producer_spec = ProducerRef::child_spec(
        "queue",
        || Queue,
        || (),
        ProducerOptions::default().named(PRODUCER),
    );
    let root = Supervisor::start(
        SupervisorOptions::new(Strategy::OneForOne),
        vec![producer_spec],
    )
    .await
    .unwrap();
    let producer = ProducerRef::<Queue>::lookup(PRODUCER).await.unwrap();
    let seen = done.clone();
    let workers = ConsumerSupervisorOptions::new(move |event: u64| {
        let seen = seen.clone();
        async move {
            seen.lock().push(event);
            Ok(())
        }
    })
    .named("kinds_workers")
    .subscribe_to(&producer, SubscribeOptions::new(10, 5));
    root.start_child(ConsumerSupervisor::child_spec("workers", workers))
        .await
        .unwrap();
    let children = root.which_children().unwrap();
    assert_eq!(
        children
            .iter()
            .map(|c| (c.id.as_str(), c.kind))
            .collect::<Vec<_>>(),
        [
            ("queue", ChildKind::Worker),
            ("workers", ChildKind::Supervisor)
        ]
    );
    let found = ConsumerSupervisor::<u64>::lookup("kinds_workers")
        .await
        .expect("the consumer supervisor is registered");
    assert_eq!(Some(found.id()), children[1].actor_id());

    producer.push_all(vec![1, 2, 3]).unwrap();
    poll("three events handled", || async {
        (done.lock().len() == 3).then_some(())
    })
    .await;

    // Without its consumers (which would exit with it), the producer crashes:
    // its spec starts a new one under the same name.
    root.terminate_child("workers").await.unwrap();
    assert!(!found.is_alive());
    producer.cast(QueueCmd::Crash).unwrap();
    let again = poll("the producer's restart", || async {
        ProducerRef::<Queue>::lookup(PRODUCER)
            .await
            .filter(|now| now.id() != producer.id())
    })
    .await;
    assert_eq!(root.which_children().unwrap()[0].restarts, 1);
    assert!(again.is_alive());
    root.stop().await;
    assert!(!again.is_alive());
}

#[tokio::test]
async fn a_killed_process_supervisor_takes_its_processes_with_it() {
    // The core's `Registration` kills what is left when a supervisor goes:
    // a process supervisor that is killed takes its children with it.
    let processes = ProcessSupervisor::start(SupervisorOptions::default())
        .await
        .unwrap();
    let journal = Journal::default();
    let pid = processes
        .spawn(
            Counter {
                journal: journal.clone(),
            },
            1,
        )
        .unwrap();
    let exited = pid.monitor();
    processes.actor().kill();
    assert_eq!(
        tokio::time::timeout(WAIT, exited).await.unwrap(),
        runtime::ExitReason::Killed
    );
    assert!(pid.cast(CounterCast::Add(1)).is_err());
}
