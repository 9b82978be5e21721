//! One creation, timed, per method: make a worker, let it finish at once, reap it.
//!
//! Each returns how long the creating call took to return in the parent and how
//! long until the worker was gone and reaped. Processes run `/bin/true` (exec
//! methods) or `_exit(0)` at once (fork), so what is timed is creation and
//! teardown, not work.

use crate::probe::options::Method;
use crate::sys::creation::{fork_timed, vfork_exec, ExecImage};
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CStr;
use std::time::{Duration, Instant};

/// The program the exec methods start.
pub const TRUE: &CStr = c"/bin/true";

/// One creation's times.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Until the creating call returned in the parent.
    pub create: Duration,
    /// Until the worker was gone and reaped (joined).
    pub total: Duration,
}

/// What the methods need prepared outside the timed window.
#[derive(Debug)]
pub struct Creator {
    image: ExecImage,
    actions: PosixSpawnFileActions,
    attr: PosixSpawnAttr,
}

impl Creator {
    /// Prepares the exec image and posix_spawn attributes.
    pub fn new() -> std::io::Result<Creator> {
        Ok(Creator {
            image: ExecImage::new(TRUE, &[TRUE]),
            actions: PosixSpawnFileActions::init().map_err(std::io::Error::from)?,
            attr: PosixSpawnAttr::init().map_err(std::io::Error::from)?,
        })
    }

    /// Creates, runs and reaps one worker with `method` (not `fork-cow`).
    pub fn once(&self, method: Method) -> std::io::Result<Sample> {
        match method {
            Method::Thread => {
                let start = Instant::now();
                let handle = std::thread::Builder::new()
                    .name("spawn-probe".into())
                    .spawn(|| {})?;
                let created = Instant::now();
                handle
                    .join()
                    .map_err(|_| std::io::Error::other("the probe thread panicked"))?;
                Ok(Sample {
                    create: created - start,
                    total: start.elapsed(),
                })
            }
            Method::Interpreter => {
                let start = Instant::now();
                let interpreter = crate::workload::xi::Interpreter::create()?;
                let created = Instant::now();
                drop(std::hint::black_box(interpreter));
                Ok(Sample {
                    create: created - start,
                    total: start.elapsed(),
                })
            }
            Method::Fork => {
                // Relies on: single-threaded (checked by fork_timed; the thread
                // method's threads are joined by now). The child exits at once.
                let forked = fork_timed(|| 0)?;
                reap(forked.pid, 0)?;
                Ok(Sample {
                    create: forked.returned - forked.started,
                    total: forked.started.elapsed(),
                })
            }
            Method::ForkExec => {
                // Relies on: single-threaded (checked), and the child execs at once.
                let forked = fork_timed(|| {
                    let _ = self.image.exec();
                    127
                })?;
                reap(forked.pid, 0)?;
                Ok(Sample {
                    create: forked.returned - forked.started,
                    total: forked.started.elapsed(),
                })
            }
            Method::Vfork => {
                let start = Instant::now();
                let pid = vfork_exec(&self.image)?;
                let created = Instant::now();
                reap(pid, 0)?;
                Ok(Sample {
                    create: created - start,
                    total: start.elapsed(),
                })
            }
            Method::PosixSpawn => {
                let no_env: [&CStr; 0] = [];
                let start = Instant::now();
                let pid =
                    nix::spawn::posix_spawn(TRUE, &self.actions, &self.attr, &[TRUE], &no_env)
                        .map_err(std::io::Error::from)?;
                let created = Instant::now();
                reap(pid, 0)?;
                Ok(Sample {
                    create: created - start,
                    total: start.elapsed(),
                })
            }
            Method::ForkCow => Err(std::io::Error::other("fork-cow is measured by cow.rs")),
        }
    }
}

/// Waits for `pid` and checks it exited with `code`.
pub fn reap(pid: Pid, code: i32) -> std::io::Result<()> {
    match waitpid(pid, None).map_err(std::io::Error::from)? {
        WaitStatus::Exited(_, c) if c == code => Ok(()),
        WaitStatus::Exited(_, 127) => Err(std::io::Error::other(format!(
            "the child could not exec {}",
            TRUE.to_string_lossy()
        ))),
        other => Err(std::io::Error::other(format!(
            "the child ended unexpectedly: {other:?}"
        ))),
    }
}
