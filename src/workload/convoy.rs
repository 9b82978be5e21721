//! `convoy`: one I/O worker's round trips while CPU-bound workers run (bpo-7946).

use super::cpu::{run_bytecodes, Spinner};
use super::echo::EchoPeer;
use super::{Common, ParamError, WorkerBody, WorkerSpec, Workload};
use crate::runtime::interp::Interp;
use crate::runtime::shm::SharedRegion;
use serde::Deserialize;

/// Parameters of `convoy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvoyParams {
    /// CPU-bound workers beside the I/O worker (default: `workers - 1`).
    pub cpu_workers: Option<i64>,
    /// Round trips of the I/O worker (default: `ops`).
    pub rounds: Option<i64>,
    /// Bytes per request and reply.
    #[serde(default = "default_message_bytes")]
    pub message_bytes: i64,
    /// Simulated bytecodes per op of a CPU-bound worker.
    #[serde(default = "default_ticks")]
    pub ticks_per_op: i64,
}

fn default_message_bytes() -> i64 {
    64
}

fn default_ticks() -> i64 {
    20_000
}

/// Worker 0 does round trips to an echo peer; the others compute until it is done.
#[derive(Debug)]
pub struct Convoy {
    message_bytes: usize,
    ticks_per_op: u64,
    workers: Vec<WorkerSpec>,
}

impl Convoy {
    /// Checks the parameters.
    pub fn new(params: ConvoyParams, common: Common) -> Result<Convoy, ParamError> {
        let cpu_workers = params.cpu_workers.unwrap_or(common.workers as i64 - 1);
        if cpu_workers < 0 {
            return Err(ParamError::field("cpu_workers", "must not be negative"));
        }
        let rounds = params.rounds.unwrap_or(common.ops as i64);
        if rounds < 1 {
            return Err(ParamError::field("rounds", "must be at least 1"));
        }
        if !(1..=65536).contains(&params.message_bytes) {
            return Err(ParamError::field("message_bytes", "must be 1 to 65536"));
        }
        if params.ticks_per_op < 1 {
            return Err(ParamError::field("ticks_per_op", "must be at least 1"));
        }
        let mut workers = vec![WorkerSpec {
            role: "io",
            ops: Some(rounds as u64),
        }];
        workers.extend((0..cpu_workers).map(|_| WorkerSpec {
            role: "cpu",
            ops: None,
        }));
        Ok(Convoy {
            message_bytes: params.message_bytes as usize,
            ticks_per_op: params.ticks_per_op as u64,
            workers,
        })
    }
}

/// The twin's I/O loop (`scripts/convoy.py`'s `io_worker`), bytecode by bytecode as
/// CPython 3.11's `dis` shows it, cut at its two blocking calls. What runs between
/// the calls decides races for the GIL: the I/O worker holds the GIL through these
/// bytecodes after each call returns, and a CPU-bound worker woken by its drop has
/// that long to queue up again before the next drop.
mod io_loop {
    use crate::runtime::interp::TickKind::{self, CheckPoint as C, Fast as F, Plain as P};

    /// From `t0 = now()` up to `sock.sendall(payload)`'s call.
    pub(super) const BEFORE_SEND: &[TickKind] = &[
        F, // STORE_FAST t0
        F, // LOAD_FAST sock
        P, // LOAD_METHOD sendall
        F, // LOAD_FAST payload
        P, // PRECALL
    ];

    /// From `sendall`'s return (its `CALL` checks the eval breaker: the caller's
    /// check point) up to `sock.recv_into(view[got:])`'s call.
    pub(super) const BEFORE_RECV: &[TickKind] = &[
        F, // POP_TOP
        F, // PUSH_NULL
        F, // LOAD_FAST now
        P, // PRECALL
        C, // CALL now()  (t1)
        F, // STORE_FAST t1
        F, // LOAD_CONST 0
        F, // STORE_FAST got
        F, // LOAD_FAST got
        P, // LOAD_GLOBAL MESSAGE_BYTES
        P, // COMPARE_OP <
        P, // POP_JUMP_FORWARD_IF_FALSE
        F, // LOAD_FAST sock
        P, // LOAD_METHOD recv_into
        F, // LOAD_FAST view
        F, // LOAD_FAST got
        F, // LOAD_CONST None
        P, // BUILD_SLICE
        P, // BINARY_SUBSCR
        P, // PRECALL
    ];

    /// From `recv_into`'s return (its `CALL`'s check point is the caller's)
    /// through `t2 = now()`: the loop tests.
    pub(super) const AFTER_RECV: &[TickKind] = &[
        F, // STORE_FAST n
        F, // LOAD_FAST n
        F, // LOAD_CONST 0
        P, // COMPARE_OP ==
        P, // POP_JUMP_FORWARD_IF_FALSE
        F, // LOAD_FAST got
        F, // LOAD_FAST n
        P, // BINARY_OP +=
        F, // STORE_FAST got
        F, // LOAD_FAST got
        P, // LOAD_GLOBAL MESSAGE_BYTES
        P, // COMPARE_OP <
        P, // POP_JUMP_BACKWARD_IF_TRUE (not taken: no check)
        F, // PUSH_NULL
        F, // LOAD_FAST now
        P, // PRECALL
        C, // CALL now()  (t2)
        F, // STORE_FAST t2
    ];

    /// `lat.append(t2 - t0)`; the round does it three times (round trip, send
    /// half, receive half).
    pub(super) const APPEND: &[TickKind] = &[
        F, // LOAD_FAST lat
        P, // LOAD_METHOD append
        F, // LOAD_FAST t2
        F, // LOAD_FAST t0
        P, // BINARY_OP -
        P, // PRECALL
        C, // CALL
        F, // POP_TOP
    ];

    /// The `for` and the next round's `now()` up to its call, which is where the
    /// harness reads its clock. The twin's clock stops at `t2`; the harness times
    /// whole rounds, so the appends and these (under a microsecond) fall inside
    /// gilbench's round trip and outside the twin's.
    pub(super) const NEXT_ROUND: &[TickKind] = &[
        C, // JUMP_BACKWARD
        P, // FOR_ITER
        F, // STORE_FAST _
        F, // PUSH_NULL
        F, // LOAD_FAST now
        P, // PRECALL
    ];
}

/// The I/O worker: round trips to an echo peer process, with the twin's bytecodes
/// around each blocking call.
struct RoundTripper {
    peer: EchoPeer,
    state: u64,
}

impl WorkerBody for RoundTripper {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        let (peer, state) = (&mut self.peer, &mut self.state);
        run_bytecodes(interp, io_loop::BEFORE_SEND, state);
        // Like CPython's socket module: send and recv each release the GIL, and
        // the `CALL` looks at the eval breaker once the call returns.
        interp.allow_threads(|| peer.send())?;
        interp.check_point();
        run_bytecodes(interp, io_loop::BEFORE_RECV, state);
        interp.allow_threads(|| peer.recv())?;
        interp.check_point();
        run_bytecodes(interp, io_loop::AFTER_RECV, state);
        for _ in 0..3 {
            run_bytecodes(interp, io_loop::APPEND, state);
        }
        run_bytecodes(interp, io_loop::NEXT_ROUND, state);
        Ok(())
    }
}

impl Workload for Convoy {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        _shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        if index == 0 {
            Ok(Box::new(RoundTripper {
                peer: EchoPeer::new(self.message_bytes)?,
                state: 0,
            }))
        } else {
            Ok(Box::new(Spinner::new(self.ticks_per_op, index)))
        }
    }
}
