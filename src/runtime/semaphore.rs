//! glibc's POSIX semaphore, the lock Python 2's GIL was on Linux.
//!
//! Python 2.7's `PyThread_acquire_lock` / `PyThread_release_lock`
//! (`Python/thread_pthread.h`, `USE_SEMAPHORES`) are `sem_wait` / `sem_post` on an
//! unnamed semaphore of value 1. What that costs the GIL battle is in glibc's
//! `nptl/sem_post.c` and `sem_waitcommon.c` (the "new" semaphore of glibc 2.21+):
//!
//! * a semaphore is a token count *and* a count of registered waiters;
//! * `sem_post` adds a token, then makes a `FUTEX_WAKE` system call whenever a waiter
//!   is registered, whether or not one is asleep;
//! * `sem_wait` first tries to take a token without registering. Only if none is
//!   there does it register, then loops — sleep on the token word while it is 0, try
//!   to take a token and unregister in one step when it is not — until it has one.
//!
//! So while Python 2's waiting thread is registered, the holder's release every
//! check interval is a system call, not an atomic store: that is where much of the
//! GIL battle's cost goes, and it keeps the waiter waking up. A plain futex mutex
//! (Drepper's, [`crate::runtime::shm::FutexLock`]) wakes only when its holder saw a
//! contention mark, which its own re-take clears: half the wakes, and a cheaper
//! battle than Python 2's.
//!
//! `sem_init(&sem, 0, …)` makes a semaphore private to the process, so glibc
//! sleeps and wakes on it with `FUTEX_PRIVATE_FLAG`; so does this one.
//!
//! glibc packs both counts in one 64-bit word. Here they are two 32-bit words with
//! sequentially consistent updates, which keeps the one property the packing
//! buys: a `post` that sees no waiter cannot miss a waiter that then sees no
//! token (each writes its own word, then reads the other's, so at least one sees
//! the other's write).

use crate::sys::futex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

/// An unnamed POSIX semaphore, as glibc implements it.
#[derive(Debug)]
pub struct Semaphore {
    /// Tokens available (`SEM_VALUE_MASK`'s half); the futex word.
    value: AtomicU32,
    /// Threads registered in `sem_wait`'s slow path (`SEM_NWAITERS_SHIFT`'s half).
    waiters: AtomicU32,
}

impl Semaphore {
    /// `sem_init(&sem, 0, value)`.
    pub const fn new(value: u32) -> Semaphore {
        Semaphore {
            value: AtomicU32::new(value),
            waiters: AtomicU32::new(0),
        }
    }

    /// `sem_trywait`: takes a token if one is there, never registering.
    #[inline]
    pub fn try_wait(&self) -> bool {
        let mut tokens = self.value.load(SeqCst);
        while tokens > 0 {
            match self
                .value
                .compare_exchange_weak(tokens, tokens - 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => tokens = now,
            }
        }
        false
    }

    /// `sem_wait`: takes a token, sleeping while there is none.
    #[inline]
    pub fn wait(&self) {
        if !self.try_wait() {
            self.wait_slow();
        }
    }

    /// `__new_sem_wait_slow`: register, then sleep on the token word until a token
    /// can be taken; unregister with it.
    #[cold]
    fn wait_slow(&self) {
        self.waiters.fetch_add(1, SeqCst);
        loop {
            if self.try_wait() {
                self.waiters.fetch_sub(1, SeqCst);
                return;
            }
            // Sleeps only while the word still reads 0: a token posted since the
            // try above makes this return at once (EAGAIN).
            futex::wait_private(&self.value, 0, None);
        }
    }

    /// `sem_post`: adds a token, and wakes one sleeper if any thread is registered
    /// as waiting — a system call every time while one is.
    #[inline]
    pub fn post(&self) {
        self.value.fetch_add(1, SeqCst);
        if self.waiters.load(SeqCst) > 0 {
            futex::wake_private(&self.value, 1);
        }
    }

    /// Threads registered as waiting (for tests and statistics).
    pub fn waiters(&self) -> u32 {
        self.waiters.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_binary_semaphore_excludes_and_hands_over() {
        let sem = Semaphore::new(1);
        assert!(sem.try_wait());
        assert!(!sem.try_wait(), "no second token");
        sem.post();
        assert!(sem.try_wait());
        sem.post();
    }

    #[test]
    fn a_waiter_registers_sleeps_and_is_woken_by_post() {
        let sem = Arc::new(Semaphore::new(0));
        let waiter = {
            let sem = Arc::clone(&sem);
            std::thread::spawn(move || sem.wait())
        };
        let start = Instant::now();
        while sem.waiters() == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "never registered"
            );
            std::thread::yield_now();
        }
        sem.post();
        waiter.join().unwrap();
        assert_eq!(sem.waiters(), 0, "unregistered with its token");
        assert!(!sem.try_wait(), "the token was taken");
    }

    #[test]
    fn no_increment_is_lost_between_two_threads() {
        // The semaphore as a mutex around a non-atomic read-modify-write.
        let sem = Arc::new(Semaphore::new(1));
        let counter = Arc::new(AtomicU32::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (sem, counter) = (Arc::clone(&sem), Arc::clone(&counter));
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        sem.wait();
                        let v = counter.load(SeqCst);
                        counter.store(v + 1, SeqCst);
                        sem.post();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(counter.load(SeqCst), 40_000);
        assert_eq!(sem.waiters(), 0);
    }
}
