//! What one simulated bytecode costs: a few dependent operations, and a read of the
//! simulated interpreter's own memory.
//!
//! CPython runs a bytecode by reading memory, not just registers: its handler's
//! machine code, the frame, the code object, the objects it works on. While that
//! memory is in cache a bytecode costs a few nanoseconds; after the thread has slept
//! for milliseconds much of it is not, and the same bytecodes cost ten times more.
//! CPython 3.11 on the 2-vCPU machine this was built on ran 25 bytecodes and 7 C
//! calls of the convoy's I/O loop in 0.6 µs back to back, 3.2–3.5 µs after a 1 ms
//! sleep, and 9–11 µs after a 5 ms one. That cold start decides races for the GIL:
//! the I/O thread that has waited a switch interval takes the GIL and runs its first
//! bytecodes slowly, long enough for the CPU-bound thread it just pushed off to come
//! back for the GIL while it is out in its next system call, and the convoy goes on.
//! Bytecodes made of arithmetic alone were never cold: the simulated I/O thread got
//! through that stretch in a tenth of the time, and the unpinned convoy broke in
//! most runs where CPython's held in nine out of ten.
//!
//! So each simulated bytecode reads one cache line of an [`Image`] of the
//! interpreter, 512 KiB per process, at a line fixed by the bytecode's *site* (where
//! it sits in its code): a loop reruns its sites and stays in cache, and code that
//! has not run for a while finds its lines gone, as CPython's does. The same 25
//! bytecodes and 7 calls ([`super::straight`]) take 0.73 µs back to back, 3.7 µs
//! after 1 ms asleep and 8.9 µs after 5 ms. Those are the only numbers the image's
//! size and the line per bytecode were chosen by, and both are CPython's own
//! costs, not gilbench results.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where a bytecode sits in its code: the same site reads the same line.
pub(super) type Site = usize;

/// 512 KiB: the order of what CPython touches running a loop like the convoy's
/// (the eval loop's code, a socket method's, the objects), more than an L1 cache
/// and well inside an L2 one.
const IMAGE_WORDS: usize = 1 << 16;

/// Words in a 64-byte cache line.
const LINE_WORDS: usize = 8;

/// The simulated interpreter's memory, one per process: filled once (so its pages
/// are real, not the shared zero page) and only read after.
#[derive(Debug)]
struct Image(Box<[u64]>);

static IMAGE: OnceLock<Image> = OnceLock::new();

/// Zero, but not to the compiler: ANDed into each read's address, it makes every
/// read depend on the one before (as CPython's chains of pointers do), so cold
/// reads cannot overlap one another.
static CHAIN: AtomicUsize = AtomicUsize::new(0);

fn image() -> &'static [u64] {
    &IMAGE
        .get_or_init(|| {
            Image(
                (0..IMAGE_WORDS as u64)
                    .map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
                    .collect(),
            )
        })
        .0
}

/// One bytecode's work on `x` at `site` (`i` varies the arithmetic between loop
/// iterations): its line of the image, then two rounds of xor-shift and multiply,
/// about 7 ns in cache. The xor-shift also keeps the cost at every call site: a
/// chain of multiply-adds alone is affine, and where `i` is a constant the compiler
/// folds any number of them into one.
#[inline(always)]
pub(super) fn work(mut x: u64, i: u64, site: Site) -> u64 {
    let image = image();
    let lines = IMAGE_WORDS / LINE_WORDS;
    let line = (site.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 17) % lines;
    x ^= image[line * LINE_WORDS + (x as usize & CHAIN.load(Ordering::Relaxed))];
    for _ in 0..2 {
        x = (x ^ (x >> 29) ^ i).wrapping_mul(6364136223846793005);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_reads_one_line_whatever_the_value() {
        // The chain mask is zero: the value never moves the read.
        let a = work(0, 0, 7) ^ work(u64::MAX, 0, 7);
        let b = work(0, 0, 7) ^ work(u64::MAX, 0, 7);
        assert_eq!(a, b);
        assert_ne!(work(1, 0, 7), work(1, 0, 8), "sites read different lines");
    }
}
