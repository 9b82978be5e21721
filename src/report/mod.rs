//! Reports: one serialisable result per command, and exporters from it to bytes.
//!
//! Measurements become a [`ScenarioReport`] here and nowhere else; exporters
//! (`table`, `json`, …) are pure functions of it, so they are easy to test and a new
//! format never touches measuring code.

pub mod bars;
pub mod colour;
pub mod csv;
pub mod extras;
#[cfg(test)]
mod fixture;
pub mod format;
pub mod headline;
pub mod hgrm;
pub mod lessons;
pub mod listing;
pub mod markdown;
pub mod plot;
pub mod probes;
pub mod render;
pub mod repeats;
pub mod rows;
pub mod spread_text;
pub mod sweep_plot;
pub mod table;
pub mod tour;
pub mod trace;
pub mod warnings;

use crate::measure::{nanos, Machine, Summary};
use crate::model::{ModelRun, WorkerTrace};
use crate::plan::Plan;
use crate::workload::CounterOutcome;
use serde::Serialize;

pub use crate::cli::VERSION;

/// The result of `gilbench scenario`.
#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `"scenario"`.
    pub kind: &'static str,
    /// The scenario's name.
    pub scenario: String,
    /// One line on what it shows.
    pub summary: String,
    /// Where it was measured.
    pub machine: Machine,
    /// The validated settings.
    pub config: serde_json::Value,
    /// One entry per model, in the order they ran.
    pub runs: Vec<RunReport>,
    /// The JSON keys of the figures that show this scenario's concept; the table
    /// leads with them (see [`headline`]).
    pub headline: Vec<&'static str>,
    /// What the user just saw, and why: the mechanism, from the scenario file.
    pub explanation: String,
    /// What this run's numbers showed, in one sentence drawn from them (null when
    /// the scenario has no lesson, or the rows it needs did not run).
    pub lesson: Option<String>,
    /// The context-switch cost behind each run's `ctx_switch_cost_ns` (null with
    /// `--no-calibrate`).
    pub ctx_switch_calibration: Option<crate::probe::calibrate::Calibration>,
    /// What the reader should know before trusting the figures: a busy machine, a
    /// wide spread (one sentence each, with what to do).
    pub warnings: Vec<String>,
    /// The `--timeline` strips, drawn in the terminal view between the tables and
    /// the explanation (other formats leave them to stderr).
    #[serde(skip)]
    pub timeline: Option<String>,
}

/// One model's row.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The model's name.
    pub model: String,
    /// Workers that ran.
    pub workers: usize,
    /// Ops whose latencies are reported (the foreground workers').
    pub ops: u64,
    /// Ops by all workers, including background ones.
    pub total_ops: u64,
    /// Start line to last worker done, ns.
    pub wall_ns: u64,
    /// `ops` per second of wall time.
    pub throughput_ops_per_s: f64,
    /// Throughput relative to `sequential` (null without a sequential run).
    pub speedup: Option<f64>,
    /// Per-op latency.
    pub latency_ns: Summary,
    /// User CPU time, ns.
    pub cpu_user_ns: u64,
    /// System CPU time, ns.
    pub cpu_sys_ns: u64,
    /// Voluntary context switches.
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches.
    pub involuntary_ctx_switches: u64,
    /// Minor page faults.
    pub minor_faults: u64,
    /// Estimated cost of this run's context switches, ns: voluntary × the
    /// cross-CPU and involuntary × the same-CPU cost of `ctx_switch_calibration`
    /// (null with `--no-calibrate`).
    pub ctx_switch_cost_ns: Option<u64>,
    /// Time to start workers (processes), ns; null for thread models.
    pub startup_ns: Option<u64>,
    /// GIL statistics, null without a GIL.
    pub gil: Option<GilReport>,
    /// Lost updates, null for workloads without a counter.
    pub counter: Option<CounterOutcome>,
    /// Scenario-specific fields.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The merged latency histogram (for `.hgrm` files and plots).
    #[serde(skip)]
    pub histogram: crate::measure::Histogram,
    /// Trace events kept and dropped (only when tracing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<trace::counts::TraceCounts>,
    /// Per-worker traces (with `--trace`).
    #[serde(skip)]
    pub traces: Vec<WorkerTrace>,
    /// Repeats: how many, each one's figures, their spread and modes.
    #[serde(flatten)]
    pub repeat: repeats::RepeatStats,
}

/// GIL statistics of one run.
#[derive(Debug, Serialize)]
pub struct GilReport {
    /// Times any thread took the GIL.
    pub acquisitions: u64,
    /// Times a waiter set the drop request (null where not measured: a traced
    /// CPython twin's probes see takes and drops, not the request itself).
    pub drop_requests: Option<u64>,
    /// Times a holder dropped on request and waited for another to take it
    /// (null where not measured, as `drop_requests`).
    pub forced_switches: Option<u64>,
    /// Time the GIL was held / wall time.
    pub hold_fraction: f64,
    /// Wait per acquisition.
    pub wait_ns: Summary,
}

impl ScenarioReport {
    /// Builds the report from the model runs, in order.
    pub fn new(plan: &Plan, runs: Vec<ModelRun>) -> ScenarioReport {
        let mut rows: Vec<RunReport> = runs
            .into_iter()
            .filter_map(|run| repeats::merge(vec![RunReport::new(run)]))
            .collect();
        repeats::apply_speedups(&mut rows);
        ScenarioReport::from_rows(plan, rows)
    }

    /// Prices every run's context switches with `calibration` (see
    /// [`crate::probe::calibrate`]); without one, every estimate stays null.
    ///
    /// The estimate is capped at the run's CPU time (user + system): it prices each
    /// switch at a calibrated median that includes waking an idle CPU, which a run
    /// with many switches on busy CPUs does not pay each time, so uncapped it can
    /// exceed the run's own time (a Manager run's socket round trips). Switching is
    /// work the CPUs do for the run, so its CPU time bounds it.
    pub fn price_switches(&mut self, calibration: Option<crate::probe::calibrate::Calibration>) {
        self.ctx_switch_calibration = calibration;
        for run in &mut self.runs {
            run.ctx_switch_cost_ns = calibration.map(|c| {
                c.cost_ns(run.voluntary_ctx_switches, run.involuntary_ctx_switches)
                    .min(run.cpu_user_ns + run.cpu_sys_ns)
            });
        }
    }

    /// The report of rows already merged from their repeats.
    pub fn from_rows(plan: &Plan, runs: Vec<RunReport>) -> ScenarioReport {
        ScenarioReport {
            gilbench: VERSION,
            kind: "scenario",
            scenario: plan.scenario.clone(),
            summary: plan.summary.clone(),
            machine: Machine::current(),
            config: plan.config_json(),
            runs,
            headline: headline::of(&plan.workload_kind).keys(),
            explanation: plan.explanation.clone(),
            lesson: None,
            ctx_switch_calibration: None,
            warnings: Vec::new(),
            timeline: None,
        }
    }
}

/// Whether `run`'s context-switch estimate was capped at its CPU time.
pub fn switch_cost_capped(run: &RunReport) -> bool {
    let cpu = run.cpu_user_ns + run.cpu_sys_ns;
    run.ctx_switch_cost_ns.is_some_and(|c| c > 0 && c >= cpu)
}

fn throughput(run: &ModelRun) -> f64 {
    let secs = run.wall.as_secs_f64();
    if secs > 0.0 {
        run.ops as f64 / secs
    } else {
        0.0
    }
}

impl RunReport {
    /// One measured run as a row of its own (speedup unset: see
    /// [`repeats::apply_speedups`]).
    pub fn new(run: ModelRun) -> RunReport {
        let tput = throughput(&run);
        let wall_ns = nanos(run.wall);
        let gil = run.gil.as_ref().map(|g| GilReport {
            acquisitions: g.acquisitions,
            drop_requests: Some(g.drop_requests),
            forced_switches: Some(g.forced_switches),
            hold_fraction: if wall_ns > 0 {
                nanos(run.gil_held) as f64 / wall_ns as f64
            } else {
                0.0
            },
            wait_ns: Summary::of(&g.wait),
        });
        RunReport {
            model: run.model.name().to_string(),
            workers: run.workers,
            ops: run.ops,
            total_ops: run.total_ops,
            wall_ns,
            throughput_ops_per_s: tput,
            speedup: None,
            latency_ns: Summary::of(&run.latency),
            cpu_user_ns: run.usage.cpu_user_ns,
            cpu_sys_ns: run.usage.cpu_sys_ns,
            voluntary_ctx_switches: run.usage.voluntary_ctx_switches,
            involuntary_ctx_switches: run.usage.involuntary_ctx_switches,
            minor_faults: run.usage.minor_faults,
            ctx_switch_cost_ns: None,
            startup_ns: run.startup.map(nanos),
            gil,
            counter: run.outcome.counter,
            extra: run.outcome.extra,
            histogram: run.latency,
            trace: trace::counts::TraceCounts::of(&run.traces),
            traces: run.traces,
            repeat: repeats::RepeatStats::default(),
        }
    }
}
