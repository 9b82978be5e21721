//! Waiting for a twin with a deadline, on its pidfd: no polling loop.
//!
//! Past the deadline the twin gets SIGINT (its KeyboardInterrupt path joins
//! its own workers), then SIGKILL after a grace period. `poll(2)` on a pidfd
//! wakes the moment the process exits; the child is then reaped by
//! `Child::wait`, so no zombie is left whichever way it ends.
//!
//! SIGINT or SIGTERM sent to gilbench alone (not to its process group, as a
//! terminal's Ctrl-C is) would otherwise kill gilbench and orphan the twin: while
//! waiting, both are caught ([`Interrupts`]) and passed on to the twin as SIGINT,
//! and the wait reports exit code 130 once the twin is gone.
//!
//! While it waits, [`drain`]'s threads read the child's pipes to the end, so a
//! chatty child cannot block on a full pipe.

use crate::sys::pidfd::pidfd_open;
use crate::sys::signal::Interrupts;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How long a twin gets to clean up after SIGINT before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Waits for `child`, interrupting then killing it past `timeout`. `Err` is
/// the reason to print (a timeout, or a wait that failed).
pub fn wait(child: &mut Child, timeout: Option<Duration>) -> Result<ExitStatus, String> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // The child is not reaped until `child.wait` below, so its pid cannot be reused.
    let pidfd = pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let interrupts = Interrupts::catch().ok();
    // A century stands in for "no timeout".
    let limit = timeout.unwrap_or(Duration::from_secs(100 * 365 * 86_400));
    let ended = match exited_within(&pidfd, limit, interrupts.as_ref())? {
        Ended::Exited => return child.wait().map_err(|e| e.to_string()),
        other => other,
    };
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    if exited_within(&pidfd, GRACE, None)? != Ended::Exited {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    match ended {
        // Interrupted: gilbench's own exit code for it, whatever the twin died of.
        Ended::Interrupted if status.code() == Some(130) => Ok(status),
        Ended::Interrupted => Ok(ExitStatus::from_raw(130 << 8)),
        _ => Err(format!("timed out after {timeout:?}", timeout = limit)),
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Exited,
    TimedOut,
    Interrupted,
}

/// Whether the process behind `pidfd` exits within `limit`, or a signal came first.
fn exited_within(
    pidfd: &impl AsFd,
    limit: Duration,
    interrupts: Option<&Interrupts>,
) -> Result<Ended, String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // Round up: a 0 ms poll on the last sub-millisecond would spin.
        let ms = if left > Duration::ZERO { ms.max(1) } else { 0 };
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(interrupts) = interrupts {
            fds.push(PollFd::new(interrupts.fd(), PollFlags::POLLIN));
        }
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) if left.is_zero() => return Ok(Ended::TimedOut),
            Ok(0) => continue,
            Ok(_) if fds[0].any().unwrap_or(false) => return Ok(Ended::Exited),
            Ok(_) => {
                if interrupts.is_some_and(|i| i.take().is_some()) {
                    return Ok(Ended::Interrupted);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll on the twin's pidfd: {e}")),
        }
    }
}

/// Threads reading a child's pipes to the end; [`Readers::finish`] collects
/// what each read.
#[derive(Debug)]
pub struct Readers<const N: usize>(Vec<std::thread::JoinHandle<Vec<u8>>>);

/// Starts one reader thread per pipe. `Err` (RLIMIT_NPROC refused a thread)
/// is the line to print; the caller then kills and reaps the child, which ends
/// any reader already started (its pipe closes).
pub fn drain<const N: usize>(
    pipes: [Option<Box<dyn std::io::Read + Send>>; N],
) -> Result<Readers<N>, String> {
    let mut readers = Vec::with_capacity(N);
    for pipe in pipes {
        let reader = std::thread::Builder::new()
            .name("pipe-reader".into())
            .spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
            .map_err(|_| crate::sys::process::thread_refused(readers.len()))?;
        readers.push(reader);
    }
    Ok(Readers(readers))
}

impl<const N: usize> Readers<N> {
    /// What each pipe gave, in order (empty for one whose reader panicked);
    /// call once the child has exited.
    pub fn finish(self) -> [Vec<u8>; N] {
        let mut out = self.0.into_iter().map(|r| r.join().unwrap_or_default());
        std::array::from_fn(|_| out.next().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_quick_child_is_waited_for_without_a_timeout_error() {
        let mut child = Command::new("true").spawn().unwrap();
        let status = wait(&mut child, Some(Duration::from_secs(60))).unwrap();
        assert!(status.success());
    }

    #[test]
    fn a_slow_child_is_interrupted_and_reaped() {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let started = Instant::now();
        let err = wait(&mut child, Some(Duration::from_millis(50))).unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        // SIGINT ends `sleep` at once: far sooner than its 60 s.
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(child.try_wait().is_err() || child.try_wait().unwrap().is_some());
    }
}
