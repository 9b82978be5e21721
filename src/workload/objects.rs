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
//!
//! Under `subinterpreters` the counter is a token in a one-item channel
//! ([`super::xi`]): `lock.acquire()` is `counter = get()` (unpickling a copy,
//! sleeping while another interpreter has it), `lock.release()` is `put(counter)`
//! (pickling one). Only `sync=lock` has this shape; the plan refuses the others.

use crate::manager::Client;
use crate::runtime::interp::Interp;
use crate::runtime::shm::{FutexLock, Layout, SharedRegion, Sizer};
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
    /// A token in a one-item channel between interpreters.
    Channel(Box<Token<'r>>),
}

/// The counter as a token in a one-item channel: the lock says whether the
/// channel holds it, the value word holds its pickled bytes.
#[derive(Debug)]
pub struct Token<'r> {
    value: &'r AtomicU64,
    lock: &'r FutexLock,
    end: super::xi::Endpoint,
    /// The counter as this interpreter holds it between `get()` and `put()`.
    held: u64,
}

impl Token<'_> {
    /// `counter = get()`: wait for the token (polling, GIL released), copy it in,
    /// unpickle it.
    fn get(&mut self, interp: &mut Interp<'_>) {
        while !self.lock.try_lock() {
            interp.allow_threads(|| std::thread::sleep(super::xi::POLL_DELAY));
        }
        let bytes = self.value.load(Ordering::Acquire).to_le_bytes();
        self.end.inbox().extend_from_slice(&bytes);
        self.held = word(self.end.loads(interp));
    }

    /// `put(counter)`: pickle it, copy it into the channel, let it go.
    fn put(&mut self, interp: &mut Interp<'_>) {
        let pickled = word(self.end.dumps(interp, &self.held.to_le_bytes()));
        self.value.store(pickled, Ordering::Release);
        self.lock.unlock();
    }
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
        if super::xi::installed(region) {
            return Ok(Counter::Channel(Box::new(Token {
                value,
                lock,
                end: super::xi::Endpoint::default(),
                held: 0,
            })));
        }
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
            Counter::Manager(client) => Ok(proxied(interp, || client.value_get(VALUE))? as u64),
            Counter::Channel(token) => Ok(token.held),
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
            Counter::Manager(client) => Ok(proxied(interp, || client.value_set(VALUE, v as i64))?),
            Counter::Channel(token) => {
                token.held = v;
                Ok(())
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
                proxied(interp, || client.value_increment(VALUE, 1))?;
                Ok(())
            }
            Counter::Channel(token) => {
                token.get(interp);
                token.held += 1;
                token.put(interp);
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
                proxied(interp, || client.lock_acquire(LOCK, None))?;
                Ok(())
            }
            Counter::Channel(token) => {
                token.get(interp);
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
            Counter::Manager(client) => Ok(proxied(interp, || client.lock_release(LOCK))?),
            Counter::Channel(token) => {
                token.put(interp);
                Ok(())
            }
        }
    }

    /// The value once every worker is done (no interpreter: the harness reads it).
    pub fn value(&mut self) -> std::io::Result<u64> {
        match self {
            Counter::Memory { value, .. } => Ok(value.load(Ordering::SeqCst)),
            Counter::Manager(client) => Ok(client.value_get(VALUE)? as u64),
            Counter::Channel(token) => Ok(token.value.load(Ordering::SeqCst)),
        }
    }
}

/// The manager-side name of the queue.
const QUEUE: &str = "queue";

/// A queue in a manager server (`Manager().Queue()`): every put and get is a round
/// trip. Present only when the run's objects live in a manager; otherwise the
/// workload uses its own queue in the shared mapping.
///
/// Ending: the last producer done puts one empty item (a sentinel) per consumer
/// behind every real item, and a consumer stops at its sentinel.
#[derive(Debug)]
pub struct QueueProxy {
    client: Box<Client>,
    item: Vec<u8>,
    done: bool,
}

impl QueueProxy {
    /// A connection to the manager holding `region`'s queue, if one does.
    pub fn open(region: &SharedRegion) -> std::io::Result<Option<QueueProxy>> {
        let Some(endpoint) = crate::manager::home::endpoint(region) else {
            return Ok(None);
        };
        Ok(Some(QueueProxy {
            client: Box::new(endpoint.connect()?),
            item: Vec::new(),
            done: false,
        }))
    }

    /// `q.put(item, timeout=…)` of `bytes` bytes (the stamp, then `fill` repeated)
    /// into a `Queue(maxsize)` (0: unbounded): waits while it is full; false if no
    /// room came within `timeout`.
    pub fn put(
        &mut self,
        interp: &mut Interp<'_>,
        stamp: u64,
        fill: u64,
        bytes: usize,
        maxsize: u64,
        timeout: std::time::Duration,
    ) -> std::io::Result<bool> {
        self.item.clear();
        self.item.extend_from_slice(&stamp.to_le_bytes());
        while self.item.len() < bytes.max(8) {
            self.item.extend_from_slice(&fill.to_le_bytes());
        }
        self.item.truncate(bytes.max(8));
        let (client, item) = (&mut self.client, &self.item);
        Ok(proxied(interp, || {
            client.queue_put_bounded(QUEUE, item, maxsize, Some(timeout))
        })?)
    }

    /// `q.get()`: the item's stamp and the sum of its other words; `None` once
    /// this consumer's sentinel has come.
    pub fn get(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Option<(u64, u64)>> {
        if self.done {
            return Ok(None);
        }
        let client = &mut self.client;
        let got = proxied(interp, || {
            let item = client.queue_get(QUEUE, None)?;
            Ok::<_, crate::manager::ClientError>(item.filter(|i| i.len() >= 8).map(|i| {
                let (stamp, rest) = i.split_at(8);
                let sum = rest.chunks(8).fold(0u64, |s, c| s.wrapping_add(word(c)));
                (word(stamp), sum)
            }))
        })?;
        self.done = got.is_none();
        Ok(got)
    }

    /// Puts one sentinel per consumer: every producer is done.
    pub fn finish(&mut self, consumers: usize) -> std::io::Result<()> {
        for _ in 0..consumers {
            self.client.queue_put(QUEUE, &[])?;
        }
        Ok(())
    }

    /// Items still queued (sentinels not counted), taking them out.
    pub fn drain(&mut self) -> std::io::Result<u64> {
        let mut left = 0;
        while let Some(item) = self
            .client
            .queue_get(QUEUE, Some(std::time::Duration::ZERO))?
        {
            left += u64::from(!item.is_empty());
        }
        Ok(left)
    }
}

/// Up to 8 bytes as a little-endian word.
pub(super) fn word(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
    u64::from_le_bytes(b)
}

/// A proxied call: a round trip with the GIL released, traced as a
/// `manager-request` when tracing.
#[inline]
fn proxied<R>(interp: &mut Interp<'_>, call: impl FnOnce() -> R) -> R {
    if !interp.trace().enabled() {
        return interp.allow_threads(call);
    }
    let start = std::time::Instant::now();
    let result = interp.allow_threads(call);
    let end = std::time::Instant::now();
    interp
        .trace()
        .span(crate::runtime::trace::EventKind::ManagerRequest, start, end);
    result
}
