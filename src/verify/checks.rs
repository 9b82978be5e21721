//! The checks `gilbench verify` makes: one per concept that has a number, each
//! with the scenario that shows it, the figure, and a tolerance written here
//! with the reason for its width.
//!
//! Every check is run under each simulated GIL model that an interpreter chosen
//! with `--python` stands for ([`stands_for`]): `gil` for CPython 3.10+,
//! `gil-3.9` for 3.2–3.9, `gil-legacy` for Python 2, and `threads` (no GIL) for a
//! free-threaded build. The twin's figure comes from its `threads` row: real
//! threads under that interpreter's own GIL (or none). A check of one model of
//! its own ([`own_model`]: `subinterpreters`, `asyncio`, or its metric's, as
//! fork-cow's and queue's `processes`) compares that model with the twin's row
//! of the same name, on the interpreters that have it (`asyncio`: 3.7+).

use super::judge::Tolerance;
use crate::cpython::interpreters::Interpreter;
use crate::report::repeats::Sample;

/// The figure a check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Throughput of the threads over the sequential baseline.
    Speedup,
    /// The I/O round trip's p50 in switch intervals.
    P50InSwitchIntervals,
    /// Lost updates as a share of the increments made.
    LostShare,
    /// The I/O worker's worst round trip over the longest garbage-collection
    /// pause: about 1 when a collection stops every thread, far less when the
    /// others run on through it.
    StallOverPause,
    /// A forked child's private dirty memory over the parent's heap, in one
    /// `fork-cow` variant (named here): the share copy-on-write had to copy.
    DirtyShare(&'static str),
    /// Shared objects whose reference count did not come back, as a share of them.
    CorruptedShare,
    /// One model's throughput over another's in the same repeat (`queue`:
    /// `processes` over `manager`), the first model being the one compared.
    ThroughputOver {
        /// The model compared, and the twin's row of that name.
        model: &'static str,
        /// The model whose throughput divides it, run beside it.
        over: &'static str,
    },
    /// The I/O round trip's p50 in CPU ops: a round trip over the time one op of
    /// the CPU-bound workers took (the wall over their ops: gilbench's background
    /// ops, the twin's `cpu_loops`). Under `asyncio` a reply waits for the op under
    /// way and the coroutine's next turn of the loop.
    P50InCpuOps,
}

impl Metric {
    /// Its name in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Speedup => "speedup",
            Metric::P50InSwitchIntervals => "p50 round trip / switch interval",
            Metric::LostShare => "lost share",
            Metric::StallOverPause => "worst round trip / longest gc pause",
            Metric::DirtyShare(_) => "dirty share of the heap",
            Metric::CorruptedShare => "corrupted share",
            Metric::ThroughputOver { .. } => "throughput ratio",
            Metric::P50InCpuOps => "p50 round trip / CPU op",
        }
    }

    /// The one simulated model it compares, with the twin's row of the same
    /// name, on every interpreter (fork semantics do not depend on the GIL);
    /// `None`: the GIL models, each with the interpreters it stands for, against
    /// the twin's `threads` row.
    pub fn model(&self) -> Option<&'static str> {
        match self {
            Metric::DirtyShare(_) => Some("processes"),
            Metric::ThroughputOver { model, .. } => Some(model),
            _ => None,
        }
    }

    /// The other model that runs beside the compared one to give the figure:
    /// the sequential baseline of a speedup, the divisor of a ratio.
    pub fn companion(&self) -> Option<&'static str> {
        match self {
            Metric::Speedup => Some("sequential"),
            Metric::ThroughputOver { over, .. } => Some(over),
            _ => None,
        }
    }

    /// The `variant` a row must have to give this figure, if any.
    pub fn variant(&self) -> Option<&'static str> {
        match self {
            Metric::DirtyShare(variant) => Some(variant),
            _ => None,
        }
    }

    /// Its value in one repeat (`switch_interval_ns`: the plan's).
    pub fn of(&self, sample: &Sample, switch_interval_ns: u64) -> Option<f64> {
        match self {
            Metric::Speedup => sample.speedup,
            Metric::P50InSwitchIntervals => (switch_interval_ns > 0 && sample.latency_ns.count > 0)
                .then(|| sample.latency_ns.p50 as f64 / switch_interval_ns as f64),
            Metric::LostShare => sample
                .counter
                .filter(|c| c.expected > 0)
                .map(|c| c.lost as f64 / c.expected as f64),
            Metric::StallOverPause => {
                let pause = sample.extra.get("gc")?.get("pause_ns")?;
                // No collection, no pause (`sequential`): no figure.
                let longest = pause.get("max")?.as_f64().filter(|ns| *ns > 0.0)?;
                (pause.get("count")?.as_u64()? > 0 && sample.latency_ns.count > 0)
                    .then(|| sample.latency_ns.max as f64 / longest)
            }
            Metric::DirtyShare(_) => {
                let number = |key: &str| sample.extra.get(key)?.as_f64();
                let heap = number("heap_bytes").filter(|h| *h > 0.0)?;
                Some(number("private_dirty_bytes")? / heap)
            }
            Metric::CorruptedShare => {
                let counts = sample.extra.get("refcount")?;
                let objects = counts.get("objects")?.as_f64().filter(|n| *n > 0.0)?;
                Some(counts.get("corrupted")?.as_f64()? / objects)
            }
            // A figure of two rows: see [`Metric::of_pair`].
            Metric::ThroughputOver { .. } => None,
            Metric::P50InCpuOps => {
                // The twin counts its CPU-bound workers' ops as `cpu_loops`;
                // gilbench as the ops of the workers it does not time.
                let cpu_ops = sample
                    .extra
                    .get("cpu_loops")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(sample.background_ops);
                (cpu_ops > 0 && sample.wall_ns > 0 && sample.latency_ns.count > 0)
                    .then(|| sample.latency_ns.p50 as f64 * cpu_ops as f64 / sample.wall_ns as f64)
            }
        }
    }

    /// Its value in one repeat of a figure of two rows: `sample` of the compared
    /// model's row, `companion` of its companion's, from the same repeat.
    pub fn of_pair(&self, sample: &Sample, companion: &Sample) -> Option<f64> {
        match self {
            Metric::ThroughputOver { .. } => (companion.throughput_ops_per_s > 0.0)
                .then(|| sample.throughput_ops_per_s / companion.throughput_ops_per_s),
            _ => None,
        }
    }
}

/// One check.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Its name for `--check`.
    pub name: &'static str,
    /// The concept, as PRODUCT.md's table words it.
    pub concept: &'static str,
    /// The built-in scenario that shows it.
    pub scenario: &'static str,
    /// Flags for that scenario (sizes chosen to keep `verify` under 3 minutes).
    pub args: &'static [&'static str],
    /// The figure.
    pub metric: Metric,
    /// What agrees means.
    pub tolerance: Tolerance,
    /// Why the tolerance is that wide.
    pub why: &'static str,
    /// A timing figure: a busy machine makes it inconclusive.
    pub timing: bool,
}

/// Every check, in the order PRODUCT.md lists the concepts.
pub const CHECKS: &[Check] = &[
    Check {
        name: "cpu-bound",
        concept: "the GIL gives concurrency, not parallelism: CPU-bound threads take turns",
        scenario: "cpu-bound",
        args: &["--ops", "20"],
        metric: Metric::Speedup,
        // Two workers: taking turns is ≈1.0x, running in parallel ≈2.0x. ±0.35 keeps
        // those apart and leaves room for the switching overhead real CPython pays
        // (Python 2's GIL thrashes on several cores and runs at 0.5–0.8x).
        tolerance: Tolerance::Within(0.35),
        why: "2 workers: taking turns ≈1.0x, parallel ≈2.0x; ±0.35 keeps them apart and allows for switching overhead",
        timing: true,
    },
    Check {
        name: "io-bound",
        concept: "the GIL is released around blocking I/O",
        scenario: "io-bound",
        args: &["--ops", "30"],
        metric: Metric::Speedup,
        // Four workers each blocking 1 ms per op overlap to ≈4x; a run with no
        // overlap would be 1x. ×/÷1.3 absorbs late wake-ups on a shared machine.
        tolerance: Tolerance::Factor(1.3),
        why: "4 workers blocking 1 ms per op overlap to ≈4x (no overlap: 1x); ×/÷1.3 absorbs late wake-ups",
        timing: true,
    },
    Check {
        name: "convoy",
        concept: "the convoy effect: an I/O thread waits up to a switch interval behind a CPU thread",
        scenario: "convoy",
        // The scenario's own 200 round trips (with fewer, the CPU-bound worker
        // finishes its share early and the I/O worker runs alone), with the echo
        // peer on the CPU-bound worker's CPU: its reply then comes back slower than
        // the drop's wake-up of the CPU-bound worker, which takes the GIL, and
        // every round trip waits, in every run, for CPython as for the simulation.
        // With the peer beside the I/O worker, or left to the OS, runs split
        // between the convoy and an escape on both sides (`workload::placement`),
        // which a comparison of medians cannot judge.
        args: &["--set", "pin=io-alone"],
        metric: Metric::P50InSwitchIntervals,
        // Either each round trip waits about a switch interval (the convoy), or the
        // I/O thread wins the race to retake the GIL and waits microseconds. Which
        // behaviour shows is the lesson; the p50 within either is scheduling noise.
        tolerance: CONVOY_OR_NOT,
        why: "peer on the CPU worker's CPU: a round trip either waits ≈1 switch interval (convoy) or microseconds (won the race); the behaviour is compared, split at half an interval",
        timing: true,
    },
    Check {
        name: "shared-counter-none",
        concept: "is `counter += 1` atomic under the GIL?",
        scenario: "shared-counter",
        // 1 ms switch interval, 2M increments per worker: many switches per run on
        // both sides, so a run that happens to switch only at safe points is rare.
        args: &[
            "--set",
            "sync=none",
            "--ops",
            "2000000",
            "--switch-interval",
            "1ms",
        ],
        metric: Metric::LostShare,
        // Whether updates are lost is the lesson; how many depends on where each
        // switch lands and varies tenfold run to run. 0.1% is far above what a
        // clean run could show (zero) and far below a racy one (percent).
        tolerance: LOSES,
        why: "whether updates are lost is the lesson; how many varies tenfold run to run, so the behaviour is compared (split at 0.1%)",
        timing: false,
    },
    Check {
        name: "shared-counter-none-call",
        concept: "…with a call between read and write: never",
        scenario: "shared-counter",
        args: &[
            "--set",
            "sync=none-call",
            "--ops",
            "2000000",
            "--switch-interval",
            "1ms",
        ],
        metric: Metric::LostShare,
        // As above: a switch at the call loses a time slice of the other thread's
        // increments, an amount set by scheduling.
        tolerance: LOSES,
        why: "as for sync=none: the behaviour is compared (split at 0.1%)",
        timing: false,
    },
    Check {
        name: "cpu-bound-subinterpreters",
        concept: "subinterpreters: a GIL per interpreter (PEP 684), data copied between them",
        scenario: "cpu-bound",
        args: &["--ops", "20"],
        metric: Metric::Speedup,
        // As for cpu-bound: each interpreter's GIL is its own, so two run in
        // parallel (≈2.0x) unless they somehow shared one (≈1.0x).
        tolerance: Tolerance::Within(0.35),
        why: "2 interpreters, a GIL each: parallel ≈2.0x, one GIL between them ≈1.0x; ±0.35 keeps them apart",
        timing: true,
    },
    Check {
        name: "refcount",
        concept: "why CPython has a GIL: reference counts",
        scenario: "refcount",
        args: &["--ops", "50000"],
        metric: Metric::CorruptedShare,
        // With the GIL, `ob_refcnt += 1` sits inside one bytecode and no count
        // can be corrupted, in the simulation or in any GIL build (every run on
        // 3.7–3.13 here: 0 of 64); without it (`threads`, a free-threaded build)
        // plain counts break. Any corrupted count at all is the other behaviour.
        tolerance: Tolerance::Class {
            threshold: 0.0,
            above: "corrupts counts",
            below: "keeps every count",
        },
        why: "under a GIL no count can break, without one plain counts do: the behaviour is compared (any corrupted count at all)",
        timing: false,
    },
    Check {
        name: "fork-cow-read",
        concept: "fork copies the address space lazily (copy-on-write); deep vs shallow copy",
        scenario: "fork-cow",
        args: &["--set", "heap_mib=32", "--set", "variant=read"],
        metric: Metric::DirtyShare("read"),
        tolerance: COPIES,
        why: COPIES_WHY,
        timing: false,
    },
    Check {
        name: "fork-cow-read-refcounted",
        concept: "after fork even *reads* copy pages: refcount and GC-header writes",
        scenario: "fork-cow",
        args: &["--set", "heap_mib=32", "--set", "variant=read-refcounted"],
        metric: Metric::DirtyShare("read-refcounted"),
        tolerance: COPIES,
        why: COPIES_WHY,
        timing: false,
    },
    Check {
        name: "fork-cow-gc-frozen",
        concept: "…`gc.freeze()` and immortal objects avoid them",
        scenario: "fork-cow",
        args: &["--set", "heap_mib=32", "--set", "variant=gc-in-child-frozen"],
        metric: Metric::DirtyShare("gc-in-child-frozen"),
        tolerance: COPIES,
        why: COPIES_WHY,
        timing: false,
    },
    Check {
        name: "gc-pause",
        concept: "reference cycles need a collector, and a full collection stops every thread under the GIL",
        scenario: "gc-pause",
        args: &[],
        metric: Metric::StallOverPause,
        // How long the longest pause is depends on how fast each collector is
        // (measured here on a busy machine: 3.11–3.13 ≈ 270–340 ms, 3.7–3.10 ≈
        // 870–1090 ms, the simulation ≈ 330–400 ms), not on the GIL; what the GIL
        // does is make the I/O worker wait out the whole pause, so its worst round
        // trip is about the longest pause: 1.01–1.07 simulated (gil, gil-3.9,
        // gil-legacy), 1.00–1.05 on 3.7–3.13, 3 runs each with others using
        // 80% of the CPU (`--python all`; the twin needs 3.7). A thread that ran on through collections would stay near its
        // 1 ms sleep, a small fraction of a pause; half a pause lies far from
        // both. A busy machine stretches the pause and the wait alike, so the
        // ratio is no timing figure.
        tolerance: Tolerance::Class {
            threshold: 0.5,
            above: "waits out the pause",
            below: "runs through it",
        },
        why: "under the GIL the I/O worker waits out a whole collection, so its worst round trip ≈ the longest pause (ratio ≈ 1); one that ran through would stay near its 1 ms sleep: the behaviour is compared, split at half a pause",
        timing: false,
    },    Check {
        name: "alloc",
        concept: "small objects live in per-size pools that are kept, not returned to the OS (pymalloc)",
        scenario: "alloc",
        // 20 ops of 100,000 objects per worker: ~0.1 s a run in CPython.
        args: &["--ops", "20"],
        metric: Metric::Speedup,
        // The scenario's first lesson: under a GIL one allocator serves the two
        // threads in turn (≈1.0x, measured 0.9–1.05x on CPython 3.11 here); with
        // a heap per thread and no GIL they would allocate in parallel (≈2.0x).
        // ±0.35 keeps those apart, as for cpu-bound. What pymalloc keeps
        // (`alloc.retained_held_bytes`) is not compared: the twin frees every
        // object (no `keep_every`) and reports arenas, not bytes held at the peak.
        tolerance: Tolerance::Within(0.35),
        why: "2 workers allocating under one GIL take turns ≈1.0x, with a heap each and no GIL ≈2.0x; ±0.35 keeps them apart",
        timing: true,
    },
    Check {
        name: "queue-processes-manager",
        concept: "threads share memory; processes have their own, so sharing needs shared memory or a Manager",
        scenario: "queue",
        // The Manager's round trips are ~1,000 times slower than a hand-over:
        // 2,000 items keep its run under a second.
        args: &["--ops", "2000"],
        metric: Metric::ThroughputOver {
            model: "processes",
            over: "manager",
        },
        // Whether a Manager, a round trip to its server per put and get, is
        // slower than the processes' own queue is the lesson. How much is the
        // queue's: gilbench's processes share a ring in shared memory (measured
        // here, busy: ≈30x the manager's items/s), CPython's multiprocessing.Queue
        // pickles each item through a pipe (≈2.4x). 1.5 lies below both and above
        // a manager that kept up (≈1). A busy machine slows the round trips most,
        // which only widens the gap: no timing figure.
        tolerance: Tolerance::Class {
            threshold: 1.5,
            above: "the manager is slower",
            below: "the manager keeps up",
        },
        why: "a Manager's round trip per put and get makes it slower than processes' own queue (≈30x simulated with shared memory, ≈2.4x in CPython, which pickles through a pipe): the behaviour is compared, split at 1.5x",
        timing: false,
    },
    Check {
        name: "io-bound-asyncio",
        concept: "asyncio: one thread, one loop; a coroutine that doesn't await stalls all the others",
        scenario: "io-bound",
        args: &["--ops", "30"],
        metric: Metric::Speedup,
        // As for io-bound: four coroutines awaiting 1 ms timers overlap their
        // waits to ≈4x on one thread; ×/÷1.3 absorbs late timers.
        tolerance: Tolerance::Factor(1.3),
        why: "4 coroutines awaiting 1 ms per op overlap to ≈4x on one thread (no overlap: 1x); ×/÷1.3 absorbs late wake-ups",
        timing: true,
    },
    Check {
        name: "cpu-bound-asyncio",
        concept: "…a coroutine that never awaits: one loop gives no parallelism",
        scenario: "cpu-bound",
        args: &["--ops", "20"],
        metric: Metric::Speedup,
        // Two coroutines that never await run one after the other on one
        // thread: ≈1.0x (0.8–1.0 here, the loop's own cost below it), where
        // parallel work would be ≈2.0x. ±0.35 keeps those apart.
        tolerance: Tolerance::Within(0.35),
        why: "2 coroutines that never await run one after the other: ≈1.0x (parallel would be ≈2.0x); ±0.35 keeps them apart",
        timing: true,
    },
    Check {
        name: "convoy-asyncio",
        concept: "…asyncio's convoy: a reply waits for the CPU-bound coroutine's op",
        scenario: "convoy",
        args: &[],
        metric: Metric::P50InCpuOps,
        // The reply waits for the op under way (half of one on average), then
        // the I/O coroutine waits its turn of the loop: measured here, busy, a
        // round trip was 0.77 ops simulated and 0.71 on CPython 3.11 (an op
        // ≈0.45 ms). Without the stall it would be microseconds (≈0.01 op);
        // waiting out a hog whole, hundreds of ops. ×/÷2 allows for where in
        // an op each reply lands.
        tolerance: Tolerance::Factor(2.0),
        why: "a reply waits for the op under way and a turn of the loop: ≈0.7–0.8 CPU ops on both sides (no stall ≈0.01, waiting out the hog hundreds); ×/÷2 allows for where in an op each reply lands",
        timing: true,
    },
    Check {
        name: "shared-counter-none-await-asyncio",
        concept: "…under asyncio only an await between read and write loses updates",
        scenario: "shared-counter",
        // Every op awaits: 5,000 per coroutine keep the twin's run well under a
        // second, and each await hands the loop to the other coroutine.
        args: &["--set", "sync=none-await", "--ops", "5000"],
        metric: Metric::LostShare,
        // `c = counter; await asyncio.sleep(0); counter = c + 1`: the other
        // coroutine runs at the await, reads the same value, and one of the two
        // increments is lost — half of them, on both sides. The behaviour is
        // compared, as for the threads.
        tolerance: LOSES,
        why: "each await hands the loop to the other coroutine, which read the same value: the behaviour is compared (split at 0.1%)",
        timing: false,
    },
    Check {
        name: "shared-counter-none-asyncio",
        concept: "…and `counter += 1` without an await never does",
        scenario: "shared-counter",
        args: &["--set", "sync=none", "--ops", "5000"],
        metric: Metric::LostShare,
        // Nothing takes the loop from a coroutine between its awaits, and
        // `counter += 1` has none: no update can be lost, on either side.
        tolerance: LOSES,
        why: "nothing takes the loop from a coroutine that does not await: none lost on either side (split at 0.1%)",
        timing: false,
    },
];

/// A round trip waits about a switch interval (the convoy) or microseconds.
const CONVOY_OR_NOT: Tolerance = Tolerance::Class {
    threshold: 0.5,
    above: "convoys",
    below: "wins the race",
};

/// The one model `check` compares, when it is not the GIL models against the
/// twin's threads: the simulated model and the twin's row of that name (its
/// metric's, or the model its name ends with).
pub fn own_model(check: &Check) -> Option<&'static str> {
    check.metric.model().or_else(|| {
        ["subinterpreters", "asyncio"]
            .into_iter()
            .find(|m| check.name.ends_with(&format!("-{m}")))
    })
}
/// Copies the heap or shares it. Measured here with a 32 MiB heap, 3 runs each:
/// a child that reads refcounted objects ends with 0.82–0.85 of the heap its own
/// on CPython 3.7–3.13 (not every page of its heap holds a count a read writes) and
/// 1.00 in the simulation; one that only reads, or collects after `gc.freeze()`,
/// with 0.02–0.03 on CPython 3.7–3.13 (the child's own interpreter pages) and 0.002
/// simulated. The amount is the layout's; whether the heap is copied is the
/// lesson, and a quarter lies far from both.
const COPIES: Tolerance = Tolerance::Class {
    threshold: 0.25,
    above: "copies the heap",
    below: "shares it",
};

/// Why [`COPIES`] is that wide.
const COPIES_WHY: &str = "a child either copies about the whole heap (0.82–1.0 of it here) or almost none (< 0.04): the behaviour is compared, split at a quarter";

/// Loses updates or not.
const LOSES: Tolerance = Tolerance::Class {
    threshold: 0.001,
    above: "loses updates",
    below: "loses none",
};

/// The simulated models verify compares, and what each stands for.
pub const MODELS: &[&str] = &["gil", "gil-3.9", "gil-legacy", "threads"];

/// Whether the simulated `model` stands for `interp`'s GIL.
pub fn stands_for(model: &str, interp: &Interpreter) -> bool {
    let v = interp.minor();
    match model {
        // Processes each have a GIL of their own, whatever the interpreter.
        "processes" => true,
        "threads" => interp.free_threaded,
        // The twins' coroutines need `asyncio.run` (3.7); one thread runs them,
        // so the interpreter's GIL, or none, changes nothing.
        "asyncio" => v >= (3, 7),
        _ if interp.free_threaded => false,
        "gil" => v >= (3, 10),
        "gil-3.9" => ((3, 2)..(3, 10)).contains(&v),
        "gil-legacy" => v.0 == 2,
        // A GIL per interpreter came with 3.12 (PEP 684).
        "subinterpreters" => v >= (3, 12),

        _ => false,
    }
}

/// Whether `check`'s simulated `model` is compared with `interp`: its one
/// model with every interpreter, or a GIL model with those it stands for.
pub fn compares(check: &Check, model: &str, interp: &Interpreter) -> bool {
    match own_model(check) {
        Some(only) => model == only && stands_for(model, interp),
        None => stands_for(model, interp),
    }
}

/// The checks `--check` names (all when empty); `Err` names the unknown one.
pub fn select(names: &[String]) -> Result<Vec<Check>, String> {
    if names.is_empty() {
        return Ok(CHECKS.to_vec());
    }
    let mut chosen = Vec::new();
    for name in names {
        let name = name.trim();
        // A scenario name picks every check of that scenario.
        let matching: Vec<Check> = CHECKS
            .iter()
            .filter(|c| c.name == name || c.scenario == name)
            .copied()
            .collect();
        if matching.is_empty() {
            let known: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
            return Err(format!(
                "unknown check `{name}` (checks: {})",
                known.join(", ")
            ));
        }
        for c in matching {
            if !chosen.iter().any(|k: &Check| k.name == c.name) {
                chosen.push(c);
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interp(v: (u32, u32), ft: bool) -> Interpreter {
        Interpreter {
            path: "/p".into(),
            version: (v.0, v.1, 0),
            free_threaded: ft,
        }
    }

    #[test]
    fn each_model_stands_for_its_cpythons() {
        assert!(stands_for("gil", &interp((3, 11), false)));
        assert!(!stands_for("gil", &interp((3, 9), false)));
        assert!(stands_for("gil-3.9", &interp((3, 9), false)));
        assert!(stands_for("gil-3.9", &interp((3, 6), false)));
        assert!(stands_for("gil-legacy", &interp((2, 7), false)));
        assert!(stands_for("threads", &interp((3, 13), true)));
        assert!(!stands_for("gil", &interp((3, 13), true)));
        assert!(stands_for("subinterpreters", &interp((3, 12), false)));
        assert!(!stands_for("subinterpreters", &interp((3, 11), false)));
        assert!(stands_for("asyncio", &interp((3, 7), false)));
        assert!(stands_for("asyncio", &interp((3, 13), true)));
        assert!(!stands_for("asyncio", &interp((3, 6), false)));
        assert!(!stands_for("asyncio", &interp((2, 7), false)));
    }

    fn named(name: &str) -> Check {
        *CHECKS.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn asyncio_and_queue_checks_compare_their_own_model() {
        for name in [
            "io-bound-asyncio",
            "cpu-bound-asyncio",
            "convoy-asyncio",
            "shared-counter-none-await-asyncio",
            "shared-counter-none-asyncio",
        ] {
            let c = named(name);
            assert_eq!(own_model(&c), Some("asyncio"), "{name}");
            assert!(compares(&c, "asyncio", &interp((3, 9), false)));
            assert!(!compares(&c, "gil", &interp((3, 11), false)));
            assert!(!compares(&c, "asyncio", &interp((2, 7), false)));
        }
        let queue = named("queue-processes-manager");
        assert_eq!(own_model(&queue), Some("processes"));
        assert_eq!(queue.metric.companion(), Some("manager"));
        assert!(compares(&queue, "processes", &interp((2, 7), false)));
        let alloc = named("alloc");
        assert_eq!(own_model(&alloc), None);
        assert_eq!(alloc.metric.companion(), Some("sequential"));
    }

    fn sample(wall_ns: u64, p50: u64, throughput: f64) -> Sample {
        Sample {
            wall_ns,
            throughput_ops_per_s: throughput,
            speedup: None,
            latency_ns: crate::measure::Summary {
                count: 200,
                p50,
                ..Default::default()
            },
            counter: None,
            extra: Default::default(),
            background_ops: 0,
        }
    }

    #[test]
    fn a_round_trip_in_cpu_ops_takes_the_op_from_either_side() {
        // 400 CPU ops in 200 ms: an op is 0.5 ms; a 0.35 ms round trip is 0.7 op.
        let mut sim = sample(200_000_000, 350_000, 0.0);
        sim.background_ops = 400;
        let m = Metric::P50InCpuOps;
        assert!((m.of(&sim, 0).unwrap() - 0.7).abs() < 1e-9);
        let mut twin = sample(200_000_000, 350_000, 0.0);
        twin.extra.insert("cpu_loops".into(), 200.into());
        assert!((m.of(&twin, 0).unwrap() - 0.35).abs() < 1e-9);
        // No CPU op at all (the sequential baseline): no figure.
        assert_eq!(m.of(&sample(200_000_000, 350_000, 0.0), 0), None);
    }

    #[test]
    fn a_throughput_ratio_pairs_two_rows() {
        let m = named("queue-processes-manager").metric;
        let (processes, manager) = (sample(1, 1, 40_000.0), sample(1, 1, 16_000.0));
        assert_eq!(m.of(&processes, 0), None);
        assert!((m.of_pair(&processes, &manager).unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(m.of_pair(&processes, &sample(1, 1, 0.0)), None);
    }

    #[test]
    fn selecting_by_name_or_scenario() {
        assert_eq!(select(&[]).unwrap().len(), CHECKS.len());
        let sc = select(&["shared-counter".into()]).unwrap();
        // `none` and `none-call` under the GIL models, `none-await` and `none`
        // under asyncio.
        assert_eq!(sc.len(), 4);
        assert_eq!(select(&["convoy".into()]).unwrap()[0].name, "convoy");
        assert!(select(&["nope".into()])
            .unwrap_err()
            .contains("unknown check `nope`"));
    }

    #[test]
    fn every_check_names_a_builtin_scenario_and_a_reason() {
        for c in CHECKS {
            assert!(
                crate::scenario::builtin_names().contains(&c.scenario),
                "{}",
                c.scenario
            );
            assert!(!c.why.is_empty());
        }
    }
}
