//! The results of the probe commands (`ctxswitch`, `spawn`, `zombie`): plain
//! serialisable structs with the field names PRODUCT.md fixes, one doc comment per
//! field. A probe returns one of these and knows nothing of formats: the top level
//! hands it to `report::render`, whose exporters are pure functions of it.

use crate::measure::stats::Spread;
use crate::measure::{modes, Machine, Summary};
use crate::probe::zombie::procfs::ProcRow;
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
    /// `eventfd`, `yield`, `gil-handoff` or `asyncio-handoff`.
    pub mode: &'static str,
    /// Placement: `same` (one CPU), `cross` (two CPUs) or `none` (unpinned).
    pub pin: &'static str,
    /// Whether the two sides are `threads`, `processes` or `coroutines`.
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
    /// Runs of this probe, each with a fresh pair; the figures above are their
    /// medians, field by field.
    pub repeats: u32,
    /// One entry per run, in the order they ran.
    pub samples: Vec<CtxswitchSample>,
    /// How the switch's p50 varied over the runs.
    pub spread: CtxswitchSpread,
    /// Groups of runs whose switch p50s lie apart (null: one behaviour). Unpinned,
    /// the scheduler may put both sides on one CPU in some runs and on two in others.
    pub modes: Option<Vec<ProbeMode>>,
}

/// One run of a ctxswitch probe.
#[derive(Debug, Clone, Serialize)]
pub struct CtxswitchSample {
    /// Cost of one switch in this run, ns.
    pub switch_ns: Summary,
    /// Whole round trips in this run, ns.
    pub round_trip_ns: Summary,
    /// Voluntary context switches of both sides in this run.
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches of both sides in this run.
    pub involuntary_ctx_switches: u64,
}

/// The spread of a ctxswitch probe's runs.
#[derive(Debug, Clone, Serialize)]
pub struct CtxswitchSpread {
    /// The switch's p50 over the runs, ns.
    pub switch_p50_ns: Spread<u64>,
}

/// A group of a probe's runs whose p50s lie close together.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeMode {
    /// How many runs.
    pub runs: usize,
    /// The median of their p50s, ns.
    pub p50_ns: u64,
    /// Their smallest and largest p50, ns.
    pub p50_range_ns: [u64; 2],
}

impl ProbeMode {
    /// The groups a probe's runs fall into by their p50s ([`modes::modes`]'s general
    /// rule); `None` for one behaviour.
    pub fn of_p50s(p50s: &[u64]) -> Option<Vec<ProbeMode>> {
        let values: Vec<f64> = p50s.iter().map(|&v| v as f64).collect();
        let groups = modes::modes(&values)?;
        Some(
            groups
                .into_iter()
                .map(|g| ProbeMode {
                    runs: g.repeats.len(),
                    p50_ns: g.median.round() as u64,
                    p50_range_ns: [g.min as u64, g.max as u64],
                })
                .collect(),
        )
    }
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
    /// Unmeasured runs of each method and heap size before its measured ones.
    pub warmup: u32,
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
    /// Creations measured, over all runs.
    pub iterations: u64,
    /// Per creation: from the call until the worker is gone and reaped (joined),
    /// ns. For `fork-cow`: the time the child took to write every page of the heap.
    /// Every creation of every run in one histogram: `count` is `iterations`.
    pub latency_ns: Summary,
    /// Per creation: until the creating call returned in the parent (thread spawn,
    /// fork, posix_spawn, …), ns, every run's creations together as `latency_ns`;
    /// null for `fork-cow`.
    pub create_ns: Option<Summary>,
    /// Minor page faults per creation, parent and child together (mean), the
    /// median of the runs' means. For `fork-cow`: the child's faults while
    /// writing the heap — one per page copied.
    pub minor_faults: u64,
    /// `fork-cow` only: write time per page of heap, ns (a page fault plus a 4 KiB copy).
    pub ns_per_page: Option<f64>,
    /// What `latency_ns` times, in words.
    pub timed: &'static str,
    /// Measured runs of this method and heap size: `iterations`, `latency_ns` and
    /// `create_ns` cover all of them, `minor_faults` is the median run's, and
    /// `samples` and `spread` show each run.
    pub repeats: u32,
    /// One entry per run, in the order they ran.
    pub samples: Vec<SpawnSample>,
    /// How the latency p50 varied over the runs.
    pub spread: SpawnSpread,
    /// Groups of runs whose latency p50s lie apart (null: one behaviour).
    pub modes: Option<Vec<ProbeMode>>,
}

/// One run of a spawn method with one heap size.
#[derive(Debug, Clone, Serialize)]
pub struct SpawnSample {
    /// Creations measured in this run.
    pub iterations: u64,
    /// Per creation, as the row's `latency_ns`, ns.
    pub latency_ns: Summary,
    /// Per creation, until the creating call returned, ns (null for `fork-cow`).
    pub create_ns: Option<Summary>,
    /// Minor page faults per creation in this run (mean).
    pub minor_faults: u64,
}

/// The spread of a spawn row's runs.
#[derive(Debug, Clone, Serialize)]
pub struct SpawnSpread {
    /// The latency p50 over the runs, ns.
    pub latency_p50_ns: Spread<u64>,
}

/// The result of `gilbench zombie`.
#[derive(Debug, Serialize)]
pub struct ZombieReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `"zombie"`.
    pub kind: &'static str,
    /// Where it ran.
    pub machine: Machine,
    /// gilbench's own pid: the parent of the children.
    pub parent_pid: i32,
    /// How the children were reaped: `waitpid`, `wnohang-loop`, `sigchld`, `pidfd`
    /// or `none`.
    pub strategy: &'static str,
    /// Children forked; each exited at once.
    pub children: u64,
    /// Children seen in `/proc` as zombies (state `Z`, parent gilbench) before reaping.
    pub zombies_seen: u64,
    /// Children still zombies right after the strategy ran (all of them for `none`).
    pub zombies_after_reap: u64,
    /// gilbench's zombie children at the very end, after it reaped whatever was left: 0.
    pub zombies_left: u64,
    /// Children the strategy reaped.
    pub reaped_by_strategy: u64,
    /// Processes gilbench reaped on its way out (the zombies `none` left, orphans).
    pub reaped_at_exit: u64,
    /// Per child reaped: time since the previous reap, ns (empty for `none`).
    pub reap_ns: Summary,
    /// From the first wait call to the last reap, ns.
    pub reap_total_ns: u64,
    /// Wait-family system calls the strategy made, empty polls included.
    pub reap_calls: u64,
    /// `waitpid(-1, WNOHANG)` calls that found nothing to reap.
    pub empty_polls: u64,
    /// SIGCHLD signals read (`sigchld` only): one pending signal stands for many
    /// children, so this is far below `children`.
    pub sigchld_signals: Option<u64>,
    /// Time to fork all the children, ns.
    pub fork_ns: u64,
    /// How long the zombies were kept on show (`--hold`), ns.
    pub hold_ns: u64,
    /// A few of the children as `ps` would show them before reaping.
    pub before: Vec<ProcRow>,
    /// The same children after the strategy ran (gone once reaped).
    pub after: Vec<ProcRow>,
    /// Re-parenting (`--orphans`), null otherwise.
    pub orphans: Option<OrphanReport>,
}

/// What happened to the grandchildren when their parents exited.
#[derive(Debug, Serialize)]
pub struct OrphanReport {
    /// Whether gilbench had declared itself a child subreaper (PR_SET_CHILD_SUBREAPER).
    pub subreaper: bool,
    /// Grandchildren forked, one per child.
    pub grandchildren: u64,
    /// Of them, re-parented to gilbench when their parent exited.
    pub reparented_to_gilbench: u64,
    /// Every new parent seen, with how many orphans it took.
    pub new_parents: Vec<NewParent>,
    /// A few grandchildren with their parent before and after.
    pub sample: Vec<Reparented>,
    /// Grandchildren gilbench reaped itself (as their new parent).
    pub reaped_by_gilbench: u64,
}

/// A process that adopted orphans.
#[derive(Debug, Serialize)]
pub struct NewParent {
    /// Its pid.
    pub pid: i32,
    /// Its command.
    pub command: String,
    /// Orphans it took.
    pub orphans: u64,
}

/// One orphan's re-parenting.
#[derive(Debug, Serialize)]
pub struct Reparented {
    /// The grandchild's pid.
    pub pid: i32,
    /// Its parent while that was alive: the child that forked it.
    pub ppid_before: i32,
    /// Its parent after that child exited.
    pub ppid_after: i32,
}
