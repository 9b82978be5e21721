//! The primitives the GIL's handoff is built on: CPython's own — glibc's
//! `pthread_mutex_t` and `pthread_cond_t` ([`crate::sys::pthread`]) — or loom's
//! mocks when the crate is built with `--cfg loom`, so that `tests/loom.rs` can
//! model-check [`crate::runtime::gil::Gil`] (crossbeam's `primitive` module does
//! the same).
//!
//! glibc's, not std's: a forced handoff of the GIL is a race of wake-ups that a
//! few microseconds decide, and std's mutex spins before it sleeps where glibc's,
//! CPython's, does not (see [`crate::sys::pthread`] for the measurement). And
//! std's condition variable makes a `FUTEX_WAKE` system call on every notify,
//! waiter or not, where glibc's skips it when nobody waits: an uncontended take
//! and drop cost 315 ns on std's and 27 ns on glibc's (`cargo bench --bench
//! harness -- gil/`). Not
//! parking_lot's: its queue of parked threads is walked by every waiter that
//! times out, which made a thousand waiters, each timing out every switch
//! interval, burn more CPU than the work; a pthread condition variable is a futex
//! word, O(1) however many wait, as it is for CPython.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use {
    crate::sys::pthread::{Condvar, Mutex, MutexGuard},
    std::sync::atomic::{AtomicBool, Ordering},
};

use std::time::Duration;

/// Locks `mutex`. (loom's is std-shaped, with poisoning: the GIL's state stays
/// consistent when a holder panics, every update being a single assignment, so
/// poisoning carries no information here.)
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    return mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    #[cfg(not(loom))]
    mutex.lock()
}

/// Waits on `cond` until notified (or woken spuriously).
pub(crate) fn wait<'a, T>(cond: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    #[cfg(loom)]
    return cond
        .wait(guard)
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    #[cfg(not(loom))]
    cond.wait(guard)
}

/// Waits on `cond` for at most `timeout`; `true` if the time ran out.
pub(crate) fn wait_timeout<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> (MutexGuard<'a, T>, bool) {
    #[cfg(loom)]
    {
        let (guard, result) = cond
            .wait_timeout(guard, timeout)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (guard, result.timed_out())
    }
    #[cfg(not(loom))]
    cond.wait_timeout(guard, timeout)
}
