//! `fork-cow`: the copy in copy-on-write. After fork, parent and child share every
//! page read-only — a shallow copy. The child then writes one byte in each page of
//! the inherited heap; every first write faults, and the kernel copies that page —
//! the shallow copy turning into a deep one, page by page. The child times its
//! writes and counts its own minor faults.

use super::heap::Heap;
use crate::measure::Rusage;
use crate::runtime::shm::SharedRegion;
use crate::sys::creation::fork_timed;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One child's copy of the heap.
#[derive(Debug, Clone, Copy)]
pub struct CowSample {
    /// Time the child spent writing every page.
    pub write: Duration,
    /// The child's minor faults meanwhile.
    pub faults: u64,
}

/// Forks a child that writes every page of `heap`, and waits for it.
pub fn once(heap: &mut Heap) -> std::io::Result<CowSample> {
    let region = SharedRegion::new(2 * 128)?;
    let mut layout = region.layout();
    let (ns, faults) = (layout.place::<AtomicU64>(), layout.place::<AtomicU64>());
    // Relies on: single-threaded (checked by fork_timed). The child writes its own
    // copy of `heap` (the parent's stays untouched) and reports through `region`.
    let forked = fork_timed(|| {
        let before = Rusage::this_process();
        let start = Instant::now();
        heap.write_every_page();
        let took = crate::measure::nanos(start.elapsed());
        let delta = Rusage::this_process().since(&before);
        ns.store(took, Ordering::Relaxed);
        faults.store(delta.minor_faults, Ordering::Relaxed);
        0
    })?;
    super::methods::reap(forked.pid, 0)?;
    Ok(CowSample {
        write: Duration::from_nanos(ns.load(Ordering::Relaxed)),
        faults: faults.load(Ordering::Relaxed),
    })
}
