//! `sequential`: the baseline. One thread runs every worker's work, one after another.
//!
//! Background workers (the CPU hogs of `convoy`) exist only to compete with the
//! foreground; with nothing running concurrently there is nothing for them to do,
//! so the baseline runs the foreground workers alone.
//!
//! No thread but the caller's: the worker loop itself stops at the end of a
//! `--duration` and at `--timeout`'s deadline (it reads the clock after every op
//! anyway), so the baseline runs under any thread limit and never outlives
//! `--timeout` by more than one op. Ctrl-C and SIGTERM are caught for the run and
//! looked at in the same place: the run ends "interrupted" (exit 130) within one
//! op, rather than dying of the signal.

use super::worker::{run_worker, Control, NoGate};
use super::{merge, ModelRun, RunError};
use crate::measure::Rusage;
use crate::plan::{Amount, ModelKind, Plan};
use crate::runtime::interp::Lock;
use crate::runtime::shm::{SharedRegion, Sizer};
use crate::sys::signal::Interrupts;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Instant;

/// Runs the plan's foreground workers one after another on this thread.
pub fn run(plan: &Plan) -> Result<ModelRun, RunError> {
    let model = ModelKind::Sequential;
    let workload = &*plan.workload;
    let mut sizer = Sizer::default();
    workload.shared_layout(&mut sizer);
    let shared = SharedRegion::new(sizer.bytes()).map_err(|source| RunError::Os {
        model,
        what: "mapping shared memory".into(),
        source,
    })?;
    let foreground: Vec<usize> = (0..workload.workers().len())
        .filter(|&i| workload.workers()[i].is_foreground())
        .collect();
    // With a duration, the baseline splits it among the workers it runs in turn.
    let amount = match plan.amount {
        Amount::Duration(d) => Amount::Duration(d / foreground.len().max(1) as u32),
        ops => ops,
    };

    // Put back as it was when this is dropped, at the end of the run.
    let interrupts = Interrupts::catch().map_err(|source| RunError::Os {
        model,
        what: "catching SIGINT and SIGTERM".into(),
        source,
    })?;
    let usage_before = Rusage::this_process();
    let epoch = Instant::now();
    let deadline = plan.timeout.and_then(|t| epoch.checked_add(t));
    let mut results = Vec::with_capacity(foreground.len());
    for (done, &index) in foreground.iter().enumerate() {
        if interrupts.caught() {
            return Err(RunError::Interrupted);
        }
        let stop = AtomicU32::new(0);
        let left = AtomicU64::new(1);
        let control = Control {
            stop: &stop,
            foreground_left: &left,
            gate: &NoGate,
            epoch,
            amount,
            trace: plan.trace,
            stop_after: match amount {
                Amount::Duration(d) => Some(d),
                Amount::Ops(_) => None,
            },
            deadline,
        };
        let result = run_worker(workload, index, &shared, Lock::Free, &control);
        results.push(result.map_err(|e| match (e.kind(), plan.timeout) {
            _ if interrupts.caught() => RunError::Interrupted,
            (std::io::ErrorKind::TimedOut, Some(timeout)) => RunError::Timeout {
                model,
                timeout,
                workers: foreground[done..].to_vec(),
            },
            _ => RunError::WorkerFailed {
                model,
                index,
                message: e.to_string(),
            },
        })?);
    }
    let wall = epoch.elapsed();
    let mut run = merge(plan, model, results, wall, std::process::id());
    run.usage = Rusage::this_process().since(&usage_before);
    run.outcome = workload.outcome(&shared, run.total_ops);
    Ok(run)
}
