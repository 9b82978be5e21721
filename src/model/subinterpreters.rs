//! `subinterpreters`: N OS threads in one process, each running its worker in an
//! interpreter of its own with a GIL of its own (PEP 684, CPython 3.12+), as
//! `_interpreters.create()` makes them and a thread per interpreter drives them.
//!
//! Like `processes`, nobody else ever wants a worker's GIL, so CPU-bound work
//! scales with the cores; unlike them, there is no fork: the workers are threads
//! ([`super::threaded::run_with`]), and the start-up is creating the
//! interpreters ([`Interpreter::create`], one after another on the calling
//! thread, as the twin does), reported as `startup_ns` like the processes' fork.
//! Interpreters share no objects: the run's region header says so
//! ([`xi::install`]), and the workload's counter and queue items then cross a
//! channel that copies each message ([`crate::workload::xi`]).
//!
//! `hold_fraction` is the mean over the workers' own GILs, as for `processes`.

use super::threaded;
use super::{ModelRun, RunError};
use crate::plan::{ModelKind, Plan};
use crate::workload::xi::{self, Interpreter};
use std::time::Instant;

const MODEL: ModelKind = ModelKind::Subinterpreters;

/// Creates one interpreter per worker, then runs each worker on its own thread
/// in its own interpreter.
pub fn run(plan: &Plan) -> Result<ModelRun, RunError> {
    let workers = plan.workload.workers().len();
    let start = Instant::now();
    let mut interpreters: Vec<Interpreter> = Vec::with_capacity(workers);
    for index in 0..workers {
        // `--timeout` bounds the start-up too: a thousand interpreters take
        // seconds to create.
        if let Some(timeout) = plan.timeout.filter(|&t| start.elapsed() >= t) {
            return Err(RunError::Timeout {
                model: MODEL,
                timeout,
                workers: Vec::new(),
            });
        }
        let interpreter = Interpreter::create().map_err(|source| RunError::Os {
            model: MODEL,
            what: format!("creating interpreter {index} of {workers}"),
            source,
        })?;
        interpreters.push(interpreter);
    }
    let startup = start.elapsed();
    let mut run = threaded::run_with(plan, MODEL, |region| {
        xi::install(region);
        Ok(())
    })?;
    // Destroyed once every worker is done with it, as the twin does.
    drop(interpreters);
    run.startup = Some(startup);
    run.gil_held /= workers.max(1) as u32;
    Ok(run)
}
