//! GenStage with real actors: ordering, back-pressure, buffering, producer-
//! consumers, consumer supervisors, exits and the book's pipeline.
//!
//! No timing assertions: every wait polls a condition against a deadline, and
//! "slow" stages are gated by semaphores the test opens, so each check holds
//! whatever the scheduler does.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use runtime::gen_stage::{
    Cancel, Consumer, ConsumerOptions, ConsumerRef, ConsumerSupervisor, ConsumerSupervisorOptions,
    Producer, ProducerConsumer, ProducerConsumerOptions, ProducerConsumerRef, ProducerOptions,
    ProducerRef, Source, StageFlow, SubscribeOptions,
};
use runtime::introspect::{self, ChildKind};
use runtime::server::StartError;
use runtime::supervisor::{ChildSpec, Restart, Shutdown, Strategy, Supervisor, SupervisorOptions};
use runtime::{ExitReason, Flow, ProcessError};
use tokio::sync::Semaphore;

use common::{Queue, QueueCmd as Cmd};

const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `condition` until it holds; panics after the deadline.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    runtime::testkit::poll_for(what, DEADLINE, || async { condition().then_some(()) }).await
}

/// Awaits `future`; panics after the deadline.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

// ---------------------------------------------------------------- producers

/// Produces `0..limit` on demand, never more than asked.
struct Counter;

impl Producer for Counter {
    type Args = u64;
    type State = (u64, u64);
    type Event = u64;
    type Cast = ();
    type Info = ();

    async fn init(&self, _: &ProducerRef<Self>, limit: u64) -> Result<(u64, u64), ProcessError> {
        Ok((0, limit))
    }

    async fn handle_demand(
        &self,
        _: &ProducerRef<Self>,
        demand: usize,
        (next, limit): &mut (u64, u64),
    ) -> Result<StageFlow<u64>, ProcessError> {
        let end = (*next + demand as u64).min(*limit);
        let events = (*next..end).collect();
        *next = end;
        Ok(StageFlow::Emit(events))
    }
}

/// Starts a [`Counter`] that produces `0..limit`.
async fn counter(limit: u64) -> ProducerRef<Counter> {
    ProducerRef::start(Counter, limit, ProducerOptions::default())
        .await
        .expect("producer starts")
}

async fn queue(options: ProducerOptions) -> ProducerRef<Queue> {
    ProducerRef::start(Queue, (), options)
        .await
        .expect("producer starts")
}

/// Pushes `events` one `push` at a time, as separate clients of the producer
/// would (not as one batch).
fn push_each(producer: &ProducerRef<Queue>, events: Range<u64>) {
    for event in events {
        producer.push(event).unwrap();
    }
}

// ---------------------------------------------------------------- consumers

/// Collects everything it receives, in order.
struct Collect;

type Seen = Arc<Mutex<Vec<u64>>>;

impl Consumer for Collect {
    type Args = Seen;
    type State = Seen;
    type Event = u64;

    async fn init(&self, _: &ConsumerRef<Self>, seen: Seen) -> Result<Seen, ProcessError> {
        Ok(seen)
    }

    async fn handle_events(
        &self,
        _: &ConsumerRef<Self>,
        events: Vec<u64>,
        seen: &mut Seen,
    ) -> Result<Flow, ProcessError> {
        seen.lock().extend(events);
        Ok(Flow::Continue)
    }
}

async fn collect<S>(source: &S, options: SubscribeOptions) -> (ConsumerRef<Collect>, Seen)
where
    S: Source<u64>,
{
    let seen = Seen::default();
    let consumer = ConsumerRef::start(
        Collect,
        seen.clone(),
        ConsumerOptions::new().subscribe_to(source, options),
    )
    .await
    .expect("consumer starts");
    (consumer, seen)
}

/// What the instrumented consumer measures. It holds a handle to its producer
/// so that it can compare what was sent to it with what it has processed.
struct Probe {
    producer: ProducerRef<Queue>,
    /// One permit per batch: the test decides how fast the consumer goes.
    gate: Semaphore,
    processed: AtomicU64,
    /// Most events ever sent to the consumer and not yet processed by it.
    max_held: AtomicU64,
    max_batch: AtomicUsize,
    seen: Mutex<Vec<u64>>,
}

impl Probe {
    fn new(producer: &ProducerRef<Queue>) -> Arc<Self> {
        Arc::new(Probe {
            producer: producer.clone(),
            gate: Semaphore::new(0),
            processed: AtomicU64::new(0),
            max_held: AtomicU64::new(0),
            max_batch: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Sent to the consumer (counted by the producer before sending) minus processed.
    fn held(&self) -> u64 {
        self.producer.dispatched() - self.processed.load(Ordering::SeqCst)
    }

    fn record_held(&self) {
        self.max_held.fetch_max(self.held(), Ordering::SeqCst);
    }
}

/// A slow consumer that measures how many events it holds.
struct Instrumented;

impl Consumer for Instrumented {
    type Args = Arc<Probe>;
    type State = Arc<Probe>;
    type Event = u64;

    async fn init(
        &self,
        _: &ConsumerRef<Self>,
        probe: Arc<Probe>,
    ) -> Result<Arc<Probe>, ProcessError> {
        Ok(probe)
    }

    async fn handle_events(
        &self,
        _: &ConsumerRef<Self>,
        events: Vec<u64>,
        probe: &mut Arc<Probe>,
    ) -> Result<Flow, ProcessError> {
        probe.record_held();
        probe.max_batch.fetch_max(events.len(), Ordering::SeqCst);
        probe.gate.acquire().await?.forget();
        probe.record_held();
        let n = events.len() as u64;
        probe.seen.lock().extend(events);
        probe.processed.fetch_add(n, Ordering::SeqCst);
        Ok(Flow::Continue)
    }
}

/// Starts an [`Instrumented`] consumer of `producer`; the probe is how the
/// test opens its gate and reads what it measured.
async fn instrumented(
    producer: &ProducerRef<Queue>,
    options: SubscribeOptions,
) -> (ConsumerRef<Instrumented>, Arc<Probe>) {
    let probe = Probe::new(producer);
    let consumer = ConsumerRef::start(
        Instrumented,
        probe.clone(),
        ConsumerOptions::new().subscribe_to(producer, options),
    )
    .await
    .expect("consumer starts");
    (consumer, probe)
}

// ------------------------------------------------------- producer-consumers

/// Turns each `x` into `2x, 2x + 1`: twice as many events out as in.
struct Expand;

impl ProducerConsumer for Expand {
    type Args = ();
    type State = ();
    type In = u64;
    type Out = u64;

    async fn init(&self, _: &ProducerConsumerRef<Self>, _: ()) -> Result<(), ProcessError> {
        Ok(())
    }

    async fn handle_events(
        &self,
        _: &ProducerConsumerRef<Self>,
        events: Vec<u64>,
        _: &mut (),
    ) -> Result<StageFlow<u64>, ProcessError> {
        Ok(StageFlow::emit(
            events.into_iter().flat_map(|x| [2 * x, 2 * x + 1]),
        ))
    }
}

/// Starts an [`Expand`] stage subscribed to `source` (max 10, min 5).
async fn expand<S: Source<u64>>(source: &S) -> ProducerConsumerRef<Expand> {
    ProducerConsumerRef::start(
        Expand,
        (),
        ProducerConsumerOptions::new().subscribe_to(source, SubscribeOptions::new(10, 5)),
    )
    .await
    .expect("producer-consumer starts")
}

// ------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_to_consumer_delivers_everything_in_order() {
    let producer = counter(10_000).await;
    let (_consumer, seen) = collect(&producer, SubscribeOptions::default()).await;
    eventually("10 000 events", || seen.lock().len() == 10_000).await;
    assert_eq!(*seen.lock(), (0..10_000).collect::<Vec<_>>());

    // The same with a tiny demand, so that the consumer asks hundreds of times.
    let producer = counter(1_000).await;
    let (_consumer, seen) = collect(&producer, SubscribeOptions::new(3, 1)).await;
    eventually("1 000 events", || seen.lock().len() == 1_000).await;
    assert_eq!(*seen.lock(), (0..1_000).collect::<Vec<_>>());
    assert_eq!(producer.dispatched(), 1_000);
    assert_eq!(producer.buffered(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushed_and_cast_events_arrive_in_order() {
    let producer = queue(ProducerOptions::default()).await;
    let (_consumer, seen) = collect(&producer, SubscribeOptions::new(10, 5)).await;
    push_each(&producer, 0..50);
    producer.cast(Cmd::Emit((50..80).collect())).unwrap();
    producer.push_all((80..100).collect()).unwrap();
    eventually("100 events", || seen.lock().len() == 100).await;
    assert_eq!(*seen.lock(), (0..100).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_consumers_share_the_events_each_in_order() {
    let producer = counter(5_000).await;
    let mut sinks = Vec::new();
    for _ in 0..3 {
        sinks.push(collect(&producer, SubscribeOptions::new(10, 5)).await);
    }
    let total = || {
        sinks
            .iter()
            .map(|(_, seen)| seen.lock().len())
            .sum::<usize>()
    };
    eventually("5 000 events in all", || total() == 5_000).await;
    let mut all = Vec::new();
    for (_, seen) in &sinks {
        let seen = seen.lock();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "each consumer sees its events in order"
        );
        all.extend(seen.iter().copied());
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..5_000).collect::<Vec<_>>(),
        "every event exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_consumer_never_holds_more_than_max_demand() {
    let producer = queue(ProducerOptions::default()).await;
    let (_consumer, probe) = instrumented(&producer, SubscribeOptions::new(10, 5)).await;

    push_each(&producer, 0..100);
    // The consumer asked for 10 and is stuck on its first batch: the producer
    // sent exactly 10 and buffers the other 90.
    eventually("90 buffered", || {
        producer.buffered() == 90 && producer.dispatched() == 10
    })
    .await;
    assert_eq!(probe.processed.load(Ordering::SeqCst), 0);

    // Let it go one batch at a time for a while, then freely.
    for _ in 0..6 {
        let before = probe.processed.load(Ordering::SeqCst);
        probe.gate.add_permits(1);
        eventually("one more batch", || {
            probe.processed.load(Ordering::SeqCst) > before
        })
        .await;
        assert!(probe.held() <= 10, "held {} > max_demand", probe.held());
    }
    probe.gate.add_permits(1_000);
    eventually("all 100 processed", || probe.seen.lock().len() == 100).await;

    assert_eq!(*probe.seen.lock(), (0..100).collect::<Vec<_>>());
    let max_held = probe.max_held.load(Ordering::SeqCst);
    assert!(
        max_held <= 10,
        "the consumer held {max_held} events, more than max_demand"
    );
    assert!(
        max_held >= 5,
        "the consumer had events queued at some point"
    );
    assert!(
        probe.max_batch.load(Ordering::SeqCst) <= 5,
        "batches are max - min at most"
    );
    assert_eq!(producer.buffered(), 0);
    assert_eq!(producer.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buffer_overflow_drops_the_oldest_and_counts_exactly() {
    // No consumer: everything is buffered, and 15 of 25 do not fit.
    let producer = queue(ProducerOptions::default().buffer_size(10)).await;
    push_each(&producer, 0..25);
    eventually("15 dropped", || producer.dropped() == 15).await;
    assert_eq!(producer.buffered(), 10);

    // A consumer gets the 10 newest, in order; nothing more is dropped.
    let (_consumer, seen) = collect(&producer, SubscribeOptions::new(100, 50)).await;
    eventually("the 10 kept", || seen.lock().len() == 10).await;
    assert_eq!(*seen.lock(), (15..25).collect::<Vec<_>>());
    assert_eq!(producer.buffered(), 0);
    producer.push(99).unwrap();
    eventually("a new event", || seen.lock().len() == 11).await;
    assert_eq!(producer.dropped(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overflow_while_a_consumer_is_busy_keeps_order() {
    let producer = queue(ProducerOptions::default().buffer_size(10)).await;
    let (_consumer, probe) = instrumented(&producer, SubscribeOptions::new(5, 0)).await;
    push_each(&producer, 0..30);
    // 0..5 went to the consumer; of 5..30 the buffer keeps the newest 10.
    eventually("15 dropped", || producer.dropped() == 15).await;
    assert_eq!(producer.buffered(), 10);
    assert_eq!(producer.dispatched(), 5);

    probe.gate.add_permits(1_000);
    eventually("15 delivered", || probe.seen.lock().len() == 15).await;
    let expected: Vec<u64> = (0..5).chain(20..30).collect();
    assert_eq!(*probe.seen.lock(), expected);
    assert!(probe.max_held.load(Ordering::SeqCst) <= 5);
    assert_eq!(producer.dropped(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_consumer_transforms_and_preserves_order() {
    let producer = counter(1_000).await;
    let expand = expand(&producer).await;
    let (_consumer, seen) = collect(&expand, SubscribeOptions::new(7, 3)).await;
    eventually("2 000 events", || seen.lock().len() == 2_000).await;
    assert_eq!(*seen.lock(), (0..2_000).collect::<Vec<_>>());
    assert_eq!(producer.dispatched(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_consumer_passes_demand_back() {
    let producer = queue(ProducerOptions::default()).await;
    let expand = expand(&producer).await;
    push_each(&producer, 0..100);
    // Nobody consumes from `expand`: it takes its first 10 and asks for no more.
    eventually("90 buffered upstream", || producer.buffered() == 90).await;
    assert_eq!(producer.dispatched(), 10);
    assert_eq!(expand.dispatched(), 0);

    let (_consumer, seen) = collect(&expand, SubscribeOptions::new(10, 5)).await;
    eventually("200 events", || seen.lock().len() == 200).await;
    assert_eq!(*seen.lock(), (0..200).collect::<Vec<_>>());
    assert_eq!(producer.buffered(), 0);
    assert_eq!(expand.dispatched(), 200);
}

/// Worker bookkeeping shared with the jobs.
#[derive(Default)]
struct Jobs {
    current: AtomicUsize,
    max_concurrent: AtomicUsize,
    done: Mutex<Vec<u64>>,
    attempts: Mutex<HashMap<u64, u32>>,
}

impl Jobs {
    fn enter(&self, event: u64) -> u32 {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        let mut attempts = self.attempts.lock();
        let n = attempts.entry(event).or_default();
        *n += 1;
        *n
    }

    fn leave(&self, event: u64, ok: bool) {
        if ok {
            self.done.lock().push(event);
        }
        self.current.fetch_sub(1, Ordering::SeqCst);
    }

    fn attempts(&self, event: u64) -> u32 {
        self.attempts.lock().get(&event).copied().unwrap_or(0)
    }

    /// The finished events, sorted: workers finish in any order.
    fn done_sorted(&self) -> Vec<u64> {
        let mut done = self.done.lock().clone();
        done.sort_unstable();
        done
    }
}

/// Consumer-supervisor options whose worker for each event runs `job` with
/// the shared [`Jobs`], so that no test has to clone it into the closure.
fn workers<F, Fut>(jobs: &Arc<Jobs>, job: F) -> ConsumerSupervisorOptions<u64>
where
    F: Fn(Arc<Jobs>, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ProcessError>> + Send + 'static,
{
    let jobs = jobs.clone();
    ConsumerSupervisorOptions::new(move |event| job(jobs.clone(), event))
}

/// Workers that each record their event and then block until `gate` gives
/// them a permit: the test decides when they finish.
fn gated_workers(jobs: &Arc<Jobs>, gate: &Arc<Semaphore>) -> ConsumerSupervisorOptions<u64> {
    let gate = gate.clone();
    workers(jobs, move |jobs, event| {
        let gate = gate.clone();
        async move {
            jobs.enter(event);
            gate.acquire().await?.forget();
            jobs.leave(event, true);
            Ok(())
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_supervisor_runs_at_most_max_demand_workers() {
    let producer = queue(ProducerOptions::default()).await;
    let jobs = Arc::new(Jobs::default());
    let gate = Arc::new(Semaphore::new(0));
    let supervisor = ConsumerSupervisor::start(
        gated_workers(&jobs, &gate)
            .named("gen_stage_test_workers")
            .subscribe_to(&producer, SubscribeOptions::new(10, 5)),
    )
    .await
    .unwrap();

    push_each(&producer, 0..200);
    // Ten workers, all blocked; the rest waits in the producer.
    eventually("10 workers", || {
        supervisor.running() == 10 && jobs.current.load(Ordering::SeqCst) == 10
    })
    .await;
    eventually("190 buffered", || producer.buffered() == 190).await;
    assert_eq!(producer.dispatched(), 10);

    // Introspection lists the running workers under the supervisor.
    let workers: Vec<_> = introspect::processes()
        .into_iter()
        .filter(|p| p.path == "gen_stage_test_workers")
        .collect();
    assert_eq!(workers.len(), 10);
    assert_eq!(supervisor.which_children().unwrap().len(), 10);

    // Release them a few at a time, then all.
    for _ in 0..5 {
        let before = jobs.done.lock().len();
        gate.add_permits(3);
        eventually("progress", || jobs.done.lock().len() >= before + 3).await;
        assert!(supervisor.running() <= 10);
    }
    gate.add_permits(1_000);
    eventually("200 done", || jobs.done.lock().len() == 200).await;
    eventually("no worker left", || supervisor.running() == 0).await;

    let max = jobs.max_concurrent.load(Ordering::SeqCst);
    assert!(max <= 10, "{max} workers ran at once");
    assert_eq!(jobs.done_sorted(), (0..200).collect::<Vec<_>>());

    assert_eq!(
        within(
            "stop",
            supervisor.stop_and_wait(ExitReason::Shutdown, DEADLINE)
        )
        .await,
        ExitReason::Shutdown
    );
    assert!(introspect::processes()
        .iter()
        .all(|p| p.name != "gen_stage_test_workers" && p.path != "gen_stage_test_workers"));
    assert!(
        producer.is_alive(),
        "a consumer's exit does not stop its producer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashed_workers_are_retried_and_successful_ones_are_not() {
    let producer = queue(ProducerOptions::default()).await;
    let jobs = Arc::new(Jobs::default());
    let supervisor = ConsumerSupervisor::start(
        workers(&jobs, |jobs, event| async move {
            let attempt = jobs.enter(event);
            if attempt == 1 && event == 7 {
                jobs.leave(event, false);
                panic!("worker for 7 panics on its first run");
            }
            if attempt == 1 && event % 5 == 0 {
                jobs.leave(event, false);
                return Err(format!("first run of {event} fails").into());
            }
            jobs.leave(event, true);
            Ok(())
        })
        .restart(Restart::Transient)
        .intensity(100, Duration::from_secs(60))
        .subscribe_to(&producer, SubscribeOptions::new(10, 5)),
    )
    .await
    .unwrap();

    push_each(&producer, 0..40);
    eventually("40 done", || jobs.done.lock().len() == 40).await;
    eventually("no worker left", || supervisor.running() == 0).await;
    for event in 0..40 {
        let expected = if event == 7 || event % 5 == 0 { 2 } else { 1 };
        assert_eq!(jobs.attempts(event), expected, "attempts for {event}");
    }
    assert!(supervisor.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn temporary_workers_are_not_retried() {
    let producer = queue(ProducerOptions::default()).await;
    let jobs = Arc::new(Jobs::default());
    let supervisor = ConsumerSupervisor::start(
        workers(&jobs, |jobs, event| async move {
            jobs.enter(event);
            let ok = event % 2 == 0;
            jobs.leave(event, ok);
            if ok {
                Ok(())
            } else {
                Err("odd".into())
            }
        })
        .restart(Restart::Temporary)
        .subscribe_to(&producer, SubscribeOptions::new(4, 2)),
    )
    .await
    .unwrap();
    push_each(&producer, 0..20);
    eventually("all attempted", || (0..20).all(|e| jobs.attempts(e) >= 1)).await;
    eventually("no worker left", || supervisor.running() == 0).await;
    assert!((0..20).all(|e| jobs.attempts(e) == 1));
    assert_eq!(jobs.done.lock().len(), 10);
    assert!(
        supervisor.is_alive(),
        "temporary crashes do not count against the intensity"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_supervisor_fails_past_its_restart_intensity() {
    let producer = queue(ProducerOptions::default()).await;
    let jobs = Arc::new(Jobs::default());
    let supervisor = ConsumerSupervisor::start(
        workers(&jobs, |jobs, event| async move {
            jobs.enter(event);
            jobs.leave(event, false);
            Err::<(), ProcessError>("always fails".into())
        })
        .named("gen_stage_test_doomed")
        .intensity(2, Duration::from_secs(60))
        .subscribe_to(&producer, SubscribeOptions::new(10, 5)),
    )
    .await
    .unwrap();
    let exited = supervisor.monitor();
    producer.push(1).unwrap();
    let reason = within("the supervisor to fail", exited).await;
    assert_eq!(
        reason,
        ExitReason::Error("reached max restart intensity".into())
    );
    assert_eq!(jobs.attempts(1), 3, "the first run and two restarts");
    assert!(introspect::processes()
        .iter()
        .all(|p| p.name != "gen_stage_test_doomed" && p.path != "gen_stage_test_doomed"));
    assert!(producer.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_a_consumer_supervisor_aborts_or_drains_its_workers() {
    for (shutdown, finished) in [(Shutdown::BrutalKill, 0), (Shutdown::Infinity, 4)] {
        let producer = queue(ProducerOptions::default()).await;
        let jobs = Arc::new(Jobs::default());
        let gate = Arc::new(Semaphore::new(0));
        let supervisor = ConsumerSupervisor::start(
            gated_workers(&jobs, &gate)
                .shutdown(shutdown)
                .subscribe_to(&producer, SubscribeOptions::new(4, 2)),
        )
        .await
        .unwrap();
        push_each(&producer, 0..10);
        eventually("4 workers blocked", || {
            jobs.current.load(Ordering::SeqCst) == 4 && producer.buffered() == 6
        })
        .await;

        // The stop is queued before any worker can finish; then the gate opens.
        let exited = supervisor.monitor();
        supervisor.stop(ExitReason::Shutdown);
        if shutdown == Shutdown::BrutalKill {
            assert_eq!(within("stop", exited).await, ExitReason::Shutdown);
            gate.add_permits(100);
        } else {
            gate.add_permits(100);
            assert_eq!(within("stop", exited).await, ExitReason::Shutdown);
        }
        assert_eq!(jobs.done.lock().len(), finished, "{shutdown:?}");
        assert_eq!(supervisor.running(), 0);
        assert!(producer.is_alive());
        assert_eq!(producer.buffered(), 6, "no event was taken after the stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_books_pipeline_processes_every_pushed_event() {
    // Producer: `{:producer, :unused, buffer_size: 10_000}`, registered by name.
    let producer = queue(
        ProducerOptions::default()
            .named("gen_stage_test_book_producer")
            .buffer_size(10_000),
    )
    .await;
    let found = ProducerRef::<Queue>::lookup("gen_stage_test_book_producer")
        .await
        .expect("the producer is registered");

    // ConsumerSupervisor: `subscribe_to: [{Producer, max_demand: 10, min_demand: 5}]`,
    // one transient Task per event.
    let jobs = Arc::new(Jobs::default());
    let supervisor = ConsumerSupervisor::start(
        workers(&jobs, |jobs, item| async move {
            jobs.enter(item);
            tokio::task::yield_now().await;
            jobs.leave(item, true);
            Ok(())
        })
        .restart(Restart::Transient)
        .subscribe_to(&found, SubscribeOptions::new(10, 5)),
    )
    .await
    .unwrap();

    push_each(&producer, 0..200);
    eventually("200 processed", || jobs.done.lock().len() == 200).await;
    eventually("no worker left", || supervisor.running() == 0).await;
    assert_eq!(jobs.done_sorted(), (0..200).collect::<Vec<_>>());
    assert!(jobs.max_concurrent.load(Ordering::SeqCst) <= 10);
    assert_eq!(producer.dropped(), 0);
    assert_eq!(producer.buffered(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumers_exit_with_their_producers_reason() {
    // A normal stop.
    let producer = queue(ProducerOptions::default()).await;
    let (consumer, _) = collect(&producer, SubscribeOptions::new(10, 5)).await;
    let exited = consumer.monitor();
    producer.stop(ExitReason::Normal);
    assert_eq!(within("consumer exit", exited).await, ExitReason::Normal);

    // A crash: consumer, producer-consumer and consumer supervisor all follow.
    let producer = queue(ProducerOptions::default()).await;
    let (consumer, _) = collect(&producer, SubscribeOptions::new(10, 5)).await;
    let expand = expand(&producer).await;
    let (downstream, _) = collect(&expand, SubscribeOptions::new(10, 5)).await;
    let supervisor = ConsumerSupervisor::start(
        ConsumerSupervisorOptions::new(|_: u64| async { Ok(()) })
            .subscribe_to(&producer, SubscribeOptions::new(10, 5)),
    )
    .await
    .unwrap();
    let temporary_seen = Seen::default();
    let temporary = ConsumerRef::start(
        Collect,
        temporary_seen,
        ConsumerOptions::new()
            .named("gen_stage_test_temporary")
            .subscribe_to(
                &producer,
                SubscribeOptions::new(10, 5).cancel(Cancel::Temporary),
            ),
    )
    .await
    .unwrap();

    producer.cast(Cmd::Crash).unwrap();
    let boom = ExitReason::Error("boom".into());
    assert_eq!(within("producer exit", producer.monitor()).await, boom);
    assert_eq!(within("consumer exit", consumer.monitor()).await, boom);
    assert_eq!(
        within("producer-consumer exit", expand.monitor()).await,
        boom
    );
    assert_eq!(
        within("its consumer's exit", downstream.monitor()).await,
        boom
    );
    assert_eq!(within("supervisor exit", supervisor.monitor()).await, boom);

    // The temporary subscriber has handled the cancellation (the lookup goes
    // through its mailbox after it) and is still running.
    assert!(ConsumerRef::<Collect>::lookup("gen_stage_test_temporary")
        .await
        .is_some());
    assert!(temporary.is_alive());

    // A kill.
    let producer = queue(ProducerOptions::default()).await;
    let (consumer, _) = collect(&producer, SubscribeOptions::new(10, 5)).await;
    producer.kill();
    assert_eq!(
        within("consumer exit", consumer.monitor()).await,
        ExitReason::Killed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribing_to_a_dead_producer_fails_to_start() {
    let producer = queue(ProducerOptions::default()).await;
    producer.stop_and_wait(ExitReason::Normal, DEADLINE).await;
    let started = ConsumerRef::start(
        Collect,
        Seen::default(),
        ConsumerOptions::new().subscribe_to(&producer, SubscribeOptions::new(10, 5)),
    )
    .await;
    assert!(started.is_err());

    let bad = ConsumerRef::start(
        Collect,
        Seen::default(),
        ConsumerOptions::new().subscribe_to(&producer, SubscribeOptions::new(5, 5)),
    )
    .await;
    assert!(bad.is_err(), "min_demand must be below max_demand");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_consumer_is_forgotten_by_its_producer() {
    let producer = queue(ProducerOptions::default()).await;
    let (consumer, _) = collect(&producer, SubscribeOptions::new(10, 5)).await;
    assert_eq!(
        consumer.stop_and_wait(ExitReason::Normal, DEADLINE).await,
        ExitReason::Normal
    );
    push_each(&producer, 0..5);
    eventually("5 buffered", || producer.buffered() == 5).await;
    assert_eq!(
        producer.dispatched(),
        0,
        "nothing is sent to a consumer that left"
    );
}

/// A stand-in supervisor that records what happens to its children.
struct Parent;

enum NoMsg {}
impl ractor::Message for NoMsg {}

impl Actor for Parent {
    type Msg = NoMsg;
    type State = Arc<Mutex<Vec<String>>>;
    type Arguments = Arc<Mutex<Vec<String>>>;

    async fn pre_start(
        &self,
        _: ActorRef<NoMsg>,
        events: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(events)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<NoMsg>,
        event: SupervisionEvent,
        events: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, why) => {
                events
                    .lock()
                    .push(format!("{} failed: {why}", cell.get_id()));
            }
            SupervisionEvent::ActorTerminated(cell, _, why) => {
                events.lock().push(format!(
                    "{} terminated: {}",
                    cell.get_id(),
                    why.unwrap_or_default()
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linked_stages_report_their_exits_to_their_supervisor() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let (parent, _) = Actor::spawn(None, Parent, events.clone()).await.unwrap();
    let producer =
        ProducerRef::start_linked(Queue, (), ProducerOptions::default(), parent.get_cell())
            .await
            .unwrap();
    let seen = Seen::default();
    let consumer = ConsumerRef::start_linked(
        Collect,
        seen.clone(),
        ConsumerOptions::new().subscribe_to(&producer, SubscribeOptions::new(10, 5)),
        parent.get_cell(),
    )
    .await
    .unwrap();
    producer.push(1).unwrap();
    eventually("one event", || seen.lock().len() == 1).await;

    producer.cast(Cmd::Crash).unwrap();
    eventually("two exits reported", || events.lock().len() == 2).await;
    let events = events.lock().clone();
    assert!(
        events.contains(&format!("{} failed: boom", producer.id())),
        "{events:?}"
    );
    assert!(
        events.contains(&format!("{} failed: boom", consumer.id())),
        "{events:?}"
    );
    parent.stop(None);
}

/// Looks a producer up by name until it is a different incarnation than `old`.
async fn restarted_producer(name: &str, old: &ProducerRef<Queue>) -> ProducerRef<Queue> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(producer) = ProducerRef::<Queue>::lookup(name).await {
            if producer.id() != old.id() {
                return producer;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {name} to restart"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supervisor_holds_and_restarts_the_books_pipeline() {
    const PRODUCER: &str = "gen_stage_test_supervised_producer";
    let jobs = Arc::new(Jobs::default());
    let producer_spec = ChildSpec::new("producer", |supervisor, name| async move {
        let mut options = ProducerOptions::default();
        options.name = name;
        Ok(ProducerRef::start_linked(Queue, (), options, supervisor)
            .await?
            .actor())
    })
    .named(PRODUCER);
    let j = jobs.clone();
    let workers_spec = ChildSpec::new("workers", move |supervisor, _name| {
        let jobs = j.clone();
        async move {
            // Subscribe by name, as the book does: a restarted consumer supervisor
            // finds the restarted producer.
            let producer = ProducerRef::<Queue>::lookup(PRODUCER)
                .await
                .ok_or_else(|| StartError::InitFailed("no producer".into()))?;
            let options = workers(&jobs, |jobs, item| async move {
                jobs.enter(item);
                jobs.leave(item, true);
                Ok(())
            })
            .subscribe_to(&producer, SubscribeOptions::new(10, 5));
            Ok(ConsumerSupervisor::start_linked(options, supervisor)
                .await?
                .actor())
        }
    })
    .kind(ChildKind::Supervisor);
    let supervisor = Supervisor::start(
        SupervisorOptions::new(Strategy::RestForOne),
        vec![producer_spec, workers_spec],
    )
    .await
    .unwrap();

    let producer = ProducerRef::<Queue>::lookup(PRODUCER).await.unwrap();
    push_each(&producer, 0..50);
    eventually("50 processed", || jobs.done.lock().len() == 50).await;

    // The producer crashes: the supervisor restarts it and the stage after it.
    producer.cast(Cmd::Crash).unwrap();
    let producer = restarted_producer(PRODUCER, &producer).await;
    push_each(&producer, 50..100);
    eventually("100 processed", || jobs.done.lock().len() == 100).await;
    assert_eq!(jobs.done_sorted(), (0..100).collect::<Vec<_>>());
    supervisor.stop().await;
    assert!(!producer.is_alive());
}
