//! Threads for connections: one per connection for as long as it lasts, as in
//! CPython's manager — but a thread whose connection ended waits a while for the
//! next one instead of exiting, so connecting does not pay for creating a thread
//! (tens of µs on a VM, more than the whole handshake).
//!
//! `idle` counts parked threads nobody has claimed. The accepter claims one (a
//! decrement) before sending it a connection; a parked thread that gives up waiting
//! must claim itself the same way before leaving, and if it cannot, a connection is
//! on its way to it. So every connection sent has a thread to take it.
//!
//! A thread the OS refuses (RLIMIT_NPROC) hands its connection back to the caller,
//! which can tell the client why before it drops it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Stack per connection thread: serving needs little.
const STACK: usize = 256 * 1024;

/// How long a thread whose connection ended waits for another.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// At most this many threads wait for connections; more leave at once.
const MAX_IDLE: u64 = 16;

/// Connection threads running `serve` on jobs of type `J`.
#[derive(Debug)]
pub struct Pool<J> {
    idle: AtomicU64,
    jobs: crossbeam::channel::Sender<J>,
    parked: crossbeam::channel::Receiver<J>,
}

fn claim(idle: &AtomicU64) -> bool {
    idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl<J: Send + 'static> Pool<J> {
    /// No threads yet.
    pub fn new() -> Pool<J> {
        let (jobs, parked) = crossbeam::channel::unbounded();
        Pool {
            idle: AtomicU64::new(0),
            jobs,
            parked,
        }
    }

    /// Gives `job` to a parked thread, or to a new one named `name`. `pool` must be
    /// reachable from the new thread for its later jobs (it lives in `owner`).
    /// `retire` says whether a thread should leave rather than park. On failure
    /// (no thread could be made) the job comes back with the reason.
    pub fn dispatch<O: Send + Sync + 'static>(
        owner: &std::sync::Arc<O>,
        pool: fn(&O) -> &Pool<J>,
        job: J,
        name: &str,
        serve: fn(&O, J),
        retire: fn(&O) -> bool,
    ) -> Result<(), Refused<J>> {
        let this = pool(owner);
        if claim(&this.idle) {
            // Cannot fail: the pool holds a receiver for as long as it lives.
            return this.jobs.send(job).map_err(|unsent| Refused {
                job: Some(unsent.into_inner()),
                error: std::io::Error::other("the connection threads are gone"),
            });
        }
        let owner = std::sync::Arc::clone(owner);
        // The first job waits in a slot rather than in the closure, which a
        // refused `spawn` drops: then it is still here to be handed back.
        let slot = std::sync::Arc::new(parking_lot::Mutex::new(Some(job)));
        let first = std::sync::Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .stack_size(STACK)
            .spawn(move || {
                let this = pool(&owner);
                let mut next = first.lock().take();
                drop(first);
                while let Some(job) = next.take() {
                    serve(&owner, job);
                    let crowded = this.idle.fetch_add(1, Ordering::AcqRel) >= MAX_IDLE;
                    if (crowded || retire(&owner)) && claim(&this.idle) {
                        break;
                    }
                    next = match this.parked.recv_timeout(IDLE_WAIT) {
                        Ok(job) => Some(job),
                        // Leave only if we can take ourselves off the idle count;
                        // otherwise a job was promised to us.
                        Err(_) if claim(&this.idle) => None,
                        Err(_) => this.parked.recv().ok(),
                    };
                }
            });
        spawned.map(drop).map_err(|error| Refused {
            // A thread that never started took nothing from the slot.
            job: slot.lock().take(),
            error,
        })
    }
}

/// A job no thread could take, and why.
#[derive(Debug)]
pub struct Refused<J> {
    /// The job, to be told why and dropped (always there: an `Option` only
    /// because it came back out of a slot).
    pub job: Option<J>,
    /// Why no thread took it: `EAGAIN` when the OS refused a new one.
    pub error: std::io::Error,
}
