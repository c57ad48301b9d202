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

fn tokio_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

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

/// CPU time of every thread of this process so far, from the kernel's precise
/// per-process clock (`/proc/*/schedstat` lags for threads that are running).
fn process_cpu_time() -> Duration {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        // glibc's, linked in by std on Linux.
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec (64-bit Linux layout).
    let rc = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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

// ---------------------------------------------------------------------------
// Cast throughput.
// ---------------------------------------------------------------------------

fn cast_pingpong(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("cast_pingpong");
    group.throughput(Throughput::Elements(1));

    {
        let done = Arc::new(Notify::new());
        let (a, b) = rt.block_on(async {
            let a = ractor_actor(&done).await;
            let b = ractor_actor(&done).await;
            a.cast(RactorMsg::SetPeer(b.clone())).unwrap();
            b.cast(RactorMsg::SetPeer(a.clone())).unwrap();
            (a, b)
        });
        group.bench_function("ractor", |bench| {
            bench.iter_custom(|iters| {
                let (a, done) = (a.clone(), done.clone());
                time_on(&rt, async move {
                    let start = Stamp::now();
                    a.cast(RactorMsg::Ball(iters)).unwrap();
                    done.notified().await;
                    start.elapsed()
                })
            })
        });
        a.stop(None);
        b.stop(None);
    }

    for backend in Backend::ALL {
        let done = Arc::new(Notify::new());
        let (a, b) = rt.block_on(async {
            let a = backend.start(&done).await;
            let b = backend.start(&done).await;
            a.cast(BenchCast::SetPeer(b.clone())).unwrap();
            b.cast(BenchCast::SetPeer(a.clone())).unwrap();
            (a, b)
        });
        group.bench_function(backend.name(), |bench| {
            bench.iter_custom(|iters| {
                let (a, done) = (a.clone(), done.clone());
                time_on(&rt, async move {
                    let start = Stamp::now();
                    a.cast(BenchCast::Ball(iters)).unwrap();
                    done.notified().await;
                    start.elapsed()
                })
            })
        });
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

fn cast_stream(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("cast_stream");
    group.throughput(Throughput::Elements(1));

    {
        let done = Arc::new(Notify::new());
        let actor = rt.block_on(ractor_actor(&done));
        group.bench_function("ractor", |bench| {
            bench.iter_custom(|iters| {
                let actor = actor.clone();
                time_on(&rt, async move {
                    let start = Stamp::now();
                    for _ in 0..iters {
                        actor.cast(RactorMsg::Count).unwrap();
                    }
                    ractor::call!(actor, RactorMsg::Sync).unwrap();
                    start.elapsed()
                })
            })
        });
        actor.stop(None);
    }

    for backend in Backend::ALL {
        let done = Arc::new(Notify::new());
        let pid = rt.block_on(backend.start(&done));
        group.bench_function(backend.name(), |bench| {
            bench.iter_custom(|iters| {
                let pid = pid.clone();
                time_on(&rt, async move {
                    let start = Stamp::now();
                    for _ in 0..iters {
                        pid.cast(BenchCast::Count).unwrap();
                    }
                    pid.call(()).await.unwrap();
                    start.elapsed()
                })
            })
        });
        pid.stop(ExitReason::Normal);
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// Call round trip.
// ---------------------------------------------------------------------------

fn call_roundtrip(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut group = c.benchmark_group("call_roundtrip");
    group.throughput(Throughput::Elements(1));

    {
        let done = Arc::new(Notify::new());
        let actor = rt.block_on(ractor_actor(&done));
        // `call!` waits without a timeout; `call_t!` arms one, as `Pid::call` does.
        group.bench_function("ractor", |bench| {
            bench.iter_custom(|iters| {
                let actor = actor.clone();
                time_on(&rt, async move {
                    let start = Stamp::now();
                    for _ in 0..iters {
                        ractor::call!(actor, RactorMsg::Sync).unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function("ractor_call_t", |bench| {
            bench.iter_custom(|iters| {
                let actor = actor.clone();
                time_on(&rt, async move {
                    let start = Stamp::now();
                    for _ in 0..iters {
                        ractor::call_t!(actor, RactorMsg::Sync, 5000).unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        actor.stop(None);
    }

    for backend in Backend::ALL {
        let done = Arc::new(Notify::new());
        let pid = rt.block_on(backend.start(&done));
        group.bench_function(backend.name(), |bench| {
            bench.iter_custom(|iters| {
                let pid = pid.clone();
                time_on(&rt, async move {
                    let start = Stamp::now();
                    for _ in 0..iters {
                        pid.call(()).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        pid.stop(ExitReason::Normal);
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// Spawn + stop.
// ---------------------------------------------------------------------------

/// A process that does nothing: what spawn and stop cost, and nothing else.
struct Idle;

impl GenServer for Idle {
    type Args = ();
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(&self, _myself: &Pid<Self>, _args: ()) -> Result<(), ProcessError> {
        Ok(())
    }
}

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

    group.bench_function("ractor", |bench| {
        bench.iter_custom(|iters| {
            time_on(&rt, async move {
                let start = Stamp::now();
                for _ in 0..iters {
                    let (actor, join) = Actor::spawn(None, IdleActor, ()).await.unwrap();
                    actor.stop(None);
                    join.await.unwrap();
                }
                start.elapsed()
            })
        })
    });

    for backend in Backend::ALL {
        group.bench_function(backend.name(), |bench| {
            bench.iter_custom(|iters| {
                time_on(&rt, async move {
                    let start = Stamp::now();
                    for _ in 0..iters {
                        let pid = match backend {
                            Backend::GenServerRactor => {
                                runtime::server::start(Idle, ()).await.unwrap()
                            }
                            // `spawn` returns before `init`; the stop queues behind it,
                            // so waiting for the exit covers the whole life.
                            Backend::Process => runtime::process::spawn(Idle, ()),
                        };
                        pid.stop_and_wait(ExitReason::Normal, Duration::from_secs(5))
                            .await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    // The same server stopped the way a supervisor stops it: through ractor's
    // own stop signal, which jumps the queue, instead of a message in it.
    group.bench_function("gen_server_ractor_actor_stop", |bench| {
        bench.iter_custom(|iters| {
            time_on(&rt, async move {
                let start = Stamp::now();
                for _ in 0..iters {
                    let pid = runtime::server::start(Idle, ()).await.unwrap();
                    let actor = pid.actor().unwrap().clone();
                    actor.stop_and_wait(None, None).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
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
/// to back: each crash follows the previous replacement's reply.
fn bench_restarts(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    id: BenchmarkId,
    first: Pid<Phoenix>,
    incarnations: mpsc::UnboundedReceiver<Pid<Phoenix>>,
) {
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

    let (announce, mut incarnations) = mpsc::unbounded_channel();
    let (supervisor, first) = rt.block_on(async {
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
        let first: Pid<Phoenix> = incarnations.recv().await.unwrap();
        first.call(()).await.unwrap();
        (supervisor, first)
    });

    bench_restarts(
        &mut group,
        &rt,
        BenchmarkId::new("process_supervisor", "permanent"),
        first,
        incarnations,
    );
    rt.block_on(supervisor.stop());

    // The same worker as a ractor child of an OTP `Supervisor` (one_for_one):
    // the crash reaches the supervisor as a ractor supervision event.
    let (announce, mut incarnations) = mpsc::unbounded_channel();
    let (supervisor, first) = rt.block_on(async {
        let spec = ChildSpec::gen_server("phoenix", || Phoenix, move || announce.clone());
        let supervisor = Supervisor::start(
            SupervisorOptions::new(Strategy::OneForOne).intensity(u32::MAX, Duration::from_secs(1)),
            vec![spec],
        )
        .await
        .expect("start supervisor");
        let first: Pid<Phoenix> = incarnations.recv().await.unwrap();
        first.call(()).await.unwrap();
        (supervisor, first)
    });
    bench_restarts(
        &mut group,
        &rt,
        BenchmarkId::new("supervisor", "gen_server_ractor"),
        first,
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
