//! Timed process creation for `gilbench spawn`: fork with the single-thread check
//! kept outside the timed window, and a vfork-style clone + exec.
//!
//! [`crate::sys::process::fork`] checks `/proc/self/task` before every fork, which
//! costs a few microseconds — a few percent of a small fork. [`fork_timed`] does the
//! same check, *then* reads the clock, so the measurement holds only the fork.
//!
//! [`vfork_exec`] is what glibc's `posix_spawn` does inside: `clone(CLONE_VM |
//! CLONE_VFORK)` on a separate stack, the parent suspended until the child has called
//! `execve` (or exited). No page tables are copied, so its cost does not grow with
//! the parent's heap.

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::Pid;
use std::ffi::{CStr, CString};
use std::time::Instant;

/// A child created by [`fork_timed`].
#[derive(Debug, Clone, Copy)]
pub struct Forked {
    /// The child's pid.
    pub pid: Pid,
    /// Read just before `fork()`, after the single-thread check.
    pub started: Instant,
    /// Read in the parent as soon as `fork()` returned.
    pub returned: Instant,
}

/// Forks like [`crate::sys::process::fork`] (same refusal when multi-threaded, same
/// child semantics), timing only the `fork()` call itself.
pub fn fork_timed(child: impl FnOnce() -> i32) -> std::io::Result<Forked> {
    let mut started = None;
    let pid = super::process::fork_with(|| started = Some(Instant::now()), child)?;
    let returned = Instant::now();
    Ok(Forked {
        pid,
        started: started.expect("fork_with reads the clock before forking"),
        returned,
    })
}

/// A program and its arguments, turned into the NUL-terminated pointer arrays
/// `execve` wants *before* any child exists (the child may not allocate).
#[derive(Debug)]
pub struct ExecImage {
    path: CString,
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl ExecImage {
    /// `path` run with `args` (`argv[0]` included) and an empty environment.
    pub fn new(path: &CStr, args: &[&CStr]) -> ExecImage {
        let args: Vec<CString> = args.iter().map(|a| CString::from(*a)).collect();
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        ExecImage {
            path: path.into(),
            _args: args,
            argv,
            envp: vec![std::ptr::null()],
        }
    }

    /// The program's path.
    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// Replaces this process with the image; returns only if `execve` failed.
    /// Async-signal-safe: no allocation, only the `execve` system call.
    pub fn exec(&self) -> std::io::Error {
        // SAFETY:
        // - `path`, `argv` and `envp` point to NUL-terminated strings and
        //   NULL-terminated arrays owned by `self` (the `CString`s in `_args` outlive
        //   the pointers in `argv`), all alive for the call;
        // - execve either replaces the process image or returns -1, touching nothing.
        unsafe {
            libc::execve(self.path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr());
        }
        std::io::Error::last_os_error()
    }
}

/// Bytes of stack the vfork-style child runs on until it calls `execve`.
const CHILD_STACK: usize = 64 * 1024;

/// Starts `image` the way `vfork()` + `execve()` (and glibc's `posix_spawn`) do:
/// the child shares our memory and runs on its own small stack; we are suspended
/// until it has exec'd or exited. Returns the child's pid (reap it with waitpid).
pub fn vfork_exec(image: &ExecImage) -> std::io::Result<Pid> {
    let mut stack = vec![0u8; CHILD_STACK];
    // Block every signal across the clone, as glibc does: a handler must never run
    // in the child while it shares our memory and stack-allocated state. The child
    // restores the mask just before execve (the new image gets the normal mask).
    let all = SigSet::all();
    let mut old = SigSet::empty();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&all), Some(&mut old))
        .map_err(std::io::Error::from)?;
    let old_mask = old;
    let child = Box::new(move || -> isize {
        // In the child (sharing our memory, parent suspended): only async-signal-safe
        // calls, no allocation, then exec or _exit.
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
        let _ = image.exec();
        super::process::exit_now(127)
    });
    // SAFETY:
    // - CLONE_VM | CLONE_VFORK: the child shares our address space, and we (the only
    //   thread that could touch the shared state it uses) are suspended until it
    //   execs or exits, so there is no data race;
    // - the child runs `child` on `stack` (64 KiB, far more than a sigmask call and
    //   execve need), which outlives the child's use of it because we do not return
    //   until the child has left it (exec or exit);
    // - all signals are blocked until the child is about to exec, so no handler runs
    //   on the shared memory meanwhile;
    // - the closure does not allocate, lock or unwind: pthread_sigmask, execve and
    //   _exit are async-signal-safe.
    let result = unsafe {
        nix::sched::clone(
            child,
            &mut stack,
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    };
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result.map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};

    #[test]
    fn vfork_exec_runs_true_and_false() {
        for (path, code) in [(c"/bin/true", 0), (c"/bin/false", 1)] {
            if !std::path::Path::new(path.to_str().unwrap()).exists() {
                continue;
            }
            let image = ExecImage::new(path, &[path]);
            let pid = vfork_exec(&image).unwrap();
            assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, code));
        }
    }

    #[test]
    fn vfork_exec_of_a_missing_program_exits_127() {
        let image = ExecImage::new(c"/nonexistent/gilbench-test", &[c"x"]);
        let pid = vfork_exec(&image).unwrap();
        assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, 127));
    }
}
