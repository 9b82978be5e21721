//! Transparent huge pages: `madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE)` on a buffer
//! we own, so `gilbench spawn --heap` can show fork's page-table copy with 4 KiB
//! pages (the default) or 2 MiB ones (`--huge-pages`) whatever the system default.

use super::mem::page_size;
use nix::sys::mman::{madvise, MmapAdvise};
use std::ptr::NonNull;

/// Asks the kernel to back the whole pages inside `buf` with huge pages (`huge`)
/// or never to (`!huge`). Call before touching `buf`. Does nothing to a buffer
/// smaller than a page.
pub fn advise_huge_pages(buf: &mut [u8], huge: bool) -> std::io::Result<()> {
    let page = page_size();
    let start = buf.as_mut_ptr() as usize;
    let aligned = start.div_ceil(page) * page;
    let end = (start + buf.len()) / page * page;
    if end <= aligned {
        return Ok(());
    }
    let Some(addr) = NonNull::new(aligned as *mut libc::c_void) else {
        return Ok(());
    };
    let advice = if huge {
        MmapAdvise::MADV_HUGEPAGE
    } else {
        MmapAdvise::MADV_NOHUGEPAGE
    };
    // SAFETY:
    // - `[aligned, end)` is page-aligned and lies inside `buf`, which we borrow
    //   mutably, so the advice touches no memory anyone else owns;
    // - MADV_HUGEPAGE / MADV_NOHUGEPAGE only change how the kernel may back the
    //   range, never its contents, so no Rust-visible state changes.
    unsafe { madvise(addr, end - aligned, advice) }.map_err(std::io::Error::from)
}

/// The system's THP setting, the bracketed word of
/// `/sys/kernel/mm/transparent_hugepage/enabled` (`always`, `madvise`, `never`).
pub fn system_setting() -> String {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|s| {
            let open = s.find('[')?;
            let close = s[open..].find(']')? + open;
            Some(s[open + 1..close].to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_on_a_heap_buffer_is_accepted() {
        let mut buf = vec![0u8; 8 << 20];
        advise_huge_pages(&mut buf, false).unwrap();
        advise_huge_pages(&mut buf[..10], true).unwrap();
        assert!(page_size() >= 4096);
        assert!(!system_setting().is_empty());
    }
}
