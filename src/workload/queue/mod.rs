//! `queue`: producers hand timestamped items to consumers through one queue.
//!
//! The queue is a bounded ring in the shared region ([`ring`]), the same for every
//! model: threads see it in their own address space, processes in the `MAP_SHARED`
//! mapping. What differs is what CPython's models add around it: under `gil` and
//! `gil-legacy` every put and get runs the Python code of `queue.Queue` holding the
//! GIL and blocks with it released (as `Condition.wait` does); under `threads` the
//! same code runs free; between processes the items cross address spaces in shared
//! memory. The model decides, the workload never knows which it is.
//!
//! Each item starts with its enqueue time (CLOCK_MONOTONIC ns, comparable across
//! processes); a consumer records enqueue-to-dequeue per item, and those latencies,
//! not the op loop's per-op times, are the report's. Throughput is items per second.
//!
//! Under `manager` the queue lives in the manager server instead
//! ([`QueueProxy`], `Manager().Queue()`): every put and get is a round trip; the
//! last producer done puts one sentinel per consumer behind the last item.
//!
//! Under `subinterpreters` the ring is the channel between interpreters
//! ([`super::xi`]): a producer pickles each item and the channel copies it; a
//! consumer copies it into its own interpreter and unpickles it; whoever finds
//! the ring empty (or full) sleeps 10 ms and looks again, as CPython's
//! interpreter queues do.
//!
//! Under `asyncio` the ring is an `asyncio.Queue` (`Lib/asyncio/queues.py`) on
//! the one loop thread: `await put()` on a full queue and `await get()` on an
//! empty one park the coroutine on a future at the back of the queue's
//! `_putters` / `_getters` deque ([`Await::Future`]); each `put_nowait` completes
//! the first getter's future and each `get_nowait` the first putter's
//! (`_wakeup_next`), whose coroutine then runs one loop round later and looks
//! again (`while self.full()`). A put into a queue with room and a get from one
//! with items never give the loop back: with an unbounded queue one producer
//! puts all its items before a consumer runs.
//!
//! Workers: `producers` producers (each puts `ops` items), then `consumers` consumers
//! (sharing the `producers × ops` items out between them). With `--duration`
//! everyone runs until time is up. A worker done with the queue closes its side, so
//! nobody waits forever on a peer that has left.

mod ring;

use super::objects::QueueProxy;
use super::xi;
use super::{Await, Common, Measured, Outcome, ParamError, Step, WorkerBody, WorkerSpec, Workload};
use crate::measure::{clock::mono_ns, new_histogram, record, Histogram};
use crate::runtime::interp::Interp;
use crate::runtime::shm::{SharedRegion, Sizer};
use ring::Ring;
use serde::Deserialize;
use std::sync::atomic::{AtomicU32, Ordering};

/// Simulated bytecodes of `queue.Queue.put` / `.get`: the Python code around the
/// deque (`with self.not_full:`, `_put`, `unfinished_tasks += 1`, `notify()`), about
/// thirty bytecodes with a call every five.
const QUEUE_CALL_TICKS: u32 = 30;

/// The `asyncio.Queue`'s waiter deques ([`Await::Future`]): `_getters`, `_putters`.
const GETTERS: usize = 0;
const PUTTERS: usize = 1;

/// How long a put into a full manager queue waits before looking whether any
/// consumer is left.
const PUT_PATIENCE: std::time::Duration = std::time::Duration::from_millis(50);

/// The most memory an "unbounded" queue (`maxsize = 0`) may use.
const UNBOUNDED_BYTES: usize = 64 << 20;

/// The most memory a bounded queue may use.
const MAX_QUEUE_BYTES: usize = 1 << 30;

/// Parameters of `queue`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// Workers putting items (default: `workers`).
    pub producers: Option<i64>,
    /// Workers getting items.
    #[serde(default = "one")]
    pub consumers: i64,
    /// Bytes per item, its 8-byte timestamp included.
    #[serde(default = "default_item_bytes")]
    pub item_bytes: i64,
    /// Items the queue holds before `put` blocks; 0 for "unbounded" (as many as will
    /// ever be put, up to 64 MiB of items).
    #[serde(default)]
    pub maxsize: i64,
}

fn one() -> i64 {
    1
}

fn default_item_bytes() -> i64 {
    64
}

/// Producers and consumers around one queue.
#[derive(Debug)]
pub struct Queue {
    producers: usize,
    consumers: usize,
    item_bytes: usize,
    item_words: usize,
    capacity: usize,
    /// `maxsize` as given (0: unbounded), for a queue in a manager.
    maxsize: u64,
    workers: Vec<WorkerSpec>,
}

impl Queue {
    /// Checks the parameters.
    pub fn new(params: QueueParams, common: Common) -> Result<Queue, ParamError> {
        const MAX: i64 = 4096;
        let producers = params.producers.unwrap_or(common.workers as i64);
        if !(1..=MAX).contains(&producers) {
            return Err(ParamError::field(
                "producers",
                format!("must be 1 to {MAX}"),
            ));
        }
        if !(1..=MAX).contains(&params.consumers) {
            return Err(ParamError::field(
                "consumers",
                format!("must be 1 to {MAX}"),
            ));
        }
        if producers + params.consumers > MAX {
            return Err(ParamError::field(
                "consumers",
                format!("producers + consumers must be at most {MAX}"),
            ));
        }
        if !(8..=65536).contains(&params.item_bytes) {
            return Err(ParamError::field(
                "item_bytes",
                "must be 8 (the timestamp) to 65536",
            ));
        }
        if params.maxsize < 0 {
            return Err(ParamError::field(
                "maxsize",
                "must not be negative (0: unbounded)",
            ));
        }
        let (producers, consumers) = (producers as usize, params.consumers as usize);
        let item_bytes = params.item_bytes as usize;
        let item_words = item_bytes.div_ceil(8);
        let slot_bytes = (1 + item_words) * 8;
        let capacity = if params.maxsize > 0 {
            let capacity = params.maxsize as usize;
            if capacity.saturating_mul(slot_bytes) > MAX_QUEUE_BYTES {
                return Err(ParamError::field(
                    "maxsize",
                    format!("{capacity} items of {item_bytes} bytes need more than 1 GiB"),
                ));
            }
            capacity
        } else {
            let items = (producers as u64).saturating_mul(common.ops);
            (UNBOUNDED_BYTES / slot_bytes).min(items.try_into().unwrap_or(usize::MAX))
        }
        .max(1);

        let items = producers as u64 * common.ops;
        let mut workers = vec![
            WorkerSpec {
                role: "producer",
                ops: Some(common.ops),
            };
            producers
        ];
        workers.extend((0..consumers as u64).map(|c| WorkerSpec {
            role: "consumer",
            ops: Some(items / consumers as u64 + u64::from(c < items % consumers as u64)),
        }));
        Ok(Queue {
            producers,
            consumers,
            item_bytes,
            item_words,
            capacity,
            maxsize: params.maxsize as u64,
            workers,
        })
    }

    fn place<'r>(&self, region: &'r SharedRegion) -> Shared<'r> {
        let mut layout = region.layout();
        Shared {
            producers_done: layout.place(),
            consumers_done: layout.place(),
            ring: Ring::place(&mut layout, self.capacity, self.item_words),
        }
    }
}

/// The queue's shared state.
struct Shared<'r> {
    /// Producers whose loop has ended; the last one closes the ring.
    producers_done: &'r AtomicU32,
    /// Consumers whose loop has ended; the last one closes the ring.
    consumers_done: &'r AtomicU32,
    ring: Ring<'r>,
}

/// A Python-level call of `ticks` bytecodes, a check point every fifth.
#[inline]
fn python_code(interp: &mut Interp<'_>, ticks: u32) {
    for i in 1..=ticks {
        if i % 5 == 0 {
            interp.check_point();
        } else {
            interp.tick();
        }
    }
}

struct Producer<'r> {
    shared: Shared<'r>,
    producers: u32,
    serial: u64,
    /// The queue in a manager, when the objects live there.
    proxy: Option<QueueProxy>,
    consumers: usize,
    item_bytes: usize,
    maxsize: u64,
    /// This interpreter's end of the channel, when items cross interpreters.
    channel: Option<Channel>,
    /// As a coroutine: the stamp of the item whose `put` is parked on a full queue.
    parked: Option<u64>,
    /// As a coroutine: the last step completed a getter's future.
    woke: bool,
}

/// A worker's end of the channel between interpreters, and its item's bytes.
struct Channel {
    end: xi::Endpoint,
    item: Vec<u8>,
    /// Words per item, the stamp included.
    words: usize,
}

impl Channel {
    fn new(words: usize) -> Channel {
        Channel {
            end: xi::Endpoint::default(),
            item: Vec::new(),
            words,
        }
    }
}

/// The bytes of an item: the stamp, then `serial` repeated, `words` words in all.
fn item_bytes(item: &mut Vec<u8>, stamp: u64, serial: u64, words: usize) {
    item.clear();
    item.extend_from_slice(&stamp.to_le_bytes());
    for _ in 1..words {
        item.extend_from_slice(&serial.to_le_bytes());
    }
}

impl Producer<'_> {
    /// `put()` on a channel between interpreters: pickle the item, then copy it
    /// into the ring, sleeping while it is full.
    fn put_across(&mut self, interp: &mut Interp<'_>, stamp: u64) {
        let (ring, serial) = (self.shared.ring, self.serial);
        let Some(channel) = &mut self.channel else {
            return;
        };
        item_bytes(&mut channel.item, stamp, serial, channel.words);
        let pickled = channel.end.dumps(interp, &channel.item);
        loop {
            let pushed = ring.try_push(|words| {
                for (word, bytes) in words.iter().zip(pickled.chunks(8)) {
                    word.store(super::objects::word(bytes), Ordering::Relaxed);
                }
            });
            if pushed || ring.is_closed() {
                break;
            }
            interp.allow_threads(|| std::thread::sleep(xi::POLL_DELAY));
        }
    }
}

impl WorkerBody for Producer<'_> {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        // t0 = perf_counter_ns(); q.put(pack(t0) + pad)
        interp.check_point(); // CALL perf_counter_ns
        let stamp = mono_ns();
        interp.check_point(); // CALL pack
        interp.tick(); // BINARY_OP +
        python_code(interp, QUEUE_CALL_TICKS); // CALL q.put
        self.serial += 1;
        if self.channel.is_some() {
            self.put_across(interp, stamp);
            interp.check_point(); // JUMP_BACKWARD
            return Ok(());
        }
        if let Some(proxy) = &mut self.proxy {
            // A full queue: wait for room, but give up once every consumer has
            // left (the last one closes the ring, as for the ring itself).
            let ring = self.shared.ring;
            while !proxy.put(
                interp,
                stamp,
                self.serial,
                self.item_bytes,
                self.maxsize,
                PUT_PATIENCE,
            )? && !ring.is_closed()
            {}
            interp.check_point(); // JUMP_BACKWARD
            return Ok(());
        }
        let (ring, serial) = (self.shared.ring, self.serial);
        loop {
            // Copy the item in, as pickling into a pipe or appending to a deque would.
            let pushed = ring.try_push(|words| {
                words[0].store(stamp, Ordering::Relaxed);
                for word in &words[1..] {
                    word.store(serial, Ordering::Relaxed);
                }
            });
            if pushed || ring.is_closed() {
                break;
            }
            // Condition.wait(): blocks with the GIL released.
            interp.allow_threads(|| ring.wait_not_full());
        }
        interp.check_point(); // JUMP_BACKWARD
        Ok(())
    }

    /// `t0 = perf_counter_ns(); await q.put(pack(t0) + pad)` on an `asyncio.Queue`.
    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        let stamp = match self.parked.take() {
            // Woken by a get: `while self.full()` looks again.
            Some(stamp) => stamp,
            None => {
                interp.check_point(); // CALL perf_counter_ns
                let stamp = mono_ns();
                interp.check_point(); // CALL pack
                interp.tick(); // BINARY_OP +
                python_code(interp, QUEUE_CALL_TICKS); // await q.put: full(), put_nowait()
                self.serial += 1;
                stamp
            }
        };
        let (ring, serial) = (self.shared.ring, self.serial);
        let pushed = ring.try_push(|words| {
            words[0].store(stamp, Ordering::Relaxed);
            for word in &words[1..] {
                word.store(serial, Ordering::Relaxed);
            }
        });
        if !pushed && !ring.is_closed() {
            self.parked = Some(stamp);
            return Ok(Step::Await(Await::Future(PUTTERS)));
        }
        self.woke = pushed; // put_nowait: _wakeup_next(self._getters)
        interp.check_point(); // JUMP_BACKWARD
        Ok(Step::Done)
    }

    fn woke(&mut self) -> Option<usize> {
        std::mem::take(&mut self.woke).then_some(GETTERS)
    }

    fn measured(&mut self) -> Measured {
        // Items are timed where they arrive; a producer's puts are not the report's.
        Measured::Own(new_histogram())
    }
}

impl Drop for Producer<'_> {
    fn drop(&mut self) {
        if self.shared.producers_done.fetch_add(1, Ordering::AcqRel) + 1 == self.producers {
            if let Some(proxy) = &mut self.proxy {
                // Behind every item: one sentinel per consumer.
                let _ = proxy.finish(self.consumers);
            }
            self.shared.ring.close();
        }
    }
}

struct Consumer<'r> {
    shared: Shared<'r>,
    consumers: u32,
    latency: Histogram,
    checksum: u64,
    /// The queue in a manager, when the objects live there.
    proxy: Option<QueueProxy>,
    /// This interpreter's end of the channel, when items cross interpreters.
    channel: Option<Channel>,
    /// As a coroutine: its `get` is parked on an empty queue.
    parked: bool,
    /// As a coroutine: the last step completed a putter's future.
    woke: bool,
}

impl Consumer<'_> {
    /// `get()` on a channel between interpreters: copy the item into this
    /// interpreter and unpickle it, sleeping while the ring is empty.
    fn get_across(&mut self, interp: &mut Interp<'_>) -> Option<(u64, u64)> {
        let ring = self.shared.ring;
        let channel = self.channel.as_mut()?;
        loop {
            let inbox = channel.end.inbox();
            let got = ring.try_pop(|words| {
                for word in words {
                    inbox.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
                }
            });
            if got.is_some() {
                break;
            }
            if ring.is_closed() {
                return None;
            }
            interp.allow_threads(|| std::thread::sleep(xi::POLL_DELAY));
        }
        let item = channel.end.loads(interp);
        let (stamp, rest) = item.split_at(8.min(item.len()));
        let sum = rest
            .chunks(8)
            .fold(0u64, |s, c| s.wrapping_add(super::objects::word(c)));
        Some((super::objects::word(stamp), sum))
    }
}

impl WorkerBody for Consumer<'_> {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        // item = q.get(); t1 = perf_counter_ns(); lat.append(t1 - unpack(item)[0])
        python_code(interp, QUEUE_CALL_TICKS); // CALL q.get
        let ring = self.shared.ring;
        let got = if self.channel.is_some() {
            self.get_across(interp)
        } else if let Some(proxy) = &mut self.proxy {
            proxy.get(interp)?
        } else {
            loop {
                let item = ring.try_pop(|words| {
                    let mut sum = 0u64;
                    for word in &words[1..] {
                        sum = sum.wrapping_add(word.load(Ordering::Relaxed));
                    }
                    (words[0].load(Ordering::Relaxed), sum)
                });
                if item.is_some() || ring.is_closed() {
                    break item;
                }
                interp.allow_threads(|| ring.wait_not_empty());
            }
        };
        interp.check_point(); // CALL perf_counter_ns
        if let Some((stamp, sum)) = got {
            let now = mono_ns();
            record(&mut self.latency, now.saturating_sub(stamp));
            self.checksum = self.checksum.wrapping_add(sum);
        }
        interp.check_point(); // CALL unpack
        interp.check_point(); // CALL lat.append
        interp.check_point(); // JUMP_BACKWARD
        Ok(())
    }

    /// `item = await q.get(); t1 = perf_counter_ns(); lat.append(t1 - unpack(item)[0])`
    /// on an `asyncio.Queue`.
    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        if !std::mem::take(&mut self.parked) {
            python_code(interp, QUEUE_CALL_TICKS); // await q.get: empty(), get_nowait()
        }
        let ring = self.shared.ring;
        let got = ring.try_pop(|words| {
            let mut sum = 0u64;
            for word in &words[1..] {
                sum = sum.wrapping_add(word.load(Ordering::Relaxed));
            }
            (words[0].load(Ordering::Relaxed), sum)
        });
        let Some((stamp, sum)) = got else {
            if ring.is_closed() {
                return Ok(Step::Done);
            }
            self.parked = true;
            return Ok(Step::Await(Await::Future(GETTERS)));
        };
        self.woke = true; // get_nowait: _wakeup_next(self._putters)
        interp.check_point(); // CALL perf_counter_ns
        record(&mut self.latency, mono_ns().saturating_sub(stamp));
        self.checksum = self.checksum.wrapping_add(sum);
        interp.check_point(); // CALL unpack
        interp.check_point(); // CALL lat.append
        interp.check_point(); // JUMP_BACKWARD
        Ok(Step::Done)
    }

    fn woke(&mut self) -> Option<usize> {
        std::mem::take(&mut self.woke).then_some(PUTTERS)
    }

    fn measured(&mut self) -> Measured {
        std::hint::black_box(self.checksum);
        Measured::Own(std::mem::replace(&mut self.latency, new_histogram()))
    }
}

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        if self.shared.consumers_done.fetch_add(1, Ordering::AcqRel) + 1 == self.consumers {
            self.shared.ring.close();
        }
    }
}

impl Workload for Queue {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn shared_layout(&self, sizer: &mut Sizer) {
        sizer.reserve::<AtomicU32>(1).reserve::<AtomicU32>(1);
        Ring::reserve(sizer, self.capacity, self.item_words);
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        let proxy = QueueProxy::open(shared)?;
        let channel = xi::installed(shared).then(|| Channel::new(self.item_words));
        let shared = self.place(shared);
        if index < self.producers {
            Ok(Box::new(Producer {
                shared,
                producers: self.producers as u32,
                serial: (index as u64) << 40,
                proxy,
                consumers: self.consumers,
                item_bytes: self.item_bytes,
                maxsize: self.maxsize,
                channel,
                parked: None,
                woke: false,
            }))
        } else {
            Ok(Box::new(Consumer {
                shared,
                consumers: self.consumers as u32,
                latency: new_histogram(),
                checksum: 0,
                proxy,
                channel,
                parked: false,
                woke: false,
            }))
        }
    }

    fn outcome(&self, shared: &SharedRegion, _ops_done: u64) -> Outcome {
        let ring = self.place(shared).ring;
        let mut extra = serde_json::Map::new();
        extra.insert("producers".into(), self.producers.into());
        extra.insert("consumers".into(), self.consumers.into());
        extra.insert("item_bytes".into(), self.item_bytes.into());
        extra.insert("queue_capacity".into(), ring.capacity().into());
        let left = match QueueProxy::open(shared) {
            Ok(Some(mut proxy)) => proxy.drain().unwrap_or(0),
            _ => ring.items(),
        };
        extra.insert("items_left".into(), left.into());
        Outcome {
            counter: None,
            extra,
        }
    }
}
