//! fork, `_exit` and friends: process creation that the rest of the crate can call
//! safely.
//!
//! `fork()` is only sound to follow with arbitrary code when the parent has exactly
//! one thread: a child of a multi-threaded process inherits locks (the allocator's,
//! stdio's) held by threads that do not exist in it. So [`fork`] refuses unless this
//! process is single-threaded *right now*, checked from `/proc/self/task`; callers
//! arrange that by forking before any helper thread starts (and say so at the call
//! site). Code that must fork from a multi-threaded state execs at once instead,
//! which needs a separate, async-signal-safe wrapper.

use nix::unistd::{ForkResult, Pid};
use std::time::{Duration, Instant};

/// The number of threads in this process, from `/proc/self/task`.
pub fn thread_count() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// How long [`fork`] waits for exiting threads (e.g. just-joined workers whose
/// kernel tasks are still being torn down) to disappear.
const SETTLE: Duration = Duration::from_millis(500);

/// Waits until this process has one thread, or fails after `SETTLE` (half a second).
pub fn wait_single_threaded() -> std::io::Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let threads = thread_count()?;
        if threads == 1 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(std::io::Error::other(format!(
                "refusing to fork: this process has {threads} threads, and fork() is only \
                 safe from a single-threaded process"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Forks; the child runs `child` and exits with the code it returns (never
/// returning to the caller's stack, never running atexit handlers or destructors of
/// the parent's objects); the parent gets the child's pid.
///
/// Fails if this process is not single-threaded (see the module documentation).
pub fn fork(child: impl FnOnce() -> i32) -> std::io::Result<Pid> {
    fork_with(|| {}, child)
}

/// [`fork`], calling `just_before` in the parent after the single-thread check and
/// right before `fork()` (to read a clock outside the check, say).
pub(super) fn fork_with(
    just_before: impl FnOnce(),
    child: impl FnOnce() -> i32,
) -> std::io::Result<Pid> {
    wait_single_threaded()?;
    just_before();
    // SAFETY:
    // - we just checked that this process has exactly one thread (this one), so the
    //   child inherits no lock held by a thread that will not exist in it, and may run
    //   arbitrary code, allocate and take locks;
    // - `fork` has no memory-safety preconditions beyond that.
    match unsafe { nix::unistd::fork() }.map_err(std::io::Error::from)? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
            exit_now(code)
        }
    }
}

/// The words for a thread the OS refused to create after `started` others of the
/// same run: the limit that usually did it, RLIMIT_NPROC, which counts every
/// thread and process of the real user.
pub fn thread_refused(started: usize) -> String {
    nproc_refused(&format!("creating a thread ({started} started)"))
}

/// The words for a thread or process the OS refused (EAGAIN) while `doing`
/// something: `DOING: refused; RLIMIT_NPROC … allows N processes and threads for
/// this user`. With no such limit the refusal came from elsewhere (a cgroup's
/// `pids.max` in a container, `kernel.threads-max`), and the words say so.
pub fn nproc_refused(doing: &str) -> String {
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    match getrlimit(Resource::RLIMIT_NPROC) {
        Ok((soft, _)) if soft != RLIM_INFINITY => format!(
            "{doing}: refused; RLIMIT_NPROC (`ulimit -u`) allows {soft} processes and \
             threads for this user"
        ),
        _ => format!(
            "{doing}: refused, with RLIMIT_NPROC unlimited (the cgroup's pids.max, or \
             kernel.threads-max?)"
        ),
    }
}

/// Ends this process at once with `code`: `_exit(2)`, which flushes nothing and
/// runs no destructors — right for a forked child, whose buffers and objects are
/// copies of the parent's.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Closes descriptors a forked child inherited but must not keep (a fork server's
/// socket, say, whose end-of-file tells the parent the server is gone).
///
/// Only for a forked child, which never returns to the code that owns these
/// descriptors: the owning `OwnedFd`s are never dropped there, so nothing closes
/// them twice.
pub fn close_inherited(fds: &[std::os::fd::RawFd]) {
    for &fd in fds {
        // SAFETY: per the contract above, no live owner in this process will use
        // or close `fd` again; closing an fd has no memory-safety preconditions.
        unsafe { libc::close(fd) };
    }
}

/// Makes this process die (SIGKILL) when `parent` exits, and closes the race with a
/// parent that already did: if our parent is no longer `parent`, fails, and the
/// caller exits at once.
pub fn die_with_parent(parent: Pid) -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    if nix::unistd::getppid() != parent {
        return Err(std::io::Error::other(format!(
            "parent {parent} exited before this worker started"
        )));
    }
    Ok(())
}

/// Makes the program `cmd` starts get `signal` when the thread that starts it
/// ends — gilbench killed outright (SIGKILL) included — and fail to start if
/// this process is already gone by then. For programs started and waited for on
/// one thread (the CPython twins), so the signal comes only when gilbench is gone.
pub fn signal_when_parent_dies(cmd: &mut std::process::Command, signal: nix::sys::signal::Signal) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY:
    // - the closure runs in the child between fork and exec, where only
    //   async-signal-safe calls are allowed: it makes two system calls (prctl,
    //   getppid) and builds an `io::Error` from an errno, which allocates nothing
    //   and takes no lock;
    // - it reads only what it captured by value (a pid and a signal number).
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(signal)?;
            // The parent died before the prctl: it would never come.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_sees_this_thread() {
        assert!(thread_count().unwrap() >= 1);
    }

    #[test]
    fn refuses_to_fork_while_threads_run() {
        // A parked helper thread makes this process multi-threaded for sure.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || rx.recv());
        let err = fork(|| 0).unwrap_err();
        assert!(err.to_string().contains("refusing to fork"), "{err}");
        drop(tx);
        let _ = helper.join();
    }
}
