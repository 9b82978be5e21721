//! glibc's `pthread_mutex_t` and `pthread_cond_t`, the primitives CPython's GIL
//! is built on (`Python/condvar.h`: `MUTEX_LOCK` is `pthread_mutex_lock` on a
//! default mutex, `COND_TIMED_WAIT` is `pthread_cond_timedwait` on a
//! `CLOCK_MONOTONIC` condition variable).
//!
//! Why not std's: std's `Mutex` spins a while before it sleeps, glibc's default
//! mutex does not, and the GIL's forced handoff is a race of wake-ups that a few
//! microseconds decide. Measured with uprobes on CPython 3.11, a holder's
//! `drop_gil` reached a waiter holding the GIL a median 39 µs later; the
//! simulation on std's primitives took 5 µs, and its convoy escaped where
//! CPython's did not. With the same primitives both pay the same wake-ups.
//!
//! The types mirror std's shape (`lock` gives a guard, a condition variable
//! takes the guard and gives it back), so `runtime::sync` can swap them for
//! loom's under `--cfg loom`. Crate-private: a [`Condvar`] must always be waited
//! on with the same [`Mutex`] (POSIX leaves mixing them undefined), which the
//! GIL, their only user, does.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A `PTHREAD_MUTEX_NORMAL` glibc mutex around `T`: on glibc the same never-spinning
/// mutex as CPython's default one, with a relock defined (a deadlock) rather than
/// undefined.
pub struct Mutex<T> {
    // Boxed: a pthread mutex must not move once initialised.
    raw: Box<UnsafeCell<libc::pthread_mutex_t>>,
    value: UnsafeCell<T>,
}

// SAFETY (both impls):
// - `value` is only reached through a `MutexGuard`, which exists only while the
//   pthread mutex is held, so at most one thread touches it at a time;
// - the pthread mutex itself is made to be shared between threads.
unsafe impl<T: Send> Send for Mutex<T> {}
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pthread::Mutex").finish_non_exhaustive()
    }
}

impl<T> Mutex<T> {
    /// `pthread_mutex_init` with a `PTHREAD_MUTEX_NORMAL` attribute (CPython's
    /// `PyMUTEX_INIT` passes NULL, which on glibc is the same kind).
    pub fn new(value: T) -> Mutex<T> {
        // Zeroed, not the static initializer: `pthread_mutex_init` below is its
        // only initialisation.
        // SAFETY: an all-zero `pthread_mutex_t` is a valid bit pattern for a
        // plain C struct; it is not used before `pthread_mutex_init`.
        let raw: Box<UnsafeCell<libc::pthread_mutex_t>> =
            Box::new(UnsafeCell::new(unsafe { std::mem::zeroed() }));
        // SAFETY:
        // - `attr` lives on this stack for the calls and is destroyed last;
        // - `raw` points to a boxed, aligned `pthread_mutex_t` that never moves
        //   and that nothing else uses yet, initialised exactly once here.
        let rc = unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_mutexattr_init(&mut attr), 0);
            assert_eq!(
                libc::pthread_mutexattr_settype(&mut attr, libc::PTHREAD_MUTEX_NORMAL),
                0
            );
            let rc = libc::pthread_mutex_init(raw.get(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            rc
        };
        assert_eq!(rc, 0, "pthread_mutex_init");
        Mutex {
            raw,
            value: UnsafeCell::new(value),
        }
    }

    /// `pthread_mutex_lock`: blocks (in the kernel, without spinning) until held.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // SAFETY:
        // - `raw` is an initialised mutex that outlives `self`;
        // - a NORMAL mutex locked again by its holder deadlocks (defined), it is
        //   never undefined behaviour.
        let rc = unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        debug_assert_eq!(rc, 0, "pthread_mutex_lock");
        MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }
}

impl<T> Drop for Mutex<T> {
    fn drop(&mut self) {
        // A guard may have been leaked (`mem::forget`) and the mutex left locked;
        // destroying a locked mutex is undefined, so it is then leaked instead,
        // as std does.
        // SAFETY:
        // - `&mut self`: no other thread can use the mutex any more;
        // - `trylock` on an initialised mutex is always defined; when it
        //   succeeds this thread holds it, so unlocking and destroying it are
        //   defined too.
        unsafe {
            if libc::pthread_mutex_trylock(self.raw.get()) == 0 {
                libc::pthread_mutex_unlock(self.raw.get());
                libc::pthread_mutex_destroy(self.raw.get());
            } else {
                std::mem::forget(std::mem::replace(
                    &mut self.raw,
                    Box::new(UnsafeCell::new(std::mem::zeroed())),
                ));
            }
        }
    }
}

/// A held [`Mutex`]; unlocks on drop. Not `Send`, like std's: a pthread mutex
/// must be unlocked by the thread that locked it.
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&MutexGuard` across threads only gives `&T` (`Deref`), which
// is safe exactly when `T: Sync`; the guard is never unlocked through `&self`.
unsafe impl<T: Sync> Sync for MutexGuard<'_, T> {}

impl<T> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pthread::MutexGuard")
            .finish_non_exhaustive()
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the mutex, which
        // is what excludes every other access to `value`.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the mutex (the guard proves it).
        unsafe {
            libc::pthread_mutex_unlock(self.mutex.raw.get());
        }
    }
}

/// A glibc condition variable on `CLOCK_MONOTONIC`, as CPython's
/// `_PyThread_cond_init` makes it.
pub struct Condvar {
    raw: Box<UnsafeCell<libc::pthread_cond_t>>,
}

// SAFETY: a pthread condition variable is made to be shared between threads; it
// holds no data of ours.
unsafe impl Send for Condvar {}
unsafe impl Sync for Condvar {}

impl std::fmt::Debug for Condvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pthread::Condvar").finish_non_exhaustive()
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl Condvar {
    /// `pthread_cond_init` with a `CLOCK_MONOTONIC` attribute.
    pub fn new() -> Condvar {
        // SAFETY: an all-zero `pthread_cond_t` is a valid bit pattern for a plain
        // C struct; it is not used before `pthread_cond_init`.
        let raw: Box<UnsafeCell<libc::pthread_cond_t>> =
            Box::new(UnsafeCell::new(unsafe { std::mem::zeroed() }));
        // SAFETY:
        // - `attr` lives on this stack for the calls and is destroyed last;
        // - `raw` is a boxed, aligned `pthread_cond_t` that never moves and that
        //   nothing else uses yet, initialised exactly once here;
        // - every call's result is checked: `wait_timeout`'s deadlines are on
        //   CLOCK_MONOTONIC, so a condition variable on any other clock would
        //   time out at once, every time.
        unsafe {
            let mut attr: libc::pthread_condattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_condattr_init(&mut attr), 0);
            assert_eq!(
                libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_MONOTONIC),
                0,
                "a CLOCK_MONOTONIC condition variable"
            );
            assert_eq!(libc::pthread_cond_init(raw.get(), &attr), 0);
            libc::pthread_condattr_destroy(&mut attr);
        }
        Condvar { raw }
    }

    /// `pthread_cond_wait`: releases the guard's mutex, sleeps until signalled
    /// (or woken spuriously), holds it again.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        // SAFETY:
        // - the guard proves this thread holds `guard.mutex`, as the call requires;
        // - both objects are initialised and outlive the call;
        // - every wait on this condition variable uses that same mutex (the
        //   module's crate-private contract, kept by the GIL).
        unsafe {
            libc::pthread_cond_wait(self.raw.get(), guard.mutex.raw.get());
        }
        guard
    }

    /// `pthread_cond_timedwait` for at most `timeout`; whether the time ran out.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let deadline = monotonic_now().saturating_add(timeout);
        let abstime = libc::timespec {
            tv_sec: deadline.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: deadline.subsec_nanos() as libc::c_long,
        };
        // SAFETY: as in `wait`; `abstime` lives on this stack for the call.
        let rc = unsafe {
            libc::pthread_cond_timedwait(self.raw.get(), guard.mutex.raw.get(), &abstime)
        };
        debug_assert!(
            rc == 0 || rc == libc::ETIMEDOUT,
            "pthread_cond_timedwait: {rc}"
        );
        (guard, rc == libc::ETIMEDOUT)
    }

    /// `pthread_cond_signal`: wakes one waiter, if any.
    pub fn notify_one(&self) {
        // SAFETY: `raw` is an initialised condition variable.
        unsafe {
            libc::pthread_cond_signal(self.raw.get());
        }
    }
}

impl Drop for Condvar {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no thread can be waiting on it any more.
        unsafe {
            libc::pthread_cond_destroy(self.raw.get());
        }
    }
}

/// `CLOCK_MONOTONIC` as a duration since its epoch, the clock the condition
/// variable's deadlines are on.
fn monotonic_now() -> Duration {
    // Cannot fail on Linux; a zero here would make every timed wait time out at
    // once, so it is not papered over.
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is readable");
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_signal_wakes_the_waiter_with_the_mutex_held() {
        let shared = Arc::new((Mutex::new(0u32), Condvar::new()));
        let waiter = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let (m, c) = &*shared;
                let mut g = m.lock();
                while *g == 0 {
                    g = c.wait(g);
                }
                *g
            })
        };
        {
            let (m, c) = &*shared;
            *m.lock() = 7;
            c.notify_one();
        }
        assert_eq!(waiter.join().unwrap(), 7);
    }

    #[test]
    fn a_timed_wait_times_out_on_the_monotonic_clock() {
        let (m, c) = (Mutex::new(()), Condvar::new());
        let start = Instant::now();
        let (_g, timed_out) = c.wait_timeout(m.lock(), Duration::from_millis(20));
        assert!(timed_out);
        assert!(start.elapsed() >= Duration::from_millis(19));
    }
}
