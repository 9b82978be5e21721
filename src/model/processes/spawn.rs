//! `--start-method spawn`: each worker is a fresh gilbench (fork + exec of
//! `/proc/self/exe`) in a hidden worker mode — Python's `multiprocessing.spawn`.
//!
//! A spawned worker shares nothing with its parent but what it is handed, so, like
//! Python's spawn (which sends the parent's `sys.argv` and re-imports `__main__`),
//! it gets the parent's command line and rebuilds the same plan from it. The
//! run's memory file is its standard input, its result pipe its standard output;
//! the rest (index, parent pid, epoch, memory geometry) are flags. The child checks
//! that its plan lays out shared memory exactly as the parent's did.
//!
//! `std::process::Command` does the fork + exec, which is safe from any process,
//! threads or not: the exec follows at once.

use super::child::{self, Assignment};
use super::memory::{Geometry, Memory};
use crate::cli::{Cli, Command, WorkerArgs};
use crate::plan::Plan;
use nix::unistd::Pid;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Stdio;

/// The hidden subcommand a spawned worker runs.
pub(super) const WORKER_COMMAND: &str = "__worker";

/// Starts worker `index` as a new gilbench process.
pub(super) fn launch(
    memory: &Memory,
    index: usize,
    epoch_mono_ns: u64,
    results: OwnedFd,
) -> std::io::Result<Pid> {
    let child = std::process::Command::new("/proc/self/exe")
        .arg(WORKER_COMMAND)
        .args(["--index", &index.to_string()])
        .args(["--parent", &nix::unistd::getpid().to_string()])
        .args(["--epoch-ns", &epoch_mono_ns.to_string()])
        .args(["--control-len", &memory.geometry.control_len.to_string()])
        .args(["--shared-len", &memory.geometry.shared_len.to_string()])
        .arg("--")
        .args(std::env::args_os().skip(1))
        .stdin(Stdio::from(memory.fd.try_clone()?))
        .stdout(Stdio::from(results))
        .spawn()?;
    // We reap it ourselves with waitpid; `Child` neither waits nor kills on drop.
    Ok(Pid::from_raw(child.id() as i32))
}

/// Why this `__worker` was not started by a gilbench supervisor, if it was not: a
/// supervisor is the process's parent, hands it the memory file (a regular file)
/// on standard input and the result pipe on standard output. Anything else is a
/// person (or a script) calling the hidden entry point by hand.
pub(super) fn reached_by_hand(args: &WorkerArgs) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if nix::unistd::getppid().as_raw() != args.parent {
        return Some("--parent is not this process's parent");
    }
    let kind = |fd: BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map(File::from)
            .and_then(|f| f.metadata())
            .map(|m| m.file_type())
    };
    if !kind(std::io::stdin().as_fd()).is_ok_and(|t| t.is_file()) {
        return Some("standard input is not the run's memory file");
    }
    if !kind(std::io::stdout().as_fd()).is_ok_and(|t| t.is_fifo()) {
        return Some("standard output is not the result pipe");
    }
    None
}

/// The spawned worker's whole life; never returns.
pub fn worker_main(args: &WorkerArgs) -> ! {
    let code = run(args);
    crate::sys::process::exit_now(code)
}

fn run(args: &WorkerArgs) -> i32 {
    // Exec of /proc/self/exe names the process "exe"; be "gilbench" in `ps`.
    let _ = nix::sys::prctl::set_name(c"gilbench");
    if child::enter(Pid::from_raw(args.parent)).is_err() {
        return 1;
    }
    let Ok(results) = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
    else {
        return 1;
    };
    let cli = <Cli as clap::Parser>::try_parse_from(
        std::iter::once(std::ffi::OsString::from("gilbench"))
            .chain(args.command_line.iter().cloned()),
    );
    let scenario =
        match cli.map(|c| c.command) {
            Ok(Command::Scenario(scenario)) => scenario,
            _ => return child::report_failure(
                &results,
                "spawn: the parent's command line is not a `gilbench scenario` command, so the \
                 worker cannot rebuild its plan"
                    .into(),
            ),
        };
    let plan = match Plan::from_args(&scenario) {
        Ok(plan) => plan,
        Err(e) => {
            return child::report_failure(&results, format!("spawn: rebuilding the plan: {e}"))
        }
    };
    let geometry = Geometry::of(&*plan.workload);
    let expected = Geometry {
        control_len: args.control_len,
        shared_len: args.shared_len,
    };
    if geometry != expected {
        return child::report_failure(
            &results,
            format!("spawn: the rebuilt plan lays out shared memory differently ({geometry:?}, parent: {expected:?})"),
        );
    }
    let memory = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| Memory::open(fd, geometry))
    {
        Ok(memory) => memory,
        Err(e) => {
            return child::report_failure(&results, format!("spawn: mapping shared memory: {e}"))
        }
    };
    child::run(Assignment {
        plan: &plan,
        index: args.index,
        memory: &memory,
        epoch_mono_ns: args.epoch_ns,
        results,
    })
}
