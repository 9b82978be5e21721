//! Subinterpreters (PEP 684/734) by mechanism: what creating one costs, and the
//! channel that copies every message between two of them.
//!
//! Interpreters share no objects. A value crosses as CPython's interpreter
//! queues send an object that is not shareable (`Queue.put()` in
//! `Lib/test/support/interpreters/queues.py` of 3.13, `concurrent.interpreters`
//! in 3.14): `pickle.dumps(obj)` in the sender, the channel's own copy of those
//! bytes into the receiving interpreter, `pickle.loads` there. So a message
//! costs a few C calls (a fixed number of bytecodes' work, [`MESSAGE_BYTECODES`])
//! plus [`MESSAGE_COPIES`] passes over its bytes, which the simulation really
//! makes: its per-byte cost is this machine's copy speed, as CPython's is. A
//! receiver that finds the channel empty sleeps [`POLL_DELAY`] and looks again,
//! as CPython's blocking `get()`/`recv()` do.
//!
//! Creating an interpreter ([`Interpreter::create`]) initialises
//! [`MODULES`] modules (builtins, sys, the frozen importlib, encodings, io…):
//! each module's share of the new interpreter's own heap is allocated and
//! written, and its body runs ([`MODULE_BYTECODES`] bytecodes' work).
//!
//! Every constant was measured on CPython 3.12.1 and 3.13.0 by
//! `scripts/subinterpreters_costs.py` (2-vCPU machine, loaded: the minimum of
//! seven repeats), in bytecodes of the cpu-bound loop measured in the same
//! process, so they carry over to any machine as the simulated bytecode does.
//!
//! The run's region header says when a run's shared objects are behind a
//! channel ([`install`], [`installed`]), as [`crate::manager::home`] says when
//! they are in a manager.

use super::bytecode;
use crate::runtime::interp::Interp;
use crate::runtime::shm::SharedRegion;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Modules a new isolated interpreter holds: `len(sys.modules)` inside a fresh
/// `_interpreters.create()`: 32 on 3.12.1, 33 on 3.13.0.
pub const MODULES: u64 = 32;

/// Bytecodes' work of one module's initialisation: creating an interpreter took
/// 1.17M bytecodes' time on 3.12.1 (17.4 ms at 14.9 ns a bytecode; 1.26M in a
/// quieter run) and 0.93M on 3.13.0 (9.0 ms at 9.7 ns): about 1M, over
/// [`MODULES`] modules.
pub const MODULE_BYTECODES: u64 = 1_000_000 / MODULES;

/// What one live interpreter adds to the process's RSS: 2.44–2.51 MB on
/// 3.12.1, 2.37 MB on 3.13.0 (its own obmalloc arenas, module dicts, code).
pub const HEAP_BYTES: usize = 2_400_000;

/// Bytecodes' work of one message's calls (`pickle.dumps`, the channel's send
/// and receive, `pickle.loads`), half on each side: 140–152 bytecodes on
/// 3.12.1, 196–255 on 3.13.0 (an 8-byte message).
pub const MESSAGE_BYTECODES: u64 = 170;

/// Passes over a message's bytes: its per-byte cost was 2.9 times that of one
/// `bytearray(b)` copy (3.12.1 and 3.13.0, 8 B to 64 KiB): `dumps` writes the
/// bytes, the channel copies them into the receiver, `loads` builds the object.
pub const MESSAGE_COPIES: usize = 3;

/// How long a receiver sleeps on an empty channel (a sender on a full one)
/// before looking again: CPython's `_delay=10 / 1000` in `recv()`/`get()`/`put()`.
pub const POLL_DELAY: Duration = Duration::from_millis(10);

/// Word 0 of the region header when the run's objects cross a channel
/// ("xichan" in ASCII).
const CHANNEL: u64 = u64::from_le_bytes(*b"xichan\0\0");

/// Records in `region` that its shared objects live behind a channel.
pub fn install(region: &SharedRegion) {
    region.header()[0].store(CHANNEL, Ordering::Release);
}

/// Whether `region`'s shared objects live behind a channel (a `subinterpreters`
/// run).
pub fn installed(region: &SharedRegion) -> bool {
    region.header()[0].load(Ordering::Acquire) == CHANNEL
}

/// A simulated interpreter: its heap, kept until it is dropped (destroyed).
#[derive(Debug)]
pub struct Interpreter {
    heap: Vec<u8>,
}

impl Interpreter {
    /// Creates one, module by module: each module's share of the heap is
    /// written (unmarshalled code, its dict), then its body runs. Fails (rather
    /// than aborting) when the heap cannot be had: thousands of interpreters
    /// need gigabytes, as in CPython.
    pub fn create() -> std::io::Result<Interpreter> {
        let share = HEAP_BYTES / MODULES as usize;
        let mut heap = Vec::new();
        heap.try_reserve_exact(HEAP_BYTES).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("no memory for an interpreter's {HEAP_BYTES}-byte heap"),
            )
        })?;
        let mut x = 1u64;
        for module in 0..MODULES {
            heap.resize(heap.len() + share, module as u8);
            for i in 0..MODULE_BYTECODES {
                // The cpu-bound loop's bytecodes, which these costs are counted in.
                x = bytecode::work(x, i, bytecode::CPU_LOOP + (i % 11) as usize);
            }
        }
        heap[0] = std::hint::black_box(x) as u8;
        Ok(Interpreter { heap })
    }

    /// Bytes of its heap.
    pub fn heap_bytes(&self) -> usize {
        self.heap.len()
    }
}

/// One end of a channel, in one worker's interpreter: pays for each message it
/// sends or receives, in that interpreter, holding its GIL. The channel's
/// storage (a ring, a word) is the caller's: it copies [`Endpoint::dumps`]'s
/// bytes in, and a message's bytes out into [`Endpoint::inbox`].
#[derive(Debug, Default)]
pub struct Endpoint {
    /// `pickle.dumps`'s bytes of the message being sent.
    pickled: Vec<u8>,
    /// A received message's bytes, copied into this interpreter.
    inbox: Vec<u8>,
    /// The object `pickle.loads` built from them.
    object: Vec<u8>,
    /// What the simulated calls compute, so each costs its time.
    work: u64,
}

impl Endpoint {
    /// `put(obj)`'s `pickle.dumps(obj)` and send call: the bytes to hand to the
    /// channel (the first of [`MESSAGE_COPIES`] passes).
    pub fn dumps(&mut self, interp: &mut Interp<'_>, message: &[u8]) -> &[u8] {
        self.calls(interp);
        self.pickled.clear();
        self.pickled.extend_from_slice(message);
        &self.pickled
    }

    /// Where the channel copies a received message's bytes into this
    /// interpreter (the second pass), emptied.
    pub fn inbox(&mut self) -> &mut Vec<u8> {
        self.inbox.clear();
        &mut self.inbox
    }

    /// `get()`'s receive call and `pickle.loads`: the object rebuilt from the
    /// inbox (the third pass).
    pub fn loads(&mut self, interp: &mut Interp<'_>) -> &[u8] {
        self.calls(interp);
        self.object.clear();
        self.object.extend_from_slice(&self.inbox);
        &self.object
    }

    /// One side's calls: half of [`MESSAGE_BYTECODES`], a check point after each
    /// of its two calls (`dumps` and `send`, or `recv` and `loads`).
    #[inline]
    fn calls(&mut self, interp: &mut Interp<'_>) {
        for call in 0..2 {
            for i in 0..MESSAGE_BYTECODES / 4 {
                self.work =
                    bytecode::work(self.work, i ^ call, bytecode::XI + (i * 2 + call) as usize);
            }
            interp.check_point();
        }
        self.work = std::hint::black_box(self.work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::interp::Lock;
    use crate::runtime::trace::TraceBuf;

    #[test]
    fn the_header_says_when_objects_cross_a_channel() {
        let region = SharedRegion::new(crate::runtime::shm::Sizer::default().bytes()).unwrap();
        assert!(!installed(&region));
        install(&region);
        assert!(installed(&region.clone()));
        assert!(crate::manager::home::endpoint(&region).is_none());
    }

    #[test]
    fn a_message_arrives_whole() {
        let mut interp = Interp::new(0, Lock::Free, TraceBuf::disabled());
        let (mut a, mut b) = (Endpoint::default(), Endpoint::default());
        let message: Vec<u8> = (0..=255).collect();
        let wire = a.dumps(&mut interp, &message).to_vec();
        b.inbox().extend_from_slice(&wire);
        assert_eq!(b.loads(&mut interp), &message[..]);
        b.inbox();
        assert!(b.loads(&mut interp).is_empty(), "the inbox starts empty");
    }

    #[test]
    fn an_interpreter_has_its_heap() {
        let interp = Interpreter::create().unwrap();
        assert!(interp.heap_bytes() >= HEAP_BYTES - MODULES as usize);
    }
}
