//! Private anonymous mappings: memory straight from the kernel, given back on drop.
//!
//! An allocator that wants to *return* memory to the operating system (pymalloc
//! frees an arena when its last pool empties) must get it with `mmap` and give it
//! back with `munmap`; through `malloc` it would stay in the C library's heap.

use std::ptr::NonNull;

/// An owned, zero-filled, page-aligned `MAP_PRIVATE | MAP_ANONYMOUS` mapping.
#[derive(Debug)]
pub struct PrivateMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; shared access only
// hands out `&[u8]`, mutable access `&mut [u8]`, so Rust's aliasing rules hold.
unsafe impl Send for PrivateMapping {}
// SAFETY: as above.
unsafe impl Sync for PrivateMapping {}

/// The page size (4 KiB on x86-64), the unit of every mapping.
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize)
}

/// Maps `len` (at least one) zero-filled, readable and writable anonymous bytes,
/// shared (`MAP_SHARED`: survives fork as one memory) or private.
pub(super) fn map_anonymous(len: usize, shared: bool) -> std::io::Result<(NonNull<u8>, usize)> {
    use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
    let len = len.max(1);
    let size = std::num::NonZeroUsize::new(len).expect("len >= 1");
    let flags = if shared {
        MapFlags::MAP_SHARED
    } else {
        MapFlags::MAP_PRIVATE
    };
    // SAFETY:
    // - no address hint, so the kernel picks a range that overlaps nothing of ours;
    // - the result is checked; on success it is `len` readable and writable,
    //   zero-filled bytes that the caller owns until it calls `unmap`.
    let ptr = unsafe {
        mmap_anonymous(
            None,
            size,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            flags,
        )
    }
    .map_err(std::io::Error::from)?;
    Ok((ptr.cast(), len))
}

/// Unmaps what [`map_anonymous`] (or an `mmap` of a file) returned.
///
/// # Safety
/// `ptr`/`len` are exactly one live mapping's, and no reference into it outlives
/// this call.
pub(super) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller's obligations above are munmap's.
    let _ = unsafe { nix::sys::mman::munmap(ptr.cast(), len) };
}

impl PrivateMapping {
    /// Maps `len` bytes (at least one).
    pub fn new(len: usize) -> std::io::Result<PrivateMapping> {
        let (ptr, len) = map_anonymous(len, false)?;
        Ok(PrivateMapping { ptr, len })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len` initialised (zero-filled) bytes we own, and
        // the returned borrow of `self` prevents a concurrent `&mut`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only borrow.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PrivateMapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and no borrow of the
        // bytes outlives `self`.
        unsafe { unmap(self.ptr, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_zeroed_writable_memory() {
        let mut m = PrivateMapping::new(1 << 20).unwrap();
        assert!(m.as_slice().iter().all(|&b| b == 0));
        m.as_mut_slice()[12345] = 7;
        assert_eq!(m.as_slice()[12345], 7);
        assert!(page_size() >= 4096);
    }
}
