//! Shared objects as a workload sees them, wherever the model put them.
//!
//! A workload asks for "the counter" and gets a handle; it never knows the model.
//! Under the thread models and `processes` the handle is a view of the shared
//! mapping (an atomic, a futex lock); under `manager` it is a proxy whose every
//! operation is a round trip to the manager server — CPython's `Manager().Value`
//! and `Manager().Lock()` — found through the region's header
//! ([`crate::manager::home`]). The shared memory is laid out the same either way,
//! so layouts never depend on the model.
//!
//! A proxy's blocking calls release the worker's own GIL, as a CPython proxy's
//! `send`/`recv` do.

use crate::interp::Interp;
use crate::manager::Client;
use crate::shm::{FutexLock, Layout, SharedRegion, Sizer};
use std::sync::atomic::{AtomicU64, Ordering};

/// The manager-side names of a [`Counter`]'s value and lock.
const VALUE: &str = "counter";
const LOCK: &str = "lock";

/// A shared counter with a lock beside it (`multiprocessing.Value` and its lock).
#[derive(Debug)]
pub enum Counter<'r> {
    /// In the shared mapping.
    Memory {
        /// The value.
        value: &'r AtomicU64,
        /// The lock.
        lock: &'r FutexLock,
    },
    /// In a manager server, one round trip per operation.
    Manager(Box<Client>),
}

impl<'r> Counter<'r> {
    /// Reserves its shared memory, in the order [`open`](Self::open) places it.
    pub fn reserve(sizer: &mut Sizer) {
        sizer.reserve::<AtomicU64>(1).reserve::<FutexLock>(1);
    }

    /// The counter of `region`: its memory, or a connection to the manager that
    /// holds it (connecting and authenticating now, before any op is timed).
    pub fn open(region: &'r SharedRegion, layout: &mut Layout<'r>) -> std::io::Result<Counter<'r>> {
        let (value, lock) = (layout.place(), layout.place());
        Ok(match crate::manager::home::endpoint(region) {
            Some(endpoint) => Counter::Manager(Box::new(endpoint.connect()?)),
            None => Counter::Memory { value, lock },
        })
    }

    /// Reads the value (`v.value`).
    #[inline]
    pub fn load(&mut self, interp: &mut Interp<'_>) -> std::io::Result<u64> {
        match self {
            Counter::Memory { value, .. } => Ok(value.load(Ordering::Relaxed)),
            Counter::Manager(client) => {
                Ok(interp.allow_threads(|| client.value_get(VALUE))? as u64)
            }
        }
    }

    /// Writes the value (`v.value = x`): a separate step from the read, so
    /// updates between them are lost.
    #[inline]
    pub fn store(&mut self, interp: &mut Interp<'_>, v: u64) -> std::io::Result<()> {
        match self {
            Counter::Memory { value, .. } => {
                value.store(v, Ordering::Relaxed);
                Ok(())
            }
            Counter::Manager(client) => {
                Ok(interp.allow_threads(|| client.value_set(VALUE, v as i64))?)
            }
        }
    }

    /// One indivisible increment: a fetch-add, or one server-side increment.
    #[inline]
    pub fn increment(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        match self {
            Counter::Memory { value, .. } => {
                value.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Counter::Manager(client) => {
                interp.allow_threads(|| client.value_increment(VALUE, 1))?;
                Ok(())
            }
        }
    }

    /// `lock.acquire()`: try first, then block with the GIL released.
    #[inline]
    pub fn acquire(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        match self {
            Counter::Memory { lock, .. } => {
                if !lock.try_lock() {
                    interp.allow_threads(|| lock.lock());
                }
                Ok(())
            }
            Counter::Manager(client) => {
                interp.allow_threads(|| client.lock_acquire(LOCK, None))?;
                Ok(())
            }
        }
    }

    /// `lock.release()`.
    #[inline]
    pub fn release(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        match self {
            Counter::Memory { lock, .. } => {
                lock.unlock();
                Ok(())
            }
            Counter::Manager(client) => Ok(interp.allow_threads(|| client.lock_release(LOCK))?),
        }
    }

    /// The value once every worker is done (no interpreter: the harness reads it).
    pub fn value(&mut self) -> std::io::Result<u64> {
        match self {
            Counter::Memory { value, .. } => Ok(value.load(Ordering::SeqCst)),
            Counter::Manager(client) => Ok(client.value_get(VALUE)? as u64),
        }
    }
}
