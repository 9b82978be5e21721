//! Memory figures from `/proc`: what the kernel says a process holds.
//!
//! - `MemAvailable` (`/proc/meminfo`), and the address space left under
//!   `RLIMIT_AS` (`ulimit -v`; `VmSize` in `/proc/self/status`): how much a scenario
//!   may allocate before the machine starts to swap or kill, or the allocator fails
//!   and aborts, for rejecting a plan that cannot fit before it starts;
//! - `/proc/self/smaps_rollup`: `Private_Dirty` (pages only this process has
//!   written — after `fork()`, the pages copy-on-write has copied), `Pss`
//!   (proportional set size: shared pages split among their sharers) and `Rss`;
//! - `/proc/self/statm`: the resident set, cheaply.

/// Bytes this process can still allocate: the kernel's estimate of what can be
/// allocated without swapping, or less if `RLIMIT_AS` leaves less address space
/// (an allocation past it fails, and Rust aborts); `None` if neither is known.
pub fn mem_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| field_kib(&text, "MemAvailable:"))
        .map(|kib| kib * 1024);
    [meminfo, address_space_left()].into_iter().flatten().min()
}

/// Address space left under `RLIMIT_AS` (`ulimit -v`), if it is limited.
pub fn address_space_left() -> Option<u64> {
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    let (soft, _) = getrlimit(Resource::RLIMIT_AS).ok()?;
    if soft == RLIM_INFINITY {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used = field_kib(&status, "VmSize:")? * 1024;
    Some(soft.saturating_sub(used))
}

/// The memory of this process as `smaps_rollup` sums it, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rollup {
    /// Resident set.
    pub rss: u64,
    /// Proportional set size.
    pub pss: u64,
    /// Pages written by this process only (copied, or never shared).
    pub private_dirty: u64,
    /// Pages written and still shared with another process.
    pub shared_dirty: u64,
}

/// Reads `/proc/self/smaps_rollup` (Linux 4.14+).
pub fn smaps_rollup() -> std::io::Result<Rollup> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")?;
    let get = |name: &str| field_kib(&text, name).unwrap_or(0) * 1024;
    Ok(Rollup {
        rss: get("Rss:"),
        pss: get("Pss:"),
        private_dirty: get("Private_Dirty:"),
        shared_dirty: get("Shared_Dirty:"),
    })
}

/// This process's resident set in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * crate::sys::mem::page_size() as u64)
}

/// The value of a `Name:   123 kB` line.
fn field_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(mem_available().unwrap() > 0);
        let r = smaps_rollup().unwrap();
        assert!(r.rss > 0 && r.pss > 0 && r.private_dirty > 0, "{r:?}");
        assert!(rss_bytes() > 0);
        assert_eq!(field_kib("A:  1 kB\nB:\t 42 kB\n", "B:"), Some(42));
    }
}
