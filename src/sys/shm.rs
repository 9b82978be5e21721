//! Shared anonymous memory: the one mapping every model's workers share.
//!
//! Threads would be happy with the heap, but processes are not, so gilbench puts
//! every piece of cross-worker state in a `MAP_SHARED` mapping created before any
//! worker starts: threads see it because they share the address space, forked
//! children because `MAP_SHARED` survives fork. The mapping is anonymous, so nothing
//! ever appears in `/dev/shm` and nothing can be left behind.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64};

/// An owned, zero-filled, page-aligned `MAP_SHARED | MAP_ANONYMOUS` mapping.
#[derive(Debug)]
pub struct SharedMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; all access to it goes through atomics (see
// `crate::runtime::shm`), so sharing the pointer between threads is sound.
unsafe impl Send for SharedMapping {}
// SAFETY: as above: `&SharedMapping` only hands out `&T` for `T: Sync` atomics.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Maps `len` bytes (rounded up to at least one page).
    pub fn new(len: usize) -> std::io::Result<SharedMapping> {
        let (ptr, len) = super::mem::map_anonymous(len, true)?;
        Ok(SharedMapping { ptr, len })
    }

    /// Maps `len` bytes of the memory file `fd` from `offset` (a multiple of the page
    /// size), shared: how a process that did not inherit the parent's mapping (a
    /// `spawn` or `forkserver` worker) sees the same memory.
    pub fn from_fd(
        fd: std::os::fd::BorrowedFd<'_>,
        offset: u64,
        len: usize,
    ) -> std::io::Result<SharedMapping> {
        let len = len.max(1);
        let size = std::num::NonZeroUsize::new(len).expect("len >= 1");
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| std::io::Error::other("shared memory offset out of range"))?;
        // SAFETY:
        // - no address hint, so the kernel picks a range that overlaps nothing of ours;
        // - the file is a memory file we were handed for exactly this; a file shorter
        //   than `offset + len` would make accesses past its end fault, so callers map
        //   only ranges the creator sized with `ftruncate` (checked by the kernel for
        //   the offset, by the creator's layout for the length);
        // - the result is checked; on success it is `len` readable and writable bytes
        //   that we own until `munmap` in `Drop`.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                size,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
                fd,
                offset,
            )
        }
        .map_err(std::io::Error::from)?;
        Ok(SharedMapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The mapping's first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and no reference into
        // the mapping outlives `self` (`crate::runtime::shm` ties them to `&self`).
        unsafe { super::mem::unmap(self.ptr, self.len) };
    }
}

/// Types that may live in shared memory: valid at all-zero bytes, no pointers,
/// mutated only through atomics.
///
/// # Safety
/// Implementors promise exactly that: the mapping starts zero-filled, and another
/// process may see it at another address, so a zero pattern must be a valid value
/// and nothing in it may point anywhere.
pub unsafe trait ShmPod: Sync {}
// SAFETY: atomics are valid at zero, hold no pointers and mutate through `&self`.
unsafe impl ShmPod for AtomicU64 {}
// SAFETY: as above.
unsafe impl ShmPod for AtomicI64 {}
// SAFETY: as above.
unsafe impl ShmPod for AtomicU32 {}
// SAFETY: a `FutexLock` is `#[repr(transparent)]` over one `AtomicU32`, unlocked at
// zero (see `super::futex`).
unsafe impl ShmPod for super::futex::FutexLock {}

/// The `count` values of `T` that start `offset` bytes into `mapping`.
///
/// Panics unless they fit in the mapping and `offset` is aligned for `T`; the
/// callers (`crate::runtime::shm::Layout`) size and align their layouts up front, so a panic
/// here is a layout bug, not bad input.
pub fn place_slice<T: ShmPod>(mapping: &SharedMapping, offset: usize, count: usize) -> &[T] {
    let bytes = std::mem::size_of::<T>() * count;
    assert!(
        offset
            .checked_add(bytes)
            .is_some_and(|end| end <= mapping.len),
        "shared layout overflows its region: size it with the same Sizer sequence"
    );
    assert_eq!(
        offset % std::mem::align_of::<T>(),
        0,
        "misaligned shared object"
    );
    // SAFETY:
    // - `count` consecutive `T`s from `offset` lie inside the mapping and are aligned
    //   (both asserted above), and the mapping lives as long as the borrow we return;
    // - the memory is initialised (zero-filled by the kernel), and `T: ShmPod` is
    //   valid at all-zero bytes, holds no pointers and is only mutated through
    //   atomics, so shared references to it are sound even while other threads or
    //   processes use the same bytes.
    unsafe { std::slice::from_raw_parts(mapping.as_ptr().add(offset) as *const T, count) }
}
