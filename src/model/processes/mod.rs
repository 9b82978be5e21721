//! `processes`: N worker processes, each with its own (uncontended) GIL — the way
//! Python's multiprocessing sidesteps the GIL, with its costs made visible.
//!
//! Each worker runs the same [`run_worker`](super::worker::run_worker) loop as a
//! thread would, over shared state in a `MAP_SHARED` memory file ([`memory`]), and
//! sends its histograms and counters back up a pipe ([`wire`]); the supervisor
//! merges them into rows of the same shape as the thread models'. Workers start by
//! one of Python's three start methods ([`launch`]): `fork`, `spawn` (fork + exec
//! of gilbench itself) or `forkserver` (a server forked early). The time from the
//! first launch until every worker is ready is reported apart from the work, as
//! `startup_ns`.
//!
//! Nothing is left behind ([`supervise`]): every worker is reaped, whether the run
//! completes, a worker crashes, `--timeout` passes, the user presses Ctrl-C or a
//! fork fails; workers die with their parent (PR_SET_PDEATHSIG); the memory file
//! has no name, so `/dev/shm` stays empty.
//!
//! Reported figures: CPU time, context switches and faults are the workers' (from
//! `RUSAGE_CHILDREN` once they are reaped) plus the supervisor's own; `hold_fraction`
//! is the mean over the workers' own GILs (each process has one), so 100% means
//! every worker ran Python code for the whole wall time.

mod child;
mod fault;
mod forkserver;
mod launch;
mod memory;
mod spawn;
mod supervise;
mod wire;

pub use fault::VARIABLE as FAULT_VARIABLE;

use super::{merge, ModelRun, RunError};
use crate::cli::WorkerArgs;
use crate::measure::{clock, Rusage};
use crate::plan::{ModelKind, Plan, StartMethod};
use crate::sys::signal::Interrupts;
use forkserver::ForkServer;
use launch::Launcher;
use memory::{ControlBlock, Geometry, Memory};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;
use supervise::{Ending, Supervisor};
use wire::Report;

const MODEL: ModelKind = ModelKind::Processes;

/// The fork server started early by [`prepare`], waiting for its run.
static EARLY_SERVER: Mutex<Option<ForkServer>> = Mutex::new(None);

/// Keeps what [`prepare`] started alive until dropped (then shuts it down, if the
/// run never took it).
#[derive(Debug)]
pub struct Prepared(());

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Ok(mut early) = EARLY_SERVER.lock() {
            early.take();
        }
    }
}

/// Does what must happen before any model runs: with `--start-method forkserver`,
/// forks the fork server while gilbench is still single-threaded.
pub fn prepare(plan: &Plan) -> Result<Prepared, RunError> {
    if plan.models.contains(&MODEL) && plan.start_method == StartMethod::Forkserver {
        let server = ForkServer::start(plan).map_err(|source| RunError::Os {
            model: MODEL,
            what: fork_server_failure(&source),
            source,
        })?;
        *EARLY_SERVER.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
    }
    Ok(Prepared(()))
}

/// `gilbench __worker`: the life of a spawned worker process. Never returns.
pub fn spawned_worker(args: &WorkerArgs) -> anyhow::Result<()> {
    if let Some(why) = spawn::reached_by_hand(args) {
        return Err(crate::plan::InputError::flag(
            spawn::WORKER_COMMAND,
            format!(
                "internal: the worker process `--start-method spawn` starts, not a command \
                 to run by hand ({why}); see `gilbench --help`"
            ),
        )
        .into());
    }
    spawn::worker_main(args)
}

/// Runs the plan's workers as processes.
pub fn run(plan: &Plan) -> Result<ModelRun, RunError> {
    run_as(plan, MODEL, |_| Ok(()))
}

/// Runs the plan's workers as processes for `model`; `before_launch` sees the
/// workload's shared region before any worker starts (the `manager` model records
/// there where its server is).
pub(crate) fn run_as(
    plan: &Plan,
    model: ModelKind,
    before_launch: impl FnOnce(&crate::runtime::shm::SharedRegion) -> std::io::Result<()>,
) -> Result<ModelRun, RunError> {
    let os = |what: &str| {
        let what = what.to_string();
        move |source| RunError::Os {
            model,
            what,
            source,
        }
    };
    let specs = plan.workload.workers();
    raise_fd_limit(specs.len());

    let memory = Memory::create(Geometry::of(&*plan.workload))
        .map_err(os("creating the shared memory file"))?;
    before_launch(&memory.shared).map_err(os("preparing the shared memory"))?;
    let foreground = specs.iter().filter(|w| w.is_foreground()).count();
    ControlBlock::place(&memory.control)
        .foreground_left
        .store(foreground as u64, Ordering::Relaxed);
    let launcher = match plan.start_method {
        StartMethod::Fork => {
            // Threads of an earlier model may still be exiting; wait for them before
            // the start-up clock runs (fork checks again, and refuses otherwise).
            crate::sys::process::wait_single_threaded().map_err(|source| RunError::Os {
                model,
                what: "forking workers (use --start-method forkserver or spawn)".into(),
                source,
            })?;
            Launcher::Fork
        }
        StartMethod::Spawn => Launcher::Spawn,
        StartMethod::Forkserver => {
            let early = EARLY_SERVER
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let server = match early {
                Some(server) => server,
                None => ForkServer::start(plan).map_err(|source| RunError::Os {
                    model: MODEL,
                    what: fork_server_failure(&source),
                    source,
                })?,
            };
            Launcher::Server(server)
        }
    };
    let interrupts = Interrupts::catch().map_err(os("catching SIGINT and SIGTERM"))?;

    // Should a fork server die, its workers are re-parented to us, not to init,
    // so we can reap them (see `Supervisor::reap_orphans`).
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let self_before = Rusage::this_process();
    let children_before = Rusage::children();
    let epoch_mono_ns = clock::mono_ns();
    let supervised = Supervisor::new(plan, &memory, &interrupts, launcher, epoch_mono_ns).run();
    // Every worker is reaped now, so RUSAGE_CHILDREN includes them all.
    let usage =
        Rusage::children().since(&children_before) + Rusage::this_process().since(&self_before);
    drop(interrupts);
    let _ = nix::sys::prctl::set_child_subreaper(false);

    let workers = supervised.workers;
    match supervised.ending {
        Ending::Completed => {}
        Ending::Interrupted => return Err(RunError::Interrupted),
        Ending::LaunchFailed { index, error } => {
            return Err(RunError::Os {
                model,
                what: launch_failure(plan, index, &error),
                source: error,
            })
        }
        Ending::TimedOut { workers } => {
            return Err(RunError::Timeout {
                model,
                timeout: plan.timeout.unwrap_or_default(),
                workers,
            })
        }
        Ending::Failed { index } => {
            let message = workers
                .iter()
                .find(|w| w.index == index)
                .map_or_else(|| "failed".into(), |w| w.failure());
            return Err(RunError::WorkerFailed {
                model,
                index,
                message,
            });
        }
    }

    let start_mono_ns = supervised.start_mono_ns.unwrap_or(epoch_mono_ns);
    let mut pids = vec![0; specs.len()];
    let mut last_finish = start_mono_ns;
    let mut results = Vec::with_capacity(workers.len());
    for w in workers {
        pids[w.index] = w.pid.as_raw() as u32;
        let garbled = |what: String| RunError::WorkerFailed {
            model,
            index: w.index,
            message: format!("sent a garbled report: {what}"),
        };
        let Some(Report::Done(result)) = w.report else {
            return Err(garbled("no result".into()));
        };
        last_finish = last_finish.max(result.finished_mono_ns());
        results.push(result.unpack().map_err(|e| garbled(e.to_string()))?);
    }
    let wall = Duration::from_nanos(last_finish - start_mono_ns);
    let mut run = merge(plan, model, results, wall, std::process::id());
    for trace in &mut run.traces {
        trace.pid = pids[trace.index];
    }
    // Each process has its own GIL: report the mean over them.
    run.gil_held /= specs.len().max(1) as u32;
    run.usage = usage;
    run.outcome = plan.workload.outcome(&memory.shared, run.total_ops);
    run.startup = supervised.startup;
    Ok(run)
}

/// What failed when the fork server could not start, with the usual cause.
fn fork_server_failure(error: &std::io::Error) -> String {
    if error.raw_os_error() == Some(libc::EAGAIN) {
        crate::sys::process::nproc_refused("starting the fork server (--start-method forkserver)")
    } else {
        "starting the fork server".into()
    }
}

/// What was being done when a launch failed, with a hint for the usual causes.
fn launch_failure(plan: &Plan, index: usize, error: &std::io::Error) -> String {
    let count = plan.workload.workers().len();
    let method = plan.start_method.name();
    let doing = format!("starting worker {index} of {count} by {method}");
    if error.raw_os_error() == Some(libc::EAGAIN) {
        return crate::sys::process::nproc_refused(&doing);
    }
    let hint = if error.to_string().contains("refusing to fork") {
        " (use --start-method forkserver or spawn)"
    } else {
        ""
    };
    format!("{doing}{hint}")
}

/// Raises the soft limit on open files if `workers` result pipes might not fit.
fn raise_fd_limit(workers: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let needed = (workers as u64) * 2 + 64;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < needed && soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, needed.min(hard), hard);
        }
    }
}
