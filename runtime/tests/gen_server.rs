//! The GenServer behaviour on both backends: every test runs once on a ractor
//! actor and once on a lightweight process, and must see the same behaviour.

mod common;

use std::time::Duration;

use common::{eventually, Counter, CounterCall, CounterCast, CounterInfo, Journal};
use runtime::testkit::poll_for;
use runtime::{
    process, server, CallError, CallFlow, ExitReason, Flow, GenServer, Pid, ProcessError, ReplyTo,
};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Actor,
    Light,
}

const BACKENDS: [Backend; 2] = [Backend::Actor, Backend::Light];

async fn start(backend: Backend, journal: &Journal, start: i64) -> Result<Pid<Counter>, String> {
    let counter = Counter {
        journal: journal.clone(),
    };
    match backend {
        Backend::Actor => server::start(counter, start)
            .await
            .map_err(|e| e.to_string()),
        Backend::Light => process::start(counter, start)
            .await
            .map_err(|e| e.to_string()),
    }
}

#[tokio::test]
async fn call_cast_and_info_reach_the_callbacks_in_order() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 10).await.unwrap();
        pid.cast(CounterCast::Add(5)).unwrap();
        pid.info(CounterInfo::Tick).unwrap();
        assert_eq!(pid.call(CounterCall::Get).await, Ok(16), "{backend:?}");
        assert_eq!(pid.get_state().await, Ok(16), "{backend:?}");
        assert_eq!(pid.inspect(|n| n * 2).await, Ok(32), "{backend:?}");
    }
}

#[tokio::test]
async fn a_call_that_takes_too_long_times_out_instead_of_hanging() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 0).await.unwrap();
        let result = pid
            .call_timeout(
                CounterCall::Sleep(Duration::from_secs(30)),
                Duration::from_millis(50),
            )
            .await;
        assert_eq!(
            result,
            Err(CallError::Timeout(Duration::from_millis(50))),
            "{backend:?}"
        );
        pid.kill();
    }
}

#[tokio::test]
async fn calling_a_dead_process_fails_at_once() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 0).await.unwrap();
        let exited = pid.monitor();
        pid.cast(CounterCast::Stop).unwrap();
        assert_eq!(exited.await, ExitReason::Normal, "{backend:?}");
        assert!(!pid.is_alive(), "{backend:?}");
        assert_eq!(
            pid.call(CounterCall::Get).await,
            Err(CallError::NoProcess),
            "{backend:?}"
        );
        assert!(pid.cast(CounterCast::Add(1)).is_err(), "{backend:?}");
    }
}

#[tokio::test]
async fn a_process_crashing_mid_call_fails_the_call_with_exited() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 0).await.unwrap();
        // The crash is queued before the call, so the call is never answered.
        pid.cast(CounterCast::Crash).unwrap();
        let result = pid.call(CounterCall::Get).await;
        assert!(
            matches!(result, Err(CallError::Exited) | Err(CallError::NoProcess)),
            "{backend:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn stop_with_a_reply_answers_then_stops() {
    for backend in BACKENDS {
        let journal = Journal::default();
        let pid = start(backend, &journal, 3).await.unwrap();
        let exited = pid.monitor();
        assert_eq!(pid.call(CounterCall::StopWith(42)).await, Ok(42));
        assert_eq!(exited.await, ExitReason::Normal);
        assert_eq!(journal.entries(), vec!["init 3", "terminate normal at 3"]);
    }
}

#[tokio::test]
async fn errors_and_panics_crash_only_their_process_and_terminate_still_runs() {
    for backend in BACKENDS {
        for (cast, expected) in [
            (
                CounterCast::Crash,
                ExitReason::Error("crash requested".into()),
            ),
            (
                CounterCast::Panic,
                ExitReason::Panic("panic requested".into()),
            ),
        ] {
            let journal = Journal::default();
            let bystander = start(backend, &Journal::default(), 1).await.unwrap();
            let pid = start(backend, &journal, 7).await.unwrap();
            let exited = pid.monitor();
            pid.cast(cast).unwrap();
            assert_eq!(exited.await, expected, "{backend:?}");
            assert_eq!(
                journal.entries().last().unwrap(),
                &format!("terminate {expected} at 7")
            );
            assert_eq!(bystander.call(CounterCall::Get).await, Ok(1));
        }
    }
}

#[tokio::test]
async fn init_failure_is_returned_to_the_starter() {
    for backend in BACKENDS {
        let err = start(backend, &Journal::default(), -1).await.unwrap_err();
        assert!(err.contains("negative start"), "{backend:?}: {err}");
    }
}

#[tokio::test]
async fn a_killed_process_skips_terminate_and_monitors_see_killed() {
    for backend in BACKENDS {
        let journal = Journal::default();
        let pid = start(backend, &journal, 0).await.unwrap();
        let exited = pid.monitor();
        pid.kill();
        assert_eq!(exited.await, ExitReason::Killed, "{backend:?}");
        assert_eq!(journal.entries(), vec!["init 0"], "{backend:?}");
    }
}

#[tokio::test]
async fn monitoring_a_dead_process_answers_at_once() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 0).await.unwrap();
        pid.stop_and_wait(ExitReason::Shutdown, Duration::from_secs(5))
            .await;
        let reason = pid.monitor().await;
        match backend {
            // A lightweight process remembers why it exited ...
            Backend::Light => assert_eq!(reason, ExitReason::Shutdown),
            // ... a ractor actor is simply gone, as `:noproc` in OTP.
            Backend::Actor => assert_eq!(reason, ExitReason::NoProc),
        }
    }
}

#[tokio::test]
async fn send_after_fires_once_and_can_be_cancelled() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 0).await.unwrap();
        let fired = pid.send_after(CounterInfo::Tick, Duration::from_millis(10));
        let cancelled = pid.send_after(CounterInfo::Tick, Duration::from_secs(60));
        assert!(cancelled.cancel());
        assert!(
            eventually(Duration::from_secs(5), || !fired.is_active()).await,
            "{backend:?}"
        );
        assert_eq!(pid.call(CounterCall::Get).await, Ok(1), "{backend:?}");
        assert!(!fired.cancel(), "a fired timer cannot be cancelled");
    }
}

#[tokio::test]
async fn send_interval_repeats_until_cancelled() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 0).await.unwrap();
        let timer = pid.send_interval(Duration::from_millis(5), || CounterInfo::Tick);
        let mut ticks = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while ticks < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ticks = pid.call(CounterCall::Get).await.unwrap();
        }
        assert!(ticks >= 3, "{backend:?}: only {ticks} ticks");
        assert!(timer.cancel());
        let after_cancel = pid.call(CounterCall::Get).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(pid.call(CounterCall::Get).await.unwrap(), after_cancel);
    }
}

#[tokio::test]
async fn an_interval_ends_when_its_process_exits() {
    for backend in BACKENDS {
        let pid = start(backend, &Journal::default(), 0).await.unwrap();
        let timer = pid.send_interval(Duration::from_millis(5), || CounterInfo::Tick);
        pid.stop_and_wait(ExitReason::Normal, Duration::from_secs(5))
            .await;
        assert!(
            eventually(Duration::from_secs(5), || !timer.is_active()).await,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn stop_and_wait_kills_a_process_that_does_not_stop_in_time() {
    for backend in BACKENDS {
        let journal = Journal::default();
        let pid = start(backend, &journal, 0).await.unwrap();
        // Busy for 30 s: the stop request waits behind the sleeping call.
        let busy = pid.clone();
        tokio::spawn(async move {
            let _ = busy
                .call_timeout(
                    CounterCall::Sleep(Duration::from_secs(30)),
                    Duration::from_secs(60),
                )
                .await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let reason = pid
            .stop_and_wait(ExitReason::Shutdown, Duration::from_millis(50))
            .await;
        assert_eq!(reason, ExitReason::Killed, "{backend:?}");
        assert!(!journal.entries().iter().any(|e| e.starts_with("terminate")));
    }
}

/// A server asked several things with different answers: each request
/// carries its own typed `ReplyTo`.
struct Shelf;

#[derive(Debug)]
enum ShelfCall {
    Count(ReplyTo<usize>),
    Title(usize, ReplyTo<Option<String>>),
    /// Answered later, by the next `Put` (OTP's `{:noreply, …}` + `GenServer.reply`).
    NextPut(ReplyTo<String>),
    /// Dropped unanswered: the caller must not hang.
    Forget(ReplyTo<u32>),
}

#[derive(Debug)]
enum ShelfCast {
    Put(String),
}

#[derive(Default)]
struct ShelfState {
    titles: Vec<String>,
    waiting: Vec<ReplyTo<String>>,
}

impl GenServer for Shelf {
    type Args = ();
    type State = ShelfState;
    type Call = ShelfCall;
    type Reply = ();
    type Cast = ShelfCast;
    type Info = ();

    async fn init(&self, _myself: &Pid<Self>, _args: ()) -> Result<ShelfState, ProcessError> {
        Ok(ShelfState::default())
    }

    async fn handle_call(
        &self,
        _myself: &Pid<Self>,
        request: ShelfCall,
        state: &mut ShelfState,
    ) -> Result<CallFlow<()>, ProcessError> {
        match request {
            ShelfCall::Count(reply) => reply.send(state.titles.len()),
            ShelfCall::Title(i, reply) => reply.send(state.titles.get(i).cloned()),
            ShelfCall::NextPut(reply) => state.waiting.push(reply),
            ShelfCall::Forget(reply) => drop(reply),
        }
        Ok(CallFlow::Reply(()))
    }

    async fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        ShelfCast::Put(title): ShelfCast,
        state: &mut ShelfState,
    ) -> Result<Flow, ProcessError> {
        for waiting in state.waiting.drain(..) {
            waiting.send(title.clone());
        }
        state.titles.push(title);
        Ok(Flow::Continue)
    }
}

async fn start_shelf(backend: Backend) -> Pid<Shelf> {
    match backend {
        Backend::Actor => server::start(Shelf, ()).await.unwrap(),
        Backend::Light => process::start(Shelf, ()).await.unwrap(),
    }
}

#[tokio::test]
async fn a_request_is_answered_with_the_type_its_reply_port_names() {
    for backend in BACKENDS {
        let pid = start_shelf(backend).await;
        pid.cast(ShelfCast::Put("Dune".into())).unwrap();
        let count: usize = pid.request(ShelfCall::Count).await.unwrap();
        assert_eq!(count, 1, "{backend:?}");
        let title = pid.request(|r| ShelfCall::Title(0, r)).await;
        assert_eq!(title, Ok(Some("Dune".to_string())), "{backend:?}");
        assert_eq!(pid.request(|r| ShelfCall::Title(5, r)).await, Ok(None));
    }
}

#[tokio::test]
async fn a_reply_port_can_be_answered_later_and_a_dropped_one_never_hangs() {
    for backend in BACKENDS {
        let pid = start_shelf(backend).await;
        let waiting = {
            let pid = pid.clone();
            tokio::spawn(async move { pid.request(ShelfCall::NextPut).await })
        };
        // The server keeps the port and goes on serving others meanwhile.
        poll_for("the request to be kept", Duration::from_secs(5), || async {
            (pid.inspect(|s| s.waiting.len()).await == Ok(1)).then_some(())
        })
        .await;
        assert_eq!(pid.request(ShelfCall::Count).await, Ok(0), "{backend:?}");
        pid.cast(ShelfCast::Put("Emma".into())).unwrap();
        assert_eq!(
            waiting.await.unwrap(),
            Ok("Emma".to_string()),
            "{backend:?}"
        );

        assert_eq!(
            pid.request(ShelfCall::Forget).await,
            Err(CallError::Exited),
            "{backend:?}"
        );
        assert!(pid.is_alive(), "{backend:?}");
        pid.kill();
        assert_eq!(pid.monitor().await, ExitReason::Killed, "{backend:?}");
        let timeout = Duration::from_millis(20);
        assert_eq!(
            pid.request_timeout(ShelfCall::Count, timeout).await,
            Err(CallError::NoProcess),
            "{backend:?}"
        );
    }
}
