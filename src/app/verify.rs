//! `gilbench verify`, run: for each check, the scenario under every simulated
//! model an interpreter stands for, then the scenario's twin on each of those
//! interpreters, each repeated `--runs` times; then the verdicts
//! ([`crate::verify`]) and the report.
//!
//! Each check's scenario runs through the same path as `gilbench scenario`
//! (its flags parsed into a plan, [`repeat::run_models`], [`repeat::run_twin`]),
//! so verify measures exactly what a user would see. The machine's load is
//! watched per check: a timing figure measured while the machine was busy is
//! `inconclusive`, not `differs`.

use crate::app::progress::Progress;
use crate::app::repeat;
use crate::cli::{Cli, Command, ScenarioArgs, VerifyArgs};
use crate::cpython::interpreters::{self, Interpreter};
use crate::cpython::{Twin, TwinError};
use crate::measure::load::Monitor;
use crate::measure::Machine;
use crate::model::RunError;
use crate::output::Output;
use crate::plan::InputError;
use crate::report::RunReport;
use crate::verify::checks::{self, Check, MODELS};
use crate::verify::judge::{self, Figure, Verdict};
use crate::verify::{CheckResult, CpythonValue, VerifyReport};
use anyhow::Context;

/// Runs per figure when `--runs` is not given: a median of three outvotes one
/// disturbed run, and keeps the default under three minutes on two cores.
const DEFAULT_RUNS: u32 = 3;

/// Longest a single model or twin run may take before it is stopped.
const TIMEOUT: &str = "120s";

/// Runs `gilbench verify`.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let runs = match args.runs {
        None => DEFAULT_RUNS,
        Some(n) if (1..=50).contains(&n) => n as u32,
        Some(n) => return Err(InputError::flag("--runs", format!("{n}: give 1 to 50")).into()),
    };
    let checks = checks::select(&args.check).map_err(|why| InputError::flag("--check", why))?;
    let interps = match interpreters::choose(&args.python)? {
        Some(choice) => choice.interpreters,
        None => {
            eprintln!(
                "gilbench: verify: {} is not on the PATH; every check is skipped",
                interpreters::DEFAULT_NAME
            );
            Vec::new()
        }
    };
    let output = Output::open(&args.output)?;

    let plans: Vec<(Check, Vec<&str>, Vec<&Interpreter>)> = checks
        .iter()
        .map(|c| {
            let candidates: Vec<&str> = match checks::own_model(c) {
                Some(only) => vec![only],
                None => MODELS.to_vec(),
            };
            let models: Vec<&str> = candidates
                .into_iter()
                .filter(|m| interps.iter().any(|i| checks::compares(c, m, i)))
                .collect();
            let used: Vec<&Interpreter> = interps
                .iter()
                .filter(|i| models.iter().any(|m| checks::compares(c, m, i)))
                .collect();
            (*c, models, used)
        })
        .collect();
    let steps: usize = plans
        .iter()
        .map(|(c, m, i)| m.len() + usize::from(c.metric.companion().is_some()) + i.len())
        .sum();
    let progress = Progress::new(steps as u64, args.output.quiet);
    let mut whole = Monitor::start();
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for (check, models, used) in &plans {
        results.extend(run_check(
            check,
            models,
            used,
            runs,
            &progress,
            &mut failed,
            &mut whole,
        )?);
    }
    progress.finish();

    let mut machine = Machine::current();
    machine.load = whole.load();
    let report = VerifyReport::new(
        machine,
        interps.iter().map(Interpreter::json).collect(),
        results,
        failed,
    );
    crate::app::emit(&report, &args.output, output)?;
    if report.differs > 0 || !report.failed.is_empty() {
        anyhow::bail!(
            "verify: {} check(s) differ, {} twin(s) failed",
            report.differs,
            report.failed.len()
        );
    }
    Ok(())
}

/// The scenario flags of one check, as `gilbench scenario` would parse them.
fn scenario_args(check: &Check, models: &[&str], runs: u32) -> anyhow::Result<ScenarioArgs> {
    let mut argv: Vec<String> = vec!["gilbench".into(), "scenario".into(), check.scenario.into()];
    argv.extend(check.args.iter().map(|s| s.to_string()));
    let mut all: Vec<&str> = Vec::new();
    // The baseline of a speedup, the divisor of a ratio.
    all.extend(check.metric.companion());
    all.extend(models);
    argv.extend([
        "--model".into(),
        all.join(","),
        "--runs".into(),
        runs.to_string(),
        "--timeout".into(),
        TIMEOUT.into(),
        "--no-calibrate".into(),
        "--quiet".into(),
    ]);
    let cli = <Cli as clap::Parser>::try_parse_from(&argv)
        .with_context(|| format!("verify's own flags for {}: {argv:?}", check.name))?;
    match cli.command {
        Command::Scenario(a) => Ok(a),
        _ => unreachable!("the command line says `scenario`"),
    }
}

/// Runs one check; one result per simulated model (and a skipped one for each
/// GIL model no interpreter stands for).
fn run_check(
    check: &Check,
    models: &[&str],
    used: &[&Interpreter],
    runs: u32,
    progress: &Progress,
    failed: &mut Vec<String>,
    whole: &mut Monitor,
) -> anyhow::Result<Vec<CheckResult>> {
    let skipped_row = |model: &str| CheckResult {
        concept: check.concept.into(),
        check: check.name.into(),
        scenario: check.scenario.into(),
        metric: check.metric.name().into(),
        model: model.into(),
        simulated: None,
        cpython: Vec::new(),
        tolerance: check.tolerance.rule(),
        tolerance_why: check.why.into(),
        verdict: Verdict::Skipped,
        note: "no interpreter for it in --python".into(),
    };
    // The rows of the result: the check's one model, or the three GIL models
    // (and `threads` when a free-threaded interpreter was chosen).
    let shown: Vec<&str> = match checks::own_model(check) {
        Some(only) => vec![only],
        None => MODELS
            .iter()
            .copied()
            .take(3)
            .chain(models.iter().copied().filter(|m| *m == "threads"))
            .collect(),
    };
    if models.is_empty() {
        // Nothing to compare: each row skipped, without running anything.
        return Ok(shown.iter().map(|m| skipped_row(m)).collect());
    }
    let twin_model = checks::own_model(check).unwrap_or("threads");
    let args = scenario_args(check, models, runs)?;
    let steps = crate::plan::sweep::steps(&args)?;
    let plan = &steps[0].plan;
    let switch_interval_ns = plan.gil.switch_interval.as_nanos() as u64;
    let mut monitor = Monitor::start();
    let label = format!("verify {}: ", check.name);
    let mut rows = repeat::run_models(plan, progress, &label, &mut monitor)?;
    crate::report::repeats::apply_speedups(&mut rows);
    whole.sample();

    // One twin per interpreter: its `threads` row (or the check's own model's),
    // and `sequential` baseline.
    let mut twin_figures: Vec<(&Interpreter, Result<Figure, String>)> = Vec::new();
    for interp in used {
        let figure = match Twin::prepare(plan, &args, interp, "cpython-") {
            Ok(twin) => {
                let what = format!("{label}{} ", interp.short());
                match repeat::run_twin(&twin, plan.repeats, progress, &what, &mut monitor) {
                    Ok(mut twin_rows) => {
                        crate::report::repeats::apply_speedups(&mut twin_rows);
                        figure_of(
                            &twin_rows,
                            "cpython-",
                            twin_model,
                            check,
                            switch_interval_ns,
                        )
                        .ok_or_else(|| format!("the twin printed no cpython-{twin_model} figure"))
                    }
                    Err(TwinError::Interrupted) => return Err(RunError::Interrupted.into()),
                    Err(TwinError::Limit(why)) => return Err(anyhow::anyhow!(why)),
                    Err(TwinError::Failed(why)) => {
                        failed.push(format!(
                            "{} on {}: {why}",
                            check.name,
                            interp.full_version()
                        ));
                        Err(format!("failed: {why}"))
                    }
                    Err(TwinError::Skipped(why)) => Err(why),
                }
            }
            Err(TwinError::Interrupted) => return Err(RunError::Interrupted.into()),
            Err(TwinError::Limit(why)) => return Err(anyhow::anyhow!(why)),
            Err(TwinError::Failed(why)) => {
                failed.push(format!(
                    "{} on {}: {why}",
                    check.name,
                    interp.full_version()
                ));
                Err(format!("failed: {why}"))
            }
            Err(TwinError::Skipped(why)) => Err(skip_words(&why)),
        };
        progress.end();
        twin_figures.push((interp, figure));
        whole.sample();
    }
    let load = monitor.load();
    let busy = if check.timing {
        load.as_ref().and_then(|l| l.busy())
    } else {
        None
    };

    let mut results = Vec::new();
    for model in &shown {
        if !models.contains(model) {
            results.push(skipped_row(model));
            continue;
        }
        let sim = figure_of(&rows, "", model, check, switch_interval_ns)
            .unwrap_or_else(|| Figure::new(vec![]));
        let mut values = Vec::new();
        for (interp, fig) in twin_figures
            .iter()
            .filter(|(i, _)| checks::compares(check, model, i))
        {
            let (verdict, note, value) = match fig {
                Ok(real) => {
                    let (v, n) = judge::judge_one(&check.tolerance, &sim, real, busy.as_deref());
                    (v, n, real.spread())
                }
                Err(why) => (Verdict::Skipped, why.clone(), None),
            };
            values.push(CpythonValue {
                interpreter: interp.full_version(),
                value,
                verdict,
                note,
            });
        }
        let verdicts: Vec<Verdict> = values.iter().map(|v| v.verdict).collect();
        let verdict = judge::combine(&verdicts);
        // The check's note: the one reason all interpreters share, if they do.
        let note = match values.first() {
            Some(first) if values.iter().all(|v| v.note == first.note) => first.note.clone(),
            _ => String::new(),
        };
        results.push(CheckResult {
            concept: check.concept.into(),
            check: check.name.into(),
            scenario: check.scenario.into(),
            metric: check.metric.name().into(),
            model: model.to_string(),
            simulated: sim.spread(),
            cpython: values,
            tolerance: check.tolerance.rule(),
            tolerance_why: check.why.into(),
            verdict,
            note,
        });
    }
    Ok(results)
}

/// `cpython2.7-*: skipped: needs Python ≥ 3.7 (…)` → `skipped: needs Python ≥ 3.7`.
fn skip_words(why: &str) -> String {
    why.split_once("skipped: ")
        .map(|(_, rest)| {
            let rest = rest.split(" (").next().unwrap_or(rest);
            format!("skipped: {rest}")
        })
        .unwrap_or_else(|| why.to_string())
}

/// The figure of row `PREFIX MODEL` over its repeats (`prefix`: `cpython-` for
/// a twin's rows, empty for gilbench's). A ratio's figure pairs each repeat with
/// the same repeat of its companion's row.
fn figure_of(
    rows: &[RunReport],
    prefix: &str,
    model: &str,
    check: &Check,
    switch_interval_ns: u64,
) -> Option<Figure> {
    fn variant(r: &RunReport) -> Option<&str> {
        r.extra.get("variant").and_then(|v| v.as_str())
    }
    let find = |model: &str| {
        rows.iter().find(|r| {
            r.model.strip_prefix(prefix) == Some(model)
                && check.metric.variant().is_none_or(|v| variant(r) == Some(v))
        })
    };
    let row = find(model)?;
    let samples: Vec<f64> = match check.metric {
        checks::Metric::ThroughputOver { over, .. } => {
            let other = find(over)?;
            row.repeat
                .samples
                .iter()
                .zip(&other.repeat.samples)
                .filter_map(|(s, o)| check.metric.of_pair(s, o))
                .collect()
        }
        _ => row
            .repeat
            .samples
            .iter()
            .filter_map(|s| check.metric.of(s, switch_interval_ns))
            .collect(),
    };
    (!samples.is_empty()).then(|| Figure::new(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_parses_as_a_scenario_command_line() {
        for check in checks::CHECKS {
            let models = match checks::own_model(check) {
                Some(only) => vec![only],
                None => vec!["gil", "gil-legacy"],
            };
            let args = scenario_args(check, &models, 2).unwrap();
            assert_eq!(args.scenario, check.scenario);
            assert!(args.model.contains(&models[models.len() - 1].to_string()));
            crate::plan::sweep::steps(&args).unwrap();
        }
    }

    #[test]
    fn skip_words_keep_the_reason() {
        assert_eq!(
            skip_words("cpython2.7-*: skipped: needs Python ≥ 3.7 (x.py on 2.7.18)"),
            "skipped: needs Python ≥ 3.7"
        );
    }
}
