//! The ways a parent collects its exited children, timed.
//!
//! `reap_ns` records, for each child reaped, the time since the previous one was
//! (or since reaping began): the whole cost of collecting it with that strategy —
//! the wait call, plus the poll, signal read or pidfd it needs.

use crate::measure::{nanos, new_histogram, record, Histogram};
use crate::probe::options::Reap;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// What a strategy did.
#[derive(Debug)]
pub struct Reaped {
    /// Per reaped child: time since the previous reap, ns.
    pub reap_ns: Histogram,
    /// From the first wait call to the last reap.
    pub total: Duration,
    /// Children of the given set reaped.
    pub reaped: u64,
    /// Wait-family system calls made (waitpid, waitid), including empty polls.
    pub calls: u64,
    /// `waitpid(-1, WNOHANG)` calls that found nothing to reap.
    pub empty_polls: u64,
    /// SIGCHLD signals read (`sigchld` only): far fewer than children, since a
    /// pending signal is not queued twice.
    pub signals: Option<u64>,
}

/// Give up on children that refuse to become reapable after this long.
const PATIENCE: Duration = Duration::from_secs(10);

/// SIGCHLD, blocked and readable from a signalfd. Create it *before* forking: a
/// SIGCHLD that arrives while it is not blocked is discarded (its default action
/// is to ignore it), and then there is nothing to wait for.
#[derive(Debug)]
pub struct SigchldFd {
    fd: SignalFd,
    old_mask: SigSet,
}

impl SigchldFd {
    /// Blocks SIGCHLD in this thread and opens a signalfd for it.
    pub fn new() -> std::io::Result<SigchldFd> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        let old_mask = mask.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(SigchldFd { fd, old_mask })
    }
}

impl Drop for SigchldFd {
    fn drop(&mut self) {
        let _ = self.old_mask.thread_set_mask();
    }
}

/// Reaps `children` (all exited already) with `strategy`. `sigchld` must be given
/// for [`Reap::Sigchld`].
pub fn reap(
    strategy: Reap,
    children: &[Pid],
    sigchld: Option<&SigchldFd>,
) -> std::io::Result<Reaped> {
    let mut out = Reaped {
        reap_ns: new_histogram(),
        total: Duration::ZERO,
        reaped: 0,
        calls: 0,
        empty_polls: 0,
        signals: None,
    };
    let start = Instant::now();
    let mut last = start;
    let mut note = |out: &mut Reaped| {
        let now = Instant::now();
        record(&mut out.reap_ns, nanos(now - last));
        last = now;
        out.reaped += 1;
    };
    let ours: HashSet<i32> = children.iter().map(|p| p.as_raw()).collect();
    let want = children.len() as u64;
    match strategy {
        Reap::None => {}
        Reap::Waitpid => {
            for &pid in children {
                out.calls += 1;
                waitpid(pid, None)?;
                note(&mut out);
            }
        }
        Reap::Pidfd => {
            for &pid in children {
                let fd = crate::sys::pidfd::pidfd_open(pid)?;
                // Readable once the process has exited (at once, for a zombie).
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::NONE)?;
                out.calls += 1;
                waitid(Id::PIDFd(fd.as_fd()), WaitPidFlag::WEXITED)?;
                drop(fd);
                note(&mut out);
            }
        }
        Reap::WnohangLoop => {
            while out.reaped < want {
                check_patience(start)?;
                out.calls += 1;
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => out.empty_polls += 1,
                    Ok(status) => {
                        if status.pid().is_some_and(|p| ours.contains(&p.as_raw())) {
                            note(&mut out);
                        }
                    }
                    Err(Errno::ECHILD) => break,
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Reap::Sigchld => {
            let sigchld = sigchld.ok_or_else(|| std::io::Error::other("no SIGCHLD fd"))?;
            let mut signals = 0;
            while out.reaped < want {
                check_patience(start)?;
                // Sleep until a SIGCHLD is pending (at most a second, then look anyway).
                let mut fds = [PollFd::new(sigchld.fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(1000u16));
                while sigchld.fd.read_signal()?.is_some() {
                    signals += 1;
                }
                // One signal may stand for many children: drain them all.
                loop {
                    out.calls += 1;
                    match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => {
                            out.empty_polls += 1;
                            break;
                        }
                        Ok(status) => {
                            if status.pid().is_some_and(|p| ours.contains(&p.as_raw())) {
                                note(&mut out);
                            }
                        }
                        Err(Errno::EINTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            out.signals = Some(signals);
        }
    }
    out.total = last - start;
    Ok(out)
}

fn check_patience(start: Instant) -> std::io::Result<()> {
    if start.elapsed() > PATIENCE {
        Err(std::io::Error::other(format!(
            "children still not reapable after {PATIENCE:?}"
        )))
    } else {
        Ok(())
    }
}

/// Reaps every child this process has left — its own and, as a subreaper, any
/// orphans handed to it — waiting up to `patience` and then killing stragglers.
/// Returns how many were reaped.
pub fn reap_everything(stragglers: &[Pid], patience: Duration) -> u64 {
    let deadline = Instant::now() + patience;
    let mut reaped = 0;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                if Instant::now() >= deadline {
                    let me = nix::unistd::getpid();
                    let found = super::procfs::children_of(me);
                    let all = stragglers
                        .iter()
                        .copied()
                        .chain(found.iter().map(|r| Pid::from_raw(r.pid)));
                    for pid in all {
                        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                    }
                    // Killed (or already gone): blocking waits now end.
                    while waitpid(Pid::from_raw(-1), None).is_ok() {
                        reaped += 1;
                    }
                    return reaped;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(_) => reaped += 1,
            Err(Errno::EINTR) => {}
            Err(_) => return reaped, // ECHILD: none left
        }
    }
}
