//! The commands, wired together: flags → plan → models → report → output.

use crate::cli::{Cli, Command, Format, ListArgs, ScenarioArgs};
use crate::model::{self, RunError};
use crate::output::Output;
use crate::plan::{InputError, Plan};
use crate::report::{self, ScenarioReport};
use anyhow::Context;
use serde::Serialize;
use std::io::IsTerminal;

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::List(args) => list(&args),
        Command::Scenario(args) => scenario(&args),
        Command::Ctxswitch(args) => crate::probe::ctxswitch::run(&args),
        Command::Spawn(args) => crate::probe::spawn::run(&args),
        Command::Zombie(args) => crate::probe::zombie::run(&args),
    }
}

/// The exit code for an error: 2 for bad input, 130 for an interruption, else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.downcast_ref::<InputError>().is_some() {
            return 2;
        }
        if let Some(RunError::Interrupted) = cause.downcast_ref::<RunError>() {
            return 130;
        }
    }
    1
}

fn scenario(args: &ScenarioArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(args)?;
    let mut output = Output::open(&args.output)?;
    let trace_files = report::trace_files::TraceFiles::open(
        args.trace.as_deref(),
        args.plot_timeline.as_deref(),
    )?;
    let calibration = crate::probe::calibrate::for_scenario(args.no_calibrate, args.output.quiet);
    let mut runs = Vec::with_capacity(plan.models.len());
    for &model in &plan.models {
        if !args.output.quiet {
            eprintln!("gilbench: running {} under {model}…", plan.scenario);
        }
        match plan.workload.variant_runner() {
            Some(runner) => runs.extend(runner.run(&plan, model)?),
            None => runs.push(model::run(&plan, model)?),
        }
    }
    let mut report = ScenarioReport::new(&plan, runs);
    crate::probe::calibrate::annotate(&mut report, calibration);
    let timeline_options = report::timeline::TimelineOptions {
        window: plan.trace.window,
        switch_interval: plan.gil.switch_interval,
    };
    trace_files.write(&report, std::process::id(), &timeline_options)?;
    let timeline = |to_terminal: bool| {
        let colour = report::timeline_text::use_colour(to_terminal);
        report::timeline_text::render(&report, &timeline_options, colour)
    };
    let bytes = match args.output.format {
        Format::Json => report::json::render(&report),
        Format::Table | Format::Csv | Format::Markdown if args.timeline => {
            let on_terminal = matches!(output, Output::Stdout) && std::io::stdout().is_terminal();
            report::table::render_with(&report, &timeline(on_terminal))
        }
        Format::Table | Format::Csv | Format::Markdown => report::table::render(&report),
    };
    if args.timeline && args.output.format == Format::Json {
        // Keep standard output one JSON document: the strips go to the terminal.
        eprint!("{}", timeline(std::io::stderr().is_terminal()));
    }
    output.write(&bytes).context("writing the report")
}

/// One line of `gilbench list`.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    models: Vec<String>,
    summary: String,
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let mut output = Output::open(&args.output)?;
    let mut listed = Vec::new();
    for name in crate::scenario::builtin_names() {
        let source = crate::scenario::Source::builtin(name).expect("listed built-in exists");
        let file = crate::scenario::ScenarioFile::parse(&source)
            .map_err(|e| anyhow::anyhow!("built-in {name}: {}", e.message))?;
        listed.push(Listed {
            name: file.name,
            models: file.models,
            summary: file.summary,
        });
    }
    let bytes = match args.output.format {
        Format::Json => report::json::render(&serde_json::json!({
            "gilbench": report::VERSION,
            "kind": "list",
            "scenarios": listed,
        })),
        _ => {
            let mut table = comfy_table::Table::new();
            table
                .load_preset(comfy_table::presets::NOTHING)
                .set_header(vec!["scenario", "models", "what it shows"]);
            for l in &listed {
                table.add_row(vec![l.name.clone(), l.models.join(","), l.summary.clone()]);
            }
            format!("{table}\n").into_bytes()
        }
    };
    output.write(&bytes).context("writing the list")
}
