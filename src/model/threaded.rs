//! `gil`, `gil-3.9`, `gil-legacy` and `threads`: one OS thread per worker in this
//! process.
//!
//! They differ only in the lock a worker must hold and where its interpreter loop
//! looks at it: CPython 3.10+'s GIL, the same GIL looked at as 3.9 did, Python 2's,
//! or none. Threads are detached rather than scoped so that a timeout
//! can give up on a stuck worker: the run reports it, and exiting the process ends it.

use super::worker::{run_worker, Control, StartGate, WorkerResult};
use super::{merge, ModelRun, RunError};
use crate::measure::Rusage;
use crate::plan::{Amount, ModelKind, Plan};
use crate::runtime::gil::{Gil, LegacyGil};
use crate::runtime::interp::Lock;
use crate::runtime::shm::{FutexLock, SharedRegion, Sizer};
use crossbeam::channel;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Stack per worker thread: workers need little, and `--workers 1000` should not
/// reserve gigabytes of address space.
const WORKER_STACK: usize = 256 * 1024;

/// How long workers get to notice a stop request after a timeout.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The lock all workers of one run share.
enum SharedLock {
    Free,
    Gil(Gil),
    Gil39(Gil),
    Legacy(LegacyGil, u32),
}

impl SharedLock {
    fn as_lock(&self) -> Lock<'_> {
        match self {
            SharedLock::Free => Lock::Free,
            SharedLock::Gil(gil) => Lock::Gil(gil),
            SharedLock::Gil39(gil) => Lock::Gil39(gil),
            SharedLock::Legacy(gil, interval) => Lock::Legacy(gil, *interval),
        }
    }
}

/// The start line as the twins' `threading.Barrier` behaves under a GIL.
///
/// A Python barrier is a `Condition` over a `Lock`. The last to arrive wakes every
/// waiter while it holds that lock, and each woken thread must take the lock back
/// before it leaves `wait()`: it sleeps on the lock (untimed, GIL released), and
/// once it has it, waits for the GIL *holding the lock*, then lets it go. So the
/// threads leave one by one, and only one of them at a time waits for the GIL
/// (with its timed waits and drop requests) while the holder works. A plain
/// barrier would let a thousand threads into the GIL's queue at once, each timing
/// out every switch interval, which CPython never sees.
struct PythonBarrier {
    barrier: Barrier,
    /// The `Condition`'s lock; `None` without a GIL (nothing to queue for).
    lock: Option<FutexLock>,
}

impl StartGate for PythonBarrier {
    fn arrive_and_wait(&self) {
        self.barrier.wait();
        if let Some(lock) = &self.lock {
            lock.lock();
        }
    }

    fn departed(&self) {
        if let Some(lock) = &self.lock {
            lock.unlock();
        }
    }
}

struct RunState {
    stop: AtomicU32,
    foreground_left: AtomicU64,
    gate: PythonBarrier,
    lock: SharedLock,
}

/// Returns a closure that sets `stop` after `duration`.
pub(super) fn stop_after(duration: Duration, stop: &AtomicU32) -> impl FnOnce() + Send + '_ {
    move || {
        let deadline = Instant::now() + duration;
        while stop.load(Ordering::Relaxed) == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                stop.store(1, Ordering::Relaxed);
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}

/// Runs every worker on its own OS thread under `model`'s lock.
pub fn run(plan: &Plan, model: ModelKind) -> Result<ModelRun, RunError> {
    let os_error = |what: &str| {
        let what = what.to_string();
        move |source| RunError::Os {
            model,
            what,
            source,
        }
    };
    let workload = Arc::clone(&plan.workload);
    let workers = workload.workers().len();
    let mut sizer = Sizer::default();
    workload.shared_layout(&mut sizer);
    let shared = SharedRegion::new(sizer.bytes()).map_err(os_error("mapping shared memory"))?;
    let foreground = workload
        .workers()
        .iter()
        .filter(|w| w.is_foreground())
        .count();
    let state = Arc::new(RunState {
        stop: AtomicU32::new(0),
        foreground_left: AtomicU64::new(foreground as u64),
        gate: PythonBarrier {
            barrier: Barrier::new(workers + 1),
            lock: (model != ModelKind::Threads).then(FutexLock::default),
        },
        lock: match model {
            ModelKind::Gil => SharedLock::Gil(Gil::new(plan.gil.switch_interval)),
            ModelKind::Gil39 => SharedLock::Gil39(Gil::new(plan.gil.switch_interval)),
            ModelKind::GilLegacy => SharedLock::Legacy(LegacyGil::new(), plan.gil.check_interval),
            _ => SharedLock::Free,
        },
    });
    let epoch = Instant::now();
    let (amount, trace) = (plan.amount, plan.trace);

    let usage_before = Rusage::this_process();
    let (tx, rx) = channel::unbounded::<(usize, Result<WorkerResult, String>)>();
    for index in 0..workers {
        let (workload, shared, worker_state, tx) = (
            Arc::clone(&workload),
            shared.clone(),
            Arc::clone(&state),
            tx.clone(),
        );
        let role = workload.workers()[index].role;
        let spawned = std::thread::Builder::new()
            .name(format!("{model}/{role}-{index}"))
            .stack_size(WORKER_STACK)
            .spawn(move || {
                let control = Control {
                    stop: &worker_state.stop,
                    foreground_left: &worker_state.foreground_left,
                    gate: &worker_state.gate,
                    epoch,
                    amount,
                    trace,
                    stop_after: None,
                    deadline: None,
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_worker(
                        &*workload,
                        index,
                        &shared,
                        worker_state.lock.as_lock(),
                        &control,
                    )
                }));
                let result = match result {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(panic) => Err(panic_message(&panic)),
                };
                if result.is_err() {
                    worker_state.stop.store(1, Ordering::Relaxed);
                }
                let _ = tx.send((index, result));
            });
        if let Err(e) = spawned {
            // Release the threads already waiting at the start line, then fail.
            state.stop.store(1, Ordering::Relaxed);
            for _ in index..workers {
                std::thread::spawn({
                    let state = Arc::clone(&state);
                    move || {
                        state.gate.barrier.wait();
                    }
                });
            }
            state.gate.barrier.wait();
            return Err(os_error(&format!("starting worker thread {index}"))(e));
        }
    }
    drop(tx);

    // Time zero is taken as the start line opens, not after: a short run can be
    // over before this thread is scheduled again after the barrier.
    let start = Instant::now();
    state.gate.barrier.wait();
    if let Amount::Duration(d) = amount {
        let state = Arc::clone(&state);
        std::thread::spawn(move || stop_after(d, &state.stop)());
    }

    let deadline = plan.timeout.map(|t| start + t);
    let mut results: Vec<Option<WorkerResult>> = (0..workers).map(|_| None).collect();
    let mut received = 0;
    while received < workers {
        let message = match deadline {
            Some(deadline) => match rx.recv_deadline(deadline) {
                Ok(m) => m,
                Err(_) => return Err(give_up(&state, &rx, &results, model, plan.timeout.unwrap())),
            },
            None => rx
                .recv()
                .expect("a worker thread always reports before exiting"),
        };
        received += 1;
        match message {
            (index, Ok(r)) => results[index] = Some(r),
            (index, Err(message)) => {
                state.stop.store(1, Ordering::Relaxed);
                return Err(RunError::WorkerFailed {
                    model,
                    index,
                    message,
                });
            }
        }
    }
    let results: Vec<WorkerResult> = results.into_iter().flatten().collect();
    let finished = results.iter().map(|r| r.finished).max().unwrap_or(start);
    let usage = Rusage::this_process().since(&usage_before);
    let mut run = merge(plan, model, results, finished - start, std::process::id());
    run.usage = usage;
    run.outcome = workload.outcome(&shared, run.total_ops);
    Ok(run)
}

/// After a timeout: ask everyone to stop, give them a moment, report who is stuck.
fn give_up(
    state: &RunState,
    rx: &channel::Receiver<(usize, Result<WorkerResult, String>)>,
    results: &[Option<WorkerResult>],
    model: ModelKind,
    timeout: Duration,
) -> RunError {
    // Everyone who had not finished by the deadline timed out, even if the stop
    // request then lets them return.
    let workers: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].is_none())
        .collect();
    state.stop.store(1, Ordering::Relaxed);
    let grace = Instant::now() + STOP_GRACE;
    let mut outstanding = workers.len();
    while outstanding > 0 && rx.recv_deadline(grace).is_ok() {
        outstanding -= 1;
    }
    RunError::Timeout {
        model,
        timeout,
        workers,
    }
}

pub(super) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("panicked: {text}")
}
