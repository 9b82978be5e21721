//! The measured op loop every model runs, on whatever thread or process it gives.
//!
//! Keeping one loop for all models is what makes their numbers comparable: the
//! harness costs the same everywhere — one clock read and one histogram record per
//! timed op (the end of one op is the start of the next), and a workload whose ops
//! are only a few bytecodes long times one op in N (see
//! [`Workload::latency_sample_every`]).

use crate::measure::{nanos, new_histogram_for_a_minute, record, Histogram};
use crate::plan::{Amount, TraceConfig};
use crate::runtime::interp::{GilStats, Interp, Lock};
use crate::runtime::shm::SharedRegion;
use crate::runtime::trace::{Event, TraceBuf};
use crate::workload::{Measured, Workload};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Waits until every worker of a run is ready, so they start together.
pub trait StartGate: Sync {
    /// Arrives, and blocks until all have arrived.
    fn arrive_and_wait(&self);

    /// Leaves the line, once the thread holds the GIL: a Python barrier's
    /// waiter still has to take the barrier's `Condition` lock back and run the
    /// barrier's exit (see `threaded::StartLine`). Nothing, by default.
    fn depart(&self, _interp: &mut Interp<'_>) {}

    /// The thread's end, while it still holds the GIL: a Python thread's
    /// `_bootstrap_inner` unregisters it under the `threading` module's one lock
    /// (see `threaded::StartLine`). Nothing, by default.
    fn leave(&self, _interp: &mut Interp<'_>) {}
}

impl StartGate for std::sync::Barrier {
    fn arrive_and_wait(&self) {
        self.wait();
    }
}

/// Needs no waiting: the sequential model runs one worker at a time.
#[derive(Debug)]
pub struct NoGate;

impl StartGate for NoGate {
    fn arrive_and_wait(&self) {}
}

/// What workers of one run share to start and stop together. The atomics may live
/// in shared memory, so processes can use the same loop.
pub struct Control<'c> {
    /// Set when workers must stop: duration over, foreground done, timeout.
    pub stop: &'c AtomicU32,
    /// Foreground workers still running; the last one out sets `stop`.
    pub foreground_left: &'c AtomicU64,
    /// The start line.
    pub gate: &'c dyn StartGate,
    /// Time zero of the run, for traces.
    pub epoch: Instant,
    /// How much work.
    pub amount: Amount,
    /// Tracing.
    pub trace: TraceConfig,
    /// The worker stops itself this long after the start line (`--duration` in the
    /// sequential model, which has no timer thread to set `stop`); `None` when
    /// something else sets `stop`.
    pub stop_after: Option<Duration>,
    /// `--timeout`'s deadline, seen by the worker itself at the clock read it makes
    /// after every op: past it the worker stops and fails with
    /// [`std::io::ErrorKind::TimedOut`]. `None` when the model watches the deadline.
    pub deadline: Option<Instant>,
}

impl std::fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("amount", &self.amount)
            .finish()
    }
}

/// One worker's results.
#[derive(Debug)]
pub struct WorkerResult {
    /// Worker index.
    pub index: usize,
    /// Ops completed.
    pub ops: u64,
    /// Whether its latencies count toward the report.
    pub foreground: bool,
    /// Per-op latency, ns.
    pub latency: Histogram,
    /// GIL statistics.
    pub gil: GilStats,
    /// Time from start line to done.
    pub busy: Duration,
    /// When it finished.
    pub finished: Instant,
    /// Trace events and how many were dropped.
    pub events: Vec<Event>,
    /// Events not kept.
    pub dropped_events: u64,
}

/// Prepares worker `index`, waits at the start line, runs its ops, returns results.
pub fn run_worker(
    workload: &dyn Workload,
    index: usize,
    shared: &SharedRegion,
    lock: Lock<'_>,
    control: &Control<'_>,
) -> std::io::Result<WorkerResult> {
    let spec = workload.workers()[index].clone();
    let mut body = match workload.worker(index, shared) {
        Ok(body) => body,
        Err(e) => {
            // Still arrive, or the others would wait for us forever.
            control.stop.store(1, Ordering::Relaxed);
            control.gate.arrive_and_wait();
            return Err(e);
        }
    };
    let trace = if control.trace.enabled {
        TraceBuf::new(control.epoch, control.trace.limit)
    } else {
        TraceBuf::disabled()
    };
    let limit = match (control.amount, spec.ops) {
        (Amount::Ops(_), Some(n)) => n,
        _ => u64::MAX,
    };
    let mut latency = new_histogram_for_a_minute();
    let mut interp = Interp::new(index, lock, trace);

    control.gate.arrive_and_wait();
    interp.enter();
    control.gate.depart(&mut interp);
    // As the twins' `starts[i]`: once past the barrier, holding the GIL.
    let start = Instant::now();
    let mut ops = 0;
    let mut result = body.before_first_op(&mut interp);
    // One op in `every` is timed, after `every - 1` untimed ones; with `every == 1`
    // the end of one op is the start of the next (one clock read per op).
    let every = workload.latency_sample_every().max(1);
    let mut untimed = every - 1;
    // The end of a duration and the timeout's deadline are looked at whenever the
    // clock is read (each timed op): one comparison against the earlier of the two.
    let until = control.stop_after.and_then(|d| start.checked_add(d));
    let check_at = until.into_iter().chain(control.deadline).min();
    let mut t0 = Instant::now();
    while result.is_ok() && ops < limit && control.stop.load(Ordering::Relaxed) == 0 {
        if let Err(e) = body.op(&mut interp) {
            result = Err(e);
            break;
        }
        ops += 1;
        if untimed == 0 {
            let t1 = Instant::now();
            record(&mut latency, nanos(t1 - t0));
            t0 = t1;
            untimed = every - 1;
            // Ctrl-C, for a model that caught it (`sequential`, the threaded
            // models; elsewhere nothing is ever pending): one relaxed load beside
            // the clock read.
            if crate::sys::signal::pending() {
                result = Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "interrupted",
                ));
                break;
            }
            if check_at.is_some_and(|at| t1 >= at) {
                if control.deadline.is_some_and(|d| t1 >= d) {
                    result = Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "--timeout passed",
                    ));
                }
                break;
            }
        } else {
            untimed -= 1;
            if untimed == 0 {
                t0 = Instant::now();
            }
        }
    }
    control.gate.leave(&mut interp);
    interp.exit();
    let finished = Instant::now();
    let (ops, latency) = match body.measured() {
        Measured::Ops => (ops, latency),
        Measured::Own(own) => (own.len(), own),
    };
    drop(body);

    if spec.is_foreground() && control.foreground_left.fetch_sub(1, Ordering::AcqRel) == 1 {
        control.stop.store(1, Ordering::Relaxed);
    }
    if result.is_err() {
        control.stop.store(1, Ordering::Relaxed);
    }
    result?;
    let (gil, trace) = interp.into_parts();
    let (events, dropped_events) = trace.into_parts();
    Ok(WorkerResult {
        index,
        ops,
        foreground: spec.is_foreground(),
        latency,
        gil,
        busy: finished - start,
        finished,
        events,
        dropped_events,
    })
}
