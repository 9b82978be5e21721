//! What one simulated bytecode costs: a few dependent operations, and a read of the
//! simulated interpreter's own memory.
//!
//! CPython runs a bytecode by reading memory, not just registers: its handler's
//! machine code, the frame, the code object, the objects it works on. While that
//! memory is in cache a bytecode costs a few nanoseconds; after the thread has slept
//! for milliseconds much of it is not, and the same bytecodes cost ten times more.
//! CPython 3.11 on the 2-vCPU VM this was built on ran 25 bytecodes and 7 C calls
//! of the convoy's I/O loop in 0.6 µs back to back, and, one hour, 3.2–3.5 µs after
//! a 1 ms sleep and 9–11 µs after a 5 ms one (another hour, when the host was
//! quieter, 2.0 µs after 5 ms). That cold start decides races for the GIL:
//! the I/O thread that has waited a switch interval takes the GIL and runs its first
//! bytecodes slowly, long enough for the CPU-bound thread it just pushed off to come
//! back for the GIL while it is out in its next system call, and the convoy goes on.
//! Bytecodes made of arithmetic alone were never cold: the simulated I/O thread got
//! through that stretch in a tenth of the time, and the unpinned convoy broke in
//! most runs where CPython's held in nine out of ten.
//!
//! So each simulated bytecode reads one cache line of an image of the
//! interpreter, 512 KiB per process, at a line fixed by the bytecode's *site* (where
//! it sits in its code): a loop reruns its sites and stays in cache, and code that
//! has not run for a while finds its lines gone, as CPython's does. The same 25
//! bytecodes and 7 calls ([`super::straight`]) take 0.73 µs back to back, and 3.7
//! µs after 1 ms asleep and 8.9 µs after 5 ms in the first hour above (2.1 µs
//! after 5 ms in the second): the simulation goes cold when and as much as
//! CPython does, because the machine decides both. Those measurements are the only
//! ones the image's size and the line per bytecode were chosen by, and they are
//! CPython's own costs, not gilbench results.

use std::sync::OnceLock;

/// Where a bytecode sits in its code: the same site reads the same line. Each
/// module that runs bytecodes keeps to its own range of sites ([`CPU_LOOP`],
/// [`COUNTER`], [`XI`]; straight-line code uses its ops' addresses), so no two
/// bytecodes share a line by accident.
pub(super) type Site = usize;

/// `cpu-bound`'s loop: its eleven bytecodes are sites 0 to 10.
pub(super) const CPU_LOOP: Site = 0;
/// `shared-counter`'s bytecodes.
pub(super) const COUNTER: Site = 1 << 20;
/// A subinterpreter's messages.
pub(super) const XI: Site = 2 << 20;

/// 512 KiB: the order of what CPython touches running a loop like the convoy's
/// (the eval loop's code, a socket method's, the objects). More than an L1 cache
/// holds, so a line is read from L2 at best; whether it is still there after a
/// sleep is up to the machine (on this 2-vCPU VM, whatever ran on the CPU while
/// the thread slept), exactly as for CPython's own memory.
const IMAGE_WORDS: usize = 1 << 16;

/// Words in a 64-byte cache line.
const LINE_WORDS: usize = 8;

/// The simulated interpreter's memory, one per process: filled once (so its pages
/// are real, not the shared zero page) and only read after.
type Image = [u64; IMAGE_WORDS];

static IMAGE: OnceLock<Box<Image>> = OnceLock::new();

/// Builds this process's image, so that no measured op pays for it: every
/// gilbench process calls it first (`main`), before it forks or serves.
pub fn prepare() {
    image();
}

fn image() -> &'static Image {
    IMAGE.get_or_init(|| {
        let words: Box<[u64]> = (0..IMAGE_WORDS as u64)
            .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
            .collect();
        words.try_into().expect("IMAGE_WORDS words")
    })
}

/// The first word of `site`'s line.
fn line_of(site: Site) -> usize {
    let lines = IMAGE_WORDS / LINE_WORDS;
    (site.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 17) % lines * LINE_WORDS
}

/// One bytecode's work on `x` at `site` (`i` varies the arithmetic between loop
/// iterations): its line of the image, then two rounds of xor-shift and multiply,
/// about 7 ns in cache. The xor-shift also keeps the cost at every call site: a
/// chain of multiply-adds alone is affine, and where `i` is a constant the compiler
/// folds any number of them into one.
#[inline(always)]
pub(super) fn work(mut x: u64, i: u64, site: Site) -> u64 {
    // The read's address takes in `x` through a mask that is zero at run time but
    // opaque to the compiler (`black_box`), so each read waits for the one before,
    // as CPython's chains of pointers do, and cold reads cannot overlap.
    let chain = x as usize & std::hint::black_box(0);
    x ^= image()[(line_of(site) + chain) & (IMAGE_WORDS - 1)];
    for _ in 0..2 {
        x = (x ^ (x >> 29) ^ i).wrapping_mul(6364136223846793005);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_loops_sites_read_distinct_lines() {
        let mut lines: Vec<usize> = (CPU_LOOP..CPU_LOOP + 11).map(line_of).collect();
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), 11);
        assert!(lines.iter().all(|&l| l + LINE_WORDS <= IMAGE_WORDS));
    }

    #[test]
    fn a_bytecode_reads_its_sites_line_of_the_image() {
        // Without the read (or with the wrong line) a bytecode would be arithmetic
        // alone again, never cold.
        let (x, i, site) = (0x1234_u64, 5, 42);
        let mut expected = x ^ image()[line_of(site)];
        for _ in 0..2 {
            expected = (expected ^ (expected >> 29) ^ i).wrapping_mul(6364136223846793005);
        }
        assert_eq!(work(x, i, site), expected);
    }

    #[test]
    fn work_depends_on_the_site_and_not_on_its_chain_mask() {
        assert_ne!(work(1, 0, 7), work(1, 0, 8), "sites read different lines");
        assert_eq!(work(u64::MAX, 3, 7), work(u64::MAX, 3, 7));
    }
}
