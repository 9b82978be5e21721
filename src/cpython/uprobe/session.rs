//! One traced twin: probes opened before it starts, drained while it runs,
//! closed when it ends.
//!
//! The probes are system-wide (see [`crate::sys::perf`] for why), so they are
//! opened and enabled *before* the twin is started — nothing of its start is
//! missed — and every hit of another process using the same library is thrown
//! away as soon as it is read. A thread of gilbench's own drains the ring
//! buffers every few milliseconds while the twin runs (the twin is started with
//! `Command`, exec right after fork, so gilbench may have threads). Dropping a
//! [`Session`], on any path out (success, failure, Ctrl-C, timeout), stops that
//! thread and closes every descriptor, which removes the probes.

use super::spans::Hit;
use super::symbols::{Flavour, GilSymbols};
use crate::sys::perf::{PerfError, Sample, UprobeSpec, Uprobes};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Ring buffer pages per CPU (1 MiB): ~32k hits between two drains.
const RING_PAGES: usize = 256;
/// How often the ring buffers are drained.
const DRAIN_EVERY: Duration = Duration::from_millis(5);

/// Probes on, draining.
#[derive(Debug)]
pub struct Session {
    stop: Arc<AtomicBool>,
    pid: Arc<AtomicU32>,
    hits: Arc<Mutex<Collected>>,
    drainer: Option<JoinHandle<()>>,
    flavour: Flavour,
}

/// What the drainer kept.
#[derive(Debug, Default)]
struct Collected {
    hits: Vec<(u32, u64, Hit, Option<u64>)>,
    lost: u64,
}

/// The hits of the traced process.
#[derive(Debug, Default)]
pub struct Hits {
    /// (tid, CLOCK_MONOTONIC ns, which probe).
    pub hits: Vec<(u32, u64, Hit)>,
    /// Records lost to a full ring buffer (of any process).
    pub lost: u64,
}

impl Session {
    /// Opens and enables the probes of `symbols`: four for `take_gil`/`drop_gil`;
    /// for Python 2.7 three, the entries recording which lock (`spans::legacy_gil`).
    pub fn start(symbols: &GilSymbols) -> Result<Session, PerfError> {
        let spec = |offset, retprobe, first_arg| UprobeSpec {
            path: symbols.file.clone(),
            offset,
            retprobe,
            first_arg,
        };
        let legacy = symbols.flavour == Flavour::Legacy;
        // In `Hit::ALL` order; PyThread_release_lock never blocks: no return probe.
        let mut specs = vec![
            spec(symbols.take, false, legacy),
            spec(symbols.take, true, false),
            spec(symbols.drop, false, legacy),
        ];
        if !legacy {
            specs.push(spec(symbols.drop, true, false));
        }
        let mut probes = Uprobes::open(&specs, RING_PAGES)?;
        probes.set_enabled(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let pid = Arc::new(AtomicU32::new(0));
        let hits = Arc::new(Mutex::new(Collected::default()));
        let drainer = {
            let (stop, pid, hits) = (stop.clone(), pid.clone(), hits.clone());
            std::thread::Builder::new()
                .name("uprobe-drain".into())
                .spawn(move || {
                    let mut batch: Vec<Sample> = Vec::new();
                    let mut pending: Vec<Sample> = Vec::new();
                    loop {
                        let last = stop.load(Ordering::Acquire);
                        if last {
                            let _ = probes.set_enabled(false);
                        }
                        batch.clear();
                        probes.drain(&mut batch);
                        let target = pid.load(Ordering::Acquire);
                        let mut kept = hits.lock().unwrap_or_else(|e| e.into_inner());
                        kept.lost = probes.lost();
                        // Until the twin's pid is known, keep everything back.
                        pending.append(&mut batch);
                        if target != 0 {
                            kept.hits.extend(
                                pending
                                    .drain(..)
                                    .filter(|s| s.pid == target)
                                    .map(|s| (s.tid, s.time_ns, Hit::ALL[s.probe.min(3)], s.arg)),
                            );
                        }
                        drop(kept);
                        if last {
                            break; // `probes` drops here: descriptors closed, probes gone.
                        }
                        std::thread::sleep(DRAIN_EVERY);
                    }
                })
                .map_err(|err| PerfError::Os {
                    what: "starting the drain thread",
                    err,
                })?
        };
        Ok(Session {
            stop,
            pid,
            hits,
            drainer: Some(drainer),
            flavour: symbols.flavour,
        })
    }

    /// The process whose hits to keep (the twin, once started).
    pub fn follow(&self, pid: u32) {
        self.pid.store(pid, Ordering::Release);
    }

    /// The followed process (0 before [`Session::follow`]).
    pub fn followed(&self) -> u32 {
        self.pid.load(Ordering::Acquire)
    }

    /// Stops and closes the probes; the followed process's hits.
    pub fn finish(mut self) -> Hits {
        self.close();
        let mut kept = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let hits = std::mem::take(&mut kept.hits);
        Hits {
            hits: match self.flavour {
                Flavour::TakeDrop => hits.into_iter().map(|(a, b, c, _)| (a, b, c)).collect(),
                Flavour::Legacy => super::spans::legacy_gil(hits),
            },
            lost: kept.lost,
        }
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(drainer) = self.drainer.take() {
            let _ = drainer.join();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Descriptors of this process that are perf events.
    fn perf_fds() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|dir| {
                dir.flatten()
                    .filter(|e| {
                        std::fs::read_link(e.path())
                            .is_ok_and(|l| l.to_string_lossy().contains("perf_event"))
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn finishing_or_dropping_a_session_closes_every_probe() {
        let Ok(python) = crate::cpython::interpreters::Finder::from_env()
            .on_path("python3")
            .map(|i| i.path)
        else {
            eprintln!("skipped: no python3 on the PATH");
            return;
        };
        let probe = match super::super::Probe::prepare(&python) {
            Ok(probe) => probe,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        };
        let before = perf_fds();
        let session = Session::start(&probe.symbols).unwrap();
        assert!(perf_fds() >= before + 4, "four probes per CPU are open");
        session.follow(1);
        let hits = session.finish();
        assert!(hits.hits.is_empty(), "pid 1 takes no GIL");
        assert_eq!(perf_fds(), before, "finish closed them");
        drop(Session::start(&probe.symbols).unwrap());
        assert_eq!(perf_fds(), before, "drop closed them");
    }
}
