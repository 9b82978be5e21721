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
//! Sizes are picked so the whole tour takes well under a minute on two cores;
//! each stop also gets `--timeout 20s`. A scenario that is not built in (yet) is
//! listed as such; a model that fails (not implemented, timed out) shows `–`.

use crate::app::progress::Progress;
use crate::cli::{Cli, Command, Format, TourArgs};
use crate::measure::Machine;
use crate::output::Output;
use crate::plan::Plan;
use crate::report::bars::{run_label, times};
use crate::report::colour::{Palette, Style};
use crate::report::format::{duration_ns, rate};
use crate::report::rows::{Cell, Row, Tabular};
use crate::report::{RunReport, ScenarioReport};
use anyhow::Context;
use serde::Serialize;
use std::time::Instant;

/// The number a stop compares across models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    /// Throughput against sequential.
    Speedup,
    /// Operations per second.
    Throughput,
    /// Median and 99th-percentile op latency.
    Tail,
    /// Lost updates, as a share of increments.
    Lost,
    /// Any flattened field of a run (`refcount.corrupted`), formatted by its key,
    /// and the words to show for it.
    Field(&'static str, &'static str),
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Metric::Speedup => "speedup",
            Metric::Throughput => "ops/s",
            Metric::Tail => "p50 / p99",
            Metric::Lost => "lost updates",
            Metric::Field(_, label) => label,
        }
    }

    fn show(self, run: &RunReport) -> String {
        match self {
            Metric::Speedup => run.speedup.map_or("–".into(), times),
            Metric::Throughput => rate(run.throughput_ops_per_s),
            Metric::Tail => format!(
                "{} / {}",
                duration_ns(run.latency_ns.p50),
                duration_ns(run.latency_ns.p99)
            ),
            Metric::Lost => run
                .counter
                .map_or("–".into(), |c| format!("{:.1}%", lost_pct(c))),
            Metric::Field(key, _) => Row::of(&[], run)
                .get(key)
                .map_or("–".into(), |c| crate::report::markdown::value(key, c)),
        }
    }
}

fn lost_pct(c: crate::workload::CounterOutcome) -> f64 {
    if c.expected == 0 {
        0.0
    } else {
        100.0 * c.lost as f64 / c.expected as f64
    }
}

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
    lesson: fn(&ScenarioReport) -> String,
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
        lesson: cpu_bound,
    },
    Stop {
        concept: "The GIL is released around blocking I/O",
        scenario: "io-bound",
        flags: &[],
        metric: Metric::Speedup,
        lesson: io_bound,
    },
    Stop {
        concept:
            "The convoy effect: an I/O thread waits up to a switch interval behind a CPU thread",
        scenario: "convoy",
        flags: &[],
        metric: Metric::Tail,
        lesson: convoy,
    },
    Stop {
        concept: "Is `counter += 1` atomic under the GIL? (3.10+: in practice yes; Python 2: no)",
        scenario: "shared-counter",
        flags: &[],
        metric: Metric::Lost,
        lesson: counter_none,
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
        lesson: counter_call,
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
        lesson: sharing,
    },
    Stop {
        concept: "Why CPython has a GIL: reference counts (plain, atomic, biased)",
        scenario: "refcount",
        flags: &[],
        metric: Metric::Field("refcount.corrupted", "wrong counts"),
        lesson: refcount,
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
        lesson: fork_cow,
    },
    Stop {
        concept: "Small objects live in per-size pools that are kept, not returned (pymalloc)",
        scenario: "alloc",
        flags: &["--ops", "50"],
        metric: Metric::Field("alloc.retained_held_bytes", "kept"),
        lesson: alloc,
    },
    Stop {
        concept: "A full garbage collection stops every thread under the GIL",
        scenario: "gc-pause",
        flags: &["--set", "objects=300000"],
        metric: Metric::Field("gc.pause_ns.max", "longest pause"),
        lesson: gc_pause,
    },
];

const POINTERS: &[Pointer] = &[
    Pointer {
        concept: "A thread switch is cheaper than a process switch",
        command: "gilbench ctxswitch",
    },
    Pointer {
        concept: "Creating a thread, a fork, a spawn: what each costs",
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

/// Every stop's outcome.
#[derive(Debug, Serialize)]
pub struct TourReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `"tour"`.
    pub kind: &'static str,
    /// Where it ran.
    pub machine: Machine,
    /// Wall time of the whole tour, ns.
    pub wall_ns: u64,
    /// The stops, in order.
    pub stops: Vec<StopReport>,
    /// Concepts shown by other commands.
    pub see_also: Vec<SeeAlso>,
}

/// One stop: the concept, the scenario's report, and the lesson.
#[derive(Debug, Serialize)]
pub struct StopReport {
    /// The concept.
    pub concept: String,
    /// The scenario run.
    pub scenario: String,
    /// What the numbers show (null when skipped).
    pub lesson: Option<String>,
    /// Why it did not run (null when it ran).
    pub skipped: Option<String>,
    /// The compared number's name.
    pub metric: String,
    /// Models that failed, with why.
    pub failed: Vec<String>,
    /// The scenario's full report.
    pub report: Option<ScenarioReport>,
    /// How to show the compared number.
    #[serde(skip)]
    shown_by: Metric,
}

/// A concept shown by another command.
#[derive(Debug, Serialize)]
pub struct SeeAlso {
    /// The concept.
    pub concept: String,
    /// The command to run.
    pub command: String,
}

/// Runs `gilbench tour`.
pub fn run(args: &TourArgs) -> anyhow::Result<()> {
    let output = Output::open(&args.output)?;
    let started = Instant::now();
    let builtins = crate::scenario::builtin_names();

    // Plans first (input errors, unknown scenarios), so the bar knows its length.
    let mut planned: Vec<(Stop, Result<Plan, String>)> = Vec::new();
    for stop in STOPS {
        let stop = *stop;
        let plan = if builtins.contains(&stop.scenario) {
            plan_for(stop.scenario, stop.flags)
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
                lesson: generic,
            };
            let plan = plan_for(name, &[]);
            planned.push((stop, plan));
        }
    }
    let steps: usize = planned
        .iter()
        .filter_map(|(_, p)| p.as_ref().ok())
        .map(|p| p.models.len())
        .sum();
    let progress = Progress::new(steps as u64, args.output.quiet);

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
                let mut runs = Vec::new();
                for &model in &plan.models {
                    progress.begin(format!("tour: {} under {model}", plan.scenario));
                    match crate::app::scenario::run_model(&plan, model) {
                        Ok(more) => runs.extend(more),
                        Err(crate::model::RunError::Interrupted) => {
                            return Err(crate::model::RunError::Interrupted.into())
                        }
                        Err(e) => out.failed.push(e.to_string()),
                    }
                    progress.end();
                }
                let report = ScenarioReport::new(&plan, runs);
                out.lesson = Some((stop.lesson)(&report));
                out.report = Some(report);
            }
        }
        stops.push(out);
    }
    progress.finish();

    let tour = TourReport {
        gilbench: crate::report::VERSION,
        kind: "tour",
        machine: Machine::current(),
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
    let bytes = match args.output.format {
        Format::Json => crate::report::json::render(&tour),
        Format::Csv => crate::report::csv::render(&tour),
        Format::Markdown => crate::report::markdown::render(&tour),
        Format::Table => render(&tour, Palette::for_stdout(args.output.output.is_some())),
    };
    output.write(&bytes).context("writing the tour")
}

/// Word-wraps `text` to `width` columns: `first` before the first line, `rest`
/// before the others.
fn wrap(text: &str, first: &str, rest: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
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

/// The one-screen text form.
pub fn render(tour: &TourReport, palette: Palette) -> Vec<u8> {
    let mut out = String::new();
    let ran = tour.stops.iter().filter(|s| s.report.is_some()).count();
    out.push_str(&palette.paint(
        &format!(
            "gilbench tour · {} CPUs · Linux {} · {ran} stops in {}",
            tour.machine.cpus,
            tour.machine.kernel,
            duration_ns(tour.wall_ns)
        ),
        Style::Bold,
    ));
    out.push_str("\n\n");
    let mut number = 0;
    for stop in &tour.stops {
        number += 1;
        out.push_str(&format!(
            "{} {}\n",
            palette.paint(&format!("{number:>2}."), Style::Bold),
            palette.paint(&stop.concept, Style::Bold)
        ));
        let Some(report) = &stop.report else {
            let why = stop.skipped.as_deref().unwrap_or("skipped");
            out.push_str(&format!(
                "    {}\n",
                palette.paint(&format!("scenario {} — {why}", stop.scenario), Style::Dim)
            ));
            continue;
        };
        let metric = stop.shown_by;
        // Models side by side, wrapped between cells (widths from the plain text,
        // colour added after).
        let lead = format!("    {:<15} {:<13} ", stop.scenario, stop.metric);
        let indent = lead.chars().count();
        let mut line = format!(
            "    {:<15} {} ",
            stop.scenario,
            palette.paint(&format!("{:<13}", stop.metric), Style::Dim)
        );
        let mut used = indent;
        for (i, run) in report.runs.iter().enumerate() {
            let value = metric.show(run);
            let name = run_label(run);
            let width = name.chars().count() + 1 + value.chars().count();
            if used > indent && used + 3 + width > 100 {
                out.push_str(line.trim_end());
                out.push('\n');
                line = " ".repeat(indent);
                used = indent;
            } else if used > indent {
                line.push_str("   ");
                used += 3;
            }
            line.push_str(&format!(
                "{} {value}",
                palette.paint(&name, Style::Model(i))
            ));
            used += width;
        }
        out.push_str(line.trim_end());
        out.push('\n');
        for failed in &stop.failed {
            out.push_str(&format!(
                "    {}\n",
                palette.paint(&format!("– {failed}"), Style::Dim)
            ));
        }
        if let Some(lesson) = &stop.lesson {
            out.push_str(&wrap(&format!("→ {lesson}"), "    ", "      ", 100));
        }
    }
    out.push('\n');
    out.push_str(&palette.paint("Shown by other commands:", Style::Bold));
    out.push('\n');
    for p in &tour.see_also {
        out.push_str(&format!(
            "    {:<52} {}\n",
            p.concept,
            palette.paint(&p.command, Style::Dim)
        ));
    }
    out.push('\n');
    out.push_str(&wrap(
        "Next: `gilbench scenario NAME` for the full table, `--plot FILE.svg` for a picture, \
         `--cpython` to put real CPython beside the simulation.",
        "",
        "      ",
        100,
    ));
    out.into_bytes()
}

impl Tabular for TourReport {
    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, stop) in self.stops.iter().enumerate() {
            let Some(report) = &stop.report else { continue };
            let context = [
                ("stop", Cell::Number((i as u64 + 1).into())),
                ("scenario", Cell::Text(stop.scenario.clone())),
            ];
            rows.extend(report.runs.iter().map(|run| Row::of(&context, run)));
        }
        rows
    }

    fn title(&self) -> Option<String> {
        Some(format!(
            "gilbench tour · {} CPUs · Linux {}",
            self.machine.cpus, self.machine.kernel
        ))
    }

    fn notes(&self) -> Option<String> {
        let lines: Vec<String> = self
            .stops
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                Some(format!(
                    "{}. **{}** — {}",
                    i + 1,
                    s.concept,
                    s.lesson.as_ref()?
                ))
            })
            .collect();
        Some(lines.join("\n"))
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        crate::report::rows::RUN_MARKDOWN_OMITS
    }
}

// ---- lessons: one sentence from this run's numbers ----

fn find<'r>(report: &'r ScenarioReport, model: &str) -> Option<&'r RunReport> {
    report.runs.iter().find(|r| r.model == model)
}

fn speedup(report: &ScenarioReport, model: &str) -> Option<f64> {
    find(report, model)?.speedup
}

fn x(v: Option<f64>) -> String {
    v.map_or("–".into(), times)
}

fn cpu_bound(r: &ScenarioReport) -> String {
    let (g, t) = (speedup(r, "gil"), speedup(r, "threads"));
    let cores = r
        .machine
        .cpus
        .min(find(r, "threads").map_or(1, |t| t.workers));
    let mut s = format!(
        "gil ran at {} of sequential and threads at {}: under the GIL CPU-bound threads take turns; \
         without it they can use {cores} cores at once",
        x(g),
        x(t)
    );
    if t.is_some_and(|t| t < 1.2) && cores > 1 {
        s.push_str(" (threads should be near that here: the machine looks busy — rerun)");
    } else if g.is_some_and(|g| g > 1.2) {
        s.push_str(" (gil should stay near 1x: the baseline was slowed down — rerun)");
    }
    s + "."
}

fn io_bound(r: &ScenarioReport) -> String {
    format!(
        "every model overlapped the waits — gil {}, threads {} of sequential: for I/O-bound code \
         the GIL costs little.",
        x(speedup(r, "gil")),
        x(speedup(r, "threads"))
    )
}

fn convoy(r: &ScenarioReport) -> String {
    let (Some(seq), Some(gil)) = (find(r, "sequential"), find(r, "gil")) else {
        return generic(r);
    };
    let si = r.config["switch_interval_ns"].as_u64().unwrap_or(0);
    let (s, g) = (&seq.latency_ns, &gil.latency_ns);
    let verdict = if g.p50 * 2 >= si {
        "each round trip waited about a switch interval for the GIL: the convoy effect"
    } else if g.p99 * 4 >= si {
        "the slow tail is the convoy: round trips that waited up to a switch interval for the GIL"
    } else {
        "this time the I/O thread mostly got the GIL straight back; rerun, or try \
         `--set cpu_workers=2`"
    };
    format!(
        "the I/O round trip took {} alone (p99 {}) and {} under gil beside a CPU-bound thread \
         (p99 {}, switch interval {}): {verdict}.",
        duration_ns(s.p50),
        duration_ns(s.p99),
        duration_ns(g.p50),
        duration_ns(g.p99),
        duration_ns(si)
    )
}

fn lost(r: &ScenarioReport, model: &str) -> String {
    find(r, model)
        .and_then(|run| Some(lost_pct(run.counter?)))
        .map_or("–".into(), |p| format!("{p:.1}%"))
}

fn counter_none(r: &ScenarioReport) -> String {
    let (mut lost_some, mut lost_none) = (Vec::new(), Vec::new());
    for run in r.runs.iter().filter(|run| run.model != "sequential") {
        match run.counter {
            Some(c) if c.lost > 0 => {
                lost_some.push(format!("{} ({})", run.model, lost(r, &run.model)))
            }
            Some(_) => lost_none.push(run.model.clone()),
            None => {}
        }
    }
    let mut s = String::from("`counter += 1` ");
    if !lost_some.is_empty() {
        s.push_str(&format!("lost updates under {}", lost_some.join(", ")));
    }
    if !lost_none.is_empty() {
        if !lost_some.is_empty() {
            s.push_str(" and ");
        }
        s.push_str(&format!("lost none under {}", lost_none.join(", ")));
    }
    s + ": CPython 3.10+ switches only at calls and backward jumps, never mid-increment; \
         Python 2 could switch after any bytecode, and free threads race in parallel."
}

fn counter_call(r: &ScenarioReport) -> String {
    format!(
        "with a call between the read and the write, gil lost {} too: the call is a check point \
         where the GIL can change hands.",
        lost(r, "gil")
    )
}

fn sharing(r: &ScenarioReport) -> String {
    let tput = |m| find(r, m).map_or("–".into(), |run| rate(run.throughput_ops_per_s));
    format!(
        "locked increments: threads share the counter directly ({}), processes through a shared \
         mapping ({}), a Manager pays a socket round trip for each ({}).",
        tput("threads"),
        tput("processes"),
        tput("manager")
    )
}

/// `key` of the first run whose label is `label`, formatted for people.
fn field_of(r: &ScenarioReport, label: &str, key: &'static str) -> Option<String> {
    let run = r.runs.iter().find(|run| run_label(run) == label)?;
    let row = Row::of(&[], run);
    row.get(key)
        .filter(|c| !matches!(c, Cell::Null))
        .map(|c| crate::report::markdown::value(key, c))
}

fn refcount(r: &ScenarioReport) -> String {
    let key = "refcount.corrupted";
    let wrong = |m| field_of(r, m, key).unwrap_or_else(|| "–".into());
    let threads = find(r, "threads")
        .and_then(|run| Row::of(&[], run).get(key).cloned())
        .is_some_and(|c| !matches!(c, Cell::Number(n) if n.as_u64() == Some(0)));
    if threads {
        format!(
            "free threads racing on plain counts left {} counts wrong, the GIL {}: that is why \
             CPython has one, and why free-threaded CPython needs atomic or biased (PEP 703) counts.",
            wrong("threads"),
            wrong("gil")
        )
    } else {
        "no count went wrong this run: the race needs two threads on one count at the same \
         instant, which a busy machine rarely allows; rerun, or `gilbench scenario refcount`."
            .into()
    }
}

fn fork_cow(r: &ScenarioReport) -> String {
    let copied = |variant| {
        r.runs
            .iter()
            .find(|run| run.extra.get("variant").and_then(|v| v.as_str()) == Some(variant))
            .and_then(|run| field_of(r, &run_label(run), "private_dirty_bytes"))
            .unwrap_or_else(|| "–".into())
    };
    format!(
        "a child that only reads copied {}; one whose reads touch reference counts copied {}, as \
         much as one that writes ({}): in CPython a read is a write.",
        copied("read"),
        copied("read-refcounted"),
        copied("write")
    )
}

fn alloc(r: &ScenarioReport) -> String {
    match field_of(r, "gil", "alloc.retained_held_bytes") {
        Some(kept) => format!(
            "after each op freed its objects the pools still held {kept} (under gil): pymalloc \
             keeps freed memory for reuse instead of returning it to the OS."
        ),
        None => generic(r),
    }
}

fn gc_pause(r: &ScenarioReport) -> String {
    match field_of(r, "gil", "gc.pause_ns.max") {
        Some(pause) => format!(
            "the longest collection under gil stopped the world for {pause}: a full collection \
             holds the GIL while it walks every object, so the I/O thread waits it out."
        ),
        None => generic(r),
    }
}

fn generic(r: &ScenarioReport) -> String {
    let best = r
        .runs
        .iter()
        .filter(|run| run.speedup.is_some())
        .max_by(|a, b| {
            a.speedup
                .partial_cmp(&b.speedup)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    match best {
        Some(best) => format!(
            "{} was fastest at {} of sequential. {}",
            best.model,
            x(best.speedup),
            r.summary
        ),
        None => r.summary.clone(),
    }
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

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a b c", "> ", "  ", 5), "> a b\n  c\n");
        assert_eq!(wrap("word", "", "", 2), "word\n");
    }
}
