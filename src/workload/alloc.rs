//! `alloc`: many small objects, through a pymalloc-like allocator or malloc.
//!
//! One op is `objs = [bytes(size) for _ in range(batch)]`, then
//! `survivors = objs[::keep_every]` and `del objs` — the previous op's survivors
//! are dropped too. Each allocation initialises a 16-byte object header. With
//! `allocator = pymalloc` requests up to 512 bytes go to [`crate::runtime::pymalloc`]
//! (larger ones to malloc, as in CPython); with `system`, everything goes to the C
//! library's malloc.
//!
//! Which pymalloc: under a GIL CPython has *one* allocator for all threads, and the
//! GIL is its only lock (`Objects/obmalloc.c` takes none); free-threaded CPython
//! gives each thread its own heap (mimalloc). The workload cannot know the model, so
//! `pools = auto` asks the interpreter (`interp.has_gil()`) at its first op: with a
//! GIL, every worker of the process shares one pool set, held from the first
//! allocation after the worker gains the GIL until just before it gives it up
//! ([`GilState`]: one uncontended lock per GIL hold, not one per `malloc` and
//! `free`, whose locked instructions would cost as much as the allocations);
//! without, each worker has its own, unlocked. `sequential` runs its workers one
//! after another, each from an empty allocator, as CPython's one allocator is
//! empty again when the next worker starts. `global` and `per-thread` force the
//! choice; `global` without a GIL has no GIL to lean on, so it locks at every
//! allocation and free (under `threads` that shows why free-threading needs
//! per-thread heaps: the lock is contended) — except under `sequential`, whose one
//! thread holds it across each op as the GIL models do across a GIL hold.
//!
//! Memory is sampled at two moments of every op: after the batch is allocated
//! (*peak*) and after all but the survivors are freed (*retained*). "Held" is what
//! the allocator holds from the OS: pymalloc's arenas, or glibc's heap and mmapped
//! chunks (`mallinfo2`, process-wide); "live" what the program still uses. Freed
//! small blocks stay in their pools, and an arena is returned only when every pool
//! in it is empty, so a few survivors spread over many pools keep them all.

use super::blob;
use super::runlocal::RunLocal;
use super::{Common, Outcome, ParamError, WorkerBody, WorkerSpec, Workload};
use crate::runtime::gilstate::GilState;
use crate::runtime::interp::Interp;
use crate::runtime::pymalloc::{Block, Pymalloc, SMALL_REQUEST_THRESHOLD};
use crate::runtime::shm::{SharedRegion, Sizer};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Words of shared region per worker for its memory figures.
const SLOT_WORDS: usize = 64;
/// The small-object size mix of `size = "mixed"`: (bytes, weight).
const MIXED: &[(usize, u64)] = &[
    (16, 10),
    (32, 30),
    (48, 20),
    (64, 15),
    (96, 10),
    (128, 7),
    (256, 5),
    (512, 2),
    (1024, 1),
];

/// Which allocator serves the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocatorKind {
    /// The pymalloc teaching model (≤ 512 bytes), malloc above.
    Pymalloc,
    /// The C library's malloc for everything.
    System,
}

/// Whose pools a worker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pools {
    /// One shared set with a GIL, one per worker without (asked at the first op).
    Auto,
    /// One set for the process, behind a lock.
    Global,
    /// One set per worker.
    PerThread,
}

/// Object size: bytes, or `"mixed"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeParam {
    /// Every object this size.
    Bytes(i64),
    /// `"mixed"`: a small-object mix, mostly 16–128 bytes.
    Named(String),
}

/// Parameters of `alloc`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllocParams {
    /// `pymalloc` or `system`.
    pub allocator: AllocatorKind,
    /// `auto`, `global` or `per-thread`.
    pub pools: Pools,
    /// Objects allocated per op.
    pub batch: i64,
    /// Object size in bytes, or `"mixed"`.
    pub size: SizeParam,
    /// One object in this many outlives its op (0: none).
    pub keep_every: i64,
}

impl Default for AllocParams {
    fn default() -> Self {
        AllocParams {
            allocator: AllocatorKind::Pymalloc,
            pools: Pools::Auto,
            batch: 100_000,
            size: SizeParam::Bytes(32),
            keep_every: 16,
        }
    }
}

/// Bytes of a `mixed` object, on average (the mix is mostly 16–128 bytes), with
/// room to spare.
const MIXED_MEAN_BYTES: u64 = 128;
/// The object header each allocation also initialises.
const HEADER_BYTES: u64 = 16;

/// Whether the objects every worker holds at its peak — a whole batch, and the
/// last op's survivors — fit in the memory this process can still allocate; the
/// error says how much the plan needs. An allocation that fails aborts the process
/// (Rust's allocator does not return an error), so this is checked up front.
fn check_memory(
    batch: u64,
    size: Option<usize>,
    keep_every: u64,
    workers: u64,
) -> Result<(), ParamError> {
    let object = size.map_or(MIXED_MEAN_BYTES, |s| s as u64) + HEADER_BYTES;
    let survivors = batch.checked_div(keep_every).unwrap_or(0);
    let need = (batch + survivors)
        .saturating_mul(object)
        .saturating_mul(workers.max(1));
    match crate::measure::procfs::mem_available() {
        Some(available) if need > available => Err(ParamError::field(
            "batch",
            format!(
                "{workers} worker(s) × batch {batch} × {object}-byte objects need about {} \
                 MiB at their peak, more than the {} MiB this process can allocate \
                 (MemAvailable, or what RLIMIT_AS leaves); use a smaller batch or size",
                need >> 20,
                available >> 20
            ),
        )),
        _ => Ok(()),
    }
}

/// N workers allocating and freeing small objects.
#[derive(Debug)]
pub struct Alloc {
    allocator: AllocatorKind,
    pools: Pools,
    batch: usize,
    size: Option<usize>,
    keep_every: usize,
    workers: Vec<WorkerSpec>,
    global: RunLocal<Mutex<Pymalloc>>,
}

impl Alloc {
    /// Checks the parameters.
    pub fn new(p: AllocParams, common: Common) -> Result<Alloc, ParamError> {
        if !(1..=10_000_000).contains(&p.batch) {
            return Err(ParamError::field("batch", "must be between 1 and 10000000"));
        }
        let size = match p.size {
            SizeParam::Bytes(n) if (1..=1 << 20).contains(&n) => Some(n as usize),
            SizeParam::Named(name) if name == "mixed" => None,
            _ => {
                return Err(ParamError::field(
                    "size",
                    "must be 1 to 1048576 bytes, or \"mixed\"",
                ))
            }
        };
        if p.keep_every < 0 {
            return Err(ParamError::field("keep_every", "must not be negative"));
        }
        check_memory(
            p.batch as u64,
            size,
            p.keep_every as u64,
            common.workers as u64,
        )?;
        Ok(Alloc {
            allocator: p.allocator,
            pools: p.pools,
            batch: p.batch as usize,
            size,
            keep_every: p.keep_every as usize,
            workers: vec![
                WorkerSpec {
                    role: "alloc",
                    ops: Some(common.ops)
                };
                common.workers
            ],
            global: RunLocal::default(),
        })
    }
}

/// One object: a pymalloc block, or a malloc'd buffer.
enum Obj {
    Small(Block),
    Big(#[allow(dead_code)] Vec<u8>),
}

/// A worker's pools.
enum Heap {
    /// The process's one set, under a GIL: the GIL is its lock.
    Interpreter(GilState<Pymalloc>),
    /// The process's one set without a GIL: locked at every use.
    Locked(Arc<Mutex<Pymalloc>>),
    /// Its own.
    Own(Box<Pymalloc>),
}

/// What one worker saw, shipped to the parent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AllocRecord {
    /// Workers sharing the same allocator report the same id, so it counts once.
    allocator_id: u64,
    pools: String,
    allocations: u64,
    peak_held: u64,
    peak_live: u64,
    retained_held: u64,
    retained_live: u64,
    arenas_allocated: u64,
    arenas_freed: u64,
    /// Times this worker locked the process's shared pools.
    pool_locks: u64,
}

struct Allocator<'a> {
    kind: AllocatorKind,
    choice: Pools,
    global: Arc<Mutex<Pymalloc>>,
    heap: Option<Heap>,
    batch: usize,
    size: Option<usize>,
    keep_every: usize,
    objs: Vec<Obj>,
    survivors: Vec<(Obj, usize)>,
    rng: u64,
    live: u64,
    record: AllocRecord,
    slot: &'a [AtomicU64],
    index: usize,
}

const HEADER: [u8; 16] = [1, 0, 0, 0, 0, 0, 0, 0, 0xb7, 0xe5, 0, 0, 0, 0, 0, 0];

impl Allocator<'_> {
    fn next_size(&mut self) -> usize {
        if let Some(size) = self.size {
            return size;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let total: u64 = MIXED.iter().map(|m| m.1).sum();
        let mut pick = self.rng % total;
        for &(size, weight) in MIXED {
            if pick < weight {
                return size;
            }
            pick -= weight;
        }
        16
    }

    #[inline]
    fn with_pool<R>(&mut self, interp: &mut Interp<'_>, f: impl FnOnce(&mut Pymalloc) -> R) -> R {
        match self.heap.as_mut().expect("chosen at the first op") {
            Heap::Interpreter(state) => f(state.get(interp)),
            Heap::Locked(global) => {
                self.record.pool_locks += 1;
                f(&mut global.lock())
            }
            Heap::Own(own) => f(own),
        }
    }

    /// A plain bytecode: under a GIL the shared pools are let go if it switches.
    #[inline(always)]
    fn tick(&mut self, interp: &mut Interp<'_>) {
        match &mut self.heap {
            Some(Heap::Interpreter(state)) => state.tick(interp),
            _ => interp.tick(),
        }
    }

    /// A check point: under a GIL the shared pools are let go if it switches.
    #[inline(always)]
    fn check_point(&mut self, interp: &mut Interp<'_>) {
        match &mut self.heap {
            Some(Heap::Interpreter(state)) => state.check_point(interp),
            _ => interp.check_point(),
        }
    }

    /// `bytes(size)`: allocate and write the object header.
    fn alloc(&mut self, interp: &mut Interp<'_>, size: usize) -> Obj {
        self.live += size as u64;
        if self.kind == AllocatorKind::Pymalloc && size <= SMALL_REQUEST_THRESHOLD {
            let block = self.with_pool(interp, |pool| {
                let block = pool.alloc(size)?;
                let n = size.min(HEADER.len());
                pool.bytes_mut(block, n).copy_from_slice(&HEADER[..n]);
                Some(block)
            });
            if let Some(block) = block {
                return Obj::Small(block);
            }
        }
        let mut v = Vec::with_capacity(size);
        v.extend_from_slice(&HEADER[..size.min(HEADER.len())]);
        Obj::Big(v)
    }

    fn free(&mut self, interp: &mut Interp<'_>, obj: Obj, size: usize) {
        self.live -= size as u64;
        if let Obj::Small(block) = obj {
            self.with_pool(interp, |pool| pool.free(block));
        }
    }

    /// (held from the OS, the allocator's own count of what is live).
    fn sample(&mut self, interp: &mut Interp<'_>) -> (u64, u64) {
        match self.kind {
            AllocatorKind::System => {
                let m = crate::sys::malloc::mallinfo();
                (m.held, self.live)
            }
            AllocatorKind::Pymalloc => {
                let s = self.with_pool(interp, |pool| pool.stats);
                self.record.arenas_allocated = s.arenas_allocated;
                self.record.arenas_freed = s.arenas_freed;
                (s.held_bytes, self.live)
            }
        }
    }

    fn choose(&mut self, interp: &Interp<'_>) {
        let shared = match self.choice {
            Pools::Global => true,
            Pools::PerThread => false,
            Pools::Auto => interp.has_gil(),
        };
        // Without a GIL the set needs a lock of its own, unless this worker is
        // alone with it: `sequential` runs its workers one at a time (and every
        // worker of a threaded run exists before any starts), so a lone user holds
        // it across the op, as one thread under an uncontended GIL would.
        let protected = interp.has_gil() || Arc::strong_count(&self.global) == 1;
        let pid = u64::from(std::process::id()) << 32;
        // One malloc per process; one pymalloc per process when shared.
        self.record.allocator_id = if self.kind == AllocatorKind::System || shared {
            pid
        } else {
            pid | (self.index as u64 + 1)
        };
        self.record.pools = if shared { "global" } else { "per-thread" }.into();
        self.heap = Some(if shared && protected {
            Heap::Interpreter(GilState::new(Arc::clone(&self.global)))
        } else if shared {
            Heap::Locked(Arc::clone(&self.global))
        } else {
            Heap::Own(Box::default())
        });
    }
}

impl WorkerBody for Allocator<'_> {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        if self.heap.is_none() {
            self.choose(interp);
        }
        let mut sizes = Vec::with_capacity(self.batch);
        for _ in 0..self.batch {
            self.tick(interp); // LOAD_GLOBAL bytes, LOAD_FAST size
            let size = self.next_size();
            let obj = self.alloc(interp, size);
            self.check_point(interp); // CALL bytes(size)
            self.objs.push(obj);
            sizes.push(size);
            self.check_point(interp); // JUMP_BACKWARD
        }
        let (held, live) = self.sample(interp);
        self.record.peak_held = self.record.peak_held.max(held);
        self.record.peak_live = self.record.peak_live.max(live);
        // survivors = objs[::keep_every]; del objs (and the last op's survivors).
        let old = std::mem::take(&mut self.survivors);
        let objs = std::mem::take(&mut self.objs);
        for (i, (obj, size)) in objs.into_iter().zip(sizes).enumerate() {
            if self.keep_every > 0 && i % self.keep_every == 0 {
                self.survivors.push((obj, size));
            } else {
                self.free(interp, obj, size);
            }
        }
        for (obj, size) in old {
            self.free(interp, obj, size);
        }
        self.check_point(interp); // CALL clear
        let (held, live) = self.sample(interp);
        self.record.retained_held = self.record.retained_held.max(held);
        self.record.retained_live = self.record.retained_live.max(live);
        self.record.allocations += self.batch as u64;
        // The worker loop may drop the GIL for good after an op.
        if let Some(Heap::Interpreter(state)) = &mut self.heap {
            state.release();
            self.record.pool_locks = state.locks;
        }
        Ok(())
    }
}

impl Drop for Allocator<'_> {
    fn drop(&mut self) {
        // The figures were sampled during the run; a record that does not fit is
        // dropped rather than failing the run.
        let _ = blob::put(self.slot, &self.record);
        // After the last op, without the GIL: the shared pools are waited for.
        let survivors = std::mem::take(&mut self.survivors);
        let free = |pool: &mut Pymalloc| {
            for (obj, _) in survivors {
                if let Obj::Small(block) = obj {
                    pool.free(block);
                }
            }
        };
        match &mut self.heap {
            Some(Heap::Interpreter(state)) => free(&mut state.lock_outside()),
            Some(Heap::Locked(global)) => free(&mut global.lock()),
            Some(Heap::Own(own)) => free(own),
            None => {}
        }
    }
}

fn place(shared: &SharedRegion, workers: usize) -> (&AtomicU64, &[AtomicU64]) {
    let mut layout = shared.layout();
    (layout.place(), layout.place_slice(workers * SLOT_WORDS))
}

impl Workload for Alloc {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn shared_layout(&self, sizer: &mut Sizer) {
        sizer
            .reserve::<AtomicU64>(1)
            .reserve::<AtomicU64>(self.workers.len() * SLOT_WORDS);
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        let (token, slots) = place(shared, self.workers.len());
        // An isolated interpreter has its own obmalloc state: its own pools.
        let choice = match self.pools {
            Pools::Auto if super::xi::installed(shared) => Pools::PerThread,
            other => other,
        };
        Ok(Box::new(Allocator {
            kind: self.allocator,
            choice,
            global: self.global.get_or_init(token, Mutex::default),
            heap: None,
            batch: self.batch,
            size: self.size,
            keep_every: self.keep_every,
            objs: Vec::with_capacity(self.batch),
            survivors: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1),
            live: 0,
            record: AllocRecord::default(),
            slot: &slots[index * SLOT_WORDS..(index + 1) * SLOT_WORDS],
            index,
        }))
    }

    fn outcome(&self, shared: &SharedRegion, _ops_done: u64) -> Outcome {
        let (_, slots) = place(shared, self.workers.len());
        let records: Vec<AllocRecord> = slots.chunks(SLOT_WORDS).filter_map(blob::get).collect();
        // Workers of one allocator saw the same held memory: count it once.
        let mut by_allocator: Vec<AllocRecord> = Vec::new();
        let mut live = (0, 0);
        for r in &records {
            live.0 += r.peak_live;
            live.1 += r.retained_live;
            match by_allocator
                .iter_mut()
                .find(|a| a.allocator_id == r.allocator_id)
            {
                Some(a) => {
                    a.peak_held = a.peak_held.max(r.peak_held);
                    a.retained_held = a.retained_held.max(r.retained_held);
                    a.arenas_allocated = a.arenas_allocated.max(r.arenas_allocated);
                    a.arenas_freed = a.arenas_freed.max(r.arenas_freed);
                }
                None => by_allocator.push(r.clone()),
            }
        }
        let sum = |f: fn(&AllocRecord) -> u64| by_allocator.iter().map(f).sum::<u64>();
        let alloc = serde_json::json!({
            "allocator": self.allocator,
            "pools": records.first().map_or("", |r| r.pools.as_str()),
            "allocations": records.iter().map(|r| r.allocations).sum::<u64>(),
            "peak_held_bytes": sum(|r| r.peak_held),
            "peak_live_bytes": live.0,
            "retained_held_bytes": sum(|r| r.retained_held),
            "retained_live_bytes": live.1,
            "arenas_allocated": sum(|r| r.arenas_allocated),
            "arenas_freed": sum(|r| r.arenas_freed),
            // Under a GIL about one per GIL hold; without one, per malloc and free.
            "pool_locks": records.iter().map(|r| r.pool_locks).sum::<u64>(),
        });
        let mut extra = serde_json::Map::new();
        extra.insert("alloc".into(), alloc);
        Outcome {
            counter: None,
            extra,
        }
    }
}
