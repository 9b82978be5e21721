//! The ping-pong harness: runs two [`Endpoint`]s as two threads or two processes,
//! pinned as asked, warms up, then times every round trip on the initiating side.
//!
//! Only the initiator reads the clock — once per round trip (the end of one is the
//! start of the next) — and records into a histogram that was grown beforehand, so
//! the harness adds a few tens of nanoseconds to a round trip of microseconds.
//! Each side takes `RUSAGE_THREAD` (or, in a child process, `RUSAGE_SELF`) around
//! its measured rounds, so the kernel's own count of context switches comes with
//! the times.

use super::transport::Endpoint;
use crate::measure::pin::{pin_current_thread, AffinityGuard};
use crate::measure::{new_histogram, record, Histogram, Rusage, RusageDelta};
use crate::runtime::shm::SharedRegion;
use nix::sys::wait::{waitpid, WaitStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Where each side runs: a CPU to pin to, or the scheduler's choice.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement {
    /// The initiator's CPU.
    pub a: Option<usize>,
    /// The responder's CPU.
    pub b: Option<usize>,
}

/// How many round trips.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    /// Run first, not measured.
    pub warmup: u64,
    /// Measured.
    pub measured: u64,
}

/// What a ping-pong measured.
#[derive(Debug)]
pub struct PairOutcome {
    /// Every measured round trip, ns.
    pub round_trips: Histogram,
    /// The initiator's switches and CPU time over the measured rounds.
    pub initiator: RusageDelta,
    /// The responder's.
    pub responder: RusageDelta,
}

/// A histogram already grown to hold ten seconds, so no measured round trip pays
/// for a resize.
fn presized() -> Histogram {
    let mut hist = new_histogram();
    record(&mut hist, 10_000_000_000);
    hist.reset();
    hist
}

/// Round trips between two looks at Ctrl-C: a relaxed load every this many
/// rounds costs nothing measurable, and a stop comes within a millisecond or so.
const INTERRUPT_CHECK: u64 = 64;

/// The error an initiator stops with when a caught Ctrl-C or SIGTERM is pending.
fn interrupted(round: u64) -> std::io::Result<()> {
    if round % INTERRUPT_CHECK == 0 && crate::sys::signal::pending() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted",
        ));
    }
    Ok(())
}

fn initiate(ep: &dyn Endpoint, rounds: Rounds) -> std::io::Result<(Histogram, RusageDelta)> {
    for round in 0..rounds.warmup {
        interrupted(round)?;
        ep.signal()?;
        ep.wait()?;
    }
    let mut hist = presized();
    let before = Rusage::this_thread();
    let mut t0 = Instant::now();
    for round in 0..rounds.measured {
        interrupted(round)?;
        ep.signal()?;
        ep.wait()?;
        let t1 = Instant::now();
        record(&mut hist, crate::measure::nanos(t1 - t0));
        t0 = t1;
    }
    let usage = Rusage::this_thread().since(&before);
    ep.finish();
    Ok((hist, usage))
}

fn respond(
    ep: &dyn Endpoint,
    rounds: Rounds,
    usage_of: fn() -> Rusage,
) -> std::io::Result<RusageDelta> {
    for _ in 0..rounds.warmup {
        ep.wait()?;
        ep.signal()?;
    }
    let before = usage_of();
    for _ in 0..rounds.measured {
        ep.wait()?;
        ep.signal()?;
    }
    let usage = usage_of().since(&before);
    ep.finish();
    Ok(usage)
}

/// Calls `abort` on the endpoint when dropped while armed: a side that fails or
/// panics tells the other to stop waiting.
struct AbortOnDrop<'e> {
    ep: &'e dyn Endpoint,
    armed: bool,
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.ep.abort();
        }
    }
}

fn pinned(cpu: Option<usize>) -> std::io::Result<()> {
    match cpu {
        Some(cpu) => pin_current_thread(cpu),
        None => Ok(()),
    }
}

/// Runs `a` and `b` as two new threads.
pub fn threads(
    a: impl Endpoint,
    b: impl Endpoint,
    place: Placement,
    rounds: Rounds,
) -> std::io::Result<PairOutcome> {
    std::thread::scope(|s| {
        let responder = std::thread::Builder::new()
            .name("ctx-responder".into())
            .spawn_scoped(s, move || {
                let mut guard = AbortOnDrop {
                    ep: &b,
                    armed: true,
                };
                pinned(place.b)?;
                let usage = respond(&b, rounds, Rusage::this_thread)?;
                guard.armed = false;
                Ok::<_, std::io::Error>(usage)
            })?;
        let initiator = std::thread::Builder::new()
            .name("ctx-initiator".into())
            .spawn_scoped(s, move || {
                let mut guard = AbortOnDrop {
                    ep: &a,
                    armed: true,
                };
                pinned(place.a)?;
                let out = initiate(&a, rounds)?;
                guard.armed = false;
                Ok::<_, std::io::Error>(out)
            })?;
        let initiated = initiator
            .join()
            .map_err(|_| std::io::Error::other("the initiating thread panicked"))?;
        let responded = responder
            .join()
            .map_err(|_| std::io::Error::other("the responding thread panicked"))?;
        let (round_trips, initiator) = initiated?;
        Ok(PairOutcome {
            round_trips,
            initiator,
            responder: responded?,
        })
    })
}

/// Kills the child with SIGKILL when dropped while armed, so no failure path can
/// leave it waiting forever.
struct KillOnDrop {
    pid: nix::unistd::Pid,
    armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Runs `b` in a forked child and `a` on the calling thread (pinned for the
/// duration, then restored). If `a` cannot notice a dead child by itself, `watch`
/// must make a blocked `a.wait()` return an error: a watcher thread calls it if
/// the child dies before finishing. The caller must be single-threaded (fork is
/// refused otherwise).
pub fn processes<A: Endpoint, B: Endpoint>(
    a: A,
    b: B,
    watch: Option<&(dyn Fn() + Sync)>,
    place: Placement,
    rounds: Rounds,
) -> std::io::Result<PairOutcome> {
    // The child's switch counts come back through shared memory.
    let region = SharedRegion::new(2 * 128)?;
    let mut layout = region.layout();
    let (vol, invol) = (layout.place::<AtomicU64>(), layout.place::<AtomicU64>());
    let _restore = AffinityGuard::save();
    pinned(place.a)?;
    let parent = nix::unistd::getpid();
    // Relies on: single-threaded here (this probe runs its thread pairs to
    // completion, joined, before forking); `sys::process::fork` checks it.
    let child = crate::sys::process::fork(move || {
        // Die with the parent, so a killed gilbench leaves no responder waiting.
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
        if nix::unistd::getppid() != parent || pinned(place.b).is_err() {
            return 1;
        }
        match respond(&b, rounds, Rusage::this_process) {
            Ok(usage) => {
                vol.store(usage.voluntary_ctx_switches, Ordering::Relaxed);
                invol.store(usage.involuntary_ctx_switches, Ordering::Relaxed);
                0
            }
            Err(_) => 2,
        }
    })?;
    let (initiated, status) = match watch {
        // The transport notices a dead child by itself: no helper thread, so the
        // parent stays single-threaded as in `perf bench sched pipe` (a second
        // thread would share the fd table and slow every pipe read and write).
        None => {
            let initiated = initiate(&a, rounds);
            if initiated.is_err() {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            }
            (initiated, waitpid(child, None))
        }
        Some(abort_a) => std::thread::scope(|s| {
            // A watcher reaps the child; if it died before finishing, it unblocks `a`.
            let watcher = std::thread::Builder::new()
                .name("ctx-watcher".into())
                .spawn_scoped(s, move || {
                    let status = waitpid(child, None);
                    if !matches!(status, Ok(WaitStatus::Exited(_, 0))) {
                        abort_a();
                    }
                    status
                });
            let watcher = match watcher {
                Ok(watcher) => watcher,
                Err(source) => {
                    // RLIMIT_NPROC: no watcher, so no run; the child goes with it.
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    let _ = waitpid(child, None);
                    return Err(std::io::Error::new(
                        source.kind(),
                        crate::sys::process::thread_refused(1),
                    ));
                }
            };
            // If we fail (or panic) mid-run, the child would wait for us forever.
            let mut killer = KillOnDrop {
                pid: child,
                armed: true,
            };
            let initiated = initiate(&a, rounds);
            killer.armed = initiated.is_err();
            drop(killer);
            let status = watcher.join().unwrap_or(Err(nix::errno::Errno::ECHILD));
            Ok((initiated, status))
        })?,
    };
    let status = status.map_err(std::io::Error::from)?;
    if !matches!(status, WaitStatus::Exited(_, 0)) {
        return Err(std::io::Error::other(format!(
            "the responding process ended badly: {status:?}"
        )));
    }
    let (round_trips, initiator) = initiated?;
    Ok(PairOutcome {
        round_trips,
        initiator,
        responder: RusageDelta {
            voluntary_ctx_switches: vol.load(Ordering::Relaxed),
            involuntary_ctx_switches: invol.load(Ordering::Relaxed),
            ..RusageDelta::default()
        },
    })
}
