//! The GenServer that does nothing, shared by the integration tests (through
//! `common`) and by the messaging bench (through a `#[path]` module), so that
//! the smallest possible server is written once.

use runtime::{GenServer, Pid, ProcessError};

/// A server with no state and no messages: what spawn and stop cost, and
/// nothing else; also a second server type for tests that need one.
pub struct Idle;

impl GenServer for Idle {
    type Args = ();
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn init(&self, _myself: &Pid<Self>, _args: ()) -> Result<(), ProcessError> {
        Ok(())
    }
}
