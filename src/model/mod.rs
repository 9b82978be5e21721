//! Concurrency models: how a workload's workers are run.
//!
//! Every model runs the same [`worker::run_worker`] loop; they differ only in what a
//! worker is (a turn on one thread, an OS thread, a process, a thread in an
//! interpreter of its own) and which lock it must hold. Each returns a [`ModelRun`]: raw measurements, not yet a report. The
//! fork-cow experiment is the exception: its runs are variants, not an op loop,
//! and [`fork_cow`] runs them.

pub mod asyncio;
pub mod fork_cow;
mod manager;
pub mod processes;
mod sequential;
mod subinterpreters;
mod threaded;
pub mod worker;

use crate::measure::{new_histogram, Histogram, RusageDelta};
use crate::plan::{ModelKind, Plan};
use crate::runtime::interp::GilStats;
use crate::runtime::trace::Event;
use crate::workload::Outcome;
use std::time::Duration;

/// A run that failed: exit code 1 (130 for an interruption).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A worker returned an error or panicked.
    #[error("{model}: worker {index} failed: {message}")]
    WorkerFailed {
        /// The model.
        model: ModelKind,
        /// The worker's index.
        index: usize,
        /// What went wrong.
        message: String,
    },
    /// Workers still running at the timeout (none named when the run as a whole
    /// took too long: a long setup, or results read after the deadline).
    #[error("{model}: timed out after {timeout:?}{}", still_running(workers))]
    Timeout {
        /// The model.
        model: ModelKind,
        /// `--timeout`.
        timeout: Duration,
        /// Indexes of the workers that had not finished.
        workers: Vec<usize>,
    },
    /// The model is not available in this build.
    #[error("model `{0}` is not implemented yet")]
    Unsupported(ModelKind),
    /// The OS refused something (a thread, a mapping).
    #[error("{model}: {what}")]
    Os {
        /// The model.
        model: ModelKind,
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

/// "; workers still running: 3 (0-1, 7)", or nothing when none is named. Runs of
/// consecutive indices are folded into ranges, and only the first few ranges are
/// listed, so a thousand stuck workers still make one short line.
fn still_running(workers: &[usize]) -> String {
    const SHOWN: usize = 8;
    if workers.is_empty() {
        return String::new();
    }
    let mut sorted = workers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &w in &sorted {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == w => *end = w,
            _ => ranges.push((w, w)),
        }
    }
    let mut listed: Vec<String> = ranges
        .iter()
        .take(SHOWN)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if ranges.len() > SHOWN {
        listed.push("…".into());
    }
    format!(
        "; workers still running: {} ({})",
        sorted.len(),
        listed.join(", ")
    )
}

/// One worker's trace, ready for exporters.
#[derive(Debug, Clone)]
pub struct WorkerTrace {
    /// The OS process the worker ran in.
    pub pid: u32,
    /// Worker index.
    pub index: usize,
    /// Its role (`cpu`, `io`, …).
    pub role: &'static str,
    /// Events, ns since the run's epoch.
    pub events: Vec<Event>,
    /// Events not kept (over `--trace-limit`).
    pub dropped: u64,
}

/// What one model measured.
#[derive(Debug)]
pub struct ModelRun {
    /// The model.
    pub model: ModelKind,
    /// Workers that ran.
    pub workers: usize,
    /// Ops completed by foreground workers (those whose latencies are reported).
    pub ops: u64,
    /// Ops completed by all workers.
    pub total_ops: u64,
    /// From the start line until the last worker finished.
    pub wall: Duration,
    /// Foreground workers' op latencies, merged.
    pub latency: Histogram,
    /// GIL statistics merged over workers; `None` without a GIL.
    pub gil: Option<GilStats>,
    /// Time the GIL was held, summed over workers.
    pub gil_held: Duration,
    /// CPU time, context switches, faults.
    pub usage: RusageDelta,
    /// What the workload reports (counters, extras).
    pub outcome: Outcome,
    /// Time to start the workers (processes), shown apart from the work.
    pub startup: Option<Duration>,
    /// Per-worker traces (empty unless tracing).
    pub traces: Vec<WorkerTrace>,
}

/// Runs `plan`'s workload under `model`.
pub fn run(plan: &Plan, model: ModelKind) -> Result<ModelRun, RunError> {
    match model {
        ModelKind::Sequential => sequential::run(plan),
        ModelKind::Gil | ModelKind::Gil39 | ModelKind::GilLegacy | ModelKind::Threads => {
            threaded::run(plan, model)
        }
        ModelKind::Processes => processes::run(plan),
        ModelKind::Manager => manager::run(plan),
        ModelKind::Asyncio => asyncio::run(plan),
        ModelKind::Subinterpreters => subinterpreters::run(plan),
    }
}

/// Merges per-worker results into a [`ModelRun`] (without usage and outcome).
fn merge(
    plan: &Plan,
    model: ModelKind,
    results: Vec<worker::WorkerResult>,
    wall: Duration,
    pid: u32,
) -> ModelRun {
    let mut latency = new_histogram();
    let mut gil = GilStats::default();
    let mut held = Duration::ZERO;
    let (mut ops, mut total_ops) = (0, 0);
    let mut traces = Vec::new();
    let specs = plan.workload.workers();
    for r in results {
        total_ops += r.ops;
        if r.foreground {
            ops += r.ops;
            latency
                .add(&r.latency)
                .expect("latency histograms share their bounds");
        }
        gil.merge(&r.gil);
        let not_held =
            Duration::from_nanos(r.gil.waited_ns + r.gil.released_ns + r.gil.switch_wait_ns);
        held += r.busy.saturating_sub(not_held);
        if plan.trace.enabled {
            traces.push(WorkerTrace {
                pid,
                index: r.index,
                role: specs[r.index].role,
                events: r.events,
                dropped: r.dropped_events,
            });
        }
    }
    let has_gil = matches!(
        model,
        ModelKind::Gil
            | ModelKind::Gil39
            | ModelKind::GilLegacy
            | ModelKind::Processes
            | ModelKind::Subinterpreters
    );
    ModelRun {
        model,
        workers: specs.len(),
        ops,
        total_ops,
        wall,
        latency,
        gil: has_gil.then_some(gil),
        // One GIL can be held at most all the time; the per-worker accounting
        // (busy − waited − released) can overshoot by clock-read jitter.
        gil_held: match model {
            ModelKind::Gil | ModelKind::Gil39 | ModelKind::GilLegacy => held.min(wall),
            _ if has_gil => held,
            _ => Duration::ZERO,
        },
        usage: RusageDelta::default(),
        outcome: Outcome::default(),
        startup: None,
        traces,
    }
}

/// The plan for `gilbench scenario ARGS`, for the models' unit tests (which then
/// swap in a workload of their own).
#[cfg(test)]
pub(crate) fn test_plan(args: &[&str]) -> Plan {
    let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(
        ["gilbench", "scenario"].iter().chain(args),
    )
    .expect("a scenario command line");
    match cli.command {
        crate::cli::Command::Scenario(args) => Plan::from_args(&args).expect("a plan"),
        _ => unreachable!("a scenario command"),
    }
}

#[cfg(test)]
mod tests {
    use super::still_running;

    #[test]
    fn still_running_names_nothing_when_none_is_known() {
        assert_eq!(still_running(&[]), "");
    }

    #[test]
    fn still_running_folds_consecutive_workers_into_ranges() {
        assert_eq!(
            still_running(&[7, 0, 1, 2, 4]),
            "; workers still running: 5 (0-2, 4, 7)"
        );
    }

    #[test]
    fn a_thousand_stuck_workers_make_one_short_line() {
        let stuck: Vec<usize> = (0..1000).filter(|w| w % 50 != 19).collect();
        let line = still_running(&stuck);
        assert!(line.starts_with("; workers still running: 980 (0-18, 20-68, "));
        assert!(line.ends_with(", …)"), "{line}");
        assert!(line.len() < 120, "{line}");
    }
}
