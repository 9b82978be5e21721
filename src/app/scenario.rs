//! `gilbench scenario`, end to end: everything that can fail on input is checked
//! and opened first, then the models run (with a progress bar between them), then
//! the CPython twin, and only then are files written and the report rendered.
//!
//! Nothing here runs while a model measures: the progress bar draws between
//! models from this thread (see [`crate::app::progress`]), and plotting, `.hgrm`
//! writing and colouring all work on the finished report.

use crate::app::progress::Progress;
use crate::cli::{Format, ScenarioArgs};
use crate::cpython::{Twin, TwinError};
use crate::model::{self, ModelRun, RunError};
use crate::output::Output;
use crate::plan::{ModelKind, Plan};
use crate::report::colour::Palette;
use crate::report::hgrm::HgrmDir;
use crate::report::plot::PlotFile;
use crate::report::{self, ScenarioReport};
use anyhow::Context;
use std::io::IsTerminal;

/// Runs `gilbench scenario`.
pub fn scenario(args: &ScenarioArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(args)?;
    // A fork server must be forked now, while gilbench is single-threaded.
    let _forkserver = model::processes::prepare(&plan)?;
    let quiet = args.output.quiet;
    // Output files first: a bad path fails in a millisecond, before any work.
    let mut output = Output::open(&args.output)?;
    let trace_files = report::trace_files::TraceFiles::open(
        args.trace.as_deref(),
        args.plot_timeline.as_deref(),
    )?;
    let plot = args.plot.as_deref().map(PlotFile::create).transpose()?;
    let hgrm = args.hgrm.as_deref().map(HgrmDir::create).transpose()?;
    let twin = if args.cpython {
        Twin::prepare(&plan, args)
            .map_err(|why| eprintln!("gilbench: --cpython: {why}"))
            .ok()
    } else {
        None
    };

    // Before the bar exists: it prints a line of its own, and runs threads that
    // must be gone before a fork-based model starts (they are joined inside).
    let calibration = crate::probe::calibrate::for_scenario(args.no_calibrate, quiet);

    let steps = plan.models.len() + usize::from(twin.is_some());
    let progress = Progress::new(steps as u64, quiet);
    let runs = run_models(&plan, &progress, "")?;
    let mut report = ScenarioReport::new(&plan, runs);

    // Traces and timelines are of the simulated runs: drawn before CPython's rows
    // (which carry no trace) join the report.
    let timeline_options = report::timeline::TimelineOptions {
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
        let colour = report::timeline_text::use_colour(on_terminal);
        report::timeline_text::render(&report, &timeline_options, colour)
    });
    trace_files.write(&report, std::process::id(), &timeline_options)?;

    if let Some(twin) = &twin {
        progress.begin(format!("{}: CPython twin", plan.scenario));
        match twin.run() {
            Ok(rows) => report.runs.extend(rows),
            Err(TwinError::Interrupted) => return Err(RunError::Interrupted.into()),
            Err(TwinError::Failed(why)) => progress.println(format!("gilbench: --cpython: {why}")),
        }
        progress.end();
    }
    progress.finish();
    // Prices every row's context switches, the CPython twin's too.
    crate::probe::calibrate::annotate(&mut report, calibration);

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
    let bytes = match (args.output.format, &timeline) {
        (Format::Table, Some(strips)) => report::table::render_styled(
            &report,
            strips,
            Palette::for_stdout(args.output.output.is_some()),
        ),
        (format, strips) => {
            if let Some(strips) = strips {
                eprint!("{strips}");
            }
            render(&report, format, args.output.output.is_some())
        }
    };
    output.write(&bytes).context("writing the report")
}

/// Runs the plan's models in order, one progress step each. `label` goes before
/// the model's name in the bar (the tour names the scenario there).
pub fn run_models(
    plan: &Plan,
    progress: &Progress,
    label: &str,
) -> Result<Vec<ModelRun>, RunError> {
    let mut runs = Vec::with_capacity(plan.models.len());
    for &model in &plan.models {
        progress.begin(format!("{label}{} under {model}", plan.scenario));
        runs.extend(run_model(plan, model)?);
        progress.end();
    }
    Ok(runs)
}

/// Runs one model of the plan: the one place `scenario` and `tour` dispatch a model,
/// so a workload that runs several variants per model (returning several runs)
/// hooks in here once.
pub fn run_model(plan: &Plan, model: ModelKind) -> Result<Vec<ModelRun>, RunError> {
    match plan.workload.fork_cow() {
        Some(experiment) => crate::model::fork_cow::run(experiment, model),
        None => Ok(vec![model::run(plan, model)?]),
    }
}

/// The report in `format`; the table is coloured when it goes to a terminal.
pub fn render(report: &ScenarioReport, format: Format, to_file: bool) -> Vec<u8> {
    match format {
        Format::Json => report::json::render(report),
        Format::Csv => report::csv::render(report),
        Format::Markdown => report::markdown::render(report),
        Format::Table => report::table::render_styled(report, "", Palette::for_stdout(to_file)),
    }
}
