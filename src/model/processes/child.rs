//! Inside a worker process, however it was started: the same op loop as a thread,
//! under this process's own GIL, then one report up the result pipe.

use super::fault;
use super::memory::{ControlBlock, Memory};
use super::wire::{Report, WireResult, READY};
use crate::measure::clock;
use crate::model::worker::{run_worker, Control, StartGate};
use crate::plan::Plan;
use crate::runtime::gil::Gil;
use crate::runtime::interp::Lock;
use crate::sys;
use nix::unistd::Pid;
use std::fs::File;
use std::io::Write;

/// Makes a new process a well-behaved worker: default signal dispositions (it may
/// have inherited the supervisor's handlers) and death with its parent.
pub(super) fn enter(parent: Pid) -> std::io::Result<()> {
    sys::signal::reset_in_child();
    sys::process::die_with_parent(parent)
}

/// What one worker process is to do.
#[derive(Debug)]
pub(super) struct Assignment<'a> {
    /// The plan (the parent's copy after fork, or rebuilt after exec).
    pub plan: &'a Plan,
    /// Which worker.
    pub index: usize,
    /// The run's shared memory.
    pub memory: &'a Memory,
    /// The run's time zero, for traces.
    pub epoch_mono_ns: u64,
    /// Where the ready byte and the report go.
    pub results: File,
}

/// The start line, as a worker process sees it: say "ready" up the pipe, then wait
/// on the control block's futex until the supervisor opens it.
struct Gate<'a> {
    results: &'a File,
    block: ControlBlock<'a>,
}

impl StartGate for Gate<'_> {
    fn arrive_and_wait(&self) {
        // A failed write means the supervisor is gone; the death signal follows.
        let _ = (&*self.results).write_all(&[READY]);
        self.block.wait_at_gate();
    }
}

/// Runs the worker and reports; returns the process's exit code.
pub(super) fn run(job: Assignment<'_>) -> i32 {
    let block = ControlBlock::place(&job.memory.control);
    // Every CPython process has its own GIL: uncontended unless the worker's own
    // threads (none here) wanted it too.
    let gil = Gil::new(job.plan.gil.switch_interval);
    let gate = Gate {
        results: &job.results,
        block,
    };
    let control = Control {
        stop: block.stop,
        foreground_left: block.foreground_left,
        gate: &gate,
        epoch: clock::from_mono_ns(job.epoch_mono_ns),
        amount: job.plan.amount,
        trace: job.plan.trace,
        stop_after: None,
        deadline: None,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fault::inject(job.index);
        run_worker(
            &*job.plan.workload,
            job.index,
            &job.memory.shared,
            Lock::Gil(&gil),
            &control,
        )
    }));
    let report = match outcome {
        Ok(Ok(result)) => Report::Done(Box::new(WireResult::pack(result))),
        Ok(Err(e)) => Report::Failed(e.to_string()),
        Err(panic) => Report::Failed(crate::model::threaded::panic_message(&panic)),
    };
    let failed = matches!(report, Report::Failed(_));
    if failed {
        block.stop_all();
    }
    match (&job.results).write_all(&report.encode()) {
        Ok(()) if !failed => 0,
        _ => 1,
    }
}

/// Reports a failure that happened before the worker could run (a spawned worker
/// that could not rebuild its plan, say).
pub(super) fn report_failure(results: &File, message: String) -> i32 {
    let _ = (&*results).write_all(&Report::Failed(message).encode());
    1
}
