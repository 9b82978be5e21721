//! `--orphans`: each child forks a grandchild and then exits, leaving it an orphan.
//! The kernel gives an orphan a new parent — the nearest ancestor that declared
//! itself a *child subreaper* (`prctl(PR_SET_CHILD_SUBREAPER)`), else PID 1 — and
//! that new parent must reap it.
//!
//! Two pipes keep the demonstration in step without signals or sleeps: children
//! wait for end-of-file on `release` before exiting (so the grandchild can be seen
//! under its first parent), grandchildren wait for end-of-file on `hold` (so they
//! can be seen under their new one). Closing a pipe's last write end releases every
//! reader at once — and happens by itself if gilbench dies, so nobody is stranded.

use super::procfs::{self, ProcRow};
use super::Brood;
use crate::sys::signal::Interrupts;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// Blocks until every write end of the pipe `r` is closed.
fn wait_for_eof(r: &OwnedFd) {
    let mut buf = [0u8; 16];
    loop {
        match nix::unistd::read(r, &mut buf) {
            Ok(0) => return,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// Forks `n` children that each fork a grandchild, recording them in `brood`.
pub fn fork_families(n: usize, brood: &mut Brood, interrupted: &Interrupts) -> anyhow::Result<()> {
    let (release_r, release_w) = nix::unistd::pipe()?;
    let (hold_r, hold_w) = nix::unistd::pipe()?;
    brood.release = Some(release_w);
    brood.hold = Some(hold_w);
    for i in 0..n {
        if i % 64 == 0 && interrupted.caught() {
            return Err(crate::model::RunError::Interrupted.into());
        }
        // Relies on: gilbench is single-threaded here (checked by fork).
        let pid = crate::sys::process::fork(|| {
            // Our copies of the parent's write ends would keep our own reads from
            // ever seeing end-of-file: close them first.
            drop(brood.release.take());
            drop(brood.hold.take());
            // Relies on: this child is single-threaded (a fork of a single-threaded
            // process), so it may fork again.
            let grandchild = crate::sys::process::fork(|| {
                wait_for_eof(&hold_r);
                0
            });
            if grandchild.is_err() {
                return 3;
            }
            wait_for_eof(&release_r);
            0
        })?;
        brood.children.push(pid);
    }
    Ok(())
}

/// Finds each child's grandchild in /proc (they appear as the children fork
/// them), recording them in `brood`; returns grandchild → its first parent.
pub fn find_grandchildren(
    brood: &mut Brood,
    interrupted: &Interrupts,
) -> anyhow::Result<HashMap<i32, i32>> {
    let deadline = Instant::now()
        + Duration::from_secs(10)
        + Duration::from_micros(500) * brood.children.len() as u32;
    loop {
        let found: Vec<ProcRow> = procfs::children_of_any(&brood.children);
        if found.len() >= brood.children.len() {
            brood.grandchildren = found.iter().map(|r| Pid::from_raw(r.pid)).collect();
            brood.grandchildren.sort();
            return Ok(found.iter().map(|r| (r.pid, r.ppid)).collect());
        }
        if interrupted.caught() {
            return Err(crate::model::RunError::Interrupted.into());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "only {} of {} grandchildren appeared in /proc",
                found.len(),
                brood.children.len()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
