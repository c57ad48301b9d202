//! Running a [`GenServer`] as a ractor actor: the backend for services.
//!
//! Services — inventory, replication, PubSub, anything supervised by a
//! [`Supervisor`](crate::supervisor::Supervisor) or reachable by name — are
//! ractor actors, so that supervision, the named registry and (later) the
//! cluster see them. This adapter maps the GenServer callbacks onto ractor's
//! `pre_start` / `handle` / `post_stop` and keeps OTP's exit semantics: a clean
//! stop ends the actor normally, a crash (error or panic) ends it as failed so
//! its supervisor sees a crash, and `terminate` runs in both cases.

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr};
use tokio::sync::oneshot;

use crate::dispatch::{catching, dispatch, terminate};
use crate::exit::ExitReason;
use crate::gen_server::{Flow, GenServer};
use crate::pid::{Envelope, Pid};

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A process is already registered under this name (`{:error, {:already_started, pid}}`).
    #[error("a process named {0:?} is already running")]
    AlreadyStarted(String),
    /// `init` returned an error or panicked.
    #[error("init failed: {0}")]
    InitFailed(String),
}

impl From<SpawnErr> for StartError {
    fn from(err: SpawnErr) -> Self {
        match err {
            SpawnErr::ActorAlreadyRegistered(name) => StartError::AlreadyStarted(name),
            SpawnErr::StartupFailed(e) => StartError::InitFailed(e.to_string()),
            other => StartError::InitFailed(other.to_string()),
        }
    }
}

/// Where and how to start a server.
#[derive(Default)]
pub struct StartOptions {
    /// Registers the actor under this name (ractor's registry; see also [`crate::registry`]).
    pub name: Option<String>,
    /// Links the actor under this supervisor, which then sees its exits.
    pub supervisor: Option<ActorCell>,
}

/// Starts an unnamed, unsupervised server and waits for `init`.
pub async fn start<G: GenServer>(handler: G, args: G::Args) -> Result<Pid<G>, StartError> {
    start_with(StartOptions::default(), handler, args).await
}

/// Starts a server with a name and/or a supervisor and waits for `init`.
pub async fn start_with<G: GenServer>(
    options: StartOptions,
    handler: G,
    args: G::Args,
) -> Result<Pid<G>, StartError> {
    let actor = spawn_actor(options.name, ServerActor(handler), args, options.supervisor).await?;
    Ok(Pid::from_actor(actor))
}

/// Spawns any ractor actor, linked under `supervisor` when one is given: how
/// servers, supervisors and GenStage stages all start.
pub(crate) async fn spawn_actor<A: Actor>(
    name: Option<String>,
    actor: A,
    args: A::Arguments,
    supervisor: Option<ActorCell>,
) -> Result<ActorRef<A::Msg>, StartError> {
    let (actor, _join) = match supervisor {
        Some(supervisor) => Actor::spawn_linked(name, actor, args, supervisor).await?,
        None => Actor::spawn(name, actor, args).await?,
    };
    Ok(actor)
}

/// The server registered under `name`, if it runs and is a `G`.
pub fn whereis<G: GenServer>(name: &str) -> Option<Pid<G>> {
    let cell = ractor::registry::where_is(name)?;
    cell.is_message_type_of::<Envelope<G>>()
        .unwrap_or(false)
        .then(|| Pid::from_actor(ActorRef::from(cell)))
}

/// The ractor actor that hosts a GenServer.
pub struct ServerActor<G>(pub G);

/// The hosted state plus what the adapter itself tracks.
pub struct ServerState<G: GenServer> {
    state: G::State,
    myself: Pid<G>,
    monitors: Vec<oneshot::Sender<ExitReason>>,
    /// Set once `terminate` ran, so that `post_stop` does not run it again.
    terminated: bool,
}

impl<G: GenServer> ServerState<G> {
    fn finish(&mut self, reason: &ExitReason) {
        self.terminated = true;
        for monitor in self.monitors.drain(..) {
            let _ = monitor.send(reason.clone());
        }
    }
}

impl<G: GenServer> Actor for ServerActor<G> {
    type Msg = Envelope<G>;
    type State = ServerState<G>;
    type Arguments = G::Args;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: G::Args,
    ) -> Result<Self::State, ActorProcessingErr> {
        let pid = Pid::from_actor(myself);
        let state = catching(self.0.init(&pid, args))
            .await
            .map_err(|reason| reason.to_string())?;
        Ok(ServerState {
            state,
            myself: pid,
            monitors: Vec::new(),
            terminated: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if st.terminated {
            // Stopping: ractor may still hand us messages queued before the stop
            // signal. Dropping them fails pending calls with `Exited`.
            return Ok(());
        }
        let monitors = &mut st.monitors;
        let next = dispatch(&self.0, &st.myself, message, &mut st.state, |tx| {
            monitors.push(tx)
        })
        .await;
        match next {
            Flow::Continue => Ok(()),
            Flow::Stop(reason) => {
                terminate(&self.0, &st.myself, &reason, &mut st.state).await;
                st.finish(&reason);
                if reason.is_normal() {
                    myself.stop(Some(reason.to_ractor()));
                    Ok(())
                } else {
                    // An error from `handle` makes ractor report `ActorFailed`.
                    Err(reason.to_string().into())
                }
            }
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !st.terminated {
            // Stopped from outside through ractor (a supervisor shutting it down).
            let reason = ExitReason::Shutdown;
            terminate(&self.0, &st.myself, &reason, &mut st.state).await;
            st.finish(&reason);
        }
        Ok(())
    }
}
