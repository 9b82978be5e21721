//! Where the convoy's tasks run (`convoy`'s `pin` parameter).
//!
//! On two CPUs the convoy is a race, and where the scheduler puts the three tasks
//! decides it. After the I/O worker drops the GIL to block in `recv`, two wake-ups
//! run at once: the echo peer's reply back to the I/O worker, and the drop's
//! signal to a CPU-bound worker waiting for the GIL. Whichever lands first takes
//! the GIL. When the peer runs on the other CPU, the reply is a cross-CPU wake-up,
//! and the CPU-bound worker, woken first, wins: every round trip waits out a switch
//! interval, in every run (CPython 3.11 and the simulation alike). When the peer
//! shares the I/O worker's CPU, its reply is two switches on that CPU (a few µs)
//! against a wake-up sent to the other CPU (~20 µs here, less when that CPU has
//! just gone idle): the race is open, and runs split between an escape and the
//! convoy (under load the I/O worker escapes every time). Left to the OS (the
//! default), runs split too — CPython's as well as the simulation's.
//!
//! Pinned with `sched_setaffinity` per thread (the twin does the same with
//! `os.sched_setaffinity`); the echo peer pins itself (`__echo-peer --cpu`).

use crate::measure::pin::{pin_current_thread, AffinityGuard};
use serde::Deserialize;

/// The `pin` parameter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pin {
    /// Wherever the OS puts them.
    #[default]
    None,
    /// The I/O worker and its echo peer on one CPU, the CPU-bound workers on
    /// another: the reply is quick, and the I/O worker often escapes the convoy.
    IoWithPeer,
    /// The I/O worker alone on one CPU, its peer and the CPU-bound workers on
    /// another: the wake-up beats the reply, and every round trip waits.
    IoAlone,
}

/// The CPUs a pinned convoy's tasks get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The I/O worker's CPU.
    pub io: usize,
    /// The echo peer's CPU.
    pub peer: usize,
    /// The CPU-bound workers' CPU.
    pub cpu_workers: usize,
}

impl Pin {
    /// The placement on `cpus` (the CPUs this process may use, ascending), `None`
    /// for the OS's choice. Needs two CPUs; fewer is a limit the run cannot meet.
    pub fn placement(self, cpus: &[usize]) -> std::io::Result<Option<Placement>> {
        if self == Pin::None {
            return Ok(None);
        }
        let [a, b, ..] = *cpus else {
            return Err(std::io::Error::other(format!(
                "convoy: pin={} needs two CPUs; this process may run on {}",
                self.name(),
                cpus.len()
            )));
        };
        Ok(Some(match self {
            Pin::IoWithPeer => Placement {
                io: a,
                peer: a,
                cpu_workers: b,
            },
            _ => Placement {
                io: a,
                peer: b,
                cpu_workers: b,
            },
        }))
    }

    /// The name `--set pin=` takes.
    pub fn name(self) -> &'static str {
        match self {
            Pin::None => "none",
            Pin::IoWithPeer => "io-with-peer",
            Pin::IoAlone => "io-alone",
        }
    }
}

/// Pins the calling thread to `cpu` until dropped, then puts its mask back (a
/// sequential run's worker is the caller's own thread).
#[derive(Debug)]
pub struct Pinned {
    _restore: AffinityGuard,
}

impl Pinned {
    /// Pins the calling thread to `cpu`.
    pub fn to(cpu: usize) -> std::io::Result<Pinned> {
        let restore = AffinityGuard::save();
        pin_current_thread(cpu)?;
        Ok(Pinned { _restore: restore })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::pin::allowed_cpus;

    #[test]
    fn the_placements_put_the_peer_beside_or_away_from_the_io_worker() {
        let cpus = [2, 5, 7];
        assert_eq!(Pin::None.placement(&cpus).unwrap(), None);
        let with = Pin::IoWithPeer.placement(&cpus).unwrap().unwrap();
        assert_eq!((with.io, with.peer, with.cpu_workers), (2, 2, 5));
        let alone = Pin::IoAlone.placement(&cpus).unwrap().unwrap();
        assert_eq!((alone.io, alone.peer, alone.cpu_workers), (2, 5, 5));
    }

    #[test]
    fn one_cpu_is_a_limit_named_in_one_line() {
        let err = Pin::IoAlone.placement(&[0]).unwrap_err().to_string();
        assert_eq!(
            err,
            "convoy: pin=io-alone needs two CPUs; this process may run on 1"
        );
        assert_eq!(Pin::None.placement(&[0]).unwrap(), None);
    }

    #[test]
    fn a_pinned_thread_gets_its_mask_back() {
        std::thread::spawn(|| {
            let before = allowed_cpus();
            {
                let _pinned = Pinned::to(before[0]).unwrap();
                assert_eq!(allowed_cpus(), vec![before[0]]);
            }
            assert_eq!(allowed_cpus(), before);
        })
        .join()
        .unwrap();
    }
}
