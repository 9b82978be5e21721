//! The repeat loop: each model runs `--warmup` unmeasured times, then its measured
//! runs, and the runs merge into one row (median, samples, spread, modes).
//!
//! Each repeat is a fresh call of the model: new threads, new processes, a new
//! manager and shared mapping, all joined, reaped and unmapped before the call
//! returns. Nothing of the loop's runs inside a repeat's measured region: the clock
//! read that sizes the default run count, the load snapshot, the conversion to a
//! report row and the progress redraw all sit between two calls.

use crate::app::progress::Progress;
use crate::cpython::{Twin, TwinError};
use crate::measure::load::Monitor;
use crate::model::RunError;
use crate::plan::{ModelKind, Plan, Repeats};
use crate::report::repeats::merge_positions;
use crate::report::RunReport;
use std::time::Instant;

/// Runs `once` as `repeats` says: warm-ups, then measured runs until the count is
/// reached (the count with the default rule is chosen from the first measured run's
/// time). Samples the machine's load after every run. Returns the measured runs.
pub fn repeat<T, E>(
    repeats: Repeats,
    monitor: &mut Monitor,
    mut announce: impl FnMut(String),
    mut once: impl FnMut() -> Result<T, E>,
) -> Result<Vec<T>, E> {
    for i in 0..repeats.warmup {
        announce(format!("warm-up {}/{}", i + 1, repeats.warmup));
        once()?;
        monitor.sample();
    }
    let mut measured = Vec::new();
    let mut total: Option<u32> = repeats.runs;
    loop {
        let n = measured.len() as u32 + 1;
        announce(match total {
            Some(total) => format!("run {n}/{total}"),
            None => format!("run {n}"),
        });
        let started = Instant::now();
        let result = once()?;
        let took = started.elapsed();
        monitor.sample();
        measured.push(result);
        let total = *total.get_or_insert_with(|| repeats.measured(took));
        if measured.len() as u32 >= total {
            return Ok(measured);
        }
    }
}

/// Runs one model of the plan with its repeats; one merged row per row the model
/// gives (several for a workload with variants). Speedups are set later, once the
/// baseline row exists ([`crate::report::repeats::apply_speedups`]).
pub fn run_model(
    plan: &Plan,
    model: ModelKind,
    progress: &Progress,
    label: &str,
    monitor: &mut Monitor,
) -> Result<Vec<RunReport>, RunError> {
    let what = format!("{label}{} under {model}", plan.scenario);
    let reps = repeat(
        plan.repeats,
        monitor,
        |step| progress.begin(format!("{what} ({step})")),
        || {
            crate::app::scenario::run_model(plan, model)
                .map(|runs| runs.into_iter().map(RunReport::new).collect::<Vec<_>>())
        },
    )?;
    Ok(merge_positions(reps))
}

/// Runs the plan's models in order, each with its repeats, one progress step each.
pub fn run_models(
    plan: &Plan,
    progress: &Progress,
    label: &str,
    monitor: &mut Monitor,
) -> Result<Vec<RunReport>, RunError> {
    let mut rows = Vec::with_capacity(plan.models.len());
    for &model in &plan.models {
        rows.extend(run_model(plan, model, progress, label, monitor)?);
        progress.end();
    }
    Ok(rows)
}

/// Runs the CPython twin as many times as a model runs (each run a fresh
/// interpreter running every model of the twin) and merges its rows.
pub fn run_twin(
    twin: &Twin,
    repeats: Repeats,
    progress: &Progress,
    label: &str,
    monitor: &mut Monitor,
) -> Result<Vec<RunReport>, TwinError> {
    let reps = repeat(
        repeats,
        monitor,
        |step| progress.begin(format!("{label}CPython twin ({step})")),
        || twin.run(),
    )?;
    Ok(merge_positions(reps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmups_then_the_count() {
        let mut monitor = Monitor::default();
        let mut calls = 0;
        let mut said = Vec::new();
        let fixed = Repeats {
            runs: Some(4),
            warmup: 2,
        };
        let out: Vec<u32> = repeat(
            fixed,
            &mut monitor,
            |s| said.push(s),
            || {
                calls += 1;
                Ok::<_, ()>(calls)
            },
        )
        .unwrap();
        assert_eq!(out, vec![3, 4, 5, 6], "warm-ups are not kept");
        assert_eq!(said[0], "warm-up 1/2");
        assert_eq!(said[2], "run 1/4");
        assert!(monitor.load().is_some_and(|l| l.samples == 6));
    }

    #[test]
    fn the_default_rule_runs_fast_models_more() {
        let mut monitor = Monitor::default();
        let out = repeat(Repeats::default(), &mut monitor, |_| {}, || Ok::<_, ()>(())).unwrap();
        assert_eq!(out.len() as u32, Repeats::MAX_RUNS);
    }

    #[test]
    fn an_error_stops_the_loop() {
        let mut monitor = Monitor::default();
        let mut calls = 0;
        let r: Result<Vec<()>, &str> = repeat(
            Repeats::default(),
            &mut monitor,
            |_| {},
            || {
                calls += 1;
                if calls == 2 {
                    Err("boom")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!((r, calls), (Err("boom"), 2));
    }
}
