//! The commands, wired together: flags → plan → models → report → output.

pub mod progress;
pub mod repeat;
pub mod scenario;
pub mod tour;

use crate::cli::{Cli, Command, Format, ListArgs, ScenarioArgs};
use crate::model::RunError;
use crate::output::Output;
use crate::plan::InputError;
use crate::report;
use anyhow::Context;

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::List(args) => list(&args),
        Command::Scenario(args) => scenario(&args),
        Command::Ctxswitch(args) => crate::probe::ctxswitch::run(&args),
        Command::Spawn(args) => crate::probe::spawn::run(&args),
        Command::Zombie(args) => crate::probe::zombie::run(&args),
        Command::Tour(args) => crate::app::tour::run(&args),
        Command::Worker(args) => crate::model::processes::spawned_worker(&args),
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
    crate::app::scenario::scenario(args)
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let output = Output::open(&args.output)?;
    let listed = report::listing::ListReport::builtins()?;
    let bytes = match args.output.format {
        Format::Json => report::json::render(&listed),
        Format::Csv => report::csv::render(&listed),
        Format::Markdown => report::markdown::render(&listed),
        Format::Table => listed.table(),
    };
    output.write(&bytes).context("writing the list")
}
