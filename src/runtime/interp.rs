//! The simulated interpreter: ticks, check points, and releasing the GIL around I/O.
//!
//! A *tick* is one bytecode. Some bytecodes are *check points* — calls and backward
//! jumps — and CPython 3.10+ looks at the eval breaker (where the drop request lives)
//! only there. That detail decides whether `counter += 1` can lose updates under the
//! GIL: `LOAD`, `BINARY_OP`, `STORE` are plain ticks, so no switch can fall between
//! the load and the store; put a call between them and one can. Python 2 counted
//! every tick toward its check interval, so there a switch can fall anywhere.
//!
//! Workloads call [`Interp::tick`] and [`Interp::check_point`] as their simulated
//! bytecode runs, and wrap blocking calls in [`Interp::allow_threads`]
//! (`Py_BEGIN_ALLOW_THREADS` / `Py_END_ALLOW_THREADS`). Under free threads all of it
//! is nearly free; under a GIL the fast path is one relaxed load.

use crate::measure::Histogram;
use crate::runtime::gil::{Gil, LegacyGil, TakeOutcome, ThreadId};
use crate::runtime::trace::{EventKind, TraceBuf};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The lock (if any) a simulated thread must hold to run bytecode.
#[derive(Debug, Clone, Copy)]
pub enum Lock<'g> {
    /// No GIL: free threads, or the sequential baseline.
    Free,
    /// CPython 3.2+ GIL.
    Gil(&'g Gil),
    /// Python 2 GIL, released and re-taken every `check_interval` ticks.
    Legacy(&'g LegacyGil, u32),
}

/// One simulated thread's GIL statistics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GilStats {
    /// Times this thread took the GIL.
    pub acquisitions: u64,
    /// Times this thread, waiting, set the drop request.
    pub drop_requests: u64,
    /// Times this thread dropped on request and waited for another to take the GIL.
    pub forced_switches: u64,
    /// Time spent waiting to take the GIL, ns.
    pub waited_ns: u64,
    /// Time spent with the GIL released around blocking calls, ns.
    pub released_ns: u64,
    /// Time spent after a forced drop, waiting for another thread to take the GIL
    /// (not holding it), ns.
    #[serde(default)]
    pub switch_wait_ns: u64,
    /// Wait per acquisition, ns (0 when the GIL was free).
    #[serde(skip, default = "crate::measure::new_histogram")]
    pub wait: Histogram,
}

impl Default for GilStats {
    fn default() -> Self {
        GilStats {
            acquisitions: 0,
            drop_requests: 0,
            forced_switches: 0,
            waited_ns: 0,
            released_ns: 0,
            switch_wait_ns: 0,
            wait: crate::measure::new_histogram(),
        }
    }
}

impl GilStats {
    /// Adds another thread's statistics to these.
    pub fn merge(&mut self, other: &GilStats) {
        self.acquisitions += other.acquisitions;
        self.drop_requests += other.drop_requests;
        self.forced_switches += other.forced_switches;
        self.waited_ns += other.waited_ns;
        self.released_ns += other.released_ns;
        self.switch_wait_ns += other.switch_wait_ns;
        self.wait
            .add(&other.wait)
            .expect("GIL wait histograms share their bounds");
    }
}

static NEVER: AtomicBool = AtomicBool::new(false);

/// The shortest uncontended take traced as a `gil-wait`: a free GIL is taken in
/// tens of ns, and tracing each of those would double a trace for nothing.
const TRACED_WAIT_MIN: std::time::Duration = std::time::Duration::from_micros(1);

/// One simulated thread's interpreter state (`PyThreadState`).
#[derive(Debug)]
pub struct Interp<'g> {
    id: ThreadId,
    lock: Lock<'g>,
    /// CPython's `eval_breaker`: the GIL's drop request, or a flag that is never set.
    eval_breaker: &'g AtomicBool,
    /// Python 2's `_Py_Ticker`: ticks left before the periodic release (legacy only).
    ticker: u32,
    held_since: Option<Instant>,
    stats: GilStats,
    trace: TraceBuf,
}

impl<'g> Interp<'g> {
    /// A thread state for thread `id` under `lock`, recording into `trace`.
    pub fn new(id: ThreadId, lock: Lock<'g>, trace: TraceBuf) -> Interp<'g> {
        let eval_breaker = match lock {
            Lock::Gil(gil) => gil.drop_request(),
            Lock::Free | Lock::Legacy(..) => &NEVER,
        };
        let ticker = match lock {
            Lock::Legacy(_, interval) => interval.max(1),
            _ => 0,
        };
        Interp {
            id,
            lock,
            eval_breaker,
            ticker,
            held_since: None,
            stats: GilStats::default(),
            trace,
        }
    }

    /// Whether this thread runs under a GIL of either kind.
    pub fn has_gil(&self) -> bool {
        !matches!(self.lock, Lock::Free)
    }

    /// Thread start: take the GIL (a new Python thread's bootstrap does).
    pub fn enter(&mut self) {
        self.take(None);
    }

    /// Thread end: drop the GIL for the last time.
    pub fn exit(&mut self) {
        self.drop_gil(true, None);
    }

    /// One plain bytecode: under Python 2 it counts toward the check interval; under
    /// CPython 3.10+ it never looks at the drop request.
    #[inline(always)]
    pub fn tick(&mut self) {
        if self.ticker != 0 {
            self.ticker -= 1;
            if self.ticker == 0 {
                self.legacy_check_interval();
            }
        }
    }

    /// A call or backward jump: the only places CPython 3.10+ honours a drop request.
    #[inline(always)]
    pub fn check_point(&mut self) {
        self.tick();
        if self.eval_breaker.load(Ordering::Relaxed) {
            self.honour_drop_request();
        }
    }

    /// Runs `blocking` with the GIL released, as C code between
    /// `Py_BEGIN_ALLOW_THREADS` and `Py_END_ALLOW_THREADS` does.
    pub fn allow_threads<R>(&mut self, blocking: impl FnOnce() -> R) -> R {
        let released = Instant::now();
        // Clock reads are the dearest part of tracing (tens of ns each), so the
        // hooks reuse the ones this function takes anyway: `released` ends the held
        // span (it is read before the release) and `back` starts the wait.
        self.drop_gil(false, Some(released));
        // The blocked span starts once the drop (and any forced switch) is over, so
        // that it never overlaps this thread's held span in a trace.
        let blocked = if self.trace.enabled() {
            Instant::now()
        } else {
            released
        };
        let result = blocking();
        let back = Instant::now();
        self.stats.released_ns += back.duration_since(released).as_nanos() as u64;
        self.trace.span(EventKind::IoBlocked, blocked, back);
        self.take(Some(back));
        result
    }

    /// The statistics and trace gathered so far.
    pub fn into_parts(self) -> (GilStats, TraceBuf) {
        (self.stats, self.trace)
    }

    /// The trace buffer, for workloads that record their own spans (e.g. GC pauses).
    pub fn trace(&mut self) -> &mut TraceBuf {
        &mut self.trace
    }

    #[cold]
    #[inline(never)]
    fn honour_drop_request(&mut self) {
        // "Give another thread a chance": drop, then queue up again like any waiter.
        // The wait is timed from the take, not the drop: a forced switch, or the OS
        // running someone else between the two, is not waiting for the GIL.
        self.drop_gil(false, None);
        self.take(None);
    }

    #[cold]
    #[inline(never)]
    fn legacy_check_interval(&mut self) {
        if let Lock::Legacy(gil, interval) = self.lock {
            self.ticker = interval.max(1);
            if self.trace.enabled() {
                self.legacy_release_traced(gil);
            } else {
                self.drop_gil(false, None);
                self.take(None);
            }
        }
    }

    /// Python 2's periodic release and re-take, while tracing. Most re-takes find
    /// the lock still free, so the hold simply goes on: one held span across
    /// them (the release lasts tens of ns, which no viewer could show) instead of
    /// one event and two clock reads per check interval, which would slow the
    /// traced thread by a tenth and fill its buffer within a second. The span is
    /// cut only where another thread got the lock in between, known exactly from
    /// the previous holder, so held spans still never overlap.
    fn legacy_release_traced(&mut self, gil: &LegacyGil) {
        let released = Instant::now();
        gil.drop();
        let outcome = gil.take(self.id);
        if outcome.waited_since.is_none() && outcome.previous_holder == Some(self.id) {
            self.stats.acquisitions += 1;
            crate::measure::record(&mut self.stats.wait, 0);
            return;
        }
        if let Some(since) = self.held_since.take() {
            self.trace.span(EventKind::GilHeld, since, released);
        }
        self.took(outcome, None);
    }

    /// Takes the GIL. `asked` is when the thread began to want it, if the caller
    /// has read the clock already (only used while tracing).
    fn take(&mut self, asked: Option<Instant>) {
        let tracing = self.trace.enabled();
        // While tracing, a wait starts when the thread *asks* for the GIL: on a busy
        // machine a thread can spend milliseconds getting the GIL's internal mutex
        // (or a CPU to run on) before it ever sleeps on the condition variable.
        // Python 2's lock has no such mutex (its wait starts where `try_lock`
        // fails), and it is re-taken every check interval: no clock read for it.
        let asked = match self.lock {
            Lock::Gil(_) if tracing => Some(asked.unwrap_or_else(Instant::now)),
            _ => None,
        };
        let outcome = match self.lock {
            Lock::Free => Default::default(),
            Lock::Gil(gil) => gil.take(self.id),
            Lock::Legacy(gil, _) => gil.take(self.id),
        };
        self.took(outcome, asked);
    }

    /// After a take: statistics, and (while tracing) the wait and the new hold.
    fn took(&mut self, outcome: TakeOutcome, asked: Option<Instant>) {
        let tracing = self.trace.enabled();
        let now = if outcome.waited_since.is_some() || tracing {
            Some(Instant::now())
        } else {
            None
        };
        if self.has_gil() {
            self.stats.acquisitions += 1;
            let waited = match (outcome.waited_since, now) {
                (Some(since), Some(now)) => now.duration_since(since).as_nanos() as u64,
                _ => 0,
            };
            self.stats.waited_ns += waited;
            crate::measure::record(&mut self.stats.wait, waited);
            self.stats.drop_requests += u64::from(outcome.drop_requests);
            if let (Some(since), Some(now)) = (asked.or(outcome.waited_since), now) {
                if outcome.waited_since.is_some() || now - since >= TRACED_WAIT_MIN {
                    self.trace.span(EventKind::GilWait, since, now);
                }
            }
            if let Some(at) = outcome.drop_request_at {
                self.trace.instant(EventKind::DropRequest, at);
            }
        }
        self.held_since = if tracing { now } else { None };
    }

    /// Drops the GIL; `at` is a clock reading taken just before, if the caller has
    /// one (only used while tracing).
    fn drop_gil(&mut self, last_time: bool, at: Option<Instant>) {
        // `held_since` is set only while tracing. The end is read *before* the
        // release (and the start just *after* the take), so a traced hold lies
        // strictly inside the real one: held spans of different threads never
        // overlap, which is what lets a trace show the lock's mutual exclusion.
        let mut dropped_at = None;
        if let Some(since) = self.held_since.take() {
            let kind = if self.has_gil() {
                EventKind::GilHeld
            } else {
                EventKind::Running
            };
            let now = at.unwrap_or_else(Instant::now);
            self.trace.span(kind, since, now);
            dropped_at = Some(now);
        }
        match self.lock {
            Lock::Free => {}
            Lock::Gil(gil) => {
                let outcome = gil.drop(self.id, last_time);
                if outcome.forced_switch {
                    self.stats.forced_switches += 1;
                    self.stats.switch_wait_ns += outcome.switch_wait_ns;
                    // Marked where the holder gave the GIL up, not where its wait
                    // for the switch ended.
                    if let Some(at) = dropped_at {
                        self.trace.instant(EventKind::ForcedSwitch, at);
                    }
                }
            }
            Lock::Legacy(gil, _) => gil.drop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn free_interp_counts_nothing() {
        let mut interp = Interp::new(0, Lock::Free, TraceBuf::disabled());
        interp.enter();
        for _ in 0..1000 {
            interp.tick();
            interp.check_point();
        }
        interp.allow_threads(|| ());
        interp.exit();
        assert_eq!(interp.into_parts().0.acquisitions, 0);
    }

    #[test]
    fn legacy_releases_every_check_interval() {
        let gil = LegacyGil::new();
        let mut interp = Interp::new(0, Lock::Legacy(&gil, 10), TraceBuf::disabled());
        interp.enter();
        for _ in 0..100 {
            interp.tick();
        }
        interp.exit();
        // One take on entry, then one re-take per 10 ticks.
        assert_eq!(interp.into_parts().0.acquisitions, 11);
    }

    #[test]
    fn gil_counts_acquisitions_around_io_and_traces_spans() {
        let gil = Gil::new(Duration::from_millis(5));
        let epoch = Instant::now();
        let mut interp = Interp::new(0, Lock::Gil(&gil), TraceBuf::new(epoch, 100));
        interp.enter();
        interp.allow_threads(|| std::thread::sleep(Duration::from_millis(1)));
        interp.exit();
        let (stats, trace) = interp.into_parts();
        assert_eq!(stats.acquisitions, 2);
        assert!(stats.released_ns >= 1_000_000);
        // A preempted take may show a short `gil-wait` even without a rival (the
        // wait is timed from asking); leave those out.
        let kinds: Vec<_> = trace
            .events()
            .iter()
            .map(|e| e.kind)
            .filter(|k| *k != EventKind::GilWait)
            .collect();
        assert_eq!(
            kinds,
            [EventKind::GilHeld, EventKind::IoBlocked, EventKind::GilHeld]
        );
        // One thread's spans follow each other without overlapping.
        for pair in trace.events().windows(2) {
            assert!(pair[0].end_ns() <= pair[1].start_ns, "{pair:?}");
        }
    }

    #[test]
    fn traced_legacy_keeps_one_held_span_while_nobody_else_takes_the_lock() {
        let gil = LegacyGil::new();
        let epoch = Instant::now();
        let mut interp = Interp::new(0, Lock::Legacy(&gil, 10), TraceBuf::new(epoch, 100));
        interp.enter();
        for _ in 0..100 {
            interp.tick();
        }
        interp.exit();
        let (stats, trace) = interp.into_parts();
        assert_eq!(stats.acquisitions, 11, "every re-take still counts");
        let kinds: Vec<_> = trace.events().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::GilHeld]);
    }

    #[test]
    fn free_threads_trace_running_spans_around_io() {
        let epoch = Instant::now();
        let mut interp = Interp::new(0, Lock::Free, TraceBuf::new(epoch, 100));
        interp.enter();
        interp.check_point();
        interp.allow_threads(|| ());
        interp.exit();
        let (_, trace) = interp.into_parts();
        let kinds: Vec<_> = trace.events().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::Running, EventKind::IoBlocked, EventKind::Running]
        );
    }
}
