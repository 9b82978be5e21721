//! `sequential`: the baseline. One thread runs every worker's work, one after another.
//!
//! Background workers (the CPU hogs of `convoy`) exist only to compete with the
//! foreground; with nothing running concurrently there is nothing for them to do,
//! so the baseline runs the foreground workers alone.

use super::worker::{run_worker, Control, NoGate};
use super::{merge, ModelRun, RunError};
use crate::measure::Rusage;
use crate::plan::{Amount, ModelKind, Plan};
use crate::runtime::interp::Lock;
use crate::runtime::shm::{SharedRegion, Sizer};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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

    let usage_before = Rusage::this_process();
    let epoch = Instant::now();
    let mut results = Vec::with_capacity(foreground.len());
    for &index in &foreground {
        let stop = AtomicU32::new(0);
        let left = AtomicU64::new(1);
        let control = Control {
            stop: &stop,
            foreground_left: &left,
            gate: &NoGate,
            epoch,
            amount,
            trace: plan.trace,
        };
        let timer = match amount {
            Amount::Duration(d) => Some(super::threaded::stop_after(d, &stop)),
            Amount::Ops(_) => None,
        };
        let result = std::thread::scope(|scope| {
            if let Some(timer) = timer {
                scope.spawn(timer);
            }
            let r = run_worker(workload, index, &shared, Lock::Free, &control);
            stop.store(1, Ordering::Relaxed);
            r
        });
        results.push(result.map_err(|e| RunError::WorkerFailed {
            model,
            index,
            message: e.to_string(),
        })?);
    }
    let wall = epoch.elapsed();
    let mut run = merge(plan, model, results, wall, std::process::id());
    run.usage = Rusage::this_process().since(&usage_before);
    run.outcome = workload.outcome(&shared, run.total_ops);
    Ok(run)
}
