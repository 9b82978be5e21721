//! Starting worker processes by each of Python's start methods, and learning how
//! they ended.
//!
//! | method       | how a worker starts                                   | who reaps it            |
//! |--------------|-------------------------------------------------------|-------------------------|
//! | `fork`       | gilbench forks it (single-threaded, so that is safe)  | gilbench (`waitpid`)    |
//! | `spawn`      | fork + exec of gilbench itself in a hidden worker mode | gilbench (`waitpid`)    |
//! | `forkserver` | a server forked early forks it on request             | the server, which reports the exit status |
//!
//! Every worker gets its own result pipe (created close-on-exec here; only the
//! worker holds the write end, so end-of-file means the worker is gone).

use super::child::{self, Assignment};
use super::forkserver::ForkServer;
use super::memory::Memory;
use super::spawn;
use crate::plan::Plan;
use crate::sys;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum ExitInfo {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Its reaper is gone (a fork server that died), so no one knows.
    Unknown,
}

impl ExitInfo {
    /// From a `waitpid` status; `None` for states that are not an end.
    pub fn from_status(status: WaitStatus) -> Option<ExitInfo> {
        match status {
            WaitStatus::Exited(_, code) => Some(ExitInfo::Code(code)),
            WaitStatus::Signaled(_, sig, _) => Some(ExitInfo::Signal(sig as i32)),
            _ => None,
        }
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitInfo::Code(code) => write!(f, "exited with code {code}"),
            ExitInfo::Signal(sig) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(s) => write!(f, "killed by signal {sig} ({s})"),
                Err(_) => write!(f, "killed by signal {sig}"),
            },
            ExitInfo::Unknown => f.write_str("ended (its fork server is gone)"),
        }
    }
}

/// Waits for direct child `pid` to end.
pub(super) fn reap(pid: Pid) -> ExitInfo {
    loop {
        match waitpid(pid, None) {
            Ok(status) => {
                if let Some(exit) = ExitInfo::from_status(status) {
                    return exit;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return ExitInfo::Unknown,
        }
    }
}

/// A worker just started.
#[derive(Debug)]
pub(super) struct Started {
    /// Its process id.
    pub pid: Pid,
    /// The read end of its result pipe.
    pub results: File,
}

/// Starts workers by one start method.
#[derive(Debug)]
pub(super) enum Launcher {
    /// `fork`.
    Fork,
    /// `spawn`.
    Spawn,
    /// `forkserver`.
    Server(ForkServer),
}

impl Launcher {
    /// Starts worker `index`.
    pub fn launch(
        &mut self,
        plan: &Plan,
        memory: &Memory,
        index: usize,
        epoch_mono_ns: u64,
    ) -> std::io::Result<Started> {
        use nix::fcntl::OFlag;
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let pid = match self {
            Launcher::Fork => fork_worker(plan, memory, index, epoch_mono_ns, write)?,
            Launcher::Spawn => spawn::launch(memory, index, epoch_mono_ns, write)?,
            Launcher::Server(server) => server.launch(memory, index, epoch_mono_ns, write)?,
        };
        Ok(Started {
            pid,
            results: File::from(read),
        })
    }

    /// Whether workers are this process's children, to be reaped with `waitpid`.
    pub fn reaps_directly(&self) -> bool {
        !matches!(self, Launcher::Server(_))
    }

    /// A descriptor to poll for exit reports (the fork server's socket).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Launcher::Server(server) => Some(server.fd()),
            _ => None,
        }
    }

    /// Exit reports received so far: (worker index, how it ended), and whether the
    /// reporter is gone for good.
    pub fn exits(&mut self) -> (Vec<(usize, ExitInfo)>, bool) {
        match self {
            Launcher::Server(server) => server.exits(),
            _ => (Vec::new(), false),
        }
    }

    /// Ends the launcher: a fork server is told to exit and is reaped.
    pub fn finish(&mut self) {
        if let Launcher::Server(server) = self {
            server.shut_down();
        }
    }
}

/// `fork`: the worker is a copy of this process and runs the plan it already has.
fn fork_worker(
    plan: &Plan,
    memory: &Memory,
    index: usize,
    epoch_mono_ns: u64,
    results: OwnedFd,
) -> std::io::Result<Pid> {
    let parent = nix::unistd::getpid();
    // Relies on: the supervisor is single-threaded while it launches (it starts no
    // thread during a `processes` run, and `sys::process::fork` checks). In the
    // parent the closure is dropped unrun, closing its copy of the write end.
    sys::process::fork(move || {
        if child::enter(parent).is_err() {
            return 1;
        }
        child::run(Assignment {
            plan,
            index,
            memory,
            epoch_mono_ns,
            results: File::from(results),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_info_reads_well() {
        assert_eq!(ExitInfo::Code(3).to_string(), "exited with code 3");
        assert_eq!(
            ExitInfo::Signal(9).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
    }
}
