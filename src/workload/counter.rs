//! `shared-counter`: N workers increment one counter; how many increments survive?
//!
//! The ops are written as the bytecode CPython runs, tick by tick, so whether updates
//! are lost falls out of where check points sit, not out of a special case:
//!
//! | `sync`      | Python                          | simulated bytecode                                   |
//! |-------------|---------------------------------|------------------------------------------------------|
//! | `none`      | `counter += 1`                  | load, add, store, jump back (check)                  |
//! | `none-call` | `counter = f(counter) + 1`      | load, call f (check), add, store, jump back (check)  |
//! | `lock`      | `with lock: counter += 1`       | enter (check, acquire), load, add, store, exit (check, release), jump back (check) |
//! | `atomic`    | an atomic increment             | one fetch-add, jump back (check)                     |
//!
//! The load and the store are separate relaxed atomic operations: a data race in
//! Python's sense, but no undefined behaviour in Rust's.

use super::{Common, CounterOutcome, Outcome, ParamError, WorkerBody, WorkerSpec, Workload};
use crate::interp::Interp;
use crate::shm::{FutexLock, SharedRegion, Sizer};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// How increments are synchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sync {
    /// `counter += 1`.
    None,
    /// `counter = f(counter) + 1`.
    NoneCall,
    /// `with lock: counter += 1`.
    Lock,
    /// One atomic fetch-add.
    Atomic,
}

/// Parameters of `shared-counter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterParams {
    /// `none`, `none-call`, `lock` or `atomic`.
    pub sync: Sync,
}

/// N workers, one counter.
#[derive(Debug)]
pub struct SharedCounter {
    sync: Sync,
    workers: Vec<WorkerSpec>,
}

impl SharedCounter {
    /// Checks the parameters.
    pub fn new(params: CounterParams, common: Common) -> Result<SharedCounter, ParamError> {
        Ok(SharedCounter {
            sync: params.sync,
            workers: vec![
                WorkerSpec {
                    role: "incr",
                    ops: Some(common.ops)
                };
                common.workers
            ],
        })
    }
}

struct Shared<'r> {
    counter: &'r AtomicU64,
    lock: &'r FutexLock,
}

impl<'r> Shared<'r> {
    fn place(region: &'r SharedRegion) -> Shared<'r> {
        let mut layout = region.layout();
        Shared {
            counter: layout.place(),
            lock: layout.place(),
        }
    }
}

struct Incrementer<'r> {
    sync: Sync,
    shared: Shared<'r>,
}

impl Incrementer<'_> {
    #[inline]
    fn increment(&self, interp: &mut Interp<'_>, call_between: bool) {
        interp.tick(); // LOAD_GLOBAL counter
        let value = self.shared.counter.load(Ordering::Relaxed);
        if call_between {
            interp.check_point(); // CALL f
        }
        interp.tick(); // BINARY_OP +
        interp.tick(); // STORE_GLOBAL counter
        self.shared.counter.store(value + 1, Ordering::Relaxed);
    }
}

impl WorkerBody for Incrementer<'_> {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        match self.sync {
            Sync::None => self.increment(interp, false),
            Sync::NoneCall => self.increment(interp, true),
            Sync::Lock => {
                interp.check_point(); // lock.__enter__()
                let lock = self.shared.lock;
                // threading.Lock.acquire: try without blocking, else block with the
                // GIL released.
                if !lock.try_lock() {
                    interp.allow_threads(|| lock.lock());
                }
                self.increment(interp, false);
                interp.check_point(); // lock.__exit__()
                lock.unlock();
            }
            Sync::Atomic => {
                interp.tick();
                self.shared.counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        interp.check_point(); // JUMP_BACKWARD
        Ok(())
    }
}

impl Workload for SharedCounter {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn shared_layout(&self, sizer: &mut Sizer) {
        sizer.reserve::<AtomicU64>(1).reserve::<FutexLock>(1);
    }

    fn worker<'a>(
        &'a self,
        _index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        Ok(Box::new(Incrementer {
            sync: self.sync,
            shared: Shared::place(shared),
        }))
    }

    fn outcome(&self, shared: &SharedRegion, ops_done: u64) -> Outcome {
        let observed = Shared::place(shared).counter.load(Ordering::SeqCst);
        Outcome {
            counter: Some(CounterOutcome {
                expected: ops_done,
                observed,
                lost: ops_done.saturating_sub(observed),
            }),
            extra: Default::default(),
        }
    }
}
