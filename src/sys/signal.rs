//! SIGINT and SIGTERM while gilbench supervises worker processes, and signal
//! dispositions for the processes it creates.
//!
//! The supervisor must not die of Ctrl-C with children still running: it catches
//! SIGINT and SIGTERM with the classic self-pipe trick (the handler writes one byte
//! to a non-blocking pipe that the supervisor's `poll` watches), kills and reaps its
//! children, then exits with 130. [`Interrupts`] installs the handler and restores
//! the previous dispositions when dropped, so Ctrl-C behaves as before outside a
//! `processes` run.
//!
//! A forked child inherits the handler. Until it resets its dispositions (first
//! thing after fork, [`reset_in_child`]) the handler notices it runs in another
//! process (the pid differs from the one that installed it) and performs the default
//! action instead, so a worker hit by Ctrl-C in that window dies as it should and
//! never writes into its parent's pipe.
//!
//! This is gilbench's only way of catching a signal: the `processes` supervisor,
//! `gilbench zombie` and the manager's server process all use [`Interrupts`] (the
//! server for SIGTERM alone, through [`Interrupts::catch_only`]). signal-hook would
//! do the catching, but it never uninstalls its handler (after the last unregister a
//! signal is silently ignored), and the supervisor needs Ctrl-C to work normally
//! again once it is done.

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The pipe the handler writes to; -1 when no [`Interrupts`] is alive (one at a
/// time per process: the handler's state is these statics).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// The process that installed the handler.
static OWNER_PID: AtomicI32 = AtomicI32::new(0);
/// The last signal caught (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// The signals that interrupt a run.
const INTERRUPTS: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

extern "C" fn on_interrupt(sig: libc::c_int) {
    // Only async-signal-safe calls: getpid, write, signal, raise, and errno access.
    let saved = nix::errno::Errno::last_raw();
    // SAFETY: getpid has no preconditions and is async-signal-safe.
    let me = unsafe { libc::getpid() };
    if me == OWNER_PID.load(Ordering::Relaxed) {
        CAUGHT.store(sig, Ordering::Relaxed);
        let fd = WAKE_FD.load(Ordering::Relaxed);
        if fd >= 0 {
            let byte = sig as u8;
            // SAFETY: `fd` is the non-blocking write end of the wake pipe, open for
            // as long as WAKE_FD holds it (Interrupts::drop resets WAKE_FD before
            // closing it); a full pipe makes write fail with EAGAIN, which is fine:
            // a byte is already waiting. `byte` lives on our stack.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
    } else {
        // A forked child that has not reset its dispositions yet: act as the
        // default would (terminate), rather than talk to the parent's pipe.
        // SAFETY: signal and raise are async-signal-safe; SIG_DFL is always valid.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
    nix::errno::Errno::set_raw(saved);
}

/// Signals (SIGINT and SIGTERM unless told otherwise) caught into a pipe, for as
/// long as this value lives.
#[derive(Debug)]
pub struct Interrupts {
    read: File,
    write: Option<OwnedFd>,
    previous: Vec<(Signal, SigAction)>,
}

impl Interrupts {
    /// Installs the handler for SIGINT and SIGTERM.
    pub fn catch() -> std::io::Result<Interrupts> {
        Interrupts::catch_only(&INTERRUPTS)
    }

    /// Installs the handler for `signals` only.
    pub fn catch_only(signals: &[Signal]) -> std::io::Result<Interrupts> {
        use nix::fcntl::OFlag;
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        CAUGHT.store(0, Ordering::Relaxed);
        OWNER_PID.store(std::process::id() as i32, Ordering::Relaxed);
        WAKE_FD.store(std::os::fd::AsRawFd::as_raw_fd(&write), Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(on_interrupt),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        let mut interrupts = Interrupts {
            read: File::from(read),
            write: Some(write),
            previous: Vec::new(),
        };
        for &sig in signals {
            // SAFETY: `on_interrupt` only makes async-signal-safe calls (see above)
            // and touches nothing but atomics; the previous action is kept and put
            // back in `Drop`.
            let old = unsafe { signal::sigaction(sig, &action) }?;
            interrupts.previous.push((sig, old));
        }
        Ok(interrupts)
    }

    /// The pipe's read end, to `poll` beside other descriptors.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Whether a signal has been caught and not yet [`take`](Self::take)n: for a
    /// loop that checks now and then instead of polling [`fd`](Self::fd).
    pub fn caught(&self) -> bool {
        CAUGHT.load(Ordering::Relaxed) != 0
    }

    /// The signal caught since the last call, if any (drains the pipe).
    pub fn take(&self) -> Option<Signal> {
        let mut buf = [0u8; 64];
        let mut got = false;
        while let Ok(n) = (&self.read).read(&mut buf) {
            if n == 0 {
                break;
            }
            got = true;
        }
        let sig = CAUGHT.swap(0, Ordering::Relaxed);
        (got || sig != 0).then(|| Signal::try_from(sig).unwrap_or(Signal::SIGINT))
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for (sig, old) in self.previous.drain(..) {
            // SAFETY: `old` is the action that was installed before ours.
            let _ = unsafe { signal::sigaction(sig, &old) };
        }
        // Only now may the pipe close: no handler of ours can run any more.
        WAKE_FD.store(-1, Ordering::Relaxed);
        self.write.take();
    }
}

/// Whether an [`Interrupts`] alive in this process has caught a signal not yet
/// taken: for a loop on another thread than the one holding it (a probe's
/// measuring thread) to stop early. One relaxed load.
pub fn pending() -> bool {
    CAUGHT.load(Ordering::Relaxed) != 0
}

/// In a freshly created child: default dispositions for the signals gilbench may
/// have caught or ignored, and no signal blocked.
pub fn reset_in_child() {
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD] {
        // SAFETY: installing SIG_DFL runs no code of ours.
        let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    }
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Ignores `sig` in this process (a fork server ignores Ctrl-C, as Python's does:
/// its workers die of it and the supervisor cleans up).
pub fn ignore(sig: Signal) {
    // SAFETY: installing SIG_IGN runs no code of ours.
    let _ = unsafe { signal::signal(sig, SigHandler::SigIgn) };
}
