//! `gil`, `gil-3.9`, `gil-legacy` and `threads`: one OS thread per worker in this
//! process (and `subinterpreters`, whose threads each hold a GIL of their own:
//! see [`super::subinterpreters`]).
//!
//! They differ only in the lock a worker must hold and where its interpreter loop
//! looks at it: CPython 3.10+'s GIL, the same GIL looked at as 3.9 did, Python 2's,
//! or none. Threads are detached rather than scoped so that a timeout
//! can give up on a stuck worker: the run reports it, and exiting the process ends it.
//!
//! The only threads a run creates are its workers: the calling thread waits for
//! their results and also ends a `--duration`. When the OS refuses a worker thread
//! (RLIMIT_NPROC), the start line shrinks to the threads that did start, they are
//! let go with `stop` set, and the run fails once each has reported.
//!
//! Ctrl-C and SIGTERM are caught for the run, as in `sequential`: each worker
//! looks for them where it looks at the clock (after each timed op), the first to
//! see one stops the rest, and the run ends "interrupted" (exit 130) instead of
//! dying of the signal.
//!
//! However a run ends early — interrupted, timed out, or one worker failed — the
//! others are stopped and waited for (at most [`STOP_GRACE`]) before the run
//! returns, so what they own (a convoy's echo peer process, its socket) is put
//! away and reaped by them rather than left to the process's exit.

use super::worker::{run_worker, Control, StartGate, WorkerResult};
use super::{merge, ModelRun, RunError};
use crate::measure::Rusage;
use crate::plan::{Amount, ModelKind, Plan};
use crate::runtime::gil::{Gil, LegacyGil, ThreadId};
use crate::runtime::interp::{Interp, Lock};
use crate::runtime::semaphore::Semaphore;
use crate::runtime::shm::{SharedRegion, Sizer};
use crate::runtime::trace::TraceBuf;
use crate::workload::cpu::spin;
use crossbeam::channel;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
    /// A GIL per worker, made on its own thread (`subinterpreters`: an
    /// interpreter each); nobody else ever wants it.
    OwnEach(Duration),
}

impl SharedLock {
    fn as_lock(&self) -> Lock<'_> {
        match self {
            SharedLock::Free => Lock::Free,
            SharedLock::Gil(gil) => Lock::Gil(gil),
            SharedLock::Gil39(gil) => Lock::Gil39(gil),
            SharedLock::Legacy(gil, interval) => Lock::Legacy(gil, *interval),
            SharedLock::OwnEach(_) => Lock::Free,
        }
    }
}

struct RunState {
    stop: AtomicU32,
    foreground_left: AtomicU64,
    gate: StartLine,
    lock: SharedLock,
}

/// The start line: `threading.Barrier` as the twins use it, a thousand workers
/// and the thread that started them. Its party count can drop: when the OS
/// refuses a worker thread, the line shrinks to the threads that did start, so
/// none of them waits for ever. Used once per run.
///
/// What a Python barrier does under a GIL, and this line after it
/// (`Lib/threading.py`):
/// * each waiter sleeps in `Condition.wait` on a lock of its own (a ticket
///   here), with the GIL released;
/// * the releaser, holding the GIL and the `Condition`'s lock, releases them one
///   by one in `notify_all`'s Python loop ([`StartLine::open`]);
/// * each released thread re-takes the GIL on its way out of that lock
///   (`acquire_timed`'s `Py_END_ALLOW_THREADS`), *then* takes the `Condition`'s
///   lock back — sleeping on it, untimed and with the GIL released, while someone
///   else has it — and runs the barrier's exit before it lets it go
///   ([`StartGate::depart`]);
/// * at its end, each thread takes the module's `_active_limbo_lock` the same
///   way, to unregister itself ([`StartGate::leave`]).
///
/// So a thousand released threads first crowd into `take_gil`, each waking from
/// its timed wait every switch interval to find the GIL held: the herd that costs
/// CPython its system CPU. Whoever gets the GIL while the `Condition`'s lock is
/// held leaves the herd for that lock's queue, and the queue lets one thread out
/// at a time. Which of the two dominates varies from run to run, in CPython as
/// here: if the notify loop outlasts a switch interval, a waiter's drop request
/// forces the releaser off mid-loop, still holding the `Condition`'s lock, and the
/// herd drains into its queue at once (CPython's second mode, README). The queue
/// is also what ends a herd that collapses — the holder starved of CPU by the
/// waiters' futex calls — in CPython and here alike; without it, a collapsed
/// simulated herd never recovered (issue #15).
///
/// Shortcut: the thread that started the workers always releases them, once
/// all have arrived; in Python whoever arrives last does (nearly always the
/// starter, with many workers).
struct StartLine {
    /// (workers arrived, workers expected)
    count: Mutex<(usize, usize)>,
    all_here: Condvar,
    /// Each worker's own lock, in order of arrival (`Condition._waiters`).
    tickets: Vec<Semaphore>,
    /// The `Condition`'s `Lock` (a semaphore in CPython 3.11, as here).
    condition: Semaphore,
    /// `threading._active_limbo_lock`, which every thread takes on its way out.
    limbo: Semaphore,
}

/// Bytecodes of `notify_all`'s loop per waiter (`waiter.release()`, the deque's
/// `remove`, the loop), and after it (`_release`, `_exit`, `__exit__`), and of a
/// released waiter's way out once it holds the `Condition`'s lock (`wait_for`'s
/// predicate, `_wait`'s checks, `_exit`, `__exit__`): counted from 3.11's
/// `threading.py`, a check point every ten, as in [`spin`].
const NOTIFY_TICKS: u64 = 15;
const RELEASE_TICKS: u64 = 30;
const DEPART_TICKS: u64 = 60;
/// Bytecodes of `Thread._delete` under `_active_limbo_lock` (3.11: eleven, one
/// of them the call to `get_ident`).
const LEAVE_TICKS: u64 = 10;

impl StartLine {
    fn new(workers: usize) -> StartLine {
        StartLine {
            count: Mutex::new((0, workers)),
            all_here: Condvar::new(),
            tickets: (0..workers).map(|_| Semaphore::new(0)).collect(),
            condition: Semaphore::new(1),
            limbo: Semaphore::new(1),
        }
    }

    /// The starter's side of `Thread.start()`: blocks until `workers` have
    /// arrived (a worker always does, unless its thread is killed first).
    fn wait_for_arrivals(&self, workers: usize) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while count.0 < workers {
            count = self.all_here.wait(count).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Only `workers` will ever arrive.
    fn shrink(&self, workers: usize) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        count.1 = workers;
        self.all_here.notify_all();
    }

    /// The starter's side: waits until every worker has arrived, then releases
    /// them as `notify_all` does, holding the GIL (`lock`) as a Python thread
    /// `me`, and the `Condition`'s lock.
    fn open(&self, me: ThreadId, lock: Lock<'_>) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while count.0 < count.1 {
            count = self.all_here.wait(count).unwrap_or_else(|e| e.into_inner());
        }
        let arrived = count.0;
        drop(count);
        let mut interp = Interp::new(me, lock, TraceBuf::disabled());
        interp.enter();
        self.condition.wait();
        let mut x = 0;
        for ticket in &self.tickets[..arrived] {
            ticket.post();
            spin(&mut interp, NOTIFY_TICKS, &mut x);
        }
        spin(&mut interp, RELEASE_TICKS, &mut x);
        self.condition.post();
        // `thread.join()`: the GIL released, for good as far as this run goes.
        interp.exit();
    }
}

impl StartGate for StartLine {
    fn arrive_and_wait(&self) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = count.0;
        count.0 += 1;
        // Only the starter waits on `all_here`: for each arrival, then for all.
        self.all_here.notify_one();
        drop(count);
        self.tickets[ticket].wait();
    }

    fn depart(&self, interp: &mut Interp<'_>) {
        // `_acquire_restore`, then the barrier's exit.
        with_lock(interp, &self.condition, DEPART_TICKS);
    }

    fn leave(&self, interp: &mut Interp<'_>) {
        // `_delete`: `with _active_limbo_lock: del _active[get_ident()]`. A thread
        // forced off the GIL in there keeps the lock, and every thread that ends
        // meanwhile sleeps on it, untimed: in a herd, CPython's exiting threads
        // queue there by the hundred (README).
        with_lock(interp, &self.limbo, LEAVE_TICKS);
    }
}

/// `with lock:` around `ticks` bytecodes, run by a thread that holds the GIL.
/// `Lock.acquire()` first tries without releasing the GIL (`acquire_timed`);
/// only if the lock is held does it sleep on it, GIL released, untimed.
fn with_lock(interp: &mut Interp<'_>, lock: &Semaphore, ticks: u64) {
    if !lock.try_wait() {
        interp.allow_threads(|| lock.wait());
    }
    let mut x = 0;
    spin(interp, ticks, &mut x);
    lock.post();
}

/// Runs every worker on its own OS thread under `model`'s lock.
pub fn run(plan: &Plan, model: ModelKind) -> Result<ModelRun, RunError> {
    run_with(plan, model, |_| Ok(()))
}

/// [`run`], with `before_start` seeing the workload's shared region before any
/// worker starts (`subinterpreters` records there that shared objects cross a
/// channel).
pub(super) fn run_with(
    plan: &Plan,
    model: ModelKind,
    before_start: impl FnOnce(&SharedRegion) -> std::io::Result<()>,
) -> Result<ModelRun, RunError> {
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
    before_start(&shared).map_err(os_error("preparing the shared memory"))?;
    let foreground = workload
        .workers()
        .iter()
        .filter(|w| w.is_foreground())
        .count();
    let state = Arc::new(RunState {
        stop: AtomicU32::new(0),
        foreground_left: AtomicU64::new(foreground as u64),
        gate: StartLine::new(workers),
        lock: match model {
            ModelKind::Gil => SharedLock::Gil(Gil::new(plan.gil.switch_interval)),
            ModelKind::Gil39 => SharedLock::Gil39(Gil::new(plan.gil.switch_interval)),
            ModelKind::GilLegacy => SharedLock::Legacy(LegacyGil::new(), plan.gil.check_interval),
            ModelKind::Subinterpreters => SharedLock::OwnEach(plan.gil.switch_interval),
            _ => SharedLock::Free,
        },
    });
    // Put back as it was when this is dropped, however the run ends.
    let interrupts =
        crate::sys::signal::Interrupts::catch().map_err(os_error("catching SIGINT and SIGTERM"))?;
    let epoch = Instant::now();
    let (amount, trace) = (plan.amount, plan.trace);

    let usage_before = Rusage::this_process();
    let (tx, rx) = channel::unbounded::<(usize, Result<WorkerResult, String>)>();
    for index in 0..workers {
        let (workload, shared, worker_state, worker_tx) = (
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
                let own = match worker_state.lock {
                    SharedLock::OwnEach(interval) => Some(Gil::new(interval)),
                    _ => None,
                };
                let lock = own
                    .as_ref()
                    .map_or_else(|| worker_state.lock.as_lock(), Lock::Gil);
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_worker(&*workload, index, &shared, lock, &control)
                }));
                let result = match result {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(panic) => Err(panic_message(&panic)),
                };
                if result.is_err() {
                    worker_state.stop.store(1, Ordering::Relaxed);
                }
                let _ = worker_tx.send((index, result));
            });
        if let Err(e) = spawned {
            // Let the threads already at the start line go, with `stop` set so they
            // run no op, and wait until each has reported: none is left running.
            state.stop.store(1, Ordering::Relaxed);
            state.gate.shrink(index);
            state.gate.open(workers, state.lock.as_lock());
            drop(tx);
            while rx.recv().is_ok() {}
            return Err(os_error(&crate::sys::process::thread_refused(index))(e));
        }
        // `Thread.start()` returns once the new thread has set `_started`; but the
        // starter holds the GIL until it sleeps on that event, and the new thread,
        // once it has the GIL, keeps it until it blocks at the barrier. So the
        // starter sleeps once per thread, and goes on once that thread waits at
        // the line. Spawning flat out instead, the starter got preempted by the
        // threads it then woke 80-280 times in the notify loop (CPython's: 3-14),
        // and the loop took 6-10 ms where CPython's takes 4-6 (issue #15).
        state.gate.wait_for_arrivals(index + 1);
    }
    drop(tx);

    // Time zero is taken as the start line opens, not after: a short run can be
    // over before this thread is scheduled again after the barrier.
    let start = Instant::now();
    state.gate.open(workers, state.lock.as_lock());

    // This thread ends a `--duration` itself (no timer thread): it wakes for the
    // end of the duration, then for the timeout, while it collects results.
    let mut until = match amount {
        Amount::Duration(d) => start.checked_add(d),
        Amount::Ops(_) => None,
    };
    let deadline = plan.timeout.and_then(|t| start.checked_add(t));
    let mut results: Vec<Option<WorkerResult>> = (0..workers).map(|_| None).collect();
    let mut received = 0;
    while received < workers {
        let wake = until.into_iter().chain(deadline).min();
        let message = match wake {
            Some(wake) => match rx.recv_deadline(wake) {
                Ok(m) => m,
                Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => {
                    let timeout = plan.timeout.unwrap_or_default();
                    return Err(give_up(&state, &rx, &results, model, timeout));
                }
                Err(channel::RecvTimeoutError::Timeout) => {
                    state.stop.store(1, Ordering::Relaxed);
                    until = None;
                    continue;
                }
                Err(channel::RecvTimeoutError::Disconnected) => {
                    return Err(vanished(model, &results))
                }
            },
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => return Err(vanished(model, &results)),
            },
        };
        received += 1;
        match message {
            (index, Ok(r)) => results[index] = Some(r),
            (_, Err(_)) if interrupts.caught() => {
                // Let the others see `stop` and end their ops, so that what they
                // own (an echo peer, a child) is put away before the process exits.
                let outstanding = workers - received;
                wait_for_the_rest(&state, &rx, outstanding);
                return Err(RunError::Interrupted);
            }
            (index, Err(message)) => {
                // The same as an interrupt: the others stop and put away what
                // they own (an echo peer process, sockets) before the error is
                // reported and the process exits.
                wait_for_the_rest(&state, &rx, workers - received);
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

/// Every worker thread ended without reporting (cannot happen: each sends its
/// result, even a panic, before it ends); said rather than panicked.
fn vanished(model: ModelKind, results: &[Option<WorkerResult>]) -> RunError {
    let index = results.iter().position(Option::is_none).unwrap_or(0);
    RunError::WorkerFailed {
        model,
        index,
        message: "its thread ended without a result".into(),
    }
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
    wait_for_the_rest(state, rx, workers.len());
    RunError::Timeout {
        model,
        timeout,
        workers,
    }
}

/// Sets `stop` and waits, at most [`STOP_GRACE`], for `outstanding` workers to
/// report.
fn wait_for_the_rest(
    state: &RunState,
    rx: &channel::Receiver<(usize, Result<WorkerResult, String>)>,
    mut outstanding: usize,
) {
    state.stop.store(1, Ordering::Relaxed);
    let grace = Instant::now() + STOP_GRACE;
    while outstanding > 0 && rx.recv_deadline(grace).is_ok() {
        outstanding -= 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::interp::Interp;
    use crate::workload::{WorkerBody, WorkerSpec, Workload};
    use std::sync::atomic::AtomicBool;

    #[test]
    fn the_starter_waits_for_each_worker_to_reach_the_line() {
        let line = StartLine::new(1);
        let before = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                line.arrive_and_wait();
            });
            line.wait_for_arrivals(1);
            assert!(
                before.elapsed() >= Duration::from_millis(20),
                "returned before the worker had arrived"
            );
            line.open(1, Lock::Free);
        });
    }

    #[test]
    fn a_thread_that_leaves_lets_the_module_lock_go() {
        let line = StartLine::new(0);
        for me in 0..3 {
            let mut interp = Interp::new(me, Lock::Free, TraceBuf::disabled());
            line.leave(&mut interp);
        }
        assert!(line.limbo.try_wait(), "`_active_limbo_lock` was left held");
    }

    /// Worker 0 fails at its first op; worker 1 runs until stopped and owns
    /// something that takes a while to put away (as reaping an echo peer does),
    /// noting when it has been.
    #[derive(Debug)]
    struct OneFails {
        workers: Vec<WorkerSpec>,
        put_away: Arc<AtomicBool>,
    }

    struct Failing;

    impl WorkerBody for Failing {
        fn op(&mut self, _interp: &mut Interp<'_>) -> std::io::Result<()> {
            Err(std::io::Error::other("injected failure"))
        }
    }

    struct Owner(Arc<AtomicBool>);

    impl WorkerBody for Owner {
        fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
            // A blocking call, with the GIL released around it.
            interp.allow_threads(|| std::thread::sleep(Duration::from_millis(1)));
            Ok(())
        }
    }

    impl Drop for Owner {
        fn drop(&mut self) {
            // Far less than the stop grace, far more than returning an error takes.
            std::thread::sleep(Duration::from_millis(20));
            self.0.store(true, Ordering::Release);
        }
    }

    impl Workload for OneFails {
        fn workers(&self) -> &[WorkerSpec] {
            &self.workers
        }

        fn worker<'a>(
            &'a self,
            index: usize,
            _shared: &'a SharedRegion,
        ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
            Ok(match index {
                0 => Box::new(Failing),
                _ => Box::new(Owner(Arc::clone(&self.put_away))),
            })
        }
    }

    #[test]
    fn a_failed_worker_ends_the_run_only_once_the_others_have_put_away_what_they_own() {
        for model in [ModelKind::Threads, ModelKind::Gil] {
            let put_away = Arc::new(AtomicBool::new(false));
            let mut plan = crate::model::test_plan(&["cpu-bound", "--ops", "1"]);
            plan.workload = Arc::new(OneFails {
                workers: vec![
                    WorkerSpec {
                        role: "io",
                        ops: Some(1),
                    },
                    WorkerSpec {
                        role: "cpu",
                        ops: None,
                    },
                ],
                put_away: Arc::clone(&put_away),
            });
            let error = run(&plan, model).expect_err("the run fails");
            // Still the one line it was: the first failure, nothing about the rest.
            assert_eq!(
                error.to_string(),
                format!("{model}: worker 0 failed: injected failure")
            );
            assert!(
                put_away.load(Ordering::Acquire),
                "{model}: the run returned while worker 1 still owned its resources"
            );
        }
    }

    /// What makes a thousand workers cost what CPython's do: once the line opens,
    /// every worker gets past it while another holds the GIL, and so can queue
    /// for the GIL at once, as `threading.Barrier`'s waiters do. This checks the
    /// line itself, not `run_worker`'s use of it; the whole path (speedup, system
    /// CPU and switches against CPython's) is the opt-in fidelity check
    /// `a_thousand_threads_cost_what_cpythons_do`.
    #[test]
    fn the_start_line_lets_every_worker_into_the_gils_queue_at_once() {
        const WORKERS: usize = 8;
        let line = StartLine::new(WORKERS);
        let gil = Gil::new(Duration::from_secs(3600));
        let past_the_line = AtomicU64::new(0);
        let saw_everyone = std::thread::scope(|s| {
            s.spawn(|| line.open(WORKERS, Lock::Free));
            let workers: Vec<_> = (0..WORKERS)
                .map(|me| {
                    let (line, gil, past_the_line) = (&line, &gil, &past_the_line);
                    s.spawn(move || {
                        line.arrive_and_wait();
                        past_the_line.fetch_add(1, Ordering::SeqCst);
                        gil.take(me);
                        // Whoever holds the GIL waits (holding it) for the others to
                        // come past the line; a generous bound, so a failure is not
                        // a hang.
                        let give_up = Instant::now() + Duration::from_secs(30);
                        while past_the_line.load(Ordering::SeqCst) < WORKERS as u64
                            && Instant::now() < give_up
                        {
                            std::thread::yield_now();
                        }
                        let saw = past_the_line.load(Ordering::SeqCst) == WORKERS as u64;
                        gil.drop(me, true);
                        saw
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a worker panicked"))
                .collect::<Vec<_>>()
        });
        assert!(
            saw_everyone.iter().all(|&saw| saw),
            "a GIL holder waited 30 s for the others to leave the start line"
        );
    }
}
