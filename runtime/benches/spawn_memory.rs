//! Spawn rate and resident memory per idle process, at 100,000 processes.
//!
//! `cargo bench -p runtime --bench spawn_memory` runs this plain `main`
//! (`harness = false`). For each kind of process it re-executes itself
//! (`--child KIND`) so that every measurement starts from a fresh heap: memory
//! freed by one kind and reused by the next would otherwise hide its cost. Each
//! child:
//!
//! 1. builds a multi-thread tokio runtime (one worker per core) and reads VmRSS;
//! 2. from one task, spawns N idle processes one after the other, keeping their
//!    handles (the handle vector is allocated before the first reading), and
//!    times the loop: that is the spawn rate, as the BEAM figure times a loop of
//!    `spawn/1`;
//! 3. waits until every process has run its `init` and sits idle on its mailbox
//!    (a ractor spawn already waits for `pre_start`), reads VmRSS again and
//!    divides the growth by N.
//!
//! Besides the wall clock, the spawn loop's CPU time (all threads, from
//! `CLOCK_PROCESS_CPUTIME_ID`) is reported as spawns per CPU-second: on a shared
//! machine the wall-clock rate moves with other load, the CPU figure much less.
//!
//! Every kind runs `SPAWN_RUNS` times (default 3) in fresh children; the table
//! shows the median run, then one JSON line per kind follows. `SPAWN_N` changes
//! the number of processes (default 100,000). Arguments other than `--child`
//! (such as the `--bench` that `cargo bench` passes) are ignored.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use runtime::process::{ProcessSpec, ProcessSupervisor};
use runtime::supervisor::{Restart, Shutdown, SupervisorOptions};
use runtime::{GenServer, Pid, ProcessError};

mod support;
use support::{process_cpu_time, tokio_runtime};

/// The kinds of process measured, in table order.
const KINDS: [(&str, &str); 5] = [
    ("ractor", "plain ractor actor (Actor::spawn)"),
    ("gen_server_ractor", "GenServer on ractor (server::start)"),
    ("process", "lightweight process (process::spawn)"),
    (
        "process_supervised",
        "lightweight process, ProcessSupervisor::spawn (temporary)",
    ),
    (
        "process_supervised_permanent",
        "lightweight process, ProcessSupervisor::spawn_spec (permanent)",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let kind = args.get(i + 1).expect("--child needs a kind");
        child(kind, env_or("SPAWN_N", 100_000));
        return;
    }
    parent(env_or("SPAWN_N", 100_000), env_or("SPAWN_RUNS", 3));
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// Parent: one fresh child process per kind and run, then the table.
// ---------------------------------------------------------------------------

/// What one child measured.
#[derive(Clone, Debug)]
struct Sample {
    kind: String,
    n: usize,
    spawn_secs: f64,
    /// CPU time of all threads during the spawn loop: steadier than the wall
    /// clock when the machine is shared.
    spawn_cpu_secs: f64,
    running_secs: f64,
    rss_before_kib: u64,
    rss_after_kib: u64,
}

impl Sample {
    fn spawns_per_sec(&self) -> f64 {
        self.n as f64 / self.spawn_secs
    }

    fn spawns_per_cpu_sec(&self) -> f64 {
        self.n as f64 / self.spawn_cpu_secs
    }

    fn bytes_per_process(&self) -> f64 {
        (self.rss_after_kib.saturating_sub(self.rss_before_kib) * 1024) as f64 / self.n as f64
    }

    fn to_json(&self) -> String {
        format!(
            "{{\"kind\":\"{}\",\"n\":{},\"spawn_secs\":{:.6},\"spawns_per_sec\":{:.0},\
             \"spawn_cpu_secs\":{:.6},\"spawns_per_cpu_sec\":{:.0},\"all_running_secs\":{:.6},\"rss_before_kib\":{},\"rss_after_kib\":{},\
             \"bytes_per_process\":{:.0}}}",
            self.kind,
            self.n,
            self.spawn_secs,
            self.spawns_per_sec(),
            self.spawn_cpu_secs,
            self.spawns_per_cpu_sec(),
            self.running_secs,
            self.rss_before_kib,
            self.rss_after_kib,
            self.bytes_per_process()
        )
    }

    /// Reads back the line `to_json` wrote (only the fields it needs).
    fn from_json(line: &str) -> Option<Sample> {
        let field = |name: &str| -> Option<&str> {
            let start = line.find(&format!("\"{name}\":"))? + name.len() + 3;
            let rest = &line[start..];
            let end = rest.find([',', '}'])?;
            Some(rest[..end].trim_matches('"'))
        };
        Some(Sample {
            kind: field("kind")?.to_string(),
            n: field("n")?.parse().ok()?,
            spawn_secs: field("spawn_secs")?.parse().ok()?,
            spawn_cpu_secs: field("spawn_cpu_secs")?.parse().ok()?,
            running_secs: field("all_running_secs")?.parse().ok()?,
            rss_before_kib: field("rss_before_kib")?.parse().ok()?,
            rss_after_kib: field("rss_after_kib")?.parse().ok()?,
        })
    }
}

fn parent(n: usize, runs: usize) {
    let exe = std::env::current_exe().expect("current_exe");
    let runs = runs.max(1);
    println!(
        "spawn_memory: {n} idle processes per kind, {runs} fresh child process(es) per kind, \
         {} cores",
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    let mut medians = Vec::new();
    for (kind, _) in KINDS {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let output = Command::new(&exe)
                .args(["--child", kind])
                .env("SPAWN_N", n.to_string())
                .output()
                .expect("run child");
            if !output.status.success() {
                eprintln!(
                    "{kind}: child failed ({}):\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
                std::process::exit(1);
            }
            let stdout = String::from_utf8_lossy(&output.stdout);
            let sample = stdout
                .lines()
                .find_map(Sample::from_json)
                .unwrap_or_else(|| panic!("{kind}: no result in {stdout:?}"));
            samples.push(sample);
        }
        let rates: Vec<String> = samples
            .iter()
            .map(|s| format!("{:.0}", s.spawns_per_sec()))
            .collect();
        let cpu_rates: Vec<String> = samples
            .iter()
            .map(|s| format!("{:.0}", s.spawns_per_cpu_sec()))
            .collect();
        let bytes: Vec<String> = samples
            .iter()
            .map(|s| format!("{:.0}", s.bytes_per_process()))
            .collect();
        eprintln!(
            "{kind}: spawns/s per run [{}], spawns per CPU-second [{}], bytes/process per run [{}]",
            rates.join(", "),
            cpu_rates.join(", "),
            bytes.join(", ")
        );
        // The median run by spawn rate; memory is far steadier than time.
        samples.sort_by(|a, b| a.spawns_per_sec().total_cmp(&b.spawns_per_sec()));
        let mut median = samples[samples.len() / 2].clone();
        // Memory: the median of its own, independent of which run was fastest.
        let mut growth: Vec<u64> = samples
            .iter()
            .map(|s| s.rss_after_kib.saturating_sub(s.rss_before_kib))
            .collect();
        growth.sort_unstable();
        median.rss_after_kib = median.rss_before_kib + growth[growth.len() / 2];
        // CPU time: its own median too.
        let mut cpu: Vec<f64> = samples.iter().map(|s| s.spawn_cpu_secs).collect();
        cpu.sort_by(f64::total_cmp);
        median.spawn_cpu_secs = cpu[cpu.len() / 2];
        medians.push(median);
    }

    println!();
    println!(
        "| {:<64} | {:>12} | {:>14} | {:>14} | {:>12} | {:>11} |",
        "kind", "spawns/s", "spawns/CPU-s", "all running in", "RSS growth", "per process"
    );
    println!(
        "|{:-<66}|{:->14}|{:->16}|{:->16}|{:->14}|{:->13}|",
        "", "", "", "", "", ""
    );
    for (sample, (_, label)) in medians.iter().zip(KINDS) {
        println!(
            "| {:<64} | {:>12.0} | {:>14.0} | {:>11.1} ms | {:>8.1} MiB | {:>8.2} KB |",
            label,
            sample.spawns_per_sec(),
            sample.spawns_per_cpu_sec(),
            sample.running_secs * 1e3,
            sample.rss_after_kib.saturating_sub(sample.rss_before_kib) as f64 / 1024.0,
            sample.bytes_per_process() / 1000.0,
        );
    }
    println!(
        "(BEAM reference: ~390k spawns/s, 2.6 KB per process; plain ractor reference: \
         ~150k spawns/s, 7.7-10.9 KB per actor. KB = 1000 bytes.)"
    );
    println!();
    for sample in &medians {
        println!("{}", sample.to_json());
    }
}

// ---------------------------------------------------------------------------
// Child: one kind, measured once.
// ---------------------------------------------------------------------------

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// An idle GenServer: counts its `init`, then waits on its mailbox forever.
struct Idle;

impl GenServer for Idle {
    type Args = Arc<AtomicUsize>;
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(
        &self,
        _myself: &Pid<Self>,
        started: Arc<AtomicUsize>,
    ) -> Result<(), ProcessError> {
        started.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The same as a plain ractor actor.
struct IdleActor;

impl Actor for IdleActor {
    type Msg = ();
    type State = ();
    type Arguments = Arc<AtomicUsize>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        started: Arc<AtomicUsize>,
    ) -> Result<(), ActorProcessingErr> {
        started.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Whatever keeps a process alive: its handle (held, never read).
#[allow(dead_code)]
enum Handle {
    Actor(ActorRef<()>),
    Pid(Pid<Idle>),
}

fn child(kind: &str, n: usize) {
    let rt = tokio_runtime();
    let started = Arc::new(AtomicUsize::new(0));
    let supervisor = rt.block_on(async {
        match kind {
            "process_supervised" | "process_supervised_permanent" => Some(
                ProcessSupervisor::start(SupervisorOptions::default())
                    .await
                    .expect("start process supervisor"),
            ),
            "ractor" | "gen_server_ractor" | "process" => None,
            other => panic!("unknown kind {other:?}"),
        }
    });
    // One start closure shared by every permanent child, as a real spec would be.
    let start: Arc<dyn Fn() -> (Idle, Arc<AtomicUsize>) + Send + Sync> = {
        let started = started.clone();
        Arc::new(move || (Idle, started.clone()))
    };
    let mut handles: Vec<Handle> = Vec::with_capacity(n);
    // Fault the vector's pages in now, so that the handles are not counted.
    // SAFETY: writes within the allocated capacity; the length stays 0.
    unsafe { std::ptr::write_bytes(handles.as_mut_ptr(), 0, n) };
    std::thread::sleep(Duration::from_millis(100));
    let rss_before = vm_rss_kib();

    let kind_owned = kind.to_string();
    let counter = started.clone();
    let (handles, spawn_elapsed, spawn_cpu, spawn_start) = rt.block_on(async move {
        // Spawn from one task on a worker thread, as a BEAM process would.
        tokio::spawn(async move {
            let spawn_start = Instant::now();
            let cpu_start = process_cpu_time();
            for _ in 0..n {
                let handle = match kind_owned.as_str() {
                    "ractor" => {
                        let (actor, _join) = Actor::spawn(None, IdleActor, counter.clone())
                            .await
                            .expect("spawn actor");
                        Handle::Actor(actor)
                    }
                    "gen_server_ractor" => Handle::Pid(
                        runtime::server::start(Idle, counter.clone())
                            .await
                            .expect("start gen_server"),
                    ),
                    "process" => Handle::Pid(runtime::process::spawn(Idle, counter.clone())),
                    "process_supervised" => Handle::Pid(
                        supervisor
                            .as_ref()
                            .unwrap()
                            .spawn(Idle, counter.clone())
                            .expect("supervised spawn"),
                    ),
                    "process_supervised_permanent" => Handle::Pid(
                        supervisor
                            .as_ref()
                            .unwrap()
                            .spawn_spec(ProcessSpec {
                                name: None,
                                restart: Restart::Permanent,
                                shutdown: Shutdown::default(),
                                start: start.clone(),
                            })
                            .expect("supervised spawn_spec"),
                    ),
                    _ => unreachable!(),
                };
                handles.push(handle);
            }
            let elapsed = spawn_start.elapsed();
            let cpu = process_cpu_time().saturating_sub(cpu_start);
            // Keep the supervisor alive with its children.
            std::mem::forget(supervisor);
            (handles, elapsed, cpu, spawn_start)
        })
        .await
        .expect("spawner task")
    });

    // Every process has run `init` and is idle on its mailbox.
    let deadline = Instant::now() + Duration::from_secs(120);
    while started.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "processes did not all start");
        std::thread::sleep(Duration::from_millis(1));
    }
    let running_elapsed = spawn_start.elapsed();
    // Let the workers settle (parked, queues drained) before reading.
    std::thread::sleep(Duration::from_millis(200));
    let rss_after = vm_rss_kib();
    assert_eq!(handles.len(), n);

    let sample = Sample {
        kind: kind.to_string(),
        n,
        spawn_secs: spawn_elapsed.as_secs_f64(),
        spawn_cpu_secs: spawn_cpu.as_secs_f64(),
        running_secs: running_elapsed.as_secs_f64(),
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
    };
    println!("{}", sample.to_json());
    // No orderly teardown of 100k processes: the measurement is done.
    std::process::exit(0);
}
