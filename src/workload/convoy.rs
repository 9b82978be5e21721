//! `convoy`: one I/O worker's round trips while CPU-bound workers run (bpo-7946).

use super::cpu::Spinner;
use super::echo::EchoPeer;
use super::placement::{Pin, Pinned};
use super::straight;
use super::{Await, Common, ParamError, Step, WorkerBody, WorkerSpec, Workload};
use crate::runtime::interp::Interp;
use crate::runtime::shm::{SharedRegion, Sizer};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Where the I/O worker, its echo peer and the CPU-bound workers run
    /// (`super::placement`).
    #[serde(default)]
    pub pin: Pin,
}

fn default_message_bytes() -> i64 {
    64
}

fn default_ticks() -> i64 {
    20_000
}

/// The most CPU-bound workers: `--workers`' limit (4096) less the I/O worker.
const MAX_CPU_WORKERS: i64 = 4095;

/// Worker 0 does round trips to an echo peer; the others compute until it is done.
#[derive(Debug)]
pub struct Convoy {
    message_bytes: usize,
    ticks_per_op: u64,
    pin: Pin,
    workers: Vec<WorkerSpec>,
}

impl Convoy {
    /// Checks the parameters.
    pub fn new(params: ConvoyParams, common: Common) -> Result<Convoy, ParamError> {
        let cpu_workers = params.cpu_workers.unwrap_or(common.workers as i64 - 1);
        // At most what `--workers` allows (4095 beside the I/O worker): a huge
        // count would abort on the allocation of its specs, not be refused.
        if !(0..=MAX_CPU_WORKERS).contains(&cpu_workers) {
            return Err(ParamError::field(
                "cpu_workers",
                format!("must be at least 0 and at most {MAX_CPU_WORKERS}"),
            ));
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
            pin: params.pin,
            workers,
        })
    }
}

/// The twin's I/O loop (`scripts/convoy.py`'s `io_worker`), bytecode by bytecode as
/// CPython 3.11's `dis` shows it, cut at its two blocking calls. The I/O worker
/// holds the GIL through these after each call returns: a CPU-bound worker woken by
/// its last drop has that long to queue up for the next one.
mod io_loop {
    use super::super::straight::Op::{self, Call, Simple};
    use crate::runtime::interp::TickKind::{CheckPoint as C, Fast as F, Plain as P};

    /// From `t0 = now()` up to `sock.sendall(payload)`'s release of the GIL.
    pub(super) const BEFORE_SEND: &[Op] = &[
        Simple(F), // STORE_FAST t0
        Simple(F), // LOAD_FAST sock
        Simple(P), // LOAD_METHOD sendall
        Simple(F), // LOAD_FAST payload
        Simple(P), // PRECALL
        Call(F),   // CALL sendall: parsing its arguments, then the release
    ];

    /// From `sendall`'s return (its `CALL`'s check point is the caller's) up to
    /// `sock.recv_into(view[got:])`'s release of the GIL.
    pub(super) const BEFORE_RECV: &[Op] = &[
        Simple(F), // POP_TOP
        Simple(F), // PUSH_NULL
        Simple(F), // LOAD_FAST now
        Simple(P), // PRECALL
        Call(C),   // CALL now()  (t1)
        Simple(F), // STORE_FAST t1
        Simple(F), // LOAD_CONST 0
        Simple(F), // STORE_FAST got
        Simple(F), // LOAD_FAST got
        Simple(P), // LOAD_GLOBAL MESSAGE_BYTES
        Simple(P), // COMPARE_OP <
        Simple(F), // POP_JUMP_FORWARD_IF_FALSE
        Simple(F), // LOAD_FAST sock
        Simple(P), // LOAD_METHOD recv_into
        Simple(F), // LOAD_FAST view
        Simple(F), // LOAD_FAST got
        Simple(F), // LOAD_CONST None
        Simple(P), // BUILD_SLICE
        Call(P),   // BINARY_SUBSCR: a new memoryview
        Simple(P), // PRECALL
        Call(F),   // CALL recv_into: parsing its arguments, then the release
    ];

    /// From `recv_into`'s return through `t2 = now()`: the loop tests.
    pub(super) const AFTER_RECV: &[Op] = &[
        Simple(F), // STORE_FAST n
        Simple(F), // LOAD_FAST n
        Simple(F), // LOAD_CONST 0
        Simple(P), // COMPARE_OP ==
        Simple(F), // POP_JUMP_FORWARD_IF_FALSE
        Simple(F), // LOAD_FAST got
        Simple(F), // LOAD_FAST n
        Simple(P), // BINARY_OP +=
        Simple(F), // STORE_FAST got
        Simple(F), // LOAD_FAST got
        Simple(P), // LOAD_GLOBAL MESSAGE_BYTES
        Simple(P), // COMPARE_OP <
        Simple(F), // POP_JUMP_BACKWARD_IF_TRUE (not taken: no check)
        Simple(F), // PUSH_NULL
        Simple(F), // LOAD_FAST now
        Simple(P), // PRECALL
        Call(C),   // CALL now()  (t2)
        Simple(F), // STORE_FAST t2
    ];

    /// `lat.append(t2 - t0)`; a round does it three times (the round trip, its
    /// send half and its receive half).
    pub(super) const APPEND: &[Op] = &[
        Simple(F), // LOAD_FAST lat
        Simple(P), // LOAD_METHOD append
        Simple(F), // LOAD_FAST t2
        Simple(F), // LOAD_FAST t0
        Simple(P), // BINARY_OP -
        Simple(P), // PRECALL
        Call(C),   // CALL append
        Simple(F), // POP_TOP
    ];

    /// The `for` and the next round's `now()`, which is where the harness reads
    /// its clock. The twin's clock stops at `t2`; the harness times whole rounds,
    /// so the appends and these (about a microsecond) fall inside gilbench's round
    /// trip and outside the twin's.
    pub(super) const NEXT_ROUND: &[Op] = &[
        Simple(C), // JUMP_BACKWARD
        Simple(P), // FOR_ITER (its PREDICT is off under computed gotos)
        Simple(F), // STORE_FAST _
        Simple(F), // PUSH_NULL
        Simple(F), // LOAD_FAST now
        Simple(P), // PRECALL
        Call(C),   // CALL now()  (t0)
    ];
}

/// The start order of the twin (`run_threads`): the I/O worker's first round trip
/// waits, GIL released, until every CPU-bound worker has done a first op, so it
/// meets a GIL held by one, as a server's I/O thread would. Started the other way
/// round, the I/O worker can get going on a free GIL and settle in the opposite
/// steady state. The counts live in the shared region, for `processes` too.
struct StartOrder<'a> {
    /// CPU-bound workers prepared for this run (none in `sequential`).
    prepared: &'a AtomicU64,
    /// Those that have done their first op.
    spinning: &'a AtomicU64,
}

/// How long the I/O worker waits at most for the CPU-bound workers to spin: one
/// stopped before its first op (a failed run, Ctrl-C) must not hold it for ever.
const SPIN_UP_LIMIT: Duration = Duration::from_secs(1);

impl<'a> StartOrder<'a> {
    fn open(shared: &'a SharedRegion) -> StartOrder<'a> {
        let mut layout = shared.layout();
        StartOrder {
            prepared: layout.place(),
            spinning: layout.place(),
        }
    }

    /// Blocks until every prepared CPU-bound worker spins (or the limit passes).
    fn wait_for_spinners(&self) {
        let until = Instant::now() + SPIN_UP_LIMIT;
        while self.spinning.load(Ordering::Acquire) < self.prepared.load(Ordering::Acquire)
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// The I/O worker: round trips to an echo peer process, with the twin's bytecodes
/// around each blocking call.
struct RoundTripper<'a> {
    peer: EchoPeer,
    state: u64,
    order: StartOrder<'a>,
    _pinned: Option<Pinned>,
    /// As a coroutine: `None` between ops, else the reply's bytes read so far
    /// while the op waits for the rest.
    awaiting: Option<usize>,
    /// As a coroutine: the socket has been made non-blocking.
    nonblocking: bool,
}

impl RoundTripper<'_> {
    /// The rest of the round trip once the reply is in.
    fn after_recv(&mut self, interp: &mut Interp<'_>) {
        let state = &mut self.state;
        interp.check_point();
        straight::run(interp, io_loop::AFTER_RECV, state);
        for _ in 0..3 {
            straight::run(interp, io_loop::APPEND, state);
        }
        straight::run(interp, io_loop::NEXT_ROUND, state);
    }
}

impl WorkerBody for RoundTripper<'_> {
    fn before_first_op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        // The twin's `spinning.acquire()`: a lock wait, GIL released.
        interp.allow_threads(|| self.order.wait_for_spinners());
        Ok(())
    }

    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        let (peer, state) = (&mut self.peer, &mut self.state);
        straight::run(interp, io_loop::BEFORE_SEND, state);
        // Like CPython's socket module: send and recv each release the GIL, and
        // the `CALL` looks at the eval breaker once the call returns.
        interp.allow_threads(|| peer.send())?;
        interp.check_point();
        straight::run(interp, io_loop::BEFORE_RECV, state);
        interp.allow_threads(|| peer.recv())?;
        self.after_recv(interp);
        Ok(())
    }

    /// As asyncio streams do it: `writer.write(request)` sends at once, then
    /// `await reader.readexactly(n)` finds the stream's buffer empty and waits. The
    /// reply reaches the buffer only through the loop — its selector sees the
    /// socket readable, the transport's reader callback reads it, and the waiter it
    /// completes wakes the coroutine one round later — however soon the peer
    /// answered: so each round trip queues behind whatever the hogs run meanwhile.
    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        if !self.nonblocking {
            self.peer.set_nonblocking()?;
            self.nonblocking = true;
        }
        let Some(mut got) = self.awaiting.take() else {
            straight::run(interp, io_loop::BEFORE_SEND, &mut self.state);
            self.peer.send()?;
            interp.check_point();
            straight::run(interp, io_loop::BEFORE_RECV, &mut self.state);
            self.awaiting = Some(0);
            return Ok(Step::Await(Await::Readable));
        };
        if !self.peer.try_recv(&mut got)? {
            self.awaiting = Some(got);
            return Ok(Step::Await(Await::Readable));
        }
        self.after_recv(interp);
        Ok(Step::Done)
    }

    fn wait_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        Some(self.peer.fd())
    }
}

/// A CPU-bound worker, on its placement's CPU while it lives, that says when it
/// has done its first op.
struct CpuWorker<'a> {
    spinner: Spinner,
    spinning: Option<&'a AtomicU64>,
    _pinned: Option<Pinned>,
}

impl WorkerBody for CpuWorker<'_> {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        self.spinner.op(interp)?;
        if let Some(spinning) = self.spinning.take() {
            spinning.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }

    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        self.spinner.step(interp)
    }
}

impl Workload for Convoy {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn shared_layout(&self, sizer: &mut Sizer) {
        sizer.reserve::<AtomicU64>(1).reserve::<AtomicU64>(1);
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        let order = StartOrder::open(shared);
        let placement = self.pin.placement(&crate::measure::pin::allowed_cpus())?;
        if index == 0 {
            // Pinned first: the peer's fork then starts from the I/O worker's CPU.
            let pinned = placement.map(|p| Pinned::to(p.io)).transpose()?;
            Ok(Box::new(RoundTripper {
                peer: EchoPeer::on(self.message_bytes, placement.map(|p| p.peer))?,
                state: 0,
                order,
                _pinned: pinned,
                awaiting: None,
                nonblocking: false,
            }))
        } else {
            let pinned = placement.map(|p| Pinned::to(p.cpu_workers)).transpose()?;
            // Counted once prepared, before the start line the I/O worker waits at.
            order.prepared.fetch_add(1, Ordering::Release);
            Ok(Box::new(CpuWorker {
                spinner: Spinner::yielding(self.ticks_per_op, index),
                spinning: Some(order.spinning),
                _pinned: pinned,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_io_worker_waits_for_every_prepared_cpu_worker_to_spin() {
        let (prepared, spinning) = (AtomicU64::new(2), AtomicU64::new(0));
        let order = StartOrder {
            prepared: &prepared,
            spinning: &spinning,
        };
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                order.wait_for_spinners();
                spinning.load(Ordering::Acquire)
            });
            std::thread::sleep(Duration::from_millis(20));
            spinning.fetch_add(1, Ordering::Release);
            std::thread::sleep(Duration::from_millis(20));
            assert!(!waiter.is_finished(), "went with one of two spinning");
            spinning.fetch_add(1, Ordering::Release);
            assert_eq!(waiter.join().unwrap(), 2);
        });
    }

    #[test]
    fn with_no_cpu_worker_or_one_that_never_spins_it_does_not_wait_for_ever() {
        let (none, zero) = (AtomicU64::new(0), AtomicU64::new(0));
        let order = StartOrder {
            prepared: &none,
            spinning: &zero,
        };
        let t = Instant::now();
        order.wait_for_spinners();
        assert!(
            t.elapsed() < SPIN_UP_LIMIT,
            "sequential: nothing to wait for"
        );

        let one = AtomicU64::new(1);
        let stuck = StartOrder {
            prepared: &one,
            spinning: &zero,
        };
        let t = Instant::now();
        stuck.wait_for_spinners();
        assert!(t.elapsed() >= SPIN_UP_LIMIT);
    }
}
