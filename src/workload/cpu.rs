//! `cpu-bound`: pure computation, never blocking.

use super::bytecode;
use super::{Await, Common, ParamError, Step, WorkerBody, WorkerSpec, Workload};
use crate::runtime::interp::{Interp, TickKind};
use crate::runtime::shm::SharedRegion;
use serde::Deserialize;

/// Bytecodes per loop iteration, as the twin counts them: its op runs
/// `ticks_per_op / 10` iterations of `for i in range(n): x = (x * 31 + i) & 0xFFFF`.
const TICKS_PER_ITERATION: u64 = 10;

/// That loop body's bytecodes before its backward jump (CPython 2.7 to 3.9 alike):
/// the fast ones (`STORE_FAST`, `LOAD_FAST`, `LOAD_CONST`), which no interpreter
/// checks after and Python 2's ticker skips; `FOR_ITER` and the three binary
/// operations, which ≤ 3.9 checks after and 2.7 counts (`FOR_ITER`'s `PREDICT` is
/// off under computed gotos: see [`crate::runtime::interp`]). Eleven bytecodes with
/// the jump; the `STORE_FAST i` after `FOR_ITER` costs no work of its own, so an
/// iteration still does ten ticks' work.
const LOOP_BODY: [TickKind; 10] = [
    TickKind::Plain, // FOR_ITER
    TickKind::Fast,  // STORE_FAST i
    TickKind::Fast,  // LOAD_FAST x
    TickKind::Fast,  // LOAD_CONST 31
    TickKind::Plain, // BINARY_MULTIPLY
    TickKind::Fast,  // LOAD_FAST i
    TickKind::Plain, // BINARY_ADD
    TickKind::Fast,  // LOAD_CONST 0xFFFF
    TickKind::Plain, // BINARY_AND
    TickKind::Fast,  // STORE_FAST x
];

/// Runs `ticks` simulated bytecodes of computation on `state`.
///
/// Each tick costs about what one CPython bytecode does (arithmetic and a read of
/// the simulated interpreter's memory), so that a switch interval spans a
/// realistic number of check points.
#[inline]
pub fn spin(interp: &mut Interp<'_>, ticks: u64, state: &mut u64) {
    let mut x = *state;
    let iterations = ticks.div_ceil(TICKS_PER_ITERATION);
    for i in 0..iterations {
        for (n, kind) in LOOP_BODY.into_iter().enumerate() {
            match kind {
                TickKind::Fast => interp.fast_tick(),
                TickKind::Plain => interp.tick(),
                TickKind::CheckPoint => interp.check_point(),
            }
            // `STORE_FAST i` (n == 1) rides on `FOR_ITER`'s work.
            if n != 1 {
                x = bytecode::work(x, i, bytecode::CPU_LOOP + n);
            }
        }
        interp.check_point(); // JUMP_ABSOLUTE
        x = bytecode::work(x, i, bytecode::CPU_LOOP + LOOP_BODY.len());
    }
    *state = std::hint::black_box(x);
}

/// Parameters of `cpu-bound`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuParams {
    /// Simulated bytecodes per op.
    pub ticks_per_op: i64,
}

/// Every worker computes; none blocks.
#[derive(Debug)]
pub struct CpuBound {
    ticks_per_op: u64,
    workers: Vec<WorkerSpec>,
}

impl CpuBound {
    /// Checks the parameters.
    pub fn new(params: CpuParams, common: Common) -> Result<CpuBound, ParamError> {
        if params.ticks_per_op < 1 {
            return Err(ParamError::field("ticks_per_op", "must be at least 1"));
        }
        Ok(CpuBound {
            ticks_per_op: params.ticks_per_op as u64,
            workers: vec![
                WorkerSpec {
                    role: "cpu",
                    ops: Some(common.ops)
                };
                common.workers
            ],
        })
    }
}

/// A worker that computes: `ticks` simulated bytecodes per op.
pub(super) struct Spinner {
    ticks: u64,
    state: u64,
    /// As a coroutine, `await asyncio.sleep(0)` after each op (convoy's hogs are
    /// polite between ops, never inside one); cpu-bound's workers never await.
    yields: bool,
    /// As a coroutine: the op is suspended in that await.
    yielded: bool,
}

impl Spinner {
    /// Worker `index`'s spinner (the index seeds its state, so workers differ).
    pub(super) fn new(ticks: u64, index: usize) -> Spinner {
        Spinner {
            ticks,
            state: index as u64,
            yields: false,
            yielded: false,
        }
    }

    /// A spinner whose coroutine gives the loop back after each op.
    pub(super) fn yielding(ticks: u64, index: usize) -> Spinner {
        Spinner {
            yields: true,
            ..Spinner::new(ticks, index)
        }
    }
}

impl WorkerBody for Spinner {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        spin(interp, self.ticks, &mut self.state);
        Ok(())
    }

    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        if std::mem::take(&mut self.yielded) {
            return Ok(Step::Done);
        }
        self.op(interp)?;
        self.yielded = self.yields;
        Ok(if self.yields {
            Step::Await(Await::Yield)
        } else {
            Step::Done
        })
    }
}

impl Workload for CpuBound {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        _shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        Ok(Box::new(Spinner::new(self.ticks_per_op, index)))
    }
}
