//! The parent's heap for `gilbench spawn --heap`: allocated and touched page by
//! page up front, so every page is resident and mapped — what a Python process
//! that has built a large data structure looks like to `fork`.

use crate::sys::thp;

/// A touched heap of a given size.
#[derive(Debug)]
pub struct Heap {
    bytes: Vec<u8>,
}

impl Heap {
    /// Allocates `size` bytes, advises huge pages on or off, and writes one byte
    /// per page so each is resident and present in the page tables.
    pub fn touched(size: u64, huge_pages: bool) -> std::io::Result<Heap> {
        let size = usize::try_from(size).map_err(|_| std::io::Error::other("heap too large"))?;
        // `vec![0; n]` asks the allocator for zeroed memory: for a large size, a
        // fresh anonymous mapping that is not touched yet, so the huge-page advice
        // below still applies to every page. (The caller checked MemAvailable.)
        let mut bytes = vec![0u8; size];
        thp::advise_huge_pages(&mut bytes, huge_pages)?;
        let mut heap = Heap { bytes };
        heap.write_every_page();
        Ok(heap)
    }

    /// The size, bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the heap is empty (`--heap 0`).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Pages in the heap.
    pub fn pages(&self) -> u64 {
        self.bytes.len().div_ceil(crate::sys::mem::page_size()) as u64
    }

    /// Writes one byte in every page: in a forked child, each write to a page
    /// still shared with the parent is a copy-on-write fault.
    pub fn write_every_page(&mut self) {
        let page = crate::sys::mem::page_size();
        for i in (0..self.bytes.len()).step_by(page) {
            self.bytes[i] = self.bytes[i].wrapping_add(1);
        }
        // The writes are the point: keep the optimiser from dropping them.
        std::hint::black_box(&mut self.bytes);
    }
}
