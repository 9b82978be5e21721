//! `gilbench scenario`, end to end: everything that can fail on input is checked
//! and opened first, then the models run (with a progress bar between them), then
//! the CPython twin, and only then are files written and the report rendered.
//!
//! Nothing here runs while a model measures: the progress bar draws between
//! models from this thread (see [`crate::app::progress`]), and plotting, `.hgrm`
//! writing and colouring all work on the finished report.

use crate::app::progress::Progress;
use crate::app::repeat;
use crate::cli::{Format, ScenarioArgs};
use crate::cpython::{interpreters, Twin, TwinError};
use crate::measure::load::Monitor;
use crate::model::{self, ModelRun, RunError};
use crate::output::Output;
use crate::plan::{ModelKind, Plan};
use crate::report::hgrm::HgrmDir;
use crate::report::plot::PlotFile;
use crate::report::{self, ScenarioReport};
use anyhow::Context;
use std::io::IsTerminal;

/// Runs `gilbench scenario`.
pub fn scenario(args: &ScenarioArgs) -> anyhow::Result<()> {
    // One plan per swept value (or the one plan), every value checked before any runs.
    let steps = crate::plan::sweep::steps(args)?;
    let plan = &steps[0].plan;
    // A fork server must be forked now, while gilbench is single-threaded.
    let _forkserver = model::processes::prepare(plan)?;
    let quiet = args.output.quiet;
    // Output files first: a bad path fails in a millisecond, before any work.
    let output = Output::open(&args.output)?;
    let trace_files = report::trace::files::TraceFiles::open(
        args.trace.as_deref(),
        args.plot_timeline.as_deref(),
    )?;
    let plot = args.plot.as_deref().map(PlotFile::create).transpose()?;
    let hgrm = args.hgrm.as_deref().map(HgrmDir::create).transpose()?;
    let (twins, mut failed) = prepare_twins(&steps, args)?;
    // One line per interpreter that cannot be traced (not root, no uprobes, no symbols).
    let mut noticed: Vec<String> = Vec::new();
    for notice in twins.iter().flatten().filter_map(Twin::trace_notice) {
        if !noticed.contains(&notice) {
            eprintln!("gilbench: --cpython: {notice}");
            noticed.push(notice);
        }
    }

    // Before the bar exists: it prints a line of its own, and runs threads that
    // must be gone before a fork-based model starts (they are joined inside).
    let calibration = crate::probe::calibrate::for_scenario(args.no_calibrate, quiet);

    if !quiet {
        if let Some(note) = manager_forecast(plan) {
            eprintln!("gilbench: {note}");
        }
    }
    let twin_steps: usize = twins.iter().map(Vec::len).sum();
    let progress_steps = steps.len() * plan.models.len() + twin_steps;
    let progress = Progress::new(progress_steps as u64, quiet);
    let mut monitor = Monitor::start();
    let mut rows = Vec::new();
    for step in &steps {
        let mut step_rows =
            repeat::run_models(&step.plan, &progress, &step_label(step), &mut monitor)?;
        report::repeats::apply_speedups(&mut step_rows);
        for row in &mut step_rows {
            row.repeat.sweep.clone_from(&step.point);
        }
        rows.extend(step_rows);
    }
    let mut report = ScenarioReport::from_rows(plan, rows);
    if let Some(spec) = args.sweep.first() {
        if let Some(config) = report.config.as_object_mut() {
            config.insert("sweep".into(), spec.as_str().into());
        }
    }

    for (step, step_twins) in steps.iter().zip(&twins) {
        for twin in step_twins {
            let label = format!(
                "{}: {}{} ",
                plan.scenario,
                step_label(step),
                twin.interpreter().short()
            );
            match repeat::run_twin(twin, step.plan.repeats, &progress, &label, &mut monitor) {
                Ok(mut rows) => {
                    report::repeats::apply_speedups(&mut rows);
                    for row in &mut rows {
                        row.repeat.sweep.clone_from(&step.point);
                    }
                    report.runs.extend(rows);
                }
                Err(TwinError::Interrupted) => return Err(RunError::Interrupted.into()),
                Err(TwinError::Failed(why) | TwinError::Skipped(why)) => {
                    progress.println(format!("gilbench: --cpython: {why}"));
                    let mut rows = twin.failed_rows(&why);
                    for row in &mut rows {
                        row.repeat.sweep.clone_from(&step.point);
                    }
                    report.runs.extend(rows);
                    failed.push(why);
                }
            }
            progress.end();
        }
    }
    progress.finish();

    // Traces and timelines: the simulated runs, then any traced CPython twin's
    // (its real threads, from uprobes: `cpython::uprobe`) under them.
    let timeline_options = report::trace::timeline::TimelineOptions {
        window: plan.trace.window,
        switch_interval: plan.gil.switch_interval,
    };
    let to_terminal = matches!(output, Output::Stdout) && std::io::stdout().is_terminal();
    let timeline = args.timeline.then(|| {
        // On standard output with the table; otherwise on stderr (below), so a
        // JSON, CSV or Markdown report stays one document.
        let on_terminal = if args.output.format == Format::Table {
            to_terminal
        } else {
            std::io::stderr().is_terminal()
        };
        let colour = report::trace::strips::use_colour(on_terminal);
        report::trace::strips::render(&report, &timeline_options, colour)
    });
    trace_files.write(&report, std::process::id(), &timeline_options)?;

    // Prices every row's context switches, the CPython twin's too.
    report.price_switches(calibration);
    report.machine.load = monitor.load();
    report.warnings = report::warnings::warnings(&report);
    report.warnings.extend(
        failed
            .iter()
            .map(|why| format!("CPython twin failed: {why}")),
    );
    report.lesson = report::lessons::of(&report);

    if let Some(dir) = hgrm {
        let hists: Vec<(String, &crate::measure::Histogram)> = report
            .runs
            .iter()
            .map(|r| (report::bars::run_label(r), &r.histogram))
            .collect();
        let written = dir
            .write(&report.scenario, &hists)
            .context("--hgrm: writing")?;
        if !quiet {
            for path in written {
                eprintln!("gilbench: wrote {}", path.display());
            }
        }
    }
    if let Some(plot) = plot {
        let path = plot.write(&report).context("--plot: writing")?;
        if !quiet {
            eprintln!("gilbench: wrote {}", path.display());
        }
    }
    match (args.output.format, timeline) {
        (Format::Table, strips) => report.timeline = strips,
        (_, Some(strips)) => eprint!("{strips}"),
        (_, None) => {}
    }
    crate::app::emit(&report, &args.output, output)?;
    if let Some(first) = failed.first() {
        // The report is out; the run still failed (exit 1).
        anyhow::bail!("--cpython: a twin failed: {first}");
    }
    Ok(())
}

/// The twins to run after the models: one per step and chosen interpreter.
/// `--python` naming something that is not there is bad input (exit 2); without
/// `--python`, a missing `python3` or twin is one line and no twin rows.
fn prepare_twins(
    steps: &[crate::plan::sweep::Step],
    args: &ScenarioArgs,
) -> anyhow::Result<(Vec<Vec<Twin>>, Vec<String>)> {
    let none = || (steps.iter().map(|_| Vec::new()).collect(), Vec::new());
    if !args.cpython {
        return Ok(none());
    }
    let Some(choice) = interpreters::choose(&args.python)? else {
        eprintln!(
            "gilbench: --cpython: {} is not on the PATH; showing the simulated rows only",
            interpreters::DEFAULT_NAME
        );
        return Ok(none());
    };
    let mut failed = Vec::new();
    let mut said: Vec<String> = Vec::new();
    let mut twins = Vec::with_capacity(steps.len());
    for step in steps {
        let mut step_twins = Vec::new();
        for interp in &choice.interpreters {
            match Twin::prepare(&step.plan, &step.args, interp, &choice.prefix(interp)) {
                Ok(twin) => step_twins.push(twin),
                Err(TwinError::Failed(why)) => {
                    eprintln!("gilbench: --cpython: {why}");
                    failed.push(why);
                }
                Err(TwinError::Skipped(why)) => {
                    // Once per interpreter, not once per swept value.
                    if !said.contains(&why) {
                        eprintln!("gilbench: --cpython: {why}");
                        said.push(why);
                    }
                }
                Err(TwinError::Interrupted) => return Err(RunError::Interrupted.into()),
            }
        }
        twins.push(step_twins);
    }
    Ok((twins, failed))
}

/// What the progress bar says before a model's name: the swept value, if any.
fn step_label(step: &crate::plan::sweep::Step) -> String {
    step.point
        .as_ref()
        .map_or_else(String::new, |p| format!("{}={}: ", p.key, p.value))
}

/// Runs one model of the plan: the one place `scenario` and `tour` dispatch a model,
/// so a workload that runs several variants per model (returning several runs)
/// hooks in here once.
///
/// `--timeout` is the same promise for every model and workload: each model stops
/// its own work at the deadline, and a run that still took longer than the
/// timeout from here to its last result (a long setup, results read after the
/// deadline) fails the same way rather than passing.
pub fn run_model(plan: &Plan, model: ModelKind) -> Result<Vec<ModelRun>, RunError> {
    let started = std::time::Instant::now();
    let runs = match plan.workload.fork_cow() {
        Some(experiment) => crate::model::fork_cow::run(experiment, model, plan.timeout)?,
        None => vec![model::run(plan, model)?],
    };
    match plan.timeout {
        Some(timeout) if started.elapsed() > timeout => Err(RunError::Timeout {
            model,
            timeout,
            workers: Vec::new(),
        }),
        _ => Ok(runs),
    }
}

/// A round trip to the manager server at best (README: ≈ 11 µs on a 2-vCPU VM).
const MANAGER_ROUND_TRIP_S: f64 = 10e-6;

/// Said up front when `manager` will take a while: every op is one or more round
/// trips to the server, so a scenario sized for threads (a million increments)
/// takes tens of seconds — said before it starts, on a terminal or not.
fn manager_forecast(plan: &Plan) -> Option<String> {
    if !plan.models.contains(&ModelKind::Manager) {
        return None;
    }
    let crate::plan::Amount::Ops(ops) = plan.amount else {
        return None;
    };
    let sync = plan.params.get("sync").and_then(|v| v.as_str());
    let trips = match (plan.workload_kind.as_str(), sync) {
        ("shared-counter", Some("lock")) => 4,
        ("shared-counter", Some("atomic")) => 1,
        ("shared-counter", _) | ("queue", _) => 2,
        _ => 1,
    };
    let total = ops * plan.workers as u64 * trips;
    let secs = total as f64 * MANAGER_ROUND_TRIP_S;
    (secs >= 5.0).then(|| {
        let quick = ((ops as f64 / secs).max(1.0) as u64).max(1);
        format!(
            "manager: {} ops × {} workers × {trips} round trips to the server take at least \
             {secs:.0} s (≈ 10 µs a round trip); `--ops {quick}` takes about a second",
            report::format::count(ops),
            plan.workers
        )
    })
}
