//! The commands, wired together: flags → plan → models → report → output.

pub mod progress;
pub mod repeat;
pub mod scenario;
pub mod tour;
pub mod verify;

use crate::cli::{Cli, Command, OutputArgs};
use crate::model::RunError;
use crate::output::Output;
use crate::plan::InputError;
use crate::probe::options::{CtxswitchPlan, SpawnPlan, ZombiePlan};
use crate::probe::{ctxswitch, spawn, zombie};
use crate::report::colour::Palette;
use crate::report::render::{render, Report};
use anyhow::Context;

/// Runs one command: its input checked and its output opened first, then the
/// work, then the one render of its report.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // Before any fork or exec'd worker serves: no measured op builds it.
    crate::workload::prepare_process();
    if !matches!(cli.command, Command::Worker(_) | Command::EchoPeer(_)) {
        // What a gilbench killed outright (SIGKILL) left in $TMPDIR, and only that.
        crate::sys::tempdirs::sweep(&crate::sys::tempdirs::bases());
    }
    match cli.command {
        Command::List(args) => {
            let output = Output::open(&args.output)?;
            emit(
                &crate::report::listing::ListReport::builtins()?,
                &args.output,
                output,
            )
        }
        Command::Scenario(args) => crate::app::scenario::scenario(&args),
        Command::Ctxswitch(args) => {
            let plan = CtxswitchPlan::from_args(&args)?;
            let output = Output::open(&args.output)?;
            emit(
                &ctxswitch::run(&plan, args.output.quiet)?,
                &args.output,
                output,
            )
        }
        Command::Spawn(args) => {
            let plan = SpawnPlan::from_args(&args)?;
            let output = Output::open(&args.output)?;
            emit(&spawn::run(&plan, args.output.quiet)?, &args.output, output)
        }
        Command::Zombie(args) => {
            let plan = ZombiePlan::from_args(&args)?;
            let output = Output::open(&args.output)?;
            emit(
                &zombie::run(&plan, args.output.quiet)?,
                &args.output,
                output,
            )
        }
        Command::Tour(args) => {
            let output = Output::open(&args.output)?;
            emit(&crate::app::tour::run(&args)?, &args.output, output)
        }
        Command::Verify(args) => crate::app::verify::verify(&args),
        Command::Worker(args) => crate::model::processes::spawned_worker(&args),
        Command::EchoPeer(args) => {
            if let Some(why) = crate::workload::echo_reached_by_hand(args.parent) {
                return Err(InputError::flag(
                    "__echo-peer",
                    format!(
                        "internal: the echo peer an I/O worker starts, not a command to run \
                         by hand ({why}); see `gilbench --help`"
                    ),
                )
                .into());
            }
            crate::sys::process::exit_now(crate::workload::serve_echo(args.parent, args.cpu))
        }
    }
}

/// Renders `report` in `--format` and writes it to `output` (opened before the
/// work began); the table is coloured only on a terminal.
pub fn emit<R: Report>(report: &R, args: &OutputArgs, output: Output) -> anyhow::Result<()> {
    let palette = Palette::for_stdout(args.output.is_some());
    output
        .write(&render(report, args.format, palette))
        .context("writing the report")
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

/// The one line an error is printed as: its causes joined by `: `, each said once.
/// Errors that show their source in their own message (a thiserror `{source}`)
/// would otherwise print it twice ("Is a directory (os error 21): Is a directory
/// (os error 21)"), so a cause the line already ends with, or already holds, is
/// left out.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_says_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(21);
        let text = io.to_string();
        let error = anyhow::Error::new(InputError::Unreadable {
            path: "x.toml".into(),
            source: io,
        })
        .context("loading the scenario");
        let line = error_line(&error);
        assert_eq!(line.matches(&text).count(), 1, "{line}");
        assert!(line.starts_with("loading the scenario: cannot read scenario file x.toml"));
        let twice = anyhow::anyhow!("out of memory").context("out of memory");
        assert_eq!(error_line(&twice), "out of memory");
    }
}
