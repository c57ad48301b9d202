//! Async jobs under a task supervisor: results go back to the caller, crashes
//! come back as errors, and a cap refuses work beyond it.

mod common;

use std::time::Duration;

use common::{active, eventually};
use runtime::supervisor::SupervisorOptions;
use runtime::task::{TaskError, TaskSupervisor};
use runtime::ExitReason;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(5);

async fn supervisor(max_children: Option<usize>) -> TaskSupervisor {
    TaskSupervisor::start(SupervisorOptions {
        max_children,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_task_result_goes_back_to_the_caller() {
    let sup = supervisor(None).await;
    let task = sup.async_nolink(async { 6 * 7 }).unwrap();
    assert_eq!(task.join().await, Ok(42));
    assert!(eventually(WAIT, || active(&sup) == 0).await);
}

#[tokio::test]
async fn a_panicking_task_is_an_error_for_its_caller_only() {
    let sup = supervisor(None).await;
    let crashing = sup
        .async_nolink(async {
            panic!("bad request");
        })
        .unwrap();
    let fine = sup.async_nolink(async { "ok" }).unwrap();
    assert_eq!(
        crashing.join().await,
        Err::<(), _>(TaskError::Crashed(ExitReason::Panic("bad request".into())))
    );
    assert_eq!(fine.join().await, Ok("ok"));
}

#[tokio::test]
async fn the_cap_refuses_tasks_beyond_max_children_until_one_finishes() {
    let sup = supervisor(Some(2)).await;
    let (release_a, wait_a) = oneshot::channel::<()>();
    let (release_b, wait_b) = oneshot::channel::<()>();
    let a = sup
        .async_nolink(async move { wait_a.await.is_ok() })
        .unwrap();
    let _b = sup
        .async_nolink(async move { wait_b.await.is_ok() })
        .unwrap();
    assert_eq!(
        sup.async_nolink(async {}).err(),
        Some(TaskError::MaxChildren)
    );
    release_a.send(()).unwrap();
    assert_eq!(a.join().await, Ok(true));
    assert!(eventually(WAIT, || active(&sup) == 1).await);
    sup.async_nolink(async {}).unwrap();
    drop(release_b);
}

#[tokio::test]
async fn join_timeout_gives_up_and_shuts_the_task_down() {
    let sup = supervisor(None).await;
    let task = sup
        .async_nolink(tokio::time::sleep(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(
        task.join_timeout(Duration::from_millis(20)).await,
        Err(TaskError::Timeout(Duration::from_millis(20)))
    );
    assert!(eventually(WAIT, || active(&sup) == 0).await);
}

#[tokio::test]
async fn stopping_the_supervisor_aborts_its_tasks() {
    let sup = supervisor(None).await;
    let task = sup
        .async_nolink(tokio::time::sleep(Duration::from_secs(60)))
        .unwrap();
    sup.stop().await;
    assert_eq!(task.join().await, Err(TaskError::Shutdown));
    assert_eq!(
        sup.async_nolink(async {}).err(),
        Some(TaskError::SupervisorDown)
    );
}

#[tokio::test]
async fn start_child_runs_fire_and_forget_jobs() {
    let sup = supervisor(None).await;
    let (tx, rx) = oneshot::channel();
    sup.start_child(async move {
        let _ = tx.send("done");
    })
    .unwrap();
    assert_eq!(rx.await, Ok("done"));
}
