//! Introspection: the live supervision tree, like `:observer`'s process list.
//!
//! Every supervisor of this runtime (static, dynamic, task, process and consumer
//! supervisors) registers an [`Inspect`] view of its children while it runs.
//! [`processes`] walks those views from the roots — supervisors that nobody
//! else lists as a child — and reports each live process with its supervisor
//! path, queue length (where the backend can tell), restart count and uptime.
//! Reading the views takes a lock per supervisor and sends no message, so it
//! works even when a supervisor is busy restarting children.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::ActorId;

/// Whether a child is a worker or supervises others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// Does work; has no children of its own.
    Worker,
    /// A supervisor; its own children are listed under it.
    Supervisor,
}

/// One child as its supervisor sees it.
#[derive(Debug, Clone)]
pub struct ChildInfo {
    /// The child spec's id, or the process's name.
    pub id: String,
    /// The running process (`<actor 0.12>` or `<proc 42>`).
    pub pid: String,
    /// The ractor actor, when the child is one; used to descend into supervisors.
    pub actor: Option<ActorId>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// How many times the supervisor restarted this child.
    pub restarts: u32,
    /// When the current incarnation started.
    pub started_at: Instant,
    /// Messages waiting, where known.
    pub queue_len: Option<usize>,
}

/// A supervisor's view of its children.
pub trait Inspect: Send + Sync {
    /// The children that are running now, in start order.
    fn children(&self) -> Vec<ChildInfo>;
}

struct Registered {
    name: String,
    started_at: Instant,
    view: Arc<dyn Inspect>,
}

/// A supervisor's name, start time and view, copied out of the table.
type View = (String, Instant, Arc<dyn Inspect>);

static SUPERVISORS: LazyLock<Mutex<HashMap<ActorId, Registered>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Makes a running supervisor visible to [`processes`]. Call from `pre_start`.
pub fn register_supervisor(actor: ActorId, name: impl Into<String>, view: Arc<dyn Inspect>) {
    SUPERVISORS.lock().insert(
        actor,
        Registered {
            name: name.into(),
            started_at: Instant::now(),
            view,
        },
    );
}

/// Removes a supervisor that stopped. Call from `post_stop` (and on failure).
pub fn unregister_supervisor(actor: ActorId) {
    SUPERVISORS.lock().remove(&actor);
}

/// One live process in the tree.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// The child id, or the supervisor's name for a root.
    pub name: String,
    /// The running process.
    pub pid: String,
    /// Names of the supervisors above it, root first, joined by `/`.
    pub path: String,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Messages waiting, where known.
    pub queue_len: Option<usize>,
    /// Restarts of this child by its supervisor.
    pub restarts: u32,
    /// Time since the current incarnation started.
    pub uptime: Duration,
    /// Depth in the tree; roots are 0.
    pub depth: usize,
}

/// Every live process under this runtime's supervisors, depth first.
pub fn processes() -> Vec<ProcessInfo> {
    // Snapshot the views first so that no lock is held while they are read.
    let views: HashMap<ActorId, View> = SUPERVISORS
        .lock()
        .iter()
        .map(|(id, r)| (*id, (r.name.clone(), r.started_at, r.view.clone())))
        .collect();
    let children: HashMap<ActorId, Vec<ChildInfo>> = views
        .iter()
        .map(|(id, (_, _, view))| (*id, view.children()))
        .collect();
    let nested: HashSet<ActorId> = children
        .values()
        .flatten()
        .filter_map(|child| child.actor)
        .collect();
    let mut roots: Vec<(&ActorId, &View)> = views
        .iter()
        .filter(|(id, _)| !nested.contains(id))
        .collect();
    roots.sort_by_key(|(_, (name, started, _))| (*started, name.clone()));

    let now = Instant::now();
    let mut out = Vec::new();
    for (id, (name, started_at, _)) in roots {
        out.push(ProcessInfo {
            name: name.clone(),
            pid: format!("<actor {id}>"),
            path: String::new(),
            kind: ChildKind::Supervisor,
            queue_len: None,
            restarts: 0,
            uptime: now.saturating_duration_since(*started_at),
            depth: 0,
        });
        walk(*id, name, 1, &children, &views, now, &mut out);
    }
    out
}

fn walk(
    supervisor: ActorId,
    path: &str,
    depth: usize,
    children: &HashMap<ActorId, Vec<ChildInfo>>,
    views: &HashMap<ActorId, View>,
    now: Instant,
    out: &mut Vec<ProcessInfo>,
) {
    for child in children.get(&supervisor).into_iter().flatten() {
        out.push(ProcessInfo {
            name: child.id.clone(),
            pid: child.pid.clone(),
            path: path.to_string(),
            kind: child.kind,
            queue_len: child.queue_len,
            restarts: child.restarts,
            uptime: now.saturating_duration_since(child.started_at),
            depth,
        });
        if let Some(actor) = child.actor.filter(|a| views.contains_key(a)) {
            let below = format!("{path}/{}", child.id);
            walk(actor, &below, depth + 1, children, views, now, out);
        }
    }
}

/// The tree as indented text, for the node console's `processes` command.
pub fn render(processes: &[ProcessInfo]) -> String {
    let mut text = String::from(
        "PROCESS                                  PID              QUEUE  RESTARTS  UPTIME\n",
    );
    for p in processes {
        let label = format!("{}{}", "  ".repeat(p.depth), p.name);
        let queue = p.queue_len.map_or("-".to_string(), |q| q.to_string());
        text.push_str(&format!(
            "{label:<40} {:<16} {queue:>5}  {:>8}  {:.1}s\n",
            p.pid,
            p.restarts,
            p.uptime.as_secs_f64()
        ));
    }
    text
}
