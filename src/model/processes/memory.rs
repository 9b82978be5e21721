//! The memory a `processes` run shares: one memory file (memfd) holding the
//! supervisor's control block and, after it, the workload's shared region.
//!
//! A memfd is an anonymous shared mapping with a file descriptor: a forked worker
//! inherits the mapping itself, a `spawn` or `forkserver` worker is handed the
//! descriptor and maps the same pages. It has no name in any file system, so nothing
//! can be left in `/dev/shm`; the kernel frees it when the last descriptor and
//! mapping are gone, however the run ends.

use crate::runtime::shm::{SharedRegion, Sizer};
use crate::sys::futex;
use crate::workload::Workload;
use nix::sys::memfd::{memfd_create, MFdFlags};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Where the two regions sit in the memory file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Geometry {
    /// Bytes of the control region, from offset 0 (a whole number of pages).
    pub control_len: u64,
    /// Bytes of the workload's region, right after the control region.
    pub shared_len: u64,
}

impl Geometry {
    /// The geometry for `workload` (the same in every process that builds the same plan).
    pub fn of(workload: &dyn Workload) -> Geometry {
        let mut control = Sizer::default();
        ControlBlock::reserve(&mut control);
        let mut shared = Sizer::default();
        workload.shared_layout(&mut shared);
        Geometry {
            control_len: page_round(control.bytes()) as u64,
            shared_len: shared.bytes().max(1) as u64,
        }
    }

    fn file_len(&self) -> u64 {
        self.control_len + page_round(self.shared_len as usize) as u64
    }
}

fn page_round(bytes: usize) -> usize {
    let page = crate::sys::mem::page_size();
    bytes.max(1).div_ceil(page) * page
}

/// The memory file and this process's views of it.
#[derive(Debug)]
pub(super) struct Memory {
    /// The memory file (close-on-exec; handed to workers explicitly).
    pub fd: OwnedFd,
    pub geometry: Geometry,
    /// The control block's region.
    pub control: SharedRegion,
    /// The workload's region.
    pub shared: SharedRegion,
}

impl Memory {
    /// Creates a zero-filled memory file for `geometry` and maps it.
    pub fn create(geometry: Geometry) -> std::io::Result<Memory> {
        let fd = memfd_create(c"gilbench-shared", MFdFlags::MFD_CLOEXEC)?;
        nix::unistd::ftruncate(&fd, geometry.file_len() as libc::off_t)?;
        Memory::open(fd, geometry)
    }

    /// Maps a memory file another process created (a worker's side).
    pub fn open(fd: OwnedFd, geometry: Geometry) -> std::io::Result<Memory> {
        let size = nix::sys::stat::fstat(&fd)?.st_size as u64;
        if size < geometry.file_len() {
            return Err(std::io::Error::other(format!(
                "shared memory is {size} bytes, the plan needs {}: parent and worker disagree",
                geometry.file_len()
            )));
        }
        let control = SharedRegion::from_fd(fd.as_fd(), 0, geometry.control_len as usize)?;
        let shared = SharedRegion::from_fd(
            fd.as_fd(),
            geometry.control_len,
            geometry.shared_len as usize,
        )?;
        Ok(Memory {
            fd,
            geometry,
            control,
            shared,
        })
    }

    /// The memory file, to hand to a worker.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What the supervisor and its workers share to start and stop together: the
/// atomics of [`crate::model::worker::Control`] and the start line.
#[derive(Debug, Clone, Copy)]
pub(super) struct ControlBlock<'r> {
    /// Set when workers must stop (see `Control::stop`).
    pub stop: &'r AtomicU32,
    /// Foreground workers still running (see `Control::foreground_left`).
    pub foreground_left: &'r AtomicU64,
    /// 0 until the supervisor opens the start line, then 1 (a futex word).
    pub go: &'r AtomicU32,
}

impl<'r> ControlBlock<'r> {
    fn reserve(sizer: &mut Sizer) {
        sizer
            .reserve::<AtomicU32>(1)
            .reserve::<AtomicU64>(1)
            .reserve::<AtomicU32>(1);
    }

    /// The control block at the start of `region`.
    pub fn place(region: &'r SharedRegion) -> ControlBlock<'r> {
        let mut layout = region.layout();
        ControlBlock {
            stop: layout.place(),
            foreground_left: layout.place(),
            go: layout.place(),
        }
    }

    /// Opens the start line: every worker waiting at it runs.
    pub fn open_gate(&self) {
        self.go.store(1, Ordering::Release);
        futex::wake(self.go, u32::MAX);
    }

    /// Waits until the start line opens.
    pub fn wait_at_gate(&self) {
        while self.go.load(Ordering::Acquire) == 0 {
            futex::wait(self.go, 0, None);
        }
    }

    /// Asks every worker to stop after its current op, and lets any still at the
    /// start line through so they can see it.
    pub fn stop_all(&self) {
        self.stop.store(1, Ordering::Relaxed);
        self.open_gate();
    }
}
