//! `gc-pause`: a full collection stops every thread.
//!
//! Worker 0 is an I/O worker doing round trips to an echo peer, as in `convoy`, each
//! timed from *before* a short sleep (`io_sleep`) so that a delayed wake-up counts.
//! The other workers are the program's main loop over a heap of `objects` tracked
//! containers ([`crate::runtime::gc`]): every `collect_every` it makes `garbage` unreachable
//! cycles and calls `gc.collect()`; its allocations also drive the automatic
//! collections (`threshold0..2`). Between bursts it waits with the GIL released.
//!
//! A collection is C code: it runs holding the GIL with no check point inside, so
//! under `gil` the I/O worker, whose reply has arrived, cannot run until it ends.
//! Free-threaded CPython stops the world for a collection instead; that is modelled
//! here with a per-heap "world" lock that the collector holds exclusively and that a
//! thread takes briefly each time it returns from a blocking call (re-attaching its
//! thread state). The world lock and the heap are per process ([`RunLocal`]): under
//! `processes` each process collects only its own heap, and the I/O process, with
//! no heap, never stops. For simplicity the whole burst (its allocations too) runs
//! with the world stopped; the allocations take a small fraction of the collection.
//!
//! Results travel to the parent through the shared region: the process's heap
//! publishes its collector statistics (and pause histogram) when its last worker
//! lets go of it.

use super::blob;
use super::echo::EchoPeer;
use super::runlocal::RunLocal;
use super::{duration_param, Common, Outcome, ParamError, WorkerBody, WorkerSpec, Workload};
use crate::measure::{histogram_from_bytes, histogram_to_bytes, new_histogram, Summary};
use crate::runtime::gc::{Heap, Mode, OBJECT_BYTES};
use crate::runtime::interp::Interp;
use crate::runtime::shm::{SharedRegion, Sizer};
use crate::runtime::trace::EventKind;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Words of shared region per worker for its results (64 KiB).
const SLOT_WORDS: usize = 8192;
/// The most workers `gc-pause` runs (each reserves a result slot).
const MAX_WORKERS: usize = 64;
/// How long the main loop waits between looks at the clock.
const MAIN_LOOP_TICK: Duration = Duration::from_millis(1);

/// Parameters of `gc-pause`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcPauseParams {
    /// Tracked objects in the long-lived heap.
    pub objects: i64,
    /// `generational`, `incremental`, `frozen` or `off`.
    pub gc: Mode,
    /// Allocations before a generation-0 collection (0: no automatic collections).
    pub threshold0: i64,
    /// Generation-0 collections before a generation-1 collection.
    pub threshold1: i64,
    /// Generation-1 collections before a full collection.
    pub threshold2: i64,
    /// I/O round trips (default: `ops`).
    pub rounds: Option<i64>,
    /// Sleep before each round trip.
    pub io_sleep: String,
    /// Period of the main loop's garbage burst and `gc.collect()` (`0s`: never).
    pub collect_every: String,
    /// Unreachable cycles made per burst.
    pub garbage: i64,
    /// Share of heap objects that refer to themselves.
    pub cycle_fraction: f64,
    /// Incremental mode: old-generation objects per step.
    pub increment: i64,
    /// Objects per tree in the heap (each tree hangs off one program variable).
    pub cluster: i64,
}

impl Default for GcPauseParams {
    fn default() -> Self {
        GcPauseParams {
            objects: 1_000_000,
            gc: Mode::Generational,
            threshold0: 700,
            threshold1: 10,
            threshold2: 10,
            rounds: None,
            io_sleep: "1ms".into(),
            collect_every: "100ms".into(),
            garbage: 10_000,
            cycle_fraction: 0.1,
            increment: 10_000,
            cluster: 64,
        }
    }
}

/// One I/O worker and the program's main loop(s) over a collected heap.
#[derive(Debug)]
pub struct GcPause {
    objects: usize,
    mode: Mode,
    thresholds: [u64; 3],
    io_sleep: Duration,
    collect_every: Option<Duration>,
    garbage: usize,
    cycle_every: usize,
    increment: usize,
    cluster: usize,
    workers: Vec<WorkerSpec>,
    runtimes: RunLocal<Runtime>,
}

impl GcPause {
    /// Checks the parameters, including that the heap fits in memory.
    pub fn new(p: GcPauseParams, common: Common) -> Result<GcPause, ParamError> {
        let non_negative = |name: &str, v: i64| {
            u64::try_from(v).map_err(|_| ParamError::field(name, "must not be negative"))
        };
        let thresholds = [
            non_negative("threshold0", p.threshold0)?,
            non_negative("threshold1", p.threshold1)?,
            non_negative("threshold2", p.threshold2)?,
        ];
        let objects = non_negative("objects", p.objects)? as usize;
        let garbage = non_negative("garbage", p.garbage)? as usize;
        if !(0.0..=1.0).contains(&p.cycle_fraction) {
            return Err(ParamError::field(
                "cycle_fraction",
                "must be between 0 and 1",
            ));
        }
        if p.increment < 1 || p.cluster < 1 {
            let field = if p.increment < 1 {
                "increment"
            } else {
                "cluster"
            };
            return Err(ParamError::field(field, "must be at least 1"));
        }
        let rounds = p.rounds.unwrap_or(common.ops as i64);
        if rounds < 1 {
            return Err(ParamError::field("rounds", "must be at least 1"));
        }
        if common.workers > MAX_WORKERS {
            return Err(ParamError::field(
                "workers",
                format!("gc-pause runs at most {MAX_WORKERS} workers"),
            ));
        }
        let mains = common.workers.saturating_sub(1).max(1) as u64;
        // Each collecting process holds its own heap (worst case: `processes`),
        // with room for the garbage bursts and the vector's growth.
        let need = (objects as u64 + 4 * garbage as u64) * OBJECT_BYTES as u64 * 2 * mains;
        if let Some(available) = crate::measure::procfs::mem_available() {
            if need > available {
                return Err(ParamError::field(
                    "objects",
                    format!(
                        "a heap of {objects} objects needs about {} MiB ({mains} collecting \
                         worker(s)), more than the {} MiB of memory available",
                        need >> 20,
                        available >> 20
                    ),
                ));
            }
        }
        let collect_every = duration_param("collect_every", &p.collect_every)?;
        let mut workers = vec![WorkerSpec {
            role: "io",
            ops: Some(rounds as u64),
        }];
        workers.extend((1..common.workers.max(2)).map(|_| WorkerSpec {
            role: "main",
            ops: None,
        }));
        Ok(GcPause {
            objects,
            mode: p.gc,
            thresholds,
            io_sleep: duration_param("io_sleep", &p.io_sleep)?,
            collect_every: (!collect_every.is_zero()).then_some(collect_every),
            garbage,
            cycle_every: if p.cycle_fraction > 0.0 {
                (1.0 / p.cycle_fraction).round() as usize
            } else {
                0
            },
            increment: p.increment as usize,
            cluster: p.cluster as usize,
            workers,
            runtimes: RunLocal::default(),
        })
    }

    /// Builds the long-lived heap, as the program's start-up would: collection off
    /// while building, then one full collection to settle it in the oldest
    /// generation, then `gc.freeze()` in `frozen` mode.
    fn build_heap(&self, slot: usize) -> HeapState {
        let start = Instant::now();
        let capacity = self.objects + 2 * self.garbage;
        let mut heap = Heap::new(Mode::Off, self.thresholds, capacity);
        let roots = heap.build_trees(self.objects, self.cluster, self.cycle_every);
        heap.collect(2);
        heap.mode = self.mode;
        heap.set_increment(self.increment);
        if self.mode == Mode::Frozen {
            heap.freeze();
        }
        heap.stats = Default::default(); // start-up is not part of the run
        HeapState {
            heap,
            _roots: roots,
            slot,
            build_ns: crate::measure::nanos(start.elapsed()),
            explicit: 0,
        }
    }
}

/// The program's heap and what it reports.
#[derive(Debug)]
struct HeapState {
    heap: Heap,
    /// The program's variables: one reference to each tree.
    _roots: Vec<u32>,
    /// The result slot this heap publishes into.
    slot: usize,
    build_ns: u64,
    explicit: u64,
}

/// One process's interpreter state for this run.
#[derive(Debug)]
struct Runtime {
    /// Held exclusively by a collection (stop-the-world); taken shared for an
    /// instant by a thread returning from a blocking call.
    world: RwLock<()>,
    heap: Mutex<Option<HeapState>>,
    shared: SharedRegion,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let Some(state) = self.heap.get_mut().take() else {
            return;
        };
        let stats = &state.heap.stats;
        let record = GcRecord {
            by_generation: stats.collections,
            increments: stats.increments,
            explicit: state.explicit,
            scanned: stats.scanned,
            freed: stats.freed,
            heap_objects: state.heap.live(),
            peak_heap_bytes: state.heap.peak_bytes(),
            build_ns: state.build_ns,
            pauses: histogram_to_bytes(&stats.pauses),
        };
        let (_, slots) = place(&self.shared, MAX_WORKERS);
        if let Some(slot) = slots.chunks(SLOT_WORDS).nth(state.slot) {
            // A result too large for its slot is dropped: the run still reports.
            let _ = blob::put(slot, &record);
        }
    }
}

/// What one heap's collector did, as shipped to the parent.
#[derive(Debug, Default, Serialize, Deserialize)]
struct GcRecord {
    by_generation: [u64; 3],
    increments: u64,
    explicit: u64,
    scanned: u64,
    freed: u64,
    heap_objects: u64,
    peak_heap_bytes: u64,
    build_ns: u64,
    pauses: Vec<u8>,
}

/// The run token, then one result slot per possible worker.
fn place(shared: &SharedRegion, workers: usize) -> (&AtomicU64, &[AtomicU64]) {
    let mut layout = shared.layout();
    (layout.place(), layout.place_slice(workers * SLOT_WORDS))
}

struct Main {
    rt: Arc<Runtime>,
    period: Option<Duration>,
    garbage: usize,
    next_collect: Option<Instant>,
}

impl WorkerBody for Main {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        interp.allow_threads(|| std::thread::sleep(MAIN_LOOP_TICK));
        interp.check_point();
        let now = Instant::now();
        let next = *self
            .next_collect
            .get_or_insert_with(|| now + self.period.unwrap_or(Duration::MAX / 4));
        let mut guard = self.rt.heap.lock();
        let state = guard.as_mut().expect("a main worker built the heap");
        let due = self.period.is_some() && now >= next;
        if due || state.heap.cycle_active() {
            // C code from here on: no check point until the collection is over.
            let _world = self.rt.world.write();
            if due {
                for _ in 0..self.garbage {
                    let a = state.heap.alloc(&[]);
                    state.heap.set_item(a, 0, a);
                    state.heap.decref(a);
                }
                if state.heap.mode != Mode::Off {
                    state.explicit += 1;
                }
                state.heap.collect_requested();
                // Like `done.wait(period)` in a loop: the next burst comes a period
                // after this one ends, however long it took.
                self.next_collect = Some(Instant::now() + self.period.expect("due"));
            } else {
                state.heap.step();
            }
        }
        for (start, end) in state.heap.stats.spans.drain(..) {
            interp.trace().span(EventKind::GcPause, start, end);
        }
        drop(guard);
        interp.check_point(); // JUMP_BACKWARD
        Ok(())
    }
}

struct Io {
    rt: Arc<Runtime>,
    peer: EchoPeer,
    sleep: Duration,
}

impl Io {
    /// Back from a blocking call: re-attach, waiting while the world is stopped.
    fn attach(&self) {
        drop(self.rt.world.read());
    }
}

impl WorkerBody for Io {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        let sleep = self.sleep;
        interp.allow_threads(|| std::thread::sleep(sleep));
        self.attach();
        interp.check_point();
        let peer = &mut self.peer;
        interp.allow_threads(|| peer.send())?;
        self.attach();
        interp.check_point();
        let peer = &mut self.peer;
        interp.allow_threads(|| peer.recv())?;
        self.attach();
        interp.check_point();
        Ok(())
    }
}

impl Workload for GcPause {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn shared_layout(&self, sizer: &mut Sizer) {
        sizer
            .reserve::<AtomicU64>(1)
            .reserve::<AtomicU64>(MAX_WORKERS * SLOT_WORDS);
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        let (token, _) = place(shared, MAX_WORKERS);
        let rt = self.runtimes.get_or_init(token, || Runtime {
            world: RwLock::new(()),
            heap: Mutex::new(None),
            shared: shared.clone(),
        });
        if index == 0 {
            return Ok(Box::new(Io {
                rt,
                peer: EchoPeer::new(64)?,
                sleep: self.io_sleep,
            }));
        }
        {
            let mut heap = rt.heap.lock();
            if heap.is_none() {
                *heap = Some(self.build_heap(index));
            }
        }
        Ok(Box::new(Main {
            rt,
            period: self.collect_every,
            garbage: self.garbage,
            next_collect: None,
        }))
    }

    fn outcome(&self, shared: &SharedRegion, _ops_done: u64) -> Outcome {
        let (_, slots) = place(shared, MAX_WORKERS);
        let mut total = GcRecord::default();
        let mut pauses = new_histogram();
        let mut heaps = 0;
        for record in slots.chunks(SLOT_WORDS).filter_map(blob::get::<GcRecord>) {
            heaps += 1;
            for g in 0..3 {
                total.by_generation[g] += record.by_generation[g];
            }
            total.increments += record.increments;
            total.explicit += record.explicit;
            total.scanned += record.scanned;
            total.freed += record.freed;
            total.heap_objects += record.heap_objects;
            total.peak_heap_bytes += record.peak_heap_bytes;
            total.build_ns = total.build_ns.max(record.build_ns);
            if let Ok(h) = histogram_from_bytes(&record.pauses) {
                let _ = pauses.add(&h);
            }
        }
        let gc = serde_json::json!({
            "mode": self.mode,
            "collections": total.by_generation.iter().sum::<u64>(),
            "by_generation": total.by_generation,
            "increments": total.increments,
            "explicit": total.explicit,
            "pause_ns": Summary::of(&pauses),
            "scanned": total.scanned,
            "freed": total.freed,
            "heap_objects": total.heap_objects,
            "peak_heap_bytes": total.peak_heap_bytes,
            "heaps": heaps,
        });
        let mut extra = serde_json::Map::new();
        extra.insert("gc".into(), gc);
        extra.insert("heap_build_ns".into(), total.build_ns.into());
        Outcome {
            counter: None,
            extra,
        }
    }
}
