//! Linux futexes: the kernel's wait queue keyed by a 32-bit word.
//!
//! [`wait`] and [`wake`] are the *shared* (non-`FUTEX_PRIVATE_FLAG`) operations,
//! on purpose: the same word may live in a `MAP_SHARED` mapping that several
//! processes see, and a shared futex is keyed by the physical page, so a wake in
//! one process reaches a waiter in another.
//!
//! [`wait_private`] and [`wake_private`] are what glibc uses for a process's own
//! locks (`pthread_mutex_t`, `pthread_cond_t`, `sem_init(…, 0, …)`), and so the
//! calls CPython's locks make. The kernel does not treat the two alike: a shared
//! key is looked up through the page tables on every call, and since Linux 6.16
//! a private one hashes into the process's own table (16 buckets on 2 CPUs), not
//! the global one — the table whose contention issue #15 is about. So whatever
//! stands for a CPython lock uses the private pair.
//!
//! [`FutexLock`], the mutex built on one such word, lives here too: whether it may
//! sit in shared memory (`super::shm::ShmPod`) depends on its private layout, so the
//! promise is made beside the type.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Blocks while `*word == expected`, until woken (or `timeout` passes, or a signal or
/// spurious wake-up returns early: callers always re-check their condition).
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    wait_op(word, libc::FUTEX_WAIT, expected, timeout);
}

/// [`wait`] on a word no other process waits on.
pub fn wait_private(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    wait_op(
        word,
        libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
        expected,
        timeout,
    );
}

/// Wakes up to `count` waiters blocked on `word`; returns how many were woken.
pub fn wake(word: &AtomicU32, count: u32) -> usize {
    wake_op(word, libc::FUTEX_WAKE, count)
}

/// [`wake`] on a word no other process waits on.
pub fn wake_private(word: &AtomicU32, count: u32) -> usize {
    wake_op(word, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, count)
}

fn wait_op(word: &AtomicU32, op: libc::c_int, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY:
    // - `word.as_ptr()` points to a live, aligned 32-bit word for the whole call
    //   (we hold a reference to it);
    // - `ts_ptr` is null or points to a `timespec` on our stack that outlives the call;
    // - FUTEX_WAIT only reads these; its result (EAGAIN, EINTR, ETIMEDOUT) needs no
    //   handling because every caller loops on its own condition.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), op, expected, ts_ptr);
    }
}

fn wake_op(word: &AtomicU32, op: libc::c_int, count: u32) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address as a key; it never dereferences
    // memory we do not own. `word` is a live reference for the duration of the call.
    let woken = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            count.min(i32::MAX as u32) as libc::c_int,
        )
    };
    woken.max(0) as usize
}

/// A mutex on one futex word that works between threads and between processes.
///
/// Drepper's "Futexes Are Tricky" mutex #2: 0 = unlocked, 1 = locked, 2 = locked
/// with (possible) waiters. It is deliberately *unfair* — a releaser that re-locks at
/// once usually wins — which is how a POSIX semaphore behaves and so how Python 2's
/// GIL and CPython's `threading.Lock` behave. parking_lot cannot stand in here: its
/// parking lot lives in one process's memory.
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct FutexLock {
    state: AtomicU32,
}

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

impl FutexLock {
    /// Takes the lock without blocking, if it is free.
    #[inline]
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, blocking in the kernel while another holder has it.
    #[inline]
    pub fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        // Mark the lock contended so the holder knows to wake someone; the swap (not
        // a store) tells us whether it was released in the meantime.
        while self.state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            wait(&self.state, CONTENDED, None);
        }
    }

    /// Releases the lock, waking one waiter if there may be any.
    #[inline]
    pub fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            wake(&self.state, 1);
        }
    }
}
