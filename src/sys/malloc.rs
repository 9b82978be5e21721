//! The C library allocator's own statistics (`mallinfo2`, glibc 2.33+).

/// What glibc's malloc holds, process-wide, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MallocInfo {
    /// Obtained from the OS and still held: heap arenas plus mmapped chunks.
    pub held: u64,
    /// Handed out to the program and not yet freed.
    pub in_use: u64,
}

/// Reads glibc's statistics; zeros where they are not available.
pub fn mallinfo() -> MallocInfo {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` has no preconditions; it takes the allocator's locks
        // itself and returns a plain struct by value.
        let m = unsafe { libc::mallinfo2() };
        MallocInfo {
            held: (m.arena + m.hblkhd) as u64,
            in_use: (m.uordblks + m.hblkhd) as u64,
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        MallocInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_an_allocation() {
        // Process-wide figures, and other tests allocate and free meanwhile: look
        // only for something no other test comes near.
        let big = std::hint::black_box(vec![1u8; 64 << 20]);
        let during = mallinfo();
        assert!(during.in_use >= 64 << 20, "{during:?}");
        assert!(during.held >= during.in_use, "{during:?}");
        drop(big);
    }
}
