//! `io-bound`: a little computation, then a real blocking system call.

use super::{
    duration_param, spin, Await, Common, ParamError, Step, WorkerBody, WorkerSpec, Workload,
};
use crate::runtime::interp::Interp;
use crate::runtime::shm::SharedRegion;
use serde::Deserialize;
use std::time::Duration;

/// Parameters of `io-bound`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoParams {
    /// How long each op blocks (`1ms`).
    pub io_wait: String,
    /// Simulated bytecodes around each blocking call.
    #[serde(default)]
    pub ticks_per_op: i64,
}

/// Every op blocks in `nanosleep` with the GIL released.
#[derive(Debug)]
pub struct IoBound {
    io_wait: Duration,
    ticks_per_op: u64,
    workers: Vec<WorkerSpec>,
}

impl IoBound {
    /// Checks the parameters.
    pub fn new(params: IoParams, common: Common) -> Result<IoBound, ParamError> {
        let io_wait = duration_param("io_wait", &params.io_wait)?;
        if params.ticks_per_op < 0 {
            return Err(ParamError::field("ticks_per_op", "must not be negative"));
        }
        Ok(IoBound {
            io_wait,
            ticks_per_op: params.ticks_per_op as u64,
            workers: vec![
                WorkerSpec {
                    role: "io",
                    ops: Some(common.ops)
                };
                common.workers
            ],
        })
    }
}

struct Sleeper<'a> {
    workload: &'a IoBound,
    state: u64,
    /// As a coroutine: the op is suspended in its sleep.
    sleeping: bool,
}

impl WorkerBody for Sleeper<'_> {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        spin(interp, self.workload.ticks_per_op, &mut self.state);
        let wait = self.workload.io_wait;
        interp.allow_threads(|| std::thread::sleep(wait));
        Ok(())
    }

    /// `await asyncio.sleep(io_wait)` in place of `time.sleep`.
    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        if std::mem::take(&mut self.sleeping) {
            return Ok(Step::Done);
        }
        spin(interp, self.workload.ticks_per_op, &mut self.state);
        self.sleeping = true;
        Ok(Step::Await(Await::Sleep(self.workload.io_wait)))
    }
}

impl Workload for IoBound {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        _shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        Ok(Box::new(Sleeper {
            workload: self,
            state: index as u64,
            sleeping: false,
        }))
    }
}
