//! The results of the probe commands (`ctxswitch`, `spawn`, `zombie`): plain
//! serialisable structs with the field names PRODUCT.md fixes, one doc comment per
//! field, so any exporter (table, JSON, CSV, Markdown) is a pure function of them.

use crate::measure::{Machine, Summary};
use serde::Serialize;

/// The result of `gilbench ctxswitch`.
#[derive(Debug, Serialize)]
pub struct CtxswitchReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `"ctxswitch"`.
    pub kind: &'static str,
    /// Where it was measured.
    pub machine: Machine,
    /// Unmeasured round trips run before each probe's measured ones.
    pub warmup: u64,
    /// One entry per probe and placement, in the order they ran.
    pub results: Vec<CtxswitchResult>,
}

/// One ping-pong probe under one placement.
#[derive(Debug, Serialize)]
pub struct CtxswitchResult {
    /// The probe: `thread-futex`, `thread-pipe`, `process-pipe`, `process-futex`,
    /// `eventfd`, `yield` or `gil-handoff`.
    pub mode: &'static str,
    /// Placement: `same` (one CPU), `cross` (two CPUs) or `none` (unpinned).
    pub pin: &'static str,
    /// Whether the two sides are `threads` or `processes`.
    pub sides: &'static str,
    /// The CPUs the initiator and the responder were pinned to (empty when unpinned).
    pub cpus: Vec<usize>,
    /// Measured round trips.
    pub rounds: u64,
    /// Cost of one switch: each round trip / 2 (a round trip is two hand-offs), ns.
    pub switch_ns: Summary,
    /// Whole round trips, ns (what `perf bench sched pipe` reports as usecs/op).
    pub round_trip_ns: Summary,
    /// Voluntary context switches of both sides over the measured rounds (the
    /// kernel's count: a side blocked and was woken).
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches of both sides (preempted, or yielded while
    /// still runnable).
    pub involuntary_ctx_switches: u64,
    /// (voluntary + involuntary) / rounds: about 2 when every hand-off is a switch.
    pub ctx_switches_per_round_trip: f64,
    /// The `perf bench` command that measures the same thing, if any.
    pub perf_equivalent: Option<&'static str>,
}

/// The result of `gilbench spawn`.
#[derive(Debug, Serialize)]
pub struct SpawnReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `"spawn"`.
    pub kind: &'static str,
    /// Where it was measured.
    pub machine: Machine,
    /// The page size, bytes.
    pub page_size: u64,
    /// The system's transparent-huge-page setting (`always`, `madvise`, `never`).
    pub transparent_hugepage: String,
    /// Whether the parent's heap was advised to use huge pages (`--huge-pages`).
    pub huge_pages: bool,
    /// One entry per method and heap size, method by method.
    pub results: Vec<SpawnResult>,
}

/// One creation method with one parent heap size.
#[derive(Debug, Serialize)]
pub struct SpawnResult {
    /// `thread`, `fork`, `vfork`, `posix-spawn`, `fork-exec` or `fork-cow`.
    pub method: &'static str,
    /// How much heap the parent had allocated and touched, bytes.
    pub heap_bytes: u64,
    /// Creations measured.
    pub iterations: u64,
    /// Per creation: from the call until the worker is gone and reaped (joined),
    /// ns. For `fork-cow`: the time the child took to write every page of the heap.
    pub latency_ns: Summary,
    /// Per creation: until the creating call returned in the parent (thread spawn,
    /// fork, posix_spawn, …), ns; null for `fork-cow`.
    pub create_ns: Option<Summary>,
    /// Minor page faults per creation, parent and child together (mean). For
    /// `fork-cow`: the child's faults while writing the heap — one per page copied.
    pub minor_faults: u64,
    /// `fork-cow` only: write time per page of heap, ns (a page fault plus a 4 KiB copy).
    pub ns_per_page: Option<f64>,
    /// What `latency_ns` times, in words.
    pub timed: &'static str,
}
