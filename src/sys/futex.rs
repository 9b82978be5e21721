//! Linux futexes: the kernel's wait queue keyed by a 32-bit word.
//!
//! We use the *shared* (non-`FUTEX_PRIVATE_FLAG`) operations on purpose: the same
//! word may live in a `MAP_SHARED` mapping that several processes see, and a shared
//! futex is keyed by the physical page, so a wake in one process reaches a waiter in
//! another. Within one process it costs the same, within the noise.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Blocks while `*word == expected`, until woken (or `timeout` passes, or a signal or
/// spurious wake-up returns early: callers always re-check their condition).
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
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
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
        );
    }
}

/// Wakes up to `count` waiters blocked on `word`; returns how many were woken.
pub fn wake(word: &AtomicU32, count: u32) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address as a key; it never dereferences
    // memory we do not own. `word` is a live reference for the duration of the call.
    let woken = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            count.min(i32::MAX as u32) as libc::c_int,
        )
    };
    woken.max(0) as usize
}
