//! The simulated interpreter: ticks, check points, and releasing the GIL around I/O.
//!
//! A *tick* is one bytecode. What decides whether `counter += 1` can lose updates
//! under a GIL is *where* the interpreter loop looks at the eval breaker (where the
//! drop request lives), and each CPython did it differently. Workloads say which
//! kind of bytecode they run ([`TickKind`]); the lock's [`Flavour`] says which kinds
//! are looked at:
//!
//! | bytecode ([`TickKind`])                         | call            | 3.10+ (`gil`)  | ≤ 3.9 (`gil-3.9`) | 2.7 (`gil-legacy`)       |
//! |-------------------------------------------------|-----------------|----------------|-------------------|--------------------------|
//! | `Fast`: `LOAD_FAST`/`CONST`, `STORE_FAST`, `POP_TOP`, `ROT_*`, `DUP_TOP` | [`Interp::fast_tick`] | —     | —                 | — (skips the ticker)     |
//! | `Plain`: every other bytecode                   | [`Interp::tick`]        | —      | drop request      | counts toward the check interval |
//! | `CheckPoint`: calls, backward jumps             | [`Interp::check_point`] | drop request | drop request | counts toward the check interval |
//!
//! - 3.10+ (`CHECK_EVAL_BREAKER()` in `Python/ceval.c`) looks only at calls and
//!   backward jumps, so no switch can fall between `counter += 1`'s load and store.
//! - ≤ 3.9's `DISPATCH()` looked after every opcode except the ones that end in
//!   `FAST_DISPATCH()`, so a switch can fall between `INPLACE_ADD` and `STORE_GLOBAL`.
//! - 2.7 decremented its `_Py_Ticker` at the top of the loop, which the same fast
//!   opcodes skipped (`goto fast_next_opcode`); at zero it released and re-took the
//!   lock, wherever that was.
//! - None of them skips the check after `FOR_ITER` or `COMPARE_OP`, though the
//!   sources read as if `PREDICT` jumps past it: built with computed gotos (2.7.18
//!   and 3.1+ as built with gcc or clang, which have an `opcode_targets` table), `PREDICT(op)` is
//!   `if (0) goto PRED_op`, and both end in a plain `DISPATCH()`.
//!
//! Workloads call these as their simulated bytecode runs, and wrap blocking calls in
//! [`Interp::allow_threads`] (`Py_BEGIN_ALLOW_THREADS` / `Py_END_ALLOW_THREADS`).
//! Under free threads all of it is nearly free; under a GIL the fast path is one
//! relaxed load.

use crate::measure::Histogram;
use crate::runtime::gil::{Gil, LegacyGil, TakeOutcome, ThreadId};
use crate::runtime::sync::{AtomicBool, Ordering};
use crate::runtime::trace::{EventKind, TraceBuf};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The lock (if any) a simulated thread must hold to run bytecode.
#[derive(Debug, Clone, Copy)]
pub enum Lock<'g> {
    /// No GIL: free threads, or the sequential baseline.
    Free,
    /// CPython 3.10+ GIL: the drop request is looked at only at check points.
    Gil(&'g Gil),
    /// CPython 3.2–3.9 GIL: the same lock, its drop request looked at after every
    /// bytecode but the fast ones.
    Gil39(&'g Gil),
    /// Python 2 GIL, released and re-taken every `check_interval` ticks.
    Legacy(&'g LegacyGil, u32),
}

/// A simulated bytecode, by what the interpreter loop does after it (see the
/// module documentation's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickKind {
    /// An opcode that ends in `FAST_DISPATCH()` (≤ 3.9) or `goto fast_next_opcode`
    /// (2.7): local and constant loads and stores, stack shuffles.
    Fast,
    /// Any other opcode that neither calls nor jumps back.
    Plain,
    /// A call or a backward jump.
    CheckPoint,
}

/// Which CPython's interpreter loop a thread runs: where it looks at the GIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// No GIL to look at.
    Free,
    /// CPython 3.10+.
    Py310,
    /// CPython 3.2–3.9.
    Py39,
    /// Python 2.7.
    Py27,
}

impl Flavour {
    /// Whether the holder looks at the drop request after a `kind` bytecode.
    pub const fn checks_drop_request(self, kind: TickKind) -> bool {
        matches!(
            (self, kind),
            (Flavour::Py310, TickKind::CheckPoint)
                | (Flavour::Py39, TickKind::Plain | TickKind::CheckPoint)
        )
    }

    /// Whether a `kind` bytecode counts toward Python 2's check interval.
    pub const fn counts_toward_check_interval(self, kind: TickKind) -> bool {
        matches!(
            (self, kind),
            (Flavour::Py27, TickKind::Plain | TickKind::CheckPoint)
        )
    }
}

impl<'g> Lock<'g> {
    /// The interpreter loop that runs under this lock.
    pub fn flavour(self) -> Flavour {
        match self {
            Lock::Free => Flavour::Free,
            Lock::Gil(_) => Flavour::Py310,
            Lock::Gil39(_) => Flavour::Py39,
            Lock::Legacy(..) => Flavour::Py27,
        }
    }

    fn gil(self) -> Option<&'g Gil> {
        match self {
            Lock::Gil(gil) | Lock::Gil39(gil) => Some(gil),
            Lock::Free | Lock::Legacy(..) => None,
        }
    }
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
            wait: crate::measure::new_histogram_for_a_minute(),
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

/// The eval breaker of an interpreter that never looks at a GIL.
#[cfg(not(loom))]
fn never() -> &'static AtomicBool {
    static NEVER: AtomicBool = AtomicBool::new(false);
    &NEVER
}

/// Under loom (which model-checks the GIL alone, never an `Interp`) atomics are
/// not `const`; a leak per interpreter is harmless there.
#[cfg(loom)]
fn never() -> &'static AtomicBool {
    Box::leak(Box::new(AtomicBool::new(false)))
}

/// Counted ticks from one Python 2 release to the next. 2.7 resets `_Py_Ticker` to
/// the check interval and releases when `--_Py_Ticker < 0`: on the 101st counted
/// bytecode at the default 100, not the 100th. The one matters: a loop of five
/// counted bytecodes would otherwise always release at the same bytecode.
fn legacy_period(check_interval: u32) -> u32 {
    check_interval.saturating_add(1)
}

/// The shortest uncontended take traced as a `gil-wait`: a free GIL is taken in
/// tens of ns, and tracing each of those would double a trace for nothing.
const TRACED_WAIT_MIN: std::time::Duration = std::time::Duration::from_micros(1);

/// One simulated thread's interpreter state (`PyThreadState`).
#[derive(Debug)]
pub struct Interp<'g> {
    id: ThreadId,
    lock: Lock<'g>,
    /// CPython's `eval_breaker` as a check point sees it: the GIL's drop request,
    /// or a flag that is never set.
    eval_breaker: &'g AtomicBool,
    /// The same, as a plain bytecode sees it (only ≤ 3.9 looks there).
    plain_breaker: &'g AtomicBool,
    /// Python 2's `_Py_Ticker`, plus one: counted ticks left before the periodic
    /// release, which comes on the tick that takes it to zero (legacy only).
    ticker: u32,
    held_since: Option<Instant>,
    stats: GilStats,
    trace: TraceBuf,
}

impl<'g> Interp<'g> {
    /// A thread state for thread `id` under `lock`, recording into `trace`.
    pub fn new(id: ThreadId, lock: Lock<'g>, trace: TraceBuf) -> Interp<'g> {
        // The table of `Flavour` becomes two flags and a counter, so that a tick
        // costs one relaxed load and no branch on the flavour.
        let flavour = lock.flavour();
        let breaker = |kind| match lock.gil() {
            Some(gil) if flavour.checks_drop_request(kind) => gil.drop_request(),
            _ => never(),
        };
        debug_assert_eq!(
            flavour.counts_toward_check_interval(TickKind::Plain),
            flavour.counts_toward_check_interval(TickKind::CheckPoint)
        );
        let ticker = match lock {
            Lock::Legacy(_, interval) => legacy_period(interval),
            _ => 0,
        };
        Interp {
            id,
            lock,
            eval_breaker: breaker(TickKind::CheckPoint),
            plain_breaker: breaker(TickKind::Plain),
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

    /// One plain bytecode ([`TickKind::Plain`]): under Python 2 it counts toward
    /// the check interval; CPython ≤ 3.9 looks at the drop request after it, 3.10+
    /// does not.
    #[inline(always)]
    pub fn tick(&mut self) {
        self.count_tick();
        if self.plain_breaker.load(Ordering::Relaxed) {
            self.honour_drop_request();
        }
    }

    /// One fast bytecode ([`TickKind::Fast`]): a local or constant load or store,
    /// a stack shuffle. No CPython looks at the GIL after it, and Python 2's ticker
    /// skips it.
    #[inline(always)]
    pub fn fast_tick(&mut self) {}

    /// A call or backward jump ([`TickKind::CheckPoint`]): the only places CPython
    /// 3.10+ honours a drop request.
    #[inline(always)]
    pub fn check_point(&mut self) {
        self.count_tick();
        if self.eval_breaker.load(Ordering::Relaxed) {
            self.honour_drop_request();
        }
    }

    /// [`tick`](Self::tick) or [`check_point`](Self::check_point), by `kind`, for a
    /// thread that holds state the GIL protects with no lock of its own (pymalloc's
    /// pools, [`crate::runtime::gilstate`]). When this bytecode is going to give
    /// the GIL up, `release` runs first, so the state is let go before another
    /// thread can run. The drop request is looked at once, here, as CPython looks
    /// once per bytecode: if it is not set now, this bytecode keeps the GIL (a
    /// request set a moment later is seen at the next one), so nothing held can
    /// leave with the GIL. The fast path is still one relaxed load.
    #[inline(always)]
    pub fn tick_releasing(&mut self, kind: TickKind, release: impl FnOnce()) {
        let breaker = match kind {
            TickKind::Fast => return,
            TickKind::Plain => self.plain_breaker,
            TickKind::CheckPoint => self.eval_breaker,
        };
        if self.ticker == 1 || breaker.load(Ordering::Relaxed) {
            release();
            if kind == TickKind::Plain {
                self.tick();
            } else {
                self.check_point();
            }
        } else {
            // The ticker is above 1 (or unused): counting cannot run it out.
            self.count_tick();
        }
    }

    /// Python 2's `--_Py_Ticker < 0`.
    #[inline(always)]
    fn count_tick(&mut self) {
        if self.ticker != 0 {
            self.ticker -= 1;
            if self.ticker == 0 {
                self.legacy_check_interval();
            }
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
            self.ticker = legacy_period(interval);
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
            Lock::Gil(_) | Lock::Gil39(_) if tracing => Some(asked.unwrap_or_else(Instant::now)),
            _ => None,
        };
        let outcome = match self.lock {
            Lock::Free => Default::default(),
            Lock::Gil(gil) | Lock::Gil39(gil) => gil.take(self.id),
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
            Lock::Gil(gil) | Lock::Gil39(gil) => {
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
    fn each_flavour_looks_at_the_drop_request_where_its_cpython_did() {
        use Flavour::*;
        use TickKind::*;
        let kinds = [Fast, Plain, CheckPoint];
        let looks = |f: Flavour| kinds.map(|k| f.checks_drop_request(k));
        assert_eq!(looks(Py310), [false, false, true], "CHECK_EVAL_BREAKER");
        assert_eq!(
            looks(Py39),
            [false, true, true],
            "DISPATCH, not FAST_DISPATCH"
        );
        assert_eq!(looks(Py27), [false; 3], "no drop request: a ticker");
        assert_eq!(looks(Free), [false; 3]);
        let counts = |f: Flavour| kinds.map(|k| f.counts_toward_check_interval(k));
        assert_eq!(
            counts(Py27),
            [false, true, true],
            "fast_next_opcode skips the ticker"
        );
        for f in [Py310, Py39, Free] {
            assert_eq!(counts(f), [false; 3]);
        }
    }

    /// Runs `bytecode` on a holder while another thread waits for the GIL, and
    /// says whether the holder gave the GIL up within `budget` bytecodes. The
    /// waiter's drop request is set by hand first, so no timing is involved: the
    /// holder either looks at it or it does not.
    type MakeLock = fn(&Gil) -> Lock<'_>;

    fn switches_at(lock: MakeLock, bytecode: fn(&mut Interp<'_>)) -> bool {
        let gil = Gil::new(Duration::from_secs(3600));
        let mut holder = Interp::new(0, lock(&gil), TraceBuf::disabled());
        holder.enter();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut waiter = Interp::new(1, lock(&gil), TraceBuf::disabled());
                waiter.enter();
                waiter.exit();
            });
            gil.drop_request().store(true, Ordering::Relaxed);
            for _ in 0..1000 {
                bytecode(&mut holder);
            }
            // Whether or not the holder looked, let the waiter in now.
            let switched = holder.stats.acquisitions > 1;
            holder.exit();
            switched
        })
    }

    #[test]
    fn gil_39_switches_after_a_plain_bytecode_and_gil_only_at_a_check_point() {
        let (g310, g39): (MakeLock, MakeLock) = (|g| Lock::Gil(g), |g| Lock::Gil39(g));
        assert!(!switches_at(g310, |i| i.tick()));
        assert!(!switches_at(g310, |i| i.fast_tick()));
        assert!(switches_at(g310, |i| i.check_point()));
        assert!(switches_at(g39, |i| i.tick()));
        assert!(!switches_at(g39, |i| i.fast_tick()));
        assert!(switches_at(g39, |i| i.check_point()));
    }

    #[test]
    fn legacy_counts_a_for_loops_for_iter() {
        // `for _ in range(n): counter += 1` in 2.7.18 (computed gotos): FOR_ITER,
        // LOAD_GLOBAL, INPLACE_ADD, STORE_GLOBAL and JUMP_ABSOLUTE count; the
        // STORE_FAST and LOAD_CONST do not. 110 loops are 550 counted bytecodes: a
        // release every 11 at interval 10, 50 of them, plus the entry take.
        let gil = LegacyGil::new();
        let mut interp = Interp::new(0, Lock::Legacy(&gil, 10), TraceBuf::disabled());
        interp.enter();
        for _ in 0..110 {
            interp.tick(); // FOR_ITER
            interp.fast_tick(); // STORE_FAST
            interp.tick(); // LOAD_GLOBAL
            interp.fast_tick(); // LOAD_CONST
            interp.tick(); // INPLACE_ADD
            interp.tick(); // STORE_GLOBAL
            interp.check_point(); // JUMP_ABSOLUTE
        }
        interp.exit();
        assert_eq!(interp.into_parts().0.acquisitions, 51);
    }

    #[test]
    fn legacy_fast_ticks_do_not_count_toward_the_check_interval() {
        let gil = LegacyGil::new();
        let mut interp = Interp::new(0, Lock::Legacy(&gil, 10), TraceBuf::disabled());
        interp.enter();
        for _ in 0..110 {
            interp.fast_tick();
            interp.tick();
        }
        interp.exit();
        assert_eq!(interp.into_parts().0.acquisitions, 11);
    }

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
        for _ in 0..110 {
            interp.tick();
        }
        interp.exit();
        // One take on entry, then one re-take per 11 ticks (`--_Py_Ticker < 0`).
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
        for _ in 0..110 {
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
