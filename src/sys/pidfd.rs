//! `pidfd_open(2)`: a file descriptor that refers to a process, pollable for its
//! exit and usable with `waitid(P_PIDFD)` — the race-free way to wait for one
//! child (no pid reuse can fool it). nix 0.30 has `waitid(Id::PIDFd)` but no
//! `pidfd_open`, so the system call is made here.

use nix::unistd::Pid;
use std::os::fd::{FromRawFd, OwnedFd};

/// Opens a pidfd for `pid` (a live or zombie process).
pub fn pidfd_open(pid: Pid) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1;
    // it reads and writes no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0u32) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned `fd` as a fresh descriptor that nobody else
    // owns, so handing its ownership to an `OwnedFd` (closed on drop) is sound.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_own_pidfd_and_rejects_a_bad_pid() {
        assert!(pidfd_open(nix::unistd::getpid()).is_ok());
        assert!(pidfd_open(Pid::from_raw(-5)).is_err());
    }
}
