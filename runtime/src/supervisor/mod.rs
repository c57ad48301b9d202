//! Supervisors with OTP's semantics, all built on one core.
//!
//! - [`restart`]: restart policies, shutdown, restart intensity.
//! - [`options`]: [`SupervisorOptions`], the flags every kind takes.
//! - [`children`]: what every kind reports — [`ChildStatus`], [`ChildCount`] —
//!   and the [`Children`] table each kind keeps.
//! - `handle`: [`SupervisorRef`], the one handle type (`lookup`,
//!   `which_children`, `count_children`, `stop`, `wait`), and the core it shares
//!   with the running actor.
//! - [`child_spec`]: how a supervisor starts, restarts and stops one ractor child.
//! - `actor`: the ractor actor every kind runs as (`Supervision` is what a
//!   kind plugs into it).
//! - `child`: one ractor child and its current incarnation (shared by the next two).
//! - [`supervisor`](mod@supervisor): [`Supervisor`], a strategy (one_for_one,
//!   one_for_all, rest_for_one) over ordered children.
//! - [`dynamic_supervisor`]: [`DynamicSupervisor`], a keyed table of children
//!   started on demand.
//!
//! The other kinds live with what they supervise and use the same core:
//! [`ProcessSupervisor`](crate::process::ProcessSupervisor) (lightweight
//! processes), [`TaskSupervisor`](crate::task::TaskSupervisor) (async jobs) and
//! [`ConsumerSupervisor`](crate::gen_stage::ConsumerSupervisor) (a worker per
//! GenStage event).

mod actor;
mod child;
pub mod child_spec;
pub mod children;
pub mod dynamic_supervisor;
mod handle;
pub mod options;
pub mod restart;
// Named after what it holds, as the other kinds' files are; the parent module
// is the family of supervisors.
#[allow(clippy::module_inception)]
pub mod supervisor;

pub use child_spec::{ChildSpec, StartFn, StartFuture};
pub use children::{ChildCount, ChildStatus, Children, SupervisorError};
pub use dynamic_supervisor::{DynamicSupervisor, KeyedChildren};
pub use handle::{Starting, StartsEmpty, SupervisorRef};
pub use options::{Strategy, SupervisorOptions};
pub use restart::{Intensity, Restart, Shutdown};
pub use supervisor::{OrderedChildren, Supervisor};

pub(crate) use actor::{Init, Supervision};
pub(crate) use handle::{Core, Registration, StartArgs};
