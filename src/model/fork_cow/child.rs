//! One measured child of `fork-cow`: fork, let it work on the inherited memory,
//! collect what it saw, reap it.
//!
//! The child measures itself — start-up (fork to ready: the clock is the same
//! `CLOCK_MONOTONIC` in both processes), work time and, over the same span, its
//! CPU time, context switches and minor faults, and `/proc/self/smaps_rollup` just
//! before it exits, when its private dirty pages are exactly the pages
//! copy-on-write had to copy for it — and sends the figures home over a
//! socketpair. The row's wall and CPU figures are both the work's: the fork, the
//! smaps read and the child's exit are in neither (the parent's `RUSAGE_CHILDREN`
//! would count them in the CPU only, and a 40 µs pass would sit beside
//! milliseconds of CPU). A [`Child`] guard kills and reaps the child on any error
//! path, so no zombie is left behind.

use crate::measure::procfs::Rollup;
use crate::measure::{nanos, Rusage, RusageDelta};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// What a child measured.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ChildReport {
    /// From the parent's fork() call until the child was ready to work, ns.
    pub startup_ns: u64,
    /// The work itself, ns.
    pub work_ns: u64,
    /// CPU time, context switches and minor faults during the work: the span
    /// `work_ns` times, no more (the usage reads sit inside the clock reads'
    /// span, so the CPU time of this one thread cannot exceed `work_ns`).
    pub work_usage: RusageDelta,
    /// The child's memory just before it exited.
    pub memory: Rollup,
    /// Objects the work went through.
    pub objects: u64,
    /// A checksum of what was read, so the reads cannot be optimised away.
    pub checksum: u64,
}

/// A forked child, killed and reaped if dropped before [`Child::reap`].
#[derive(Debug)]
struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    fn reap(mut self) -> std::io::Result<()> {
        self.reaped = true;
        match waitpid(self.pid, None).map_err(std::io::Error::from)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            status => Err(std::io::Error::other(format!(
                "child {} ended badly: {status:?}",
                self.pid
            ))),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Forks a child that runs `prepare` (start-up: e.g. receive a copy from the
/// parent through the socket) and then `work` on what it prepared (returns objects
/// visited and a checksum; what was prepared stays alive until the child has read
/// its memory figures); meanwhile the parent runs `feed` on its end of the socket. Returns
/// the child's report.
///
/// While the child works, and while `feed` writes to it (a deep copy of a GiB
/// heap takes seconds, and blocks for ever on a child that stopped reading), the
/// parent looks at `keep_going` every [`WATCH_PERIOD`]: once it says no
/// (`--timeout` passed, Ctrl-C), the child is killed and reaped and the call fails. The child dies with the
/// parent (SIGKILL on its death), so a killed gilbench leaves no child copying pages.
///
/// Must be called from a single-threaded process (`sys::process::fork` checks).
pub fn run_child<T>(
    prepare: impl FnOnce(&mut UnixStream) -> std::io::Result<T>,
    work: impl FnOnce(&mut T) -> (u64, u64),
    feed: impl FnOnce(&mut Watched<'_>) -> std::io::Result<()>,
    keep_going: &dyn Fn() -> bool,
) -> std::io::Result<ChildReport> {
    let (mut parent_end, mut child_end) = UnixStream::pair()?;
    let parent = nix::unistd::getpid();
    let forked_at = Instant::now();
    // Relies on a single-threaded parent: fork-cow forks before starting any thread
    // (its threads variants run in scoped threads that have ended by now).
    let pid = crate::sys::process::fork(|| {
        if crate::sys::process::die_with_parent(parent).is_err() {
            return 1;
        }
        match child_main(&mut child_end, forked_at, prepare, work) {
            Ok(()) => 0,
            Err(_) => 1,
        }
    })?;
    let child = Child { pid, reaped: false };
    drop(child_end);
    feed(&mut Watched::new(&mut parent_end, keep_going)?)?;
    parent_end.shutdown(std::net::Shutdown::Write)?;
    let bytes = read_report(&mut parent_end, keep_going)?;
    child.reap()?;
    postcard::from_bytes(&bytes).map_err(|e| std::io::Error::other(format!("child report: {e}")))
}

/// How often the parent looks at `keep_going` while a child works.
const WATCH_PERIOD: std::time::Duration = std::time::Duration::from_millis(20);

/// The parent's end of the socket while it feeds the child: each write waits at
/// most [`WATCH_PERIOD`] at a time, and gives up once `keep_going` says stop.
pub struct Watched<'a> {
    socket: &'a mut UnixStream,
    keep_going: &'a dyn Fn() -> bool,
}

impl<'a> Watched<'a> {
    fn new(socket: &'a mut UnixStream, keep_going: &'a dyn Fn() -> bool) -> std::io::Result<Self> {
        // A send timeout wakes a blocked write every period; a signal caught
        // meanwhile ends it early too (a timed socket call is not restarted).
        socket.set_write_timeout(Some(WATCH_PERIOD))?;
        Ok(Watched { socket, keep_going })
    }
}

impl Write for Watched<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::io::ErrorKind;
        loop {
            if !(self.keep_going)() {
                // Not `Interrupted`: `write_all` would retry that for ever.
                return Err(std::io::Error::other("stopped while feeding the child"));
            }
            match self.socket.write(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                done => return done,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.socket.flush()
    }
}

/// Reads the child's report (everything until it closes the socket), giving up
/// with `Interrupted` as soon as `keep_going` says so.
fn read_report(socket: &mut UnixStream, keep_going: &dyn Fn() -> bool) -> std::io::Result<Vec<u8>> {
    use std::io::ErrorKind;
    // A receive timeout wakes the read every period; a signal caught meanwhile
    // ends it early too (a timed socket read is not restarted after a handler).
    socket.set_read_timeout(Some(WATCH_PERIOD))?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if !keep_going() {
            return Err(std::io::Error::new(
                ErrorKind::Interrupted,
                "stopped while the child worked",
            ));
        }
        match socket.read(&mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

fn child_main<T>(
    socket: &mut UnixStream,
    forked_at: Instant,
    prepare: impl FnOnce(&mut UnixStream) -> std::io::Result<T>,
    work: impl FnOnce(&mut T) -> (u64, u64),
) -> std::io::Result<()> {
    let mut prepared = prepare(socket)?;
    // The clock reads enclose the usage reads: the CPU time counted is of a span
    // no longer than the wall time counted (the first write to a stack page after
    // fork is a copy-on-write fault of its own, which this keeps inside both).
    let ready = Instant::now();
    let usage_before = Rusage::this_process();
    let (objects, checksum) = work(&mut prepared);
    let work_usage = Rusage::this_process().since(&usage_before);
    let work_ns = nanos(ready.elapsed());
    let report = ChildReport {
        startup_ns: nanos(ready - forked_at),
        work_ns,
        work_usage,
        memory: crate::measure::procfs::smaps_rollup()?,
        objects,
        checksum,
    };
    drop(prepared);
    let bytes = postcard::to_stdvec(&report).map_err(std::io::Error::other)?;
    socket.write_all(&bytes)
}
