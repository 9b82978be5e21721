//! CPU pinning with `sched_setaffinity`: put the two sides of a probe on one CPU
//! (every hand-off is then a real context switch on that CPU) or on two (every
//! hand-off is a wake-up sent to another CPU).
//!
//! Affinity is per thread on Linux (`pid 0` = the calling thread), and a new thread
//! or a forked child inherits its creator's mask.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// The CPUs the calling thread may run on, ascending.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect(),
        Err(_) => vec![0],
    }
}

/// Restricts the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(std::io::Error::from)?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(std::io::Error::from)
}

/// Puts the calling thread's original affinity back when dropped, so a probe that
/// pins the main thread leaves it as it found it.
#[derive(Debug)]
pub struct AffinityGuard {
    saved: Option<CpuSet>,
}

impl AffinityGuard {
    /// Remembers the calling thread's current mask.
    pub fn save() -> AffinityGuard {
        AffinityGuard {
            saved: sched_getaffinity(Pid::from_raw(0)).ok(),
        }
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        if let Some(set) = &self.saved {
            let _ = sched_setaffinity(Pid::from_raw(0), set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_and_restore() {
        let before = allowed_cpus();
        assert!(!before.is_empty());
        std::thread::spawn(move || {
            let guard = AffinityGuard::save();
            pin_current_thread(before[0]).unwrap();
            assert_eq!(allowed_cpus(), vec![before[0]]);
            drop(guard);
            assert_eq!(allowed_cpus(), before);
        })
        .join()
        .unwrap();
    }
}
