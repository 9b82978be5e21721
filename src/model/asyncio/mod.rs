//! `asyncio`: one OS thread, one event loop; every worker is a coroutine.
//!
//! Each worker's op loop runs as a coroutine on [`event_loop::EventLoop`]: the
//! loop resumes it, it runs ops until one of them awaits ([`WorkerBody::step`]
//! returns [`Step::Await`]), and the loop is free for the next ready coroutine.
//! The awaits are the workloads' blocking calls — `io-bound`'s sleep (a timer),
//! `convoy`'s receive (the selector), `shared-counter`'s `none-await`
//! (`asyncio.sleep(0)`), convoy's hogs' `sleep(0)` between ops, `queue`'s put
//! into a full `asyncio.Queue` and get from an empty one (a future the other side
//! completes: [`Await::Future`]). Nothing else can
//! take the loop from a coroutine: a CPU-bound one that never awaits runs to its
//! end while the others wait, and the loop's lag says for how long.
//!
//! There is no GIL to take (one thread holds it throughout), no other thread, and
//! no clock but the one the op loop reads: a `--duration`, the stop once every
//! foreground coroutine is done, `--timeout` and Ctrl-C (SIGINT, SIGTERM: caught
//! for the run, their pipe in the selector's poll) are looked at after each timed
//! op and each round of the loop, as in the sequential baseline. So a coroutine
//! that never awaits stops within one op, like a thread.

pub mod event_loop;

use super::worker::WorkerResult;
use super::{merge, ModelRun, RunError};
use crate::measure::{nanos, new_histogram, record, Histogram, Rusage, Summary};
use crate::plan::{Amount, ModelKind, Plan};
use crate::runtime::interp::{GilStats, Interp, Lock};
use crate::runtime::shm::{SharedRegion, Sizer};
use crate::runtime::trace::{EventKind, TraceBuf};
use crate::sys::signal::{self, Interrupts};
use crate::workload::{Await, Measured, Step, WorkerBody, Workload};
use event_loop::{Coroutines, EventLoop, Suspended};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const MODEL: ModelKind = ModelKind::Asyncio;

/// One worker as a coroutine: its op loop's state between callbacks.
struct Task<'a> {
    index: usize,
    body: Box<dyn WorkerBody + 'a>,
    interp: Interp<'static>,
    foreground: bool,
    /// Ops to run (`u64::MAX`: until stopped).
    limit: u64,
    ops: u64,
    latency: Histogram,
    /// Time one op in this many.
    every: u64,
    untimed: u64,
    /// The start of the op (or sample) being timed.
    t0: Option<Instant>,
    /// An op is under way (suspended at an await, or running).
    in_op: bool,
    /// Suspended on a future another coroutine completes ([`Await::Future`]).
    parked: bool,
    started: Option<Instant>,
    finished: Option<Instant>,
}

/// Every coroutine of the run, and why the run should stop.
struct Tasks<'a> {
    tasks: Vec<Task<'a>>,
    /// Set when the last foreground coroutine is done or the duration is over:
    /// the others finish at their next resume.
    stop: bool,
    foreground_left: usize,
    /// The end of a `--duration`.
    until: Option<Instant>,
    /// `--timeout`'s deadline.
    deadline: Option<Instant>,
    timed_out: bool,
    /// Ctrl-C or SIGTERM was seen inside a coroutine's op loop.
    interrupted: bool,
    /// Ctrl-C and SIGTERM, caught for the run: their pipe wakes the selector.
    interrupts: &'a Interrupts,
    /// The coroutine resumed last (the one that failed, on an error).
    current: usize,
    /// The workload's waiter deques (an `asyncio.Queue`'s `_getters` and
    /// `_putters`): the parked coroutines, first to be woken first.
    waiters: Vec<VecDeque<usize>>,
    /// Parked coroutines whose future a callback completed, and when: for the
    /// loop to `call_soon` once the callback is over.
    scheduled: VecDeque<(usize, Instant)>,
    /// The loop went idle with coroutines still parked — nobody is left to
    /// complete their futures: they are resumed to be cancelled (finished).
    cancelling: bool,
}

impl Tasks<'_> {
    /// Task `i`'s op loop, from where it stands to its next await or its end: the
    /// same loop as `model::worker::run_worker`'s, cut at the awaits.
    fn run_ops(&mut self, i: usize, now: Instant) -> std::io::Result<Suspended> {
        let (until, deadline) = (self.until, self.deadline);
        let task = &mut self.tasks[i];
        task.started.get_or_insert(now);
        task.t0.get_or_insert(now);
        if std::mem::take(&mut task.parked) && self.cancelling {
            // `CancelledError` at the await: the op never completes.
            return Ok(self.finish(i, now));
        }
        loop {
            if !task.in_op {
                if task.ops >= task.limit || self.stop {
                    return Ok(self.finish(i, Instant::now()));
                }
                task.in_op = true;
            }
            let step = task.body.step(&mut task.interp)?;
            if let Some(n) = task.body.woke() {
                // `_wakeup_next(waiters)`: the first parked coroutine's future is
                // done; its wake-up is scheduled when this callback returns.
                if let Some(woken) = self.waiters.get_mut(n).and_then(VecDeque::pop_front) {
                    self.scheduled.push_back((woken, Instant::now()));
                }
            }
            match step {
                Step::Await(Await::Yield) => return Ok(Suspended::Yield),
                Step::Await(Await::Sleep(d)) => return Ok(Suspended::Sleep(d)),
                Step::Await(Await::Readable) => return Ok(Suspended::Readable),
                Step::Await(Await::Future(n)) => {
                    if self.waiters.len() <= n {
                        self.waiters.resize_with(n + 1, VecDeque::new);
                    }
                    self.waiters[n].push_back(i);
                    task.parked = true;
                    return Ok(Suspended::Parked);
                }
                Step::Done => {}
            }
            task.in_op = false;
            task.ops += 1;
            if task.untimed > 0 {
                task.untimed -= 1;
                if task.untimed == 0 {
                    task.t0 = Some(Instant::now());
                }
                continue;
            }
            let t1 = Instant::now();
            record(&mut task.latency, nanos(t1 - task.t0.unwrap_or(t1)));
            task.t0 = Some(t1);
            task.untimed = task.every - 1;
            // Ctrl-C, looked at where the deadline is: a coroutine that never
            // awaits must not keep the loop past it either.
            if signal::pending() {
                self.interrupted = true;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "interrupted",
                ));
            }
            if deadline.is_some_and(|d| t1 >= d) {
                self.timed_out = true;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "--timeout passed",
                ));
            }
            if until.is_some_and(|u| t1 >= u) {
                self.stop = true;
                return Ok(self.finish(i, t1));
            }
        }
    }

    /// Ends task `i`'s op loop.
    fn finish(&mut self, i: usize, now: Instant) -> Suspended {
        let task = &mut self.tasks[i];
        task.finished = Some(now);
        if task.foreground {
            self.foreground_left -= 1;
            if self.foreground_left == 0 {
                self.stop = true;
            }
        }
        Suspended::Finished
    }
}

impl Coroutines for Tasks<'_> {
    fn resume(&mut self, i: usize, now: Instant) -> std::io::Result<Suspended> {
        self.current = i;
        let suspended = self.run_ops(i, now);
        let interp = &mut self.tasks[i].interp;
        if interp.trace().enabled() {
            interp.trace().span(EventKind::Running, now, Instant::now());
        }
        suspended
    }

    fn select(
        &mut self,
        readers: &[usize],
        timeout: Option<Duration>,
        readable: &mut Vec<usize>,
    ) -> std::io::Result<()> {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        let mut fds = Vec::with_capacity(readers.len());
        let mut owners = Vec::with_capacity(readers.len());
        for &i in readers {
            if let Some(fd) = self.tasks[i].body.wait_fd() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                owners.push(i);
            }
        }
        // The interrupt pipe last, owned by no coroutine: a signal ends the wait,
        // and the loop looks at it after the round.
        fds.push(PollFd::new(self.interrupts.fd(), PollFlags::POLLIN));
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        for (fd, &i) in fds.iter().zip(&owners) {
            // Hang-ups and errors count as readable: the receive then says why.
            if fd.revents().is_some_and(|r| !r.is_empty()) {
                readable.push(i);
            }
        }
        // A coroutine awaiting a socket it does not have would wait for ever.
        readable.extend(readers.iter().filter(|i| !owners.contains(i)));
        Ok(())
    }

    fn take_scheduled(&mut self) -> Option<(usize, Instant)> {
        self.scheduled.pop_front()
    }
}

/// Runs every worker as a coroutine on one event loop on this thread.
pub fn run(plan: &Plan) -> Result<ModelRun, RunError> {
    let workload: &dyn Workload = &*plan.workload;
    let mut sizer = Sizer::default();
    workload.shared_layout(&mut sizer);
    let shared = SharedRegion::new(sizer.bytes()).map_err(|source| RunError::Os {
        model: MODEL,
        what: "mapping shared memory".into(),
        source,
    })?;
    let specs = workload.workers();
    let epoch = Instant::now();
    let every = workload.latency_sample_every().max(1);
    let mut tasks = Vec::with_capacity(specs.len());
    // Made last to first, and dropped first to last (below): a body that pins this
    // thread (convoy's `pin`) saves the mask it found and puts it back when
    // dropped, so the guards must nest. The I/O worker (index 0) then pins last,
    // and the loop runs where CPython's twin runs it: on the I/O worker's CPU, its
    // echo peer where the placement says. The CPU-bound coroutines share the loop's
    // thread, so their CPU in the placement goes unused, as in the twin.
    for (index, spec) in specs.iter().enumerate().rev() {
        let body = match workload.worker(index, &shared) {
            Ok(body) => body,
            Err(e) => {
                // The ones made so far go the other way round from how they came.
                while tasks.pop().is_some() {}
                return Err(RunError::WorkerFailed {
                    model: MODEL,
                    index,
                    message: e.to_string(),
                });
            }
        };
        let trace = if plan.trace.enabled {
            TraceBuf::new(epoch, plan.trace.limit)
        } else {
            TraceBuf::disabled()
        };
        tasks.push(Task {
            index,
            body,
            interp: Interp::new(index, Lock::Free, trace),
            foreground: spec.is_foreground(),
            limit: match (plan.amount, spec.ops) {
                (Amount::Ops(_), Some(n)) => n,
                _ => u64::MAX,
            },
            ops: 0,
            latency: new_histogram(),
            every,
            untimed: every - 1,
            t0: None,
            in_op: false,
            parked: false,
            started: None,
            finished: None,
        });
    }
    tasks.reverse();
    let foreground_left = tasks.iter().filter(|t| t.foreground).count();

    // Caught from here on (the handler is put back when this is dropped), looked
    // at after each round of the loop and at each timed op, as the deadline is.
    let interrupts = Interrupts::catch().map_err(|source| RunError::Os {
        model: MODEL,
        what: "catching SIGINT and SIGTERM".into(),
        source,
    })?;
    let usage_before = Rusage::this_process();
    let start = Instant::now();
    let until = match plan.amount {
        Amount::Duration(d) => start.checked_add(d),
        Amount::Ops(_) => None,
    };
    let deadline = plan.timeout.and_then(|t| start.checked_add(t));
    let mut coroutines = Tasks {
        tasks,
        stop: foreground_left == 0,
        foreground_left,
        until,
        deadline,
        timed_out: false,
        interrupted: false,
        interrupts: &interrupts,
        current: 0,
        waiters: Vec::new(),
        scheduled: VecDeque::new(),
        cancelling: false,
    };
    let mut event_loop = EventLoop::new();
    // `asyncio.gather(*workers)`: each task's first step is scheduled in order.
    for i in 0..coroutines.tasks.len() {
        event_loop.call_soon(i, start);
    }
    let mut wake = until.into_iter().chain(deadline).min();
    loop {
        if event_loop.is_idle() {
            // Only coroutines parked on futures nobody is left to complete (a
            // consumer waiting on a queue whose producers are done with a
            // duration): asyncio would wait for ever; here they are cancelled,
            // as `asyncio.run` cancels the tasks left when it returns.
            let parked: Vec<usize> = coroutines
                .waiters
                .iter_mut()
                .flat_map(|w| w.drain(..))
                .collect();
            if parked.is_empty() {
                break;
            }
            coroutines.cancelling = true;
            let now = Instant::now();
            for task in parked {
                event_loop.call_soon(task, now);
            }
        }
        let now = match event_loop.run_once(&mut coroutines, wake) {
            Ok(now) => now,
            Err(e) => return Err(failed(plan, &coroutines, e)),
        };
        if interrupts.caught() {
            return Err(RunError::Interrupted);
        }
        if deadline.is_some_and(|d| now >= d) {
            return Err(timeout(plan, &coroutines));
        }
        if until.is_some_and(|u| now >= u) {
            // Over: the coroutines finish at their next resume; the loop sleeps
            // until then (or the deadline) rather than spin.
            coroutines.stop = true;
            wake = deadline;
        }
    }
    let wall = coroutines
        .tasks
        .iter()
        .filter_map(|t| t.finished)
        .max()
        .unwrap_or(start)
        - start;
    let usage = Rusage::this_process().since(&usage_before);

    let mut results = Vec::with_capacity(coroutines.tasks.len());
    // First to last: the reverse of how the bodies were made (see above).
    for task in coroutines.tasks {
        let Task {
            index,
            mut body,
            interp,
            foreground,
            ops,
            latency,
            started,
            finished,
            ..
        } = task;
        let (ops, latency) = match body.measured() {
            Measured::Ops => (ops, latency),
            Measured::Own(own) => (own.len(), own),
        };
        drop(body);
        let (_, trace) = interp.into_parts();
        let (events, dropped_events) = trace.into_parts();
        let finished = finished.unwrap_or(start);
        results.push(WorkerResult {
            index,
            ops,
            foreground,
            latency,
            gil: GilStats::default(),
            busy: finished - started.unwrap_or(start).min(finished),
            finished,
            events,
            dropped_events,
        });
    }
    let mut run = merge(plan, MODEL, results, wall, std::process::id());
    run.usage = usage;
    run.outcome = workload.outcome(&shared, run.total_ops);
    let extra = &mut run.outcome.extra;
    extra.insert(
        "loop_lag_ns".into(),
        serde_json::to_value(Summary::of(event_loop.lag())).unwrap_or_default(),
    );
    extra.insert(
        "event_loop".into(),
        serde_json::to_value(event_loop.stats()).unwrap_or_default(),
    );
    Ok(run)
}

/// A coroutine's error (or the deadline, seen inside one) as the run's.
fn failed(plan: &Plan, coroutines: &Tasks<'_>, e: std::io::Error) -> RunError {
    if e.kind() == std::io::ErrorKind::TimedOut && coroutines.timed_out {
        return timeout(plan, coroutines);
    }
    if coroutines.interrupted || coroutines.interrupts.caught() {
        return RunError::Interrupted;
    }
    RunError::WorkerFailed {
        model: MODEL,
        index: coroutines.current,
        message: e.to_string(),
    }
}

/// `--timeout` passed: the coroutines that had not finished.
fn timeout(plan: &Plan, coroutines: &Tasks<'_>) -> RunError {
    RunError::Timeout {
        model: MODEL,
        timeout: plan.timeout.unwrap_or_default(),
        workers: coroutines
            .tasks
            .iter()
            .filter(|t| t.finished.is_none())
            .map(|t| t.index)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::pin::{allowed_cpus, pin_current_thread, AffinityGuard};
    use crate::workload::WorkerSpec;
    use std::sync::{Arc, Mutex};

    pub(super) use crate::model::test_plan as plan;

    /// Workers that pin the thread they are made on as convoy's do (the I/O
    /// worker, index 0, to the first CPU; the others to the second) and note
    /// where their op ran.
    #[derive(Debug)]
    struct Pinning {
        cpus: [usize; 2],
        workers: Vec<WorkerSpec>,
        ran_on: Arc<Mutex<Vec<Vec<usize>>>>,
    }

    struct PinnedBody {
        _guard: AffinityGuard,
        ran_on: Arc<Mutex<Vec<Vec<usize>>>>,
    }

    impl WorkerBody for PinnedBody {
        fn op(&mut self, _interp: &mut Interp<'_>) -> std::io::Result<()> {
            self.ran_on.lock().unwrap().push(allowed_cpus());
            Ok(())
        }
    }

    impl Workload for Pinning {
        fn workers(&self) -> &[WorkerSpec] {
            &self.workers
        }

        fn worker<'a>(
            &'a self,
            index: usize,
            _shared: &'a SharedRegion,
        ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
            let guard = AffinityGuard::save();
            pin_current_thread(self.cpus[usize::from(index > 0)])?;
            Ok(Box::new(PinnedBody {
                _guard: guard,
                ran_on: Arc::clone(&self.ran_on),
            }))
        }
    }

    #[test]
    fn a_pinned_loop_runs_on_the_io_workers_cpu_and_gets_its_mask_back() {
        let all = allowed_cpus();
        let [a, b, ..] = all[..] else {
            eprintln!("skipped: one CPU");
            return;
        };
        let ran_on = Arc::new(Mutex::new(Vec::new()));
        let mut plan = plan(&["convoy", "--model", "asyncio", "--ops", "2"]);
        plan.workload = Arc::new(Pinning {
            cpus: [a, b],
            workers: vec![
                WorkerSpec {
                    role: "io",
                    ops: Some(2),
                };
                3
            ],
            ran_on: Arc::clone(&ran_on),
        });
        let after = std::thread::spawn(move || {
            run(&plan).expect("the run");
            allowed_cpus()
        })
        .join()
        .unwrap();
        let ran_on = ran_on.lock().unwrap();
        assert_eq!(ran_on.len(), 6);
        assert!(ran_on.iter().all(|cpus| cpus == &[a]), "{ran_on:?}");
        assert_eq!(after, all);
    }
}

#[cfg(test)]
mod queue_tests {
    use super::tests::plan;
    use super::*;

    /// One producer, one consumer, an `asyncio.Queue(maxsize=4)`, 100 items: the
    /// producer fills the queue and parks on its 5th put; the consumer's first
    /// get wakes it, and the consumer drains the four and parks on the 5th get;
    /// and so on. Each side parks on puts (gets) 5, 9, …, 97: 24 times, each
    /// woken by the other, one callback per wake-up.
    #[test]
    fn a_full_queue_parks_the_producer_and_an_empty_one_the_consumer() {
        let plan = plan(&[
            "queue",
            "--model",
            "asyncio",
            "--ops",
            "100",
            "--set",
            "maxsize=4",
            "--set",
            "producers=1",
        ]);
        let run = run(&plan).expect("the run");
        assert_eq!(run.ops, 100, "items taken, each timed put→get");
        assert_eq!(run.latency.len(), 100);
        let extra = &run.outcome.extra;
        assert_eq!(extra["items_left"], 0);
        let stats = &extra["event_loop"];
        assert_eq!(stats["futures"], 48, "{stats}");
        assert_eq!(stats["callbacks"], 2 + 48, "{stats}");
        assert_eq!(stats["selects"], 0, "nothing but the ready queue: {stats}");
        assert_eq!(extra["loop_lag_ns"]["count"], 50);
    }

    /// Unbounded, neither side ever parks: the producer's puts never give the
    /// loop back, so every item is put before the consumer first runs.
    #[test]
    fn an_unbounded_queue_never_gives_the_loop_back() {
        let plan = plan(&["queue", "--model", "asyncio", "--ops", "100"]);
        let run = run(&plan).expect("the run");
        assert_eq!(run.ops, 100);
        let stats = &run.outcome.extra["event_loop"];
        assert_eq!(stats["futures"], 0, "{stats}");
        assert_eq!(stats["callbacks"], 2, "{stats}");
    }

    /// With a duration whichever side sees the end first stops; the other,
    /// parked on a queue nobody will touch again, is cancelled rather than left
    /// waiting for ever.
    #[test]
    fn a_side_nobody_will_wake_is_cancelled() {
        let plan = plan(&[
            "queue",
            "--model",
            "asyncio",
            "--duration",
            "20ms",
            "--set",
            "maxsize=8",
        ]);
        let run = run(&plan).expect("the run ends");
        assert!(run.ops > 0);
        assert!(run.outcome.extra["items_left"].as_u64().unwrap() <= 8);
    }
}
