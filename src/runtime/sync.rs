//! The primitives the GIL's handoff is built on: std's, or loom's mocks when the
//! crate is built with `--cfg loom`, so that `tests/loom.rs` can model-check
//! [`crate::runtime::gil::Gil`] (crossbeam's `primitive` module does the same).
//!
//! std's, not parking_lot's: on Linux std's `Condvar` is a futex word, so a timed
//! wait and a wake cost O(1) however many threads wait, as glibc's
//! `pthread_cond_timedwait` does for CPython. parking_lot's queue of parked threads
//! is walked by every waiter that times out, which made a thousand waiters, each
//! timing out every switch interval, burn more CPU than the work.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, Ordering},
    Condvar, Mutex, MutexGuard,
};

use std::sync::PoisonError;
use std::time::Duration;

/// Locks `mutex`. The GIL's state stays consistent when a holder panics (every
/// update is a single assignment), so poisoning carries no information here.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cond` until notified (or woken spuriously).
pub(crate) fn wait<'a, T>(cond: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cond.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cond` for at most `timeout`; `true` if the time ran out.
pub(crate) fn wait_timeout<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> (MutexGuard<'a, T>, bool) {
    let (guard, result) = cond
        .wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner);
    (guard, result.timed_out())
}
