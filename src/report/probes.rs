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
