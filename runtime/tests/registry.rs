//! Unique local names that disappear with their process.

mod common;

use std::time::Duration;

use common::{eventually, Counter, CounterCall, CounterCast, Idle, Journal};
use runtime::{process, server, ExitReason, Registry};

const WAIT: Duration = Duration::from_secs(5);

fn counter() -> Counter {
    Counter {
        journal: Journal::default(),
    }
}

#[tokio::test]
async fn a_name_finds_its_process_until_the_process_exits() {
    let registry = Registry::new();
    let pid = process::spawn(counter(), 7);
    registry.register("counter", &pid).unwrap();
    let found = registry.lookup::<Counter>("counter").unwrap();
    assert_eq!(found.call(CounterCall::Get).await, Ok(7));
    assert_eq!(registry.whereis("counter"), Some(pid.id()));
    assert_eq!(registry.names(), vec!["counter".to_string()]);

    pid.cast(CounterCast::Crash).unwrap();
    assert!(eventually(WAIT, || registry.lookup::<Counter>("counter").is_none()).await);
    assert!(eventually(WAIT, || registry.names().is_empty()).await);
}

#[tokio::test]
async fn names_are_unique_among_live_processes() {
    let registry = Registry::new();
    let first = server::start(counter(), 1).await.unwrap();
    let second = process::spawn(counter(), 2);
    registry.register("only", &first).unwrap();
    let err = registry.register("only", &second).unwrap_err();
    assert_eq!(err.holder, first.id());
    // Registering the holder again is harmless.
    registry.register("only", &first).unwrap();

    first.stop_and_wait(ExitReason::Normal, WAIT).await;
    // The name is free as soon as its holder is dead.
    registry.register("only", &second).unwrap();
    assert_eq!(registry.lookup::<Counter>("only"), Some(second));
}

#[tokio::test]
async fn lookup_with_the_wrong_type_finds_nothing() {
    let registry = Registry::new();
    registry
        .register("typed", &process::spawn(counter(), 0))
        .unwrap();
    assert!(registry.lookup::<Idle>("typed").is_none());
    assert!(registry.lookup::<Counter>("typed").is_some());
}

#[tokio::test]
async fn unregister_frees_the_name_and_a_late_exit_does_not_remove_a_new_holder() {
    let registry = Registry::new();
    let old = process::spawn(counter(), 0);
    registry.register("slot", &old).unwrap();
    assert!(registry.unregister("slot"));
    assert!(!registry.unregister("slot"));
    let new = process::spawn(counter(), 1);
    registry.register("slot", &new).unwrap();
    old.stop_and_wait(ExitReason::Normal, WAIT).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(registry.whereis("slot"), Some(new.id()));
}
