//! `gilbench tour`: every built-in scenario, briefly, on one screen.
//!
//! The tour walks PRODUCT.md's table of concepts in order. Each stop runs one
//! built-in scenario with small sizes, shows the models side by side on the one
//! number that tells the story (speedup, round-trip latency, lost updates, …) and
//! says in one sentence what that number shows — computed from this run, so a
//! busy machine is called out rather than hidden. Concepts that are commands of
//! their own (`ctxswitch`, `zombie`, `--trace`) are pointed to, not run. Built-in
//! scenarios the table does not name run at the end with their own defaults.
//!
//! Stops whose effect shows in some runs and not others run each model several
//! times, and their lessons say in how many runs it showed. Sizes and counts are
//! picked so the whole tour takes under 30 s on two quiet cores; each stop also
//! gets `--timeout 20s`. A scenario that is not built in (yet) is
//! listed as such; a model that fails (not implemented, timed out) shows `–`.

use crate::app::progress::Progress;
use crate::app::repeat;
use crate::cli::{Cli, Command, TourArgs};
use crate::measure::load::Monitor;
use crate::measure::Machine;
use crate::plan::{Plan, Repeats};
use crate::report::lessons;
use crate::report::tour::{Metric, SeeAlso, StopReport, TourReport};
use crate::report::ScenarioReport;
use std::time::Instant;

/// One stop of the tour.
#[derive(Debug, Clone, Copy)]
struct Stop {
    /// The concept, as PRODUCT.md's table words it.
    concept: &'static str,
    /// The built-in scenario that shows it.
    scenario: &'static str,
    /// Extra `gilbench scenario` flags: small sizes, a `--set`.
    flags: &'static [&'static str],
    /// The number compared across models.
    metric: Metric,
    /// One sentence on what this run's numbers show.
    lesson: fn(&ScenarioReport) -> Option<String>,
}

/// A concept shown by a command rather than a scenario.
#[derive(Debug)]
struct Pointer {
    concept: &'static str,
    command: &'static str,
}

const STOPS: &[Stop] = &[
    Stop {
        concept: "The GIL gives concurrency, not parallelism: CPU-bound threads take turns",
        scenario: "cpu-bound",
        flags: &["--ops", "60"],
        metric: Metric::Speedup,
        lesson: lessons::cpu_bound,
    },
    Stop {
        concept: "Subinterpreters: a GIL per interpreter (PEP 684), processes' parallelism \
                  without a fork, after creating each interpreter",
        scenario: "cpu-bound",
        flags: &[
            "--ops",
            "60",
            "--model",
            "sequential,threads,subinterpreters,processes",
        ],
        metric: Metric::SpeedupAndStartup,
        lesson: lessons::subinterpreters,
    },
    Stop {
        concept: "The GIL is released around blocking I/O",
        scenario: "io-bound",
        flags: &[],
        metric: Metric::Speedup,
        lesson: lessons::io_bound,
    },
    Stop {
        concept:
            "The convoy effect: an I/O thread waits up to a switch interval behind a CPU thread",
        scenario: "convoy",
        flags: &[],
        metric: Metric::Tail,
        lesson: lessons::convoy,
    },
    Stop {
        concept: "Is `counter += 1` atomic under the GIL? (3.10+: in practice yes; Python 2: no)",
        scenario: "shared-counter",
        flags: &[],
        metric: Metric::Lost,
        lesson: lessons::counter_none,
    },
    Stop {
        concept: "…and with a call between read and write: never",
        scenario: "shared-counter",
        flags: &[
            "--set",
            "sync=none-call",
            "--model",
            "gil,gil-legacy,threads",
        ],
        metric: Metric::Lost,
        lesson: lessons::counter_call,
    },
    Stop {
        concept: "Threads share memory; processes need shared memory or a Manager",
        scenario: "shared-counter",
        // Few ops: every Manager increment is a socket round trip.
        flags: &[
            "--ops",
            "5000",
            "--set",
            "sync=lock",
            "--model",
            "threads,processes,manager",
        ],
        metric: Metric::Throughput,
        lesson: lessons::sharing,
    },
    Stop {
        concept: "Why CPython has a GIL: reference counts (plain, atomic, biased)",
        scenario: "refcount",
        flags: &[],
        metric: Metric::Field("refcount.corrupted", "wrong counts"),
        lesson: lessons::refcount,
    },
    Stop {
        concept: "fork copies lazily (copy-on-write); after fork even reads copy pages",
        scenario: "fork-cow",
        flags: &[
            "--model",
            "processes",
            "--set",
            "heap_mib=32",
            "--set",
            "variant=read,read-refcounted,write",
        ],
        metric: Metric::Field("private_dirty_bytes", "copied"),
        lesson: lessons::fork_cow,
    },
    Stop {
        concept: "Small objects live in per-size pools that are kept, not returned (pymalloc)",
        scenario: "alloc",
        flags: &["--ops", "50"],
        metric: Metric::Field("alloc.retained_held_bytes", "kept"),
        lesson: lessons::alloc,
    },
    Stop {
        concept: "A full garbage collection stops every thread under the GIL",
        scenario: "gc-pause",
        flags: &["--set", "objects=300000"],
        metric: Metric::Field("gc.pause_ns.max", "longest pause"),
        lesson: lessons::gc_pause,
    },
    Stop {
        concept: "Producers and consumers: a hand-over through a queue costs a GIL wait",
        scenario: "queue",
        flags: &["--ops", "20000"],
        metric: Metric::RateAndP50,
        lesson: lessons::queue,
    },
    Stop {
        concept:
            "asyncio: one thread, one loop; a coroutine that doesn't await stalls all the others",
        scenario: "convoy",
        flags: &["--ops", "50", "--model", "sequential,asyncio"],
        metric: Metric::Tail,
        lesson: lessons::asyncio_convoy,
    },
];

/// Scenarios whose effect shows in some runs and not in others (the convoy, a lost
/// update, a wrong count): their stops run [`REPEATED_RUNS`] times by default, so
/// the lesson can say in how many runs the effect showed.
const REPEATED: &[&str] = &["convoy", "shared-counter", "refcount"];

/// Runs of each model at a [`REPEATED`] stop without `--runs`: enough to tell
/// "sometimes" from "always" while the tour stays under 30 s on two cores.
const REPEATED_RUNS: u32 = 5;

/// Whether `stop` runs [`REPEATED_RUNS`] times by default: a [`REPEATED`] scenario,
/// unless the stop compares throughput (the sharing stop), which one run shows
/// whole and which costs the Manager a second a run.
fn repeated(stop: &Stop) -> bool {
    REPEATED.contains(&stop.scenario) && stop.metric != Metric::Throughput
}

const POINTERS: &[Pointer] = &[
    Pointer {
        concept: "A thread switch is cheaper than a process switch",
        command: "gilbench ctxswitch",
    },
    Pointer {
        concept: "Creating a thread, an interpreter, a fork, a spawn: what each costs",
        command: "gilbench spawn --heap 0,512M",
    },
    Pointer {
        concept: "A child never waited for is a zombie; wait() reaps",
        command: "gilbench zombie",
    },
    Pointer {
        concept: "Who holds the GIL, who waits, when it switches",
        command: "gilbench scenario convoy --trace convoy.json",
    },
];

/// Runs `gilbench tour`.
pub fn run(args: &TourArgs) -> anyhow::Result<TourReport> {
    let started = Instant::now();
    let builtins = crate::scenario::builtin_names();
    let repeats = Repeats::from_flags(args.runs, args.warmup)?;
    // `--runs` for every stop; without it, the rule above.
    let plan_for = |stop: &Stop| {
        plan_for(stop.scenario, stop.flags).map(|mut plan| {
            let runs = repeats
                .runs
                .unwrap_or(if repeated(stop) { REPEATED_RUNS } else { 1 });
            plan.repeats = Repeats {
                runs: Some(runs),
                warmup: repeats.warmup,
            };
            plan
        })
    };

    // Plans first (input errors, unknown scenarios), so the bar knows its length.
    let mut planned: Vec<(Stop, Result<Plan, String>)> = Vec::new();
    for stop in STOPS {
        let stop = *stop;
        let plan = if builtins.contains(&stop.scenario) {
            plan_for(&stop)
        } else {
            Err(format!("`{}` is not built in yet", stop.scenario))
        };
        planned.push((stop, plan));
    }
    for name in &builtins {
        if !STOPS.iter().any(|s| s.scenario == *name) {
            let stop = Stop {
                concept: "",
                scenario: name,
                flags: &[],
                metric: Metric::Speedup,
                lesson: |_| None,
            };
            let plan = plan_for(&stop);
            planned.push((stop, plan));
        }
    }
    let steps: usize = planned
        .iter()
        .filter_map(|(_, p)| p.as_ref().ok())
        .map(|p| p.models.len())
        .sum();
    let progress = Progress::new(steps as u64, args.output.quiet);
    let mut monitor = Monitor::start();

    let mut stops = Vec::new();
    for (stop, plan) in planned {
        let concept = if stop.concept.is_empty() {
            plan.as_ref().map_or(String::new(), |p| p.summary.clone())
        } else {
            stop.concept.to_string()
        };
        let mut out = StopReport {
            concept,
            scenario: stop.scenario.to_string(),
            lesson: None,
            skipped: None,
            metric: stop.metric.label().to_string(),
            failed: Vec::new(),
            report: None,
            shown_by: stop.metric,
        };
        match plan {
            Err(why) => out.skipped = Some(why),
            Ok(plan) => {
                let mut rows = Vec::new();
                for &model in &plan.models {
                    match repeat::run_model(&plan, model, &progress, "tour: ", &mut monitor) {
                        Ok(more) => rows.extend(more),
                        Err(crate::model::RunError::Interrupted) => {
                            return Err(crate::model::RunError::Interrupted.into())
                        }
                        Err(e) => out.failed.push(e.to_string()),
                    }
                    progress.end();
                }
                crate::report::repeats::apply_speedups(&mut rows);
                let report = ScenarioReport::from_rows(&plan, rows);
                out.lesson =
                    Some((stop.lesson)(&report).unwrap_or_else(|| lessons::generic(&report)));
                out.report = Some(report);
            }
        }
        stops.push(out);
    }
    progress.finish();

    let tour = TourReport {
        gilbench: crate::report::VERSION,
        kind: "tour",
        machine: Machine {
            load: monitor.load(),
            ..Machine::current()
        },
        wall_ns: crate::measure::nanos(started.elapsed()),
        stops,
        see_also: POINTERS
            .iter()
            .map(|p| SeeAlso {
                concept: p.concept.into(),
                command: p.command.into(),
            })
            .collect(),
    };
    Ok(tour)
}

/// A scenario's plan from command-line words, exactly as `gilbench scenario`
/// would build it (so the tour can never run what the CLI would refuse).
fn plan_for(scenario: &str, flags: &[&str]) -> Result<Plan, String> {
    let mut argv = vec![
        "gilbench",
        "scenario",
        scenario,
        "--timeout",
        "20s",
        "--quiet",
    ];
    argv.extend_from_slice(flags);
    let cli = <Cli as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())?;
    let Command::Scenario(args) = cli.command else {
        unreachable!("parsed a scenario command")
    };
    Plan::from_args(&args).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_with_a_builtin_scenario_plans() {
        let builtins = crate::scenario::builtin_names();
        for stop in STOPS.iter().filter(|s| builtins.contains(&s.scenario)) {
            if let Err(e) = plan_for(stop.scenario, stop.flags) {
                panic!("{}: {e}", stop.scenario);
            }
        }
        assert!(plan_for("no-such-scenario", &[]).is_err());
    }
}
