//! Straight-line simulated Python: the code around a worker's blocking calls,
//! bytecode by bytecode as its twin's `dis` shows it.
//!
//! A loop of arithmetic ([`super::spin`]) costs about one bytecode's work per
//! bytecode. Code around I/O is different: most of its time goes to calls into C
//! (`perf_counter_ns()`, `array.append`, a socket method's argument parsing) and to
//! bytecodes that build objects (slicing a `memoryview` makes a new one). CPython
//! 3.11 pays for each of those about a dozen simple bytecodes' worth ([`CALL_WORK`]),
//! so a worker whose twin makes calls between its system calls holds the GIL
//! that much longer — and how long it holds it there decides who wins the races
//! for the GIL that the convoy effect is made of.

use super::bytecode;
use crate::runtime::interp::{Interp, TickKind};

/// Simple bytecodes' work in one call of a C function, or in one bytecode that
/// builds an object. CPython 3.11 on the 2-vCPU machine this was built on
/// (`python3 -m timeit`, one run, loaded): `now()` (perf_counter_ns) 105 ns,
/// `a.append(5)` (array) 85 ns, `v[g:]` (memoryview slice) 89 ns, against 74 µs
/// for `for i in range(1000): x = (x * 31 + i) & 0xFFFF`, about 7 ns a bytecode.
/// Measured on CPython's own operations, not fitted to any gilbench result.
pub(super) const CALL_WORK: u64 = 12;

/// One bytecode of straight-line code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// A bytecode doing one bytecode's work, then the look at the GIL its kind
    /// has.
    Simple(TickKind),
    /// A call of a C function, or a bytecode that builds an object: [`CALL_WORK`]
    /// bytecodes' work, then the look its kind has (a `CALL` is a check point in
    /// 3.10+). A call that releases the GIL (a socket's `sendall`) is split: its
    /// argument parsing is a `Call(Fast)` before the release (no bytecode boundary,
    /// so no look), and the `CALL`'s check point comes after it returns.
    Call(TickKind),
}

/// Runs `code` on `interp`, its work on `state`.
pub(super) fn run(interp: &mut Interp<'_>, code: &[Op], state: &mut u64) {
    let mut x = *state;
    for (i, op) in code.iter().enumerate() {
        let (kind, work) = match *op {
            Op::Simple(kind) => (kind, 1),
            Op::Call(kind) => (kind, CALL_WORK),
        };
        for w in 0..work {
            // A site per op of each code (its address) and per unit of a call's
            // work: no two ops of any codes share one.
            let op_address = std::ptr::from_ref(op) as usize;
            let site = op_address * CALL_WORK as usize + w as usize;
            x = bytecode::work(x, i as u64 ^ w, site);
        }
        match kind {
            TickKind::Fast => interp.fast_tick(),
            TickKind::Plain => interp.tick(),
            TickKind::CheckPoint => interp.check_point(),
        }
    }
    *state = std::hint::black_box(x);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::gil::LegacyGil;
    use crate::runtime::interp::Lock;
    use crate::runtime::trace::TraceBuf;

    #[test]
    fn a_call_counts_as_one_bytecode_toward_python_2s_check_interval() {
        let gil = LegacyGil::new();
        let mut interp = Interp::new(0, Lock::Legacy(&gil, 10), TraceBuf::disabled());
        interp.enter();
        let code = [
            Op::Simple(TickKind::Plain),
            Op::Call(TickKind::CheckPoint),
            Op::Simple(TickKind::Fast),
            Op::Call(TickKind::Fast),
        ];
        let mut state = 0;
        for _ in 0..11 {
            run(&mut interp, &code, &mut state);
        }
        interp.exit();
        // Two counted bytecodes a pass, 22 in all: the entry take plus two
        // releases (every 11 counted, `--_Py_Ticker < 0`).
        assert_eq!(interp.into_parts().0.acquisitions, 3);
    }
}
