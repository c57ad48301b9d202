//! Handles of running supervisors and stages, by actor id.
//!
//! ractor's registry turns a name into an untyped [`ActorCell`](ractor::ActorCell);
//! a supervisor's or a stage's handle also carries what it shares with the
//! running actor (its children table, its exit cell). Each of them puts that
//! here while it runs, so that `lookup(name)` is a registry read and a downcast —
//! synchronous, with no message to an actor that may be busy restarting children.
//! The downcast doubles as the type check: a name held by another kind of actor
//! (or by a stage of another event type) finds nothing.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use ractor::ActorId;

type Shared = Arc<dyn Any + Send + Sync>;

static HANDLES: LazyLock<Mutex<HashMap<ActorId, Shared>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Makes `shared` findable from `actor`'s id. Call from `pre_start`.
pub(crate) fn register<T: Any + Send + Sync>(actor: ActorId, shared: Arc<T>) {
    HANDLES.lock().insert(actor, shared);
}

/// Forgets `actor`'s entry. Call when the actor finishes, however it does.
pub(crate) fn unregister(actor: ActorId) {
    HANDLES.lock().remove(&actor);
}

/// What `actor` registered, if it runs and registered a `T`.
pub(crate) fn get<T: Any + Send + Sync>(actor: ActorId) -> Option<Arc<T>> {
    let shared = HANDLES.lock().get(&actor)?.clone();
    shared.downcast().ok()
}

/// What the actor registered under `name` in ractor's registry registered here.
pub(crate) fn lookup<T: Any + Send + Sync>(name: &str) -> Option<Arc<T>> {
    get(ractor::registry::where_is(name)?.get_id())
}
