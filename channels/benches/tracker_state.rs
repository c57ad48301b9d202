//! The tracker's replicated set, measured in one process (no network):
//! what 10,000 presences cost in memory, how big a burst's delta is, and how
//! long merging them takes on another replica — beside a bare reference, so
//! that the figures survive the machine's day-to-day drift:
//!
//! - memory: heap bytes per entry in `State`, against the same entries in a
//!   plain `Vec<Entry>` (the data itself);
//! - merge: merging a 10,000-entry delta or transfer, against cloning the
//!   same entries (the least any merge must do).
//!
//! `cargo bench -p channels --bench tracker_state` (`ENTRIES=…` to change
//! the count). One line per figure; the median of `RUNS` (5) runs. Run
//! without `--bench` (as `cargo test --all-targets` runs it), it only checks
//! itself on 200 entries, once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use channels::tracker::{Entry, Pid, ReplicaId, State};
use serde_json::json;

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn replica(node: &str) -> ReplicaId {
    ReplicaId {
        node: format!("{node}@127.0.0.1"),
        vsn: 1_796_000_000_000_000_000,
    }
}

/// A presence as the store's cart tracker has them: a 64-character key, the
/// node and three item ids.
fn entry(of: &ReplicaId, i: u64) -> Entry {
    Entry {
        topic: "admin:cart_tracker".into(),
        pid: Pid {
            replica: of.clone(),
            id: i,
        },
        key: format!("{i:064}"),
        meta: json!({"node": of.node, "items": [i % 1000, (i * 7) % 1000, (i * 13) % 1000], "phx_ref": format!("{i:012}")}),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (default_n, default_runs) = if measuring { (10_000, 5) } else { (200, 1) };
    let n: u64 = std::env::var("ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_n);
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_runs);
    let a = replica("a");
    let (mut set_bytes, mut vec_bytes, mut delta_sizes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut merge_delta_ms, mut merge_transfer_ms, mut clone_ms) =
        (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // The reference: the entries alone.
        let before = live();
        let plain: Vec<Entry> = (0..n).map(|i| entry(&a, i)).collect();
        vec_bytes.push((live() - before) as f64 / n as f64);

        let before = live();
        let mut state = State::new(a.clone());
        for e in &plain {
            state
                .join(e.pid.clone(), &e.topic, &e.key, e.meta.clone())
                .unwrap();
        }
        let with_delta = live() - before;
        let delta = state.delta().clone();
        delta_sizes.push(
            (delta.values.len() + delta.clouds.values().map(|c| c.len()).sum::<usize>()) as f64,
        );
        state.reset_delta();
        set_bytes.push((live() - before) as f64 / n as f64);
        assert!(with_delta > 0);

        // Merging: a delta of the burst, then a whole transfer, into a peer.
        let mut peer = State::new(replica("b"));
        peer.replica_up(&a);
        let started = Instant::now();
        let diff = peer.merge_delta(&delta);
        merge_delta_ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(diff.joins.len() as u64, n);
        let mut fresh = State::new(replica("c"));
        fresh.replica_up(&a);
        let transfer = state.extract(fresh.replica(), fresh.context());
        let started = Instant::now();
        fresh.merge_transfer(&transfer);
        merge_transfer_ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(fresh.len() as u64, n);
        let started = Instant::now();
        let copy = plain.clone();
        clone_ms.push(started.elapsed().as_secs_f64() * 1e3);
        drop(copy);
    }
    let (set, reference) = (median(set_bytes), median(vec_bytes));
    println!("{{\"figure\":\"bytes_per_entry\",\"entries\":{n},\"state\":{set:.0},\"plain_vec\":{reference:.0},\"ratio\":{:.2}}}", set / reference);
    println!(
        "{{\"figure\":\"delta_of_a_burst\",\"entries\":{n},\"size\":{}}}",
        median(delta_sizes)
    );
    let (delta, transfer, clone) = (
        median(merge_delta_ms),
        median(merge_transfer_ms),
        median(clone_ms),
    );
    println!(
        "{{\"figure\":\"merge_ms\",\"entries\":{n},\"delta\":{delta:.2},\"transfer\":{transfer:.2},\"clone_reference\":{clone:.2},\"delta_ratio\":{:.1},\"transfer_ratio\":{:.1}}}",
        delta / clone,
        transfer / clone
    );
}
