//! The checks `gilbench verify` makes: one per concept that has a number, each
//! with the scenario that shows it, the figure, and a tolerance written here
//! with the reason for its width.
//!
//! Every check is run under each simulated GIL model that an interpreter chosen
//! with `--python` stands for ([`stands_for`]): `gil` for CPython 3.10+,
//! `gil-3.9` for 3.2–3.9, `gil-legacy` for Python 2, and `threads` (no GIL) for a
//! free-threaded build. The twin's figure comes from its `threads` row: real
//! threads under that interpreter's own GIL (or none). A check of one model of
//! its own ([`own_model`]: `subinterpreters`) compares that model with the
//! twin's row of the same name, on the interpreters that have it.

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
}

impl Metric {
    /// Its name in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Speedup => "speedup",
            Metric::P50InSwitchIntervals => "p50 round trip / switch interval",
            Metric::LostShare => "lost share",
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
        }
    }

    /// Whether it needs the sequential baseline run beside the model.
    pub fn needs_sequential(&self) -> bool {
        *self == Metric::Speedup
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
        // every round trip waits. Left to the OS, a run settles in this placement
        // or in the one below, for CPython as for the simulation
        // (`workload::placement`): the placements are compared one at a time.
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
        name: "convoy-peer-beside",
        concept: "the convoy effect: an I/O thread waits up to a switch interval behind a CPU thread",
        scenario: "convoy",
        // The echo peer on the I/O worker's CPU: the reply is two switches on that
        // CPU, quicker than the wake-up sent to the CPU-bound worker on the other,
        // so the I/O worker takes the GIL back first, every time.
        args: &["--set", "pin=io-with-peer"],
        metric: Metric::P50InSwitchIntervals,
        tolerance: CONVOY_OR_NOT,
        why: "peer on the I/O worker's CPU: its reply beats the CPU worker's wake-up; compared as convoy or not, split at half an interval",
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
];

/// A round trip waits about a switch interval (the convoy) or microseconds.
const CONVOY_OR_NOT: Tolerance = Tolerance::Class {
    threshold: 0.5,
    above: "convoys",
    below: "wins the race",
};

/// The one model `check` compares, when it is not the GIL models against the
/// twin's threads: the simulated model and the twin's row of that name.
pub fn own_model(check: &Check) -> Option<&'static str> {
    check
        .name
        .ends_with("-subinterpreters")
        .then_some("subinterpreters")
}

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
        "threads" => interp.free_threaded,
        _ if interp.free_threaded => false,
        "gil" => v >= (3, 10),
        "gil-3.9" => ((3, 2)..(3, 10)).contains(&v),
        "gil-legacy" => v.0 == 2,
        // A GIL per interpreter came with 3.12 (PEP 684).
        "subinterpreters" => v >= (3, 12),
        _ => false,
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
    }

    #[test]
    fn selecting_by_name_or_scenario() {
        assert_eq!(select(&[]).unwrap().len(), CHECKS.len());
        let sc = select(&["shared-counter".into()]).unwrap();
        assert_eq!(sc.len(), 2);
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
