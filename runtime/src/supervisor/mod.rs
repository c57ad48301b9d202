//! Supervisors with OTP's semantics.
//!
//! - [`restart`]: restart policies, shutdown, restart intensity (shared by all).
//! - [`child_spec`]: how a supervisor starts, restarts and stops one ractor child.
//! - [`static_sup`]: [`Supervisor`], OTP's supervisor (one_for_one, one_for_all,
//!   rest_for_one) over a fixed list of child specs.
//! - [`dynamic`]: [`DynamicSupervisor`], children started on demand.

pub mod child_spec;
pub mod dynamic;
pub mod restart;
pub mod static_sup;

pub use child_spec::{ChildCount, ChildSpec, ChildStatus, StartFn, StartFuture, SupervisorError};
pub use dynamic::{DynamicSupervisor, DynamicSupervisorOptions};
pub use restart::{Intensity, Restart, Shutdown};
pub use static_sup::{Strategy, Supervisor, SupervisorOptions};
