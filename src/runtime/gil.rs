//! The simulated global interpreter lock, after CPython's `Python/ceval_gil.c`.
//!
//! Two locks live here, one per model:
//!
//! * [`Gil`] — the "new GIL" of CPython 3.2+ (Antoine Pitrou's design, still the GIL
//!   of 3.11–3.13), behind both `gil` and `gil-3.9`: those differ only in where the
//!   interpreter loop looks at the drop request
//!   ([`crate::runtime::interp::Flavour`]). A thread that finds it held sleeps on a
//!   condition variable for at most the *switch interval*; if it times out and no
//!   switch happened meanwhile, it sets the *drop request*. The holder looks at the
//!   request only at its next check point (see [`crate::runtime::interp`]) and
//!   drops the GIL; with *forced switching* it then waits until some other thread
//!   has actually taken it, so the OS cannot hand it straight back.
//! * [`LegacyGil`] — Python 2's GIL: a plain unfair lock (glibc's semaphore) that
//!   the holder releases and immediately re-takes every `check_interval` ticks. No
//!   drop request, no forced switch: on a multi-core machine the releaser nearly
//!   always wins the race, so the waiters wake up for nothing — David Beazley's
//!   "GIL battle".
//!
//! # State of [`Gil`]
//!
//! | state            | guarded by      | meaning                                                        | changed by |
//! |------------------|-----------------|----------------------------------------------------------------|------------|
//! | `locked`         | `mutex`         | some thread holds the GIL                                      | `take` sets it, `drop` clears it |
//! | `switch_number`  | `mutex`         | handoffs to a *different* thread so far                        | `take`, when the taker is not `last_holder` |
//! | `last_holder`    | `switch_mutex`  | the thread that held the GIL most recently                     | `take` |
//! | `drop_request`   | atomic          | a waiter timed out: the holder must drop at its next check     | set by a waiter in `take`; reset by `take` (request satisfied) and by a forced-switching `drop` |
//!
//! Invariants: at most one thread sees `locked == true` as its own; `drop_request` is
//! only ever set while `locked`; a `drop` that waits for a switch is woken by the
//! `take` that changes `last_holder`.
//!
//! Waiting, as in CPython: each waiter sleeps on `cond` in its own timed wait of one
//! interval; a `drop` signals exactly one. The mutexes, condition variables and the
//! drop request come from [`crate::runtime::sync`]: glibc's pthread mutex and
//! condition variable in a build, as CPython's (so a forced handoff pays the same
//! sleeps and wake-ups), loom's under `--cfg loom`, where `tests/loom.rs` checks
//! the first and third invariants and that no waiter sleeps through a drop, over
//! every interleaving.
//!
//! # Fairness (the switch interval)
//!
//! A waiter is never starved for much longer than one switch interval plus the time
//! to the holder's next check point: after `interval` without a switch it raises the
//! drop request, and forced switching guarantees the holder cannot take the GIL back
//! before *someone* else has had it. Which waiter that is, the OS decides. The cost is
//! the convoy effect (bpo-7946): an I/O thread that released the GIL around a blocking
//! call waits up to a full interval to get it back from a CPU-bound thread.

use crate::runtime::semaphore::Semaphore;
use crate::runtime::sync::{self, AtomicBool, Condvar, Mutex, MutexGuard, Ordering};
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

/// Identifies a simulated thread state (`PyThreadState *` in CPython).
pub type ThreadId = usize;

/// What one `take` did, for statistics and traces.
#[derive(Debug, Clone, Copy, Default)]
pub struct TakeOutcome {
    /// When the thread started waiting, if the GIL was held on arrival.
    pub waited_since: Option<Instant>,
    /// When this waiter set the drop request (the last time, if several).
    pub drop_request_at: Option<Instant>,
    /// How many times this waiter set the drop request.
    pub drop_requests: u32,
    /// The thread that held the GIL before this take (`None` before the first).
    /// Equal to the taker when nobody else got the GIL in between.
    pub previous_holder: Option<ThreadId>,
}

/// What one `drop` did.
#[derive(Debug, Clone, Copy, Default)]
pub struct DropOutcome {
    /// The holder dropped on request and waited until another thread took the GIL.
    pub forced_switch: bool,
    /// How long that wait lasted, ns (0 without a forced switch).
    pub switch_wait_ns: u64,
}

#[derive(Debug)]
struct GilState {
    locked: bool,
    switch_number: u64,
}

/// CPython 3.2+'s GIL. See the module documentation for its state machine.
#[derive(Debug)]
pub struct Gil {
    mutex: Mutex<GilState>,
    cond: Condvar,
    switch_mutex: Mutex<Option<ThreadId>>,
    switch_cond: Condvar,
    drop_request: AtomicBool,
    interval: Duration,
    forced_switching: bool,
}

impl Gil {
    /// A free GIL with CPython's parameters: `interval` is `sys.setswitchinterval`.
    pub fn new(interval: Duration) -> Gil {
        Gil {
            mutex: Mutex::new(GilState {
                locked: false,
                switch_number: 0,
            }),
            cond: Condvar::new(),
            switch_mutex: Mutex::new(None),
            switch_cond: Condvar::new(),
            drop_request: AtomicBool::new(false),
            // CPython clamps the interval to at least 1 µs.
            interval: interval.max(Duration::from_micros(1)),
            forced_switching: true,
        }
    }

    /// The flag a holder polls at every check point (CPython's `eval_breaker`).
    #[inline]
    pub fn drop_request(&self) -> &AtomicBool {
        &self.drop_request
    }

    /// Handoffs between different threads so far.
    pub fn switch_number(&self) -> u64 {
        sync::lock(&self.mutex).switch_number
    }

    /// `take_gil`: blocks until `me` holds the GIL.
    pub fn take(&self, me: ThreadId) -> TakeOutcome {
        let mut outcome = TakeOutcome::default();
        let mut state = sync::lock(&self.mutex);
        if state.locked {
            state = self.wait_while_locked(state, &mut outcome);
        }
        {
            // `last_holder` changes only under `switch_mutex`, so a forced-switching
            // `drop` cannot miss the wake-up below (see `drop`).
            let mut last_holder = sync::lock(&self.switch_mutex);
            state.locked = true;
            outcome.previous_holder = *last_holder;
            if *last_holder != Some(me) {
                *last_holder = Some(me);
                state.switch_number += 1;
            }
            self.switch_cond.notify_one();
        }
        // Whatever drop request was pending has now been satisfied.
        if self.drop_request.load(Ordering::Relaxed) {
            self.drop_request.store(false, Ordering::Relaxed);
        }
        outcome
    }

    /// Each waiter sleeps on `cond` for at most one interval at a time, as
    /// CPython's `COND_TIMED_WAIT` does; a `drop` wakes exactly one.
    #[cold]
    fn wait_while_locked<'a>(
        &self,
        mut state: MutexGuard<'a, GilState>,
        outcome: &mut TakeOutcome,
    ) -> MutexGuard<'a, GilState> {
        outcome.waited_since = Some(Instant::now());
        while state.locked {
            let saved_switch_number = state.switch_number;
            let timed_out;
            (state, timed_out) = sync::wait_timeout(&self.cond, state, self.interval);
            // Timed out and nobody got the GIL meanwhile: ask the holder to drop it.
            if timed_out && state.locked && state.switch_number == saved_switch_number {
                self.drop_request.store(true, Ordering::Relaxed);
                outcome.drop_requests += 1;
                outcome.drop_request_at = Some(Instant::now());
            }
        }
        state
    }

    /// `drop_gil`: releases the GIL held by `me`.
    ///
    /// `last_time` is CPython's `tstate == NULL`: a thread leaving for good never
    /// waits for a forced switch.
    pub fn drop(&self, me: ThreadId, last_time: bool) -> DropOutcome {
        {
            let mut state = sync::lock(&self.mutex);
            debug_assert!(state.locked, "drop of a GIL that is not held");
            state.locked = false;
            self.cond.notify_one();
        }
        let mut outcome = DropOutcome::default();
        if self.forced_switching && !last_time && self.drop_request.load(Ordering::Relaxed) {
            let last_holder = sync::lock(&self.switch_mutex);
            // Not switched yet: wait until a `take` by someone else signals us. Like
            // CPython we wait once; a spurious wake-up only shortens the wait.
            if *last_holder == Some(me) {
                self.drop_request.store(false, Ordering::Relaxed);
                outcome.forced_switch = true;
                let since = Instant::now();
                drop(sync::wait(&self.switch_cond, last_holder));
                outcome.switch_wait_ns = since.elapsed().as_nanos() as u64;
            }
        }
        outcome
    }
}

/// Python 2's GIL: a POSIX semaphore of value 1, as 2.7's `thread_pthread.h` made
/// it on Linux ([`Semaphore`], glibc's), released and re-taken every check
/// interval. Unfair: the releaser takes the token back before a woken waiter runs.
#[derive(Debug)]
pub struct LegacyGil {
    lock: Semaphore,
    last_holder: AtomicU32,
}

impl Default for LegacyGil {
    fn default() -> LegacyGil {
        LegacyGil {
            lock: Semaphore::new(1),
            last_holder: AtomicU32::new(0),
        }
    }
}

impl LegacyGil {
    /// A free lock.
    pub fn new() -> LegacyGil {
        LegacyGil::default()
    }

    /// `PyThread_acquire_lock(interpreter_lock, 1)`.
    pub fn take(&self, me: ThreadId) -> TakeOutcome {
        let mut outcome = TakeOutcome::default();
        if !self.lock.try_wait() {
            outcome.waited_since = Some(Instant::now());
            self.lock.wait();
        }
        // A swap, not a store: the taker learns (exactly, since this runs under the
        // lock) whether anyone else held the lock since its own last hold.
        let previous = self.last_holder.swap(me as u32, Ordering::Relaxed);
        outcome.previous_holder = Some(previous as ThreadId);
        outcome
    }

    /// `PyThread_release_lock(interpreter_lock)`.
    pub fn drop(&self) {
        self.lock.post();
    }

    /// The thread that took the lock most recently.
    pub fn last_holder(&self) -> ThreadId {
        self.last_holder.load(Ordering::Relaxed) as ThreadId
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn uncontended_take_does_not_wait_or_request() {
        let gil = Gil::new(Duration::from_millis(5));
        let outcome = gil.take(1);
        assert!(outcome.waited_since.is_none());
        assert_eq!(outcome.drop_requests, 0);
        assert!(!gil.drop(1, false).forced_switch);
        assert_eq!(gil.switch_number(), 1);
        gil.take(1);
        gil.drop(1, true);
        assert_eq!(
            gil.switch_number(),
            1,
            "re-taking by the same thread is no switch"
        );
    }

    #[test]
    fn waiter_sets_drop_request_after_interval_and_holder_is_forced_to_switch() {
        let gil = Arc::new(Gil::new(Duration::from_millis(2)));
        gil.take(0);
        let waiter = {
            let gil = Arc::clone(&gil);
            std::thread::spawn(move || {
                let outcome = gil.take(1);
                Gil::drop(&gil, 1, true);
                outcome
            })
        };
        // The holder "runs" until it sees the drop request at a check point.
        let start = Instant::now();
        while !gil.drop_request().load(Ordering::Relaxed) {
            assert!(start.elapsed() < Duration::from_secs(5), "no drop request");
            std::hint::spin_loop();
        }
        assert!(start.elapsed() >= Duration::from_millis(1));
        // Whether this drop has to wait (a forced switch) depends on whether the
        // waiter already took the GIL by the time we look: both are correct.
        let _ = Gil::drop(&gil, 0, false);
        let outcome = waiter.join().unwrap();
        assert!(outcome.waited_since.is_some());
        assert!(outcome.drop_requests >= 1);
        assert_eq!(gil.switch_number(), 2);
    }

    #[test]
    fn legacy_gil_excludes() {
        let gil = LegacyGil::new();
        assert!(gil.take(3).waited_since.is_none());
        assert_eq!(gil.last_holder(), 3);
        gil.drop();
    }
}
