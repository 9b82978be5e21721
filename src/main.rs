//! The `gilbench` binary: parse flags, run, map errors to exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = <gilbench::cli::Cli as clap::Parser>::parse();
    match gilbench::app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if gilbench::output::is_broken_pipe(&error) {
                // `gilbench … | head`: the reader has seen enough.
                return ExitCode::SUCCESS;
            }
            eprintln!("Error: {}", gilbench::app::error_line(&error));
            ExitCode::from(gilbench::app::exit_code(&error))
        }
    }
}
