//! Waiting for a twin with a deadline, on its pidfd: no polling loop.
//!
//! Past the deadline the twin gets SIGINT (its KeyboardInterrupt path joins
//! its own workers), then SIGKILL after a grace period. `poll(2)` on a pidfd
//! wakes the moment the process exits; the child is then reaped by
//! `Child::wait`, so no zombie is left whichever way it ends.

use crate::sys::pidfd::pidfd_open;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How long a twin gets to clean up after SIGINT before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Waits for `child`, interrupting then killing it past `timeout`. `Err` is
/// the reason to print (a timeout, or a wait that failed).
pub fn wait(child: &mut Child, timeout: Option<Duration>) -> Result<ExitStatus, String> {
    let Some(timeout) = timeout else {
        return child.wait().map_err(|e| e.to_string());
    };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // The child is not reaped until `child.wait` below, so its pid cannot be reused.
    let pidfd = pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    if exited_within(&pidfd, timeout)? {
        return child.wait().map_err(|e| e.to_string());
    }
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    if !exited_within(&pidfd, GRACE)? {
        let _ = child.kill();
    }
    child.wait().map_err(|e| e.to_string())?;
    Err(format!("timed out after {timeout:?}"))
}

/// Whether the process behind `pidfd` exits within `limit`.
fn exited_within(pidfd: &impl AsFd, limit: Duration) -> Result<bool, String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // Round up: a 0 ms poll on the last sub-millisecond would spin.
        let ms = if left > Duration::ZERO { ms.max(1) } else { 0 };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) if left.is_zero() => return Ok(false),
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll on the twin's pidfd: {e}")),
        }
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
