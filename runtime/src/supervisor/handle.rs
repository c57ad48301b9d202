//! The core every kind of supervisor is built on, and the one handle type.
//!
//! A supervisor is a ractor actor (so that it sits in a supervision tree) plus
//! a table of children that its handles and [`introspection`](crate::introspect)
//! read without messaging it. [`Core`] is that shared part: the actor, its name
//! and the kind's [`Children`] table. [`Registration`] is what the actor's state
//! holds while it runs: it makes the core findable by name and visible to
//! introspection, and its drop — which runs however the actor ends, even by a
//! failure that skips `post_stop` — withdraws it and kills any child left.
//!
//! [`SupervisorRef`] is the handle of every kind: `lookup`, `which_children`,
//! `count_children`, `stop` and `wait` are written once here; each kind adds
//! its own calls (`start_child`, `spawn`, `async_nolink`, …) in its own module.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use ractor::{ActorCell, ActorId};
use tokio::sync::oneshot;

use super::actor::{Supervision, SupervisorActor};
use super::child::shut_down;
use super::child_spec::ChildSpec;
use super::children::{ChildCount, ChildStatus, Children, SupervisorError};
use super::options::SupervisorOptions;
use super::restart::Shutdown;
use crate::handles;
use crate::introspect::{self, ChildInfo, Inspect};
use crate::server::{self, StartError};

/// What a supervisor's actor, handles and introspection share.
pub struct Core<T> {
    /// Its name in introspection and logs.
    pub(crate) name: String,
    /// The supervisor actor.
    pub(crate) actor: ActorCell,
    /// The kind's children table.
    pub(crate) children: T,
}

impl<T: Children> Core<T> {
    /// A core for `actor`, named `name` or after its kind and id.
    pub(crate) fn new(actor: ActorCell, name: Option<String>, children: T) -> Self {
        let name = name.unwrap_or_else(|| format!("{} {}", T::KIND, actor.get_id()));
        Core {
            name,
            actor,
            children,
        }
    }
}

impl<T: Children> Inspect for Core<T> {
    fn children(&self) -> Vec<ChildInfo> {
        self.children.running()
    }
}

/// Answers a request that came with a reply channel; a caller that stopped
/// waiting needs no answer.
pub(crate) fn answer<T>(reply: oneshot::Sender<T>, value: T) {
    let _ = reply.send(value);
}

/// A running supervisor's place in the lookup table and in introspection; held
/// by its actor's state, so that dropping the state withdraws both and kills any
/// child still running.
pub(crate) struct Registration<T: Children>(Arc<Core<T>>);

impl<T: Children> Registration<T> {
    /// Registers `core` and hands it to whoever waits on `ready` (the start call).
    pub(crate) fn new(core: Core<T>, ready: oneshot::Sender<Arc<Core<T>>>) -> Self {
        let core = Arc::new(core);
        let id = core.actor.get_id();
        handles::register(id, core.clone());
        introspect::register_supervisor(id, core.name.clone(), core.clone());
        let _ = ready.send(core.clone());
        Registration(core)
    }

    /// The shared core.
    pub(crate) fn core(&self) -> &Arc<Core<T>> {
        &self.0
    }

    /// Leaves lookup and introspection at once: from `post_stop`, once the
    /// children are stopped (ractor may keep a stopped actor's state alive a
    /// little longer, in its parent's supervision event).
    pub(crate) fn withdraw(&self) {
        let id = self.0.actor.get_id();
        handles::unregister(id);
        introspect::unregister_supervisor(id);
    }
}

impl<T: Children> Drop for Registration<T> {
    fn drop(&mut self) {
        self.withdraw();
        self.0.children.kill_all();
    }
}

/// What a supervisor actor of a kind that starts empty is started with: its
/// options, and where to send its core once registered.
pub(crate) type StartArgs<T> = (SupervisorOptions, oneshot::Sender<Arc<Core<T>>>);

/// A supervisor being started.
pub type Starting<T> = BoxFuture<'static, Result<SupervisorRef<T>, StartError>>;

/// A kind of supervisor that starts empty, from its options alone: every kind
/// but [`Supervisor`](super::Supervisor), whose children come with it. Such a
/// kind is one_for_one, and `start`, `start_linked` and `child_spec` are the
/// same for all of them.
pub trait StartsEmpty: Children + Sized {
    /// Spawns the kind's actor, linked under the parent if one is given.
    #[doc(hidden)]
    const SPAWN: fn(SupervisorOptions, Option<ActorCell>) -> Starting<Self>;
}

impl<T: StartsEmpty> SupervisorRef<T> {
    /// Starts an unsupervised supervisor of this kind, with no children.
    pub async fn start(options: SupervisorOptions) -> Result<Self, StartError> {
        Self::start_under(options, None).await
    }

    /// Starts a supervisor of this kind linked under `supervisor`, which then
    /// sees it fail when it gives up.
    pub async fn start_linked(
        options: SupervisorOptions,
        supervisor: ActorCell,
    ) -> Result<Self, StartError> {
        Self::start_under(options, Some(supervisor)).await
    }

    async fn start_under(
        options: SupervisorOptions,
        parent: Option<ActorCell>,
    ) -> Result<Self, StartError> {
        options.check_dynamic(T::KIND)?;
        (T::SPAWN)(options, parent).await
    }

    /// This supervisor as a child of another (Elixir's `child_spec/1`): kind
    /// supervisor, infinite shutdown, registered under `options.name` so that
    /// `lookup` finds the current incarnation; it starts empty on every restart.
    pub fn child_spec(id: impl Into<String>, options: SupervisorOptions) -> ChildSpec {
        let name = options.name.clone();
        ChildSpec::supervisor(id, name, move |name, parent| {
            let started = Self::start_linked(options.renamed(name), parent);
            async move { Ok(started.await?.actor()) }
        })
    }

    /// [`StartsEmpty::SPAWN`] for a kind whose state `S` starts from [`StartArgs`].
    pub(crate) fn start_empty<S>(
        options: SupervisorOptions,
        parent: Option<ActorCell>,
    ) -> Starting<T>
    where
        S: Supervision<Children = T, Args = StartArgs<T>>,
    {
        Self::start_actor::<S>(options, parent, |options, ready| (options, ready)).boxed()
    }
}

/// A handle to a running supervisor of kind `T`. Cheap to clone.
///
/// Use it through its kinds' names: [`Supervisor`](super::Supervisor),
/// [`DynamicSupervisor`](super::DynamicSupervisor),
/// [`ProcessSupervisor`](crate::process::ProcessSupervisor),
/// [`TaskSupervisor`](crate::task::TaskSupervisor).
pub struct SupervisorRef<T: Children> {
    core: Arc<Core<T>>,
}

impl<T: Children> Clone for SupervisorRef<T> {
    fn clone(&self) -> Self {
        SupervisorRef {
            core: self.core.clone(),
        }
    }
}

impl<T: Children> fmt::Debug for SupervisorRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", T::KIND, self.id())
    }
}

impl<T: Children> SupervisorRef<T> {
    /// Starts the supervisor actor of the kind whose state is `S` (linked
    /// under `parent` if given); its `init` sends the core on the sender that
    /// `args` carries.
    pub(crate) async fn start_actor<S: Supervision<Children = T>>(
        options: SupervisorOptions,
        parent: Option<ActorCell>,
        args: impl FnOnce(SupervisorOptions, oneshot::Sender<Arc<Core<T>>>) -> S::Args,
    ) -> Result<Self, StartError> {
        let (ready, core) = oneshot::channel();
        let name = options.name.clone();
        let actor = SupervisorActor::<S>::new();
        server::spawn_actor(name, actor, args(options, ready), parent).await?;
        let core = core
            .await
            .map_err(|_| StartError::InitFailed(format!("{} stopped during start", T::KIND)))?;
        Ok(SupervisorRef { core })
    }

    /// What the handle shares with the supervisor actor.
    pub(crate) fn core(&self) -> &Arc<Core<T>> {
        &self.core
    }

    /// The running supervisor of this kind registered under `name`.
    pub fn lookup(name: &str) -> Option<Self> {
        handles::lookup(name).map(|core| SupervisorRef { core })
    }

    /// The supervisor's actor, for linking and monitoring.
    pub fn actor(&self) -> ActorCell {
        self.core.actor.clone()
    }

    /// The supervisor's actor id.
    pub fn id(&self) -> ActorId {
        self.core.actor.get_id()
    }

    /// Its name in introspection: the registered name, or its kind and id.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Whether the supervisor still runs.
    pub fn is_alive(&self) -> bool {
        crate::pid::actor_alive(&self.core.actor)
    }

    /// Every child in start order, running or not (`which_children/1`).
    pub fn which_children(&self) -> Result<Vec<ChildStatus>, SupervisorError> {
        self.alive()?;
        Ok(self.core.children.which_children())
    }

    /// Counts of children, running children, supervisors and workers (`count_children/1`).
    pub fn count_children(&self) -> Result<ChildCount, SupervisorError> {
        self.alive()?;
        Ok(self.core.children.count_children())
    }

    /// Stops the supervisor as its own parent would — its children first, each
    /// within its shutdown — and waits until it is gone.
    pub async fn stop(&self) {
        shut_down(&self.core.actor, Shutdown::Infinity).await;
    }

    /// Waits until the supervisor has exited, however it exits.
    pub async fn wait(&self) {
        let _ = self.core.actor.wait(None).await;
    }

    /// Sends the supervisor actor a request carrying a reply channel and waits
    /// for the answer, as long as it takes (OTP's supervisor calls are
    /// `infinity` too).
    pub(crate) async fn call<M: ractor::Message, R>(
        &self,
        request: impl FnOnce(oneshot::Sender<R>) -> M,
    ) -> Result<R, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.core
            .actor
            .send_message(request(tx))
            .map_err(|_| SupervisorError::SupervisorDown)?;
        rx.await.map_err(|_| SupervisorError::SupervisorDown)
    }

    /// `Err(SupervisorDown)` once the supervisor no longer runs.
    pub(crate) fn alive(&self) -> Result<(), SupervisorError> {
        match self.is_alive() {
            true => Ok(()),
            false => Err(SupervisorError::SupervisorDown),
        }
    }
}
