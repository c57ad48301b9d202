//! Messaging benchmarks: cast throughput, call round trip, spawn + stop, and
//! supervisor restart latency, each for plain ractor, our GenServer on the ractor
//! backend and our lightweight process.
//!
//! Run with `cargo bench -p runtime --bench messaging`; the figures and how they
//! compare with the BEAM are in `runtime/benches/RESULTS.md`.
//!
//! Every benchmark uses `iter_custom` on one multi-thread tokio runtime (one
//! worker per core); the measuring loop runs as a task on the runtime, as an
//! actor would, and the clock covers exactly the messages of an iteration.
//! `BENCH_CLOCK=cpu` swaps the wall clock for the CPU time of all the process's
//! threads (criterion still labels it "time"): on a shared, loaded machine that
//! is the steadier figure for comparing the cost of the backends.
//!
//!
//! - `cast_pingpong/*`: two actors bounce one message `iters` times; one element
//!   is one message (one hop), as in the BEAM's ping-pong figure.
//! - `cast_stream/*`: the bench task casts `iters` messages to one actor, then
//!   waits for a call queued behind them, so every cast has been handled.
//! - `call_roundtrip/*`: sequential calls from the bench task, one reply each.
//! - `spawn_stop/*`: spawn a process, stop it, wait until it is gone.
//! - `supervisor_restart/*`: crash a permanent child, wait for its replacement
//!   to answer a call: a lightweight process under a `ProcessSupervisor`, and a
//!   GenServer-on-ractor child under the OTP `Supervisor`.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use runtime::process::{ProcessSpec, ProcessSupervisor};
use runtime::supervisor::{ChildSpec, Restart, Strategy, Supervisor, SupervisorOptions};
use runtime::{CallFlow, ExitReason, Flow, GenServer, Pid, ProcessError};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, Notify};

#[path = "../tests/common/idle.rs"]
mod idle;
mod support;
use idle::Idle;
use support::{process_cpu_time, tokio_runtime};

/// What the benches measure: wall-clock time (the default), or, with
/// `BENCH_CLOCK=cpu`, the CPU time all of the process's threads spent — far
/// less sensitive to other load on a shared machine, and the right figure for
/// "how much work does one message cost".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Clock {
    Wall,
    Cpu,
}

fn clock() -> Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    *CLOCK.get_or_init(|| match std::env::var("BENCH_CLOCK").as_deref() {
        Ok("cpu") => Clock::Cpu,
        _ => Clock::Wall,
    })
}

/// A reading of the bench clock.
enum Stamp {
    Wall(Instant),
    Cpu(Duration),
}

impl Stamp {
    fn now() -> Stamp {
        match clock() {
            Clock::Wall => Stamp::Wall(Instant::now()),
            Clock::Cpu => Stamp::Cpu(process_cpu_time()),
        }
    }

    fn elapsed(&self) -> Duration {
        match self {
            Stamp::Wall(start) => start.elapsed(),
            Stamp::Cpu(start) => process_cpu_time().saturating_sub(*start),
        }
    }
}

/// Runs a measuring future as a task on the runtime's workers — the caller is
/// then a task like an actor, not the bench's own thread — and returns the
/// time it measured.
fn time_on<F>(rt: &Runtime, measure: F) -> Duration
where
    F: Future<Output = Duration> + Send + 'static,
{
    rt.block_on(async { tokio::spawn(measure).await.expect("measuring task") })
}

/// One benchmark of `group` in the shape they all share: for each sample,
/// `sample(iters)` prepares the work (clones and the like, not timed) and the
/// bench clock covers exactly its run, as a task on `rt`.
fn bench_timed<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    id: impl Into<String>,
    sample: F,
) where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    group.bench_function(id.into(), |bench| {
        bench.iter_custom(|iters| {
            let work = sample(iters);
            time_on(rt, async move {
                let start = Stamp::now();
                work.await;
                start.elapsed()
            })
        })
    });
}

// ---------------------------------------------------------------------------
// Plain ractor: the baseline.
// ---------------------------------------------------------------------------

enum RactorMsg {
    /// Ping-pong: pass the ball to the peer until it reaches zero.
    Ball(u64),
    /// Ping-pong: who to pass the ball to.
    SetPeer(ActorRef<RactorMsg>),
    /// Stream: one message to count.
    Count,
    /// A call that answers once everything before it has been handled.
    Sync(RpcReplyPort<u64>),
}
impl ractor::Message for RactorMsg {}

struct RactorBench {
    done: Arc<Notify>,
}

struct RactorState {
    peer: Option<ActorRef<RactorMsg>>,
    count: u64,
}

impl Actor for RactorBench {
    type Msg = RactorMsg;
    type State = RactorState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<RactorMsg>,
        _args: (),
    ) -> Result<RactorState, ActorProcessingErr> {
        Ok(RactorState {
            peer: None,
            count: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<RactorMsg>,
        message: RactorMsg,
        state: &mut RactorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RactorMsg::Ball(0) => self.done.notify_one(),
            RactorMsg::Ball(n) => {
                if let Some(peer) = &state.peer {
                    peer.cast(RactorMsg::Ball(n - 1))?;
                }
            }
            RactorMsg::SetPeer(peer) => state.peer = Some(peer),
            RactorMsg::Count => state.count += 1,
            RactorMsg::Sync(reply) => {
                let _ = reply.send(state.count);
            }
        }
        Ok(())
    }
}

async fn ractor_actor(done: &Arc<Notify>) -> ActorRef<RactorMsg> {
    let (actor, _) = Actor::spawn(None, RactorBench { done: done.clone() }, ())
        .await
        .expect("spawn ractor actor");
    actor
}

// ---------------------------------------------------------------------------
// Our GenServer: the same behaviour, run on either backend.
// ---------------------------------------------------------------------------

struct Bench {
    done: Arc<Notify>,
}

enum BenchCast {
    Ball(u64),
    SetPeer(Pid<Bench>),
    Count,
}

#[derive(Default)]
struct BenchState {
    peer: Option<Pid<Bench>>,
    count: u64,
}

impl GenServer for Bench {
    type Args = ();
    type State = BenchState;
    type Call = ();
    type Reply = u64;
    type Cast = BenchCast;
    type Info = ();

    async fn init(&self, _myself: &Pid<Self>, _args: ()) -> Result<BenchState, ProcessError> {
        Ok(BenchState::default())
    }

    async fn handle_call(
        &self,
        _myself: &Pid<Self>,
        _request: (),
        state: &mut BenchState,
    ) -> Result<CallFlow<u64>, ProcessError> {
        Ok(CallFlow::Reply(state.count))
    }

    async fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        message: BenchCast,
        state: &mut BenchState,
    ) -> Result<Flow, ProcessError> {
        match message {
            BenchCast::Ball(0) => self.done.notify_one(),
            BenchCast::Ball(n) => {
                if let Some(peer) = &state.peer {
                    peer.cast(BenchCast::Ball(n - 1))?;
                }
            }
            BenchCast::SetPeer(peer) => state.peer = Some(peer),
            BenchCast::Count => state.count += 1,
        }
        Ok(Flow::Continue)
    }
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    /// `runtime::server::start`: a ractor actor hosting the GenServer.
    GenServerRactor,
    /// `runtime::process::spawn`: a lightweight process.
    Process,
}

impl Backend {
    const ALL: [Backend; 2] = [Backend::GenServerRactor, Backend::Process];

    fn name(self) -> &'static str {
        match self {
            Backend::GenServerRactor => "gen_server_ractor",
            Backend::Process => "process",
        }
    }

    async fn start(self, done: &Arc<Notify>) -> Pid<Bench> {
        let handler = Bench { done: done.clone() };
        match self {
            Backend::GenServerRactor => runtime::server::start(handler, ())
                .await
                .expect("start gen_server"),
            Backend::Process => runtime::process::start(handler, ())
                .await
                .expect("start process"),
        }
    }
}

/// The messages the cast and call benches send, for a plain ractor actor and
/// for our GenServer alike: each bench is written once, and every kind of
/// actor runs exactly the same steps.
trait Target: Clone + Send + Sync + 'static {
    /// Ping-pong: whom to pass the ball to.
    fn set_peer(&self, peer: &Self);
    /// Ping-pong: a ball that is to be passed `hops` more times.
    fn serve(&self, hops: u64);
    /// Stream: one message to count.
    fn count(&self);
    /// A call that answers once everything before it has been handled.
    fn sync(&self) -> impl Future<Output = ()> + Send;
}

/// The casts read alike for both kinds of actor: only their message type
/// differs.
macro_rules! target_casts {
    ($msg:ident) => {
        fn set_peer(&self, peer: &Self) {
            self.cast($msg::SetPeer(peer.clone())).unwrap();
        }
        fn serve(&self, hops: u64) {
            self.cast($msg::Ball(hops)).unwrap();
        }
        fn count(&self) {
            self.cast($msg::Count).unwrap();
        }
    };
}

impl Target for ActorRef<RactorMsg> {
    target_casts!(RactorMsg);

    async fn sync(&self) {
        ractor::call!(self, RactorMsg::Sync).unwrap();
    }
}

impl Target for Pid<Bench> {
    target_casts!(BenchCast);

    async fn sync(&self) {
        self.call(()).await.unwrap();
    }
}

// ---------------------------------------------------------------------------
// Cast throughput.
// ---------------------------------------------------------------------------

/// Makes `a` and `b` each other's ping-pong peer.
fn peers<T: Target>(a: T, b: T) -> (T, T) {
    a.set_peer(&b);
    b.set_peer(&a);
    (a, b)
}

/// `a` serves a ball that bounces `iters` times between it and its peer; the
/// last hop notifies `done`.
fn bench_pingpong<T: Target>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    id: impl Into<String>,
    a: &T,
    done: &Arc<Notify>,
) {
    bench_timed(group, rt, id, |iters| {
        let (a, done) = (a.clone(), done.clone());
        async move {
            a.serve(iters);
            done.notified().await;
        }
    });
}

fn cast_pingpong(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("cast_pingpong");
    group.throughput(Throughput::Elements(1));

    {
        let done = Arc::new(Notify::new());
        let (a, b) =
            rt.block_on(async { peers(ractor_actor(&done).await, ractor_actor(&done).await) });
        bench_pingpong(&mut group, &rt, "ractor", &a, &done);
        a.stop(None);
        b.stop(None);
    }

    for backend in Backend::ALL {
        let done = Arc::new(Notify::new());
        let (a, b) =
            rt.block_on(async { peers(backend.start(&done).await, backend.start(&done).await) });
        bench_pingpong(&mut group, &rt, backend.name(), &a, &done);
        rt.block_on(async {
            // Break the a <-> b cycle of pids so both can be freed.
            a.stop_and_wait(ExitReason::Normal, Duration::from_secs(5))
                .await;
            b.stop_and_wait(ExitReason::Normal, Duration::from_secs(5))
                .await;
        });
    }
    group.finish();
}

/// What one sample of a bench does to a target, written once for every kind
/// of target.
trait Work: Copy {
    fn sample<T: Target>(self, target: T, iters: u64) -> impl Future<Output = ()> + Send + 'static;
}

/// `iters` casts, then a call queued behind them, so every cast has been handled.
#[derive(Clone, Copy)]
struct Stream;

impl Work for Stream {
    async fn sample<T: Target>(self, target: T, iters: u64) {
        for _ in 0..iters {
            target.count();
        }
        target.sync().await;
    }
}

/// `iters` calls, one after the other.
#[derive(Clone, Copy)]
struct Calls;

impl Work for Calls {
    async fn sample<T: Target>(self, target: T, iters: u64) {
        for _ in 0..iters {
            target.sync().await;
        }
    }
}

/// The benchmark group `name`: `work` on a plain ractor actor (`name/ractor`),
/// then on our GenServer on each backend, each target started fresh and
/// stopped after; `more_on_ractor` adds benches on the ractor actor.
fn on_every_target(
    c: &mut Criterion,
    name: &str,
    work: impl Work,
    more_on_ractor: impl FnOnce(&mut BenchmarkGroup<'_, WallTime>, &Runtime, &ActorRef<RactorMsg>),
) {
    let rt = tokio_runtime();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));

    {
        let done = Arc::new(Notify::new());
        let actor = rt.block_on(ractor_actor(&done));
        bench_timed(&mut group, &rt, "ractor", |iters| {
            work.sample(actor.clone(), iters)
        });
        more_on_ractor(&mut group, &rt, &actor);
        actor.stop(None);
    }

    for backend in Backend::ALL {
        let done = Arc::new(Notify::new());
        let pid = rt.block_on(backend.start(&done));
        bench_timed(&mut group, &rt, backend.name(), |iters| {
            work.sample(pid.clone(), iters)
        });
        pid.stop(ExitReason::Normal);
    }
    group.finish();
}

fn cast_stream(c: &mut Criterion) {
    on_every_target(c, "cast_stream", Stream, |_, _, _| {});
}

// ---------------------------------------------------------------------------
// Call round trip.
// ---------------------------------------------------------------------------

fn call_roundtrip(c: &mut Criterion) {
    on_every_target(c, "call_roundtrip", Calls, |group, rt, actor| {
        // `call!` waits without a timeout; `call_t!` arms one, as `Pid::call` does.
        bench_timed(group, rt, "ractor_call_t", |iters| {
            let actor = actor.clone();
            async move {
                for _ in 0..iters {
                    ractor::call_t!(actor, RactorMsg::Sync, 5000).unwrap();
                }
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Spawn + stop.
// ---------------------------------------------------------------------------

struct IdleActor;

impl Actor for IdleActor {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<()>, _args: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

fn spawn_stop(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("spawn_stop");
    group.throughput(Throughput::Elements(1));

    bench_timed(&mut group, &rt, "ractor", |iters| async move {
        for _ in 0..iters {
            let (actor, join) = Actor::spawn(None, IdleActor, ()).await.unwrap();
            actor.stop(None);
            join.await.unwrap();
        }
    });

    for backend in Backend::ALL {
        bench_timed(&mut group, &rt, backend.name(), |iters| async move {
            for _ in 0..iters {
                let pid = match backend {
                    Backend::GenServerRactor => runtime::server::start(Idle, ()).await.unwrap(),
                    // `spawn` returns before `init`; the stop queues behind it,
                    // so waiting for the exit covers the whole life.
                    Backend::Process => runtime::process::spawn(Idle, ()),
                };
                pid.stop_and_wait(ExitReason::Normal, Duration::from_secs(5))
                    .await;
            }
        });
    }
    // The same server stopped the way a supervisor stops it: through ractor's
    // own stop signal, which jumps the queue, instead of a message in it.
    bench_timed(
        &mut group,
        &rt,
        "gen_server_ractor_actor_stop",
        |iters| async move {
            for _ in 0..iters {
                let pid = runtime::server::start(Idle, ()).await.unwrap();
                let actor = pid.actor().unwrap().clone();
                actor.stop_and_wait(None, None).await.unwrap();
            }
        },
    );
    group.finish();
}

// ---------------------------------------------------------------------------
// Supervisor restart latency.
// ---------------------------------------------------------------------------

/// A worker that announces every incarnation, so the bench can reach the
/// replacement, and crashes on demand.
struct Phoenix;

impl GenServer for Phoenix {
    type Args = mpsc::UnboundedSender<Pid<Phoenix>>;
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(
        &self,
        myself: &Pid<Self>,
        announce: mpsc::UnboundedSender<Pid<Phoenix>>,
    ) -> Result<(), ProcessError> {
        let _ = announce.send(myself.clone());
        Ok(())
    }

    async fn handle_call(
        &self,
        _myself: &Pid<Self>,
        _request: (),
        _state: &mut (),
    ) -> Result<CallFlow<()>, ProcessError> {
        Ok(CallFlow::Reply(()))
    }

    async fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        _message: (),
        _state: &mut (),
    ) -> Result<Flow, ProcessError> {
        Err("crash on demand".into())
    }
}

/// Crashes the live child and waits for its replacement to answer a call, back
/// to back: each crash follows the previous replacement's reply. The child's
/// first incarnation, announced on `incarnations`, answers a call before the
/// bench begins.
fn bench_restarts(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    id: BenchmarkId,
    mut incarnations: mpsc::UnboundedReceiver<Pid<Phoenix>>,
) {
    let first = rt.block_on(async {
        let first = incarnations.recv().await.unwrap();
        first.call(()).await.unwrap();
        first
    });
    // The live child and the channel its replacements announce themselves on,
    // handed to each measuring task and back.
    let slot = Arc::new(Mutex::new(Some((first, incarnations))));
    group.bench_function(id, |bench| {
        bench.iter_custom(|iters| {
            let slot = slot.clone();
            time_on(rt, async move {
                let (mut current, mut incarnations) = slot.lock().unwrap().take().unwrap();
                let start = Stamp::now();
                for _ in 0..iters {
                    current.cast(()).unwrap();
                    let next = incarnations.recv().await.unwrap();
                    next.call(()).await.unwrap();
                    current = next;
                }
                let elapsed = start.elapsed();
                *slot.lock().unwrap() = Some((current, incarnations));
                elapsed
            })
        })
    });
}

fn supervisor_restart(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("supervisor_restart");

    let (announce, incarnations) = mpsc::unbounded_channel();
    let supervisor = rt.block_on(async {
        let supervisor = ProcessSupervisor::start(SupervisorOptions {
            // Never give up: the bench restarts as fast as it can.
            max_restarts: u32::MAX,
            max_period: Duration::from_millis(1),
            ..Default::default()
        })
        .await
        .expect("start process supervisor");
        supervisor
            .spawn_spec(ProcessSpec::new(Restart::Permanent, move || {
                (Phoenix, announce.clone())
            }))
            .expect("spawn child");
        supervisor
    });

    bench_restarts(
        &mut group,
        &rt,
        BenchmarkId::new("process_supervisor", "permanent"),
        incarnations,
    );
    rt.block_on(supervisor.stop());

    // The same worker as a ractor child of an OTP `Supervisor` (one_for_one):
    // the crash reaches the supervisor as a ractor supervision event.
    let (announce, incarnations) = mpsc::unbounded_channel();
    let supervisor = rt.block_on(async {
        let spec = ChildSpec::gen_server("phoenix", || Phoenix, move || announce.clone());
        Supervisor::start(
            SupervisorOptions::new(Strategy::OneForOne).intensity(u32::MAX, Duration::from_secs(1)),
            vec![spec],
        )
        .await
        .expect("start supervisor")
    });
    bench_restarts(
        &mut group,
        &rt,
        BenchmarkId::new("supervisor", "gen_server_ractor"),
        incarnations,
    );
    rt.block_on(supervisor.stop());
    group.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is shared and noisy, and there are many benches.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = cast_pingpong, cast_stream, call_roundtrip, spawn_stop, supervisor_restart
}
criterion_main!(benches);
