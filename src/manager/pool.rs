//! Threads for connections: one per connection for as long as it lasts, as in
//! CPython's manager — but a thread whose connection ended waits a while for the
//! next one instead of exiting, so connecting does not pay for creating a thread
//! (tens of µs on a VM, more than the whole handshake).
//!
//! `idle` counts parked threads nobody has claimed. The accepter claims one (a
//! decrement) before sending it a connection; a parked thread that gives up waiting
//! must claim itself the same way before leaving, and if it cannot, a connection is
//! on its way to it. So every connection sent has a thread to take it.

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
    /// (no thread could be made) the job is dropped and `Err` returned.
    pub fn dispatch<O: Send + Sync + 'static>(
        owner: &std::sync::Arc<O>,
        pool: fn(&O) -> &Pool<J>,
        job: J,
        name: &str,
        serve: fn(&O, J),
        retire: fn(&O) -> bool,
    ) -> Result<(), ()> {
        let this = pool(owner);
        if claim(&this.idle) {
            return this.jobs.send(job).map_err(|_| ());
        }
        let owner = std::sync::Arc::clone(owner);
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(STACK)
            .spawn(move || {
                let this = pool(&owner);
                let mut next = Some(job);
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
            })
            .map(drop)
            .map_err(drop)
    }
}
