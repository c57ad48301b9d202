//! `Registry`: unique local names for processes, gone when the process exits.
//!
//! Elixir's `Registry` with `keys: :unique`. A name maps to one live [`Pid`];
//! registering a taken name fails with the holder's id, and the entry is removed
//! automatically when its process exits — a small watcher awaits the process's
//! monitor. A restarted process can register the same name again at once: an
//! entry whose process is dead no longer counts as taken, even before its
//! watcher has run.
//!
//! ractor has its own global registry for named actors (used by
//! [`crate::server::StartOptions::name`]); this one works for lightweight
//! processes too, and an application can keep several (one per purpose).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::gen_server::GenServer;
use crate::pid::{Pid, ProcessId};

/// The name is held by another live process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is already registered to {holder}")]
pub struct AlreadyRegistered {
    /// The contested name.
    pub name: String,
    /// The live process that holds it.
    pub holder: ProcessId,
}

/// A registered pid of any GenServer type.
trait Entry: Send + Sync {
    fn id(&self) -> ProcessId;
    fn is_alive(&self) -> bool;
    fn as_any(&self) -> &dyn Any;
}

impl<G: GenServer> Entry for Pid<G> {
    fn id(&self) -> ProcessId {
        Pid::id(self)
    }
    fn is_alive(&self) -> bool {
        Pid::is_alive(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A set of unique names. Cheap to clone; clones share the names.
#[derive(Clone, Default)]
pub struct Registry {
    names: Arc<Mutex<HashMap<String, Box<dyn Entry>>>>,
}

static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::new);

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node-wide default registry.
    pub fn global() -> &'static Registry {
        &GLOBAL
    }

    /// Registers `pid` under `name` until the process exits or the name is unregistered.
    pub fn register<G: GenServer>(
        &self,
        name: impl Into<String>,
        pid: &Pid<G>,
    ) -> Result<(), AlreadyRegistered> {
        let name = name.into();
        {
            let mut names = self.names.lock();
            if let Some(holder) = names.get(&name) {
                if holder.is_alive() && holder.id() != pid.id() {
                    return Err(AlreadyRegistered {
                        name,
                        holder: holder.id(),
                    });
                }
            }
            names.insert(name.clone(), Box::new(pid.clone()));
        }
        let exited = pid.monitor();
        let registry = self.clone();
        let id = pid.id();
        tokio::spawn(async move {
            exited.await;
            registry.remove_if(&name, id);
        });
        Ok(())
    }

    /// The live process registered under `name`, if it is a `G`.
    pub fn lookup<G: GenServer>(&self, name: &str) -> Option<Pid<G>> {
        let names = self.names.lock();
        let entry = names.get(name).filter(|e| e.is_alive())?;
        entry.as_any().downcast_ref::<Pid<G>>().cloned()
    }

    /// The id of the live process registered under `name`, whatever its type.
    pub fn whereis(&self, name: &str) -> Option<ProcessId> {
        let names = self.names.lock();
        names.get(name).filter(|e| e.is_alive()).map(|e| e.id())
    }

    /// Removes `name`; `false` if it was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        self.names.lock().remove(name).is_some()
    }

    /// Names held by live processes, sorted.
    pub fn names(&self) -> Vec<String> {
        let names = self.names.lock();
        let mut live: Vec<String> = names
            .iter()
            .filter(|(_, e)| e.is_alive())
            .map(|(n, _)| n.clone())
            .collect();
        live.sort();
        live
    }

    fn remove_if(&self, name: &str, id: ProcessId) {
        let mut names = self.names.lock();
        if names.get(name).is_some_and(|e| e.id() == id) {
            names.remove(name);
        }
    }
}
