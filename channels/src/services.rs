//! What every connection and channel of an endpoint shares: PubSub, the
//! supervisors channel processes and async-reply tasks run under, the signer,
//! metrics, and the table of open connections the drain walks. One `Arc<Services>` per endpoint; each mounted socket and each
//! joined channel holds a pointer to it instead of copies of each piece.

use std::sync::Arc;

use runtime::process::ProcessSupervisor;
use runtime::server::StartError;
use runtime::supervisor::SupervisorOptions;
use runtime::task::TaskSupervisor;
use tokio::sync::OnceCell;

use crate::connections::Connections;
use crate::metrics::Metrics;
use crate::pubsub::PubSub;
use crate::token::Signer;

/// An endpoint's shared services.
pub struct Services {
    pub(crate) pubsub: PubSub,
    pub(crate) supervisor: ProcessSupervisor,
    pub(crate) signer: Option<Signer>,
    pub(crate) metrics: Metrics,
    /// The open socket connections, for the drain.
    pub(crate) connections: Arc<Connections>,
    tasks: OnceCell<TaskSupervisor>,
}

impl Services {
    /// Services with a task supervisor started on first use (or set with [`Self::with_tasks`]).
    pub fn new(pubsub: PubSub, supervisor: ProcessSupervisor) -> Self {
        Services {
            pubsub,
            supervisor,
            signer: None,
            metrics: Metrics::local(),
            connections: Arc::default(),
            tasks: OnceCell::new(),
        }
    }

    /// Uses this signer (long-poll session tokens need one).
    pub fn with_signer(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Uses these metrics.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs async replies under this task supervisor (one in the app's tree).
    pub fn with_tasks(self, tasks: TaskSupervisor) -> Self {
        let _ = self.tasks.set(tasks);
        self
    }

    /// The node's PubSub.
    pub fn pubsub(&self) -> &PubSub {
        &self.pubsub
    }

    /// The supervisor of channel processes.
    pub fn supervisor(&self) -> &ProcessSupervisor {
        &self.supervisor
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The task supervisor for async replies, started unsupervised on first use
    /// when the app did not provide one.
    pub async fn tasks(&self) -> Result<&TaskSupervisor, StartError> {
        self.tasks
            .get_or_try_init(|| TaskSupervisor::start(SupervisorOptions::default()))
            .await
    }
}
