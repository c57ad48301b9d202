//! Test servers shared by the runtime's integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use runtime::supervisor::{Children, SupervisorRef};
use runtime::{CallFlow, ExitReason, Flow, GenServer, Pid, ProcessError};

/// A shared log that servers write their lifecycle events into.
#[derive(Clone, Default)]
pub struct Journal(pub Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().push(entry.into());
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

/// A counter with every kind of message and every way to die.
pub struct Counter {
    pub journal: Journal,
}

#[derive(Debug)]
pub enum CounterCall {
    Get,
    Sleep(Duration),
    StopWith(i64),
}

#[derive(Debug)]
pub enum CounterCast {
    Add(i64),
    Crash,
    Panic,
    Stop,
}

#[derive(Debug, Clone)]
pub enum CounterInfo {
    Tick,
}

impl GenServer for Counter {
    type Args = i64;
    type State = i64;
    type Call = CounterCall;
    type Reply = i64;
    type Cast = CounterCast;
    type Info = CounterInfo;

    async fn init(&self, _myself: &Pid<Self>, start: i64) -> Result<i64, ProcessError> {
        if start < 0 {
            return Err("negative start".into());
        }
        self.journal.push(format!("init {start}"));
        Ok(start)
    }

    async fn handle_call(
        &self,
        _myself: &Pid<Self>,
        request: CounterCall,
        state: &mut i64,
    ) -> Result<CallFlow<i64>, ProcessError> {
        match request {
            CounterCall::Get => Ok(CallFlow::Reply(*state)),
            CounterCall::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(CallFlow::Reply(*state))
            }
            CounterCall::StopWith(n) => Ok(CallFlow::Stop(ExitReason::Normal, n)),
        }
    }

    async fn handle_cast(
        &self,
        _myself: &Pid<Self>,
        message: CounterCast,
        state: &mut i64,
    ) -> Result<Flow, ProcessError> {
        match message {
            CounterCast::Add(n) => {
                *state += n;
                Ok(Flow::Continue)
            }
            CounterCast::Crash => Err("crash requested".into()),
            CounterCast::Panic => panic!("panic requested"),
            CounterCast::Stop => Ok(Flow::Stop(ExitReason::Normal)),
        }
    }

    async fn handle_info(
        &self,
        _myself: &Pid<Self>,
        message: CounterInfo,
        state: &mut i64,
    ) -> Result<Flow, ProcessError> {
        match message {
            CounterInfo::Tick => *state += 1,
        }
        Ok(Flow::Continue)
    }

    async fn terminate(&self, _myself: &Pid<Self>, reason: &ExitReason, state: &mut i64) {
        self.journal.push(format!("terminate {reason} at {state}"));
    }
}

/// Polls `check` until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Children running under `supervisor` now; 0 once it is down.
pub fn active<T: Children>(supervisor: &SupervisorRef<T>) -> usize {
    supervisor.count_children().map_or(0, |count| count.active)
}
