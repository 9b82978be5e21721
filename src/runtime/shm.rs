//! Typed views of the shared mapping: every piece of cross-worker state (a
//! `processes` run's GIL, counters, queues) lives here, as CPython's
//! `multiprocessing.Value` and `Array` live in shared memory.
//!
//! A workload lays out its shared state with a [`Layout`]: a deterministic sequence
//! of `place` calls. Running the same sequence again over the same bytes (in a forked
//! child, or in a `spawn` child that mapped the same memory elsewhere) yields the same
//! objects, because nothing stored in the mapping is a pointer.

use crate::sys;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub use crate::sys::futex::FutexLock;
pub use crate::sys::shm::ShmPod;

/// The shared memory of one model run.
#[derive(Debug, Clone)]
pub struct SharedRegion {
    mapping: Arc<sys::shm::SharedMapping>,
}

impl SharedRegion {
    /// Maps a fresh zero-filled region with room for `bytes` bytes of objects
    /// after the header (a [`Sizer`]'s count includes the header already; the
    /// spare is harmless).
    pub fn new(bytes: usize) -> std::io::Result<SharedRegion> {
        Ok(SharedRegion {
            mapping: Arc::new(sys::shm::SharedMapping::new(bytes + HEADER_BYTES)?),
        })
    }

    /// Maps `bytes` bytes of the memory file `fd` from `offset` (page-aligned): the
    /// region another process created, as a `spawn` or `forkserver` worker sees it.
    pub fn from_fd(
        fd: std::os::fd::BorrowedFd<'_>,
        offset: u64,
        bytes: usize,
    ) -> std::io::Result<SharedRegion> {
        Ok(SharedRegion {
            mapping: Arc::new(sys::shm::SharedMapping::from_fd(fd, offset, bytes)?),
        })
    }

    /// A cursor that hands out objects from the start of the region (after the
    /// header).
    pub fn layout(&self) -> Layout<'_> {
        Layout {
            region: self,
            next: HEADER_BYTES,
        }
    }

    /// The region's header: words that say where the run's shared objects live
    /// (all zero: right here; see `crate::manager::home`).
    pub fn header(&self) -> &[AtomicU64] {
        let mut layout = Layout {
            region: self,
            next: 0,
        };
        layout.place_slice(HEADER_BYTES / 8)
    }
}

/// Bytes at the start of every region, before any workload's objects, for the
/// [`SharedRegion::header`]: a model can say there, for workers however they were
/// started, that the shared objects live in a manager server.
pub const HEADER_BYTES: usize = 256;

/// Sizes a layout before the region exists: run the same `place` sequence on a
/// [`Sizer`] to learn how many bytes it needs (the header included).
#[derive(Debug)]
pub struct Sizer {
    next: usize,
}

impl Default for Sizer {
    fn default() -> Self {
        Sizer { next: HEADER_BYTES }
    }
}

impl Sizer {
    /// Reserves room for `count` values of `T`.
    pub fn reserve<T: ShmPod>(&mut self, count: usize) -> &mut Self {
        self.next = pad(self.next) + std::mem::size_of::<T>() * count;
        self
    }

    /// The bytes needed so far.
    pub fn bytes(&self) -> usize {
        self.next
    }
}

/// Hands out objects from a region, in order, each on its own cache line(s).
#[derive(Debug)]
pub struct Layout<'r> {
    region: &'r SharedRegion,
    next: usize,
}

impl<'r> Layout<'r> {
    /// The next `T`, cache-line aligned.
    pub fn place<T: ShmPod>(&mut self) -> &'r T {
        &self.place_slice::<T>(1)[0]
    }

    /// The next `count` values of `T`, starting on a fresh cache line.
    pub fn place_slice<T: ShmPod>(&mut self, count: usize) -> &'r [T] {
        let offset = pad(self.next);
        self.next = offset + std::mem::size_of::<T>() * count;
        // Cache-line aligned, so aligned for any atomic; bounds checked inside.
        sys::shm::place_slice(&self.region.mapping, offset, count)
    }
}

const CACHE_LINE: usize = 128; // two lines: adjacent-line prefetch pairs them on x86

fn pad(offset: usize) -> usize {
    offset.div_ceil(CACHE_LINE) * CACHE_LINE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn layout_is_deterministic_and_aligned() {
        let mut sizer = Sizer::default();
        sizer
            .reserve::<AtomicU64>(1)
            .reserve::<FutexLock>(1)
            .reserve::<AtomicU64>(10);
        let region = SharedRegion::new(sizer.bytes()).unwrap();
        let mut layout = region.layout();
        let a = layout.place::<AtomicU64>();
        let lock = layout.place::<FutexLock>();
        let slice = layout.place_slice::<AtomicU64>(10);
        a.store(7, Ordering::Relaxed);
        slice[9].store(9, Ordering::Relaxed);
        assert!(lock.try_lock());
        assert!(!lock.try_lock());
        lock.unlock();
        let mut again = region.layout();
        assert_eq!(again.place::<AtomicU64>().load(Ordering::Relaxed), 7);
        assert_eq!((a as *const AtomicU64 as usize) % CACHE_LINE, 0);
    }

    #[test]
    fn futex_lock_excludes_threads() {
        let region = SharedRegion::new(4096).unwrap();
        let mut layout = region.layout();
        let lock = layout.place::<FutexLock>();
        let counter = layout.place::<AtomicU64>();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        lock.lock();
                        // A deliberately non-atomic read-modify-write: only the lock
                        // keeps it from losing updates.
                        let v = counter.load(Ordering::Relaxed);
                        counter.store(v + 1, Ordering::Relaxed);
                        lock.unlock();
                    }
                });
            }
        });
        assert_eq!(counter.load(Ordering::Relaxed), 80_000);
    }
}
