//! Workloads: what each simulated thread does, one op at a time.
//!
//! A workload knows its workers (their roles and how many ops each runs), the shared
//! state they need, and what one op is. It never knows which model runs it: the same
//! op runs under the sequential baseline, a GIL, free threads or in a forked process,
//! which is what makes the models comparable.

mod alloc;
mod blob;
mod bytecode;
mod convoy;
mod counter;
pub(crate) mod cpu;
mod echo;
pub mod fork_cow;
mod gc_pause;
mod io;
pub mod objects;
mod placement;
mod queue;
mod refcount;
mod runlocal;
mod straight;
pub mod xi;

pub use cpu::spin;
pub use echo::{reached_by_hand as echo_reached_by_hand, serve as serve_echo};
pub use fork_cow::ForkCow;

use crate::runtime::interp::Interp;
use crate::runtime::shm::{SharedRegion, Sizer};
use serde::Serialize;
use std::sync::Arc;

/// One worker of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    /// Its role, shown in traces (`cpu`, `io`, `producer`, …).
    pub role: &'static str,
    /// Ops to run; `None` for a background worker that runs until every worker with
    /// a count is done (the CPU hogs of `convoy`). Background workers' latencies are
    /// not part of the report's histogram.
    pub ops: Option<u64>,
}

impl WorkerSpec {
    /// Whether this worker's op latencies are what the scenario measures.
    pub fn is_foreground(&self) -> bool {
        self.ops.is_some()
    }
}

/// Lost updates, for workloads that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CounterOutcome {
    /// Increments made.
    pub expected: u64,
    /// Final counter value.
    pub observed: u64,
    /// `expected - observed`.
    pub lost: u64,
}

/// What a workload reports after a run, beside the latencies.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Lost-update count, if the workload has a counter.
    pub counter: Option<CounterOutcome>,
    /// Scenario-specific JSON fields, flattened into the run's JSON object.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What a worker's reported latencies are.
#[derive(Debug)]
pub enum Measured {
    /// The op loop's time for each op (the default).
    Ops,
    /// The body's own samples, e.g. a queue consumer's enqueue-to-dequeue time per
    /// item; their count replaces the worker's op count. Empty for a worker whose
    /// ops are measured elsewhere (a queue producer: its items are timed on arrival).
    Own(crate::measure::Histogram),
}

/// What a coroutine waits for when it gives its event loop back: the `await`s of
/// a workload's asyncio twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Await {
    /// `await asyncio.sleep(0)`: straight back to the end of the ready queue.
    Yield,
    /// `await asyncio.sleep(d)`: a timer.
    Sleep(std::time::Duration),
    /// `await loop.sock_recv(…)` with no data yet: the socket
    /// [`WorkerBody::wait_fd`] names must become readable.
    Readable,
    /// `await fut` on a future that only another coroutine completes: the future
    /// joins the back of the workload's waiter deque number `n` (an
    /// `asyncio.Queue`'s `_getters` or `_putters`) and the coroutine is parked
    /// until a step that reports [`WorkerBody::woke`] `n` completes it.
    Future(usize),
}

/// Where an op run as a coroutine stands after [`WorkerBody::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The op is over.
    Done,
    /// The op is suspended at an await; the next `step` resumes it.
    Await(Await),
}

/// One worker's op loop body.
pub trait WorkerBody {
    /// Runs one op. Errors end the run (a broken peer, a failed syscall).
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()>;

    /// Runs once after the start line, before the first op is timed, holding the
    /// GIL as an op does: for a worker that must let the others get going first.
    fn before_first_op(&mut self, _interp: &mut Interp<'_>) -> std::io::Result<()> {
        Ok(())
    }

    /// Runs the op as a coroutine (`asyncio`): up to its next await, or to its
    /// end. An op with no await in it is one step.
    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        self.op(interp).map(|()| Step::Done)
    }

    /// The socket an [`Await::Readable`] waits on.
    fn wait_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    /// After a [`step`](Self::step): the waiter deque whose first future that
    /// step completed (`asyncio.Queue._wakeup_next`), if it completed one. Asked
    /// once per step; a step completes at most one.
    fn woke(&mut self) -> Option<usize> {
        None
    }

    /// Called once after the last op: what this worker's latencies are.
    fn measured(&mut self) -> Measured {
        Measured::Ops
    }
}

/// A workload. See the module documentation.
pub trait Workload: Send + Sync + std::fmt::Debug {
    /// The workers, in index order.
    fn workers(&self) -> &[WorkerSpec];

    /// Reserves the shared state, in the same order `worker` and `outcome` place it.
    fn shared_layout(&self, _sizer: &mut Sizer) {}

    /// Prepares worker `index` (peers, buffers), before the start line. Runs on the
    /// worker's own thread or process.
    fn worker<'a>(
        &'a self,
        index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>>;

    /// Time one op in this many (1: every op). An op of a few bytecodes lasts tens
    /// of ns, about what a clock read costs: timing each would make the harness a
    /// third of every op, and move where the simulated GIL can change hands
    /// (between ops instead of inside them). The CPython twins sample the same way.
    fn latency_sample_every(&self) -> u64 {
        1
    }

    /// Why this workload cannot run where workers share no memory and pass only
    /// copies (`subinterpreters`), or `None` when it can: the words after "does
    /// not fit scenario `NAME`", naming the parameter at fault. A finer refusal
    /// than [`crate::plan`]'s per-kind one, for parameters that need shared
    /// memory.
    fn needs_shared_memory(&self) -> Option<String> {
        None
    }

    /// Reads the results out of the shared state after every worker is done;
    /// `ops_done` is the total ops all workers ran.
    fn outcome(&self, _shared: &SharedRegion, _ops_done: u64) -> Outcome {
        Outcome::default()
    }

    /// The fork-cow experiment, whose runs are *variants* of one experiment on one
    /// heap rather than one op loop under each model: `model::fork_cow` runs it
    /// instead of the op loop.
    fn fork_cow(&self) -> Option<&ForkCow> {
        None
    }
}

/// The settings every workload gets from the plan.
#[derive(Debug, Clone, Copy)]
pub struct Common {
    /// `--workers` (or the scenario's `workers`).
    pub workers: usize,
    /// Ops per foreground worker.
    pub ops: u64,
}

/// A bad workload parameter: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// The parameter at fault, if one is.
    pub field: Option<String>,
    /// What was wrong.
    pub message: String,
}

impl ParamError {
    /// An error about `field`.
    pub fn field(field: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            field: Some(field.to_string()),
            message: format!("`{field}`: {}", message.into()),
        }
    }
}

/// The workload kinds a scenario's `workload` key may name (the plan says which
/// models each one fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "kebab-case")]
pub enum Kind {
    /// `cpu-bound`.
    CpuBound,
    /// `io-bound`.
    IoBound,
    /// `convoy`.
    Convoy,
    /// `shared-counter`.
    SharedCounter,
    /// `refcount`.
    Refcount,
    /// `gc-pause`.
    GcPause,
    /// `fork-cow`.
    ForkCow,
    /// `alloc`.
    Alloc,
    /// `queue`.
    Queue,
}

impl Kind {
    /// The kind a scenario's `workload` key names, if it names one.
    pub fn named(name: &str) -> Option<Kind> {
        name.parse().ok()
    }
}

/// Builds the workload `kind` from its parameter table.
pub fn build(
    kind: &str,
    params: &toml::Table,
    common: Common,
) -> Result<Arc<dyn Workload>, ParamError> {
    use strum::VariantNames;
    let known: Kind = kind.parse().map_err(|_| {
        ParamError::field(
            "workload",
            format!(
                "unknown workload `{kind}` (known: {})",
                Kind::VARIANTS.join(", ")
            ),
        )
    })?;
    Ok(match known {
        Kind::CpuBound => Arc::new(cpu::CpuBound::new(decode(params)?, common)?),
        Kind::IoBound => Arc::new(io::IoBound::new(decode(params)?, common)?),
        Kind::Convoy => Arc::new(convoy::Convoy::new(decode(params)?, common)?),
        Kind::SharedCounter => Arc::new(counter::SharedCounter::new(decode(params)?, common)?),
        Kind::Refcount => Arc::new(refcount::Refcount::new(decode(params)?, common)?),
        Kind::GcPause => Arc::new(gc_pause::GcPause::new(decode(params)?, common)?),
        Kind::ForkCow => Arc::new(fork_cow::ForkCow::new(decode(params)?, common)?),
        Kind::Alloc => Arc::new(alloc::Alloc::new(decode(params)?, common)?),
        Kind::Queue => Arc::new(queue::Queue::new(decode(params)?, common)?),
    })
}

/// Decodes a parameter table into a workload's typed parameters.
pub fn decode<P: serde::de::DeserializeOwned>(params: &toml::Table) -> Result<P, ParamError> {
    toml::Value::Table(params.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            let message = e.message().trim().replace('\n', " ");
            // serde names the offending key, or the offending value, in backticks:
            // "unknown field `x`, …", "unknown variant `y`, expected …".
            let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
            let field = quoted
                .iter()
                .find(|q| params.contains_key(**q) || message.starts_with("unknown field"))
                .map(|q| q.to_string())
                .or_else(|| {
                    params
                        .iter()
                        .find(|(_, v)| v.as_str().is_some_and(|s| quoted.contains(&s)))
                        .map(|(k, _)| k.clone())
                });
            ParamError {
                field,
                message: format!("params: {message}"),
            }
        })
}

/// Parses a duration parameter such as `"1ms"`.
pub fn duration_param(field: &str, text: &str) -> Result<std::time::Duration, ParamError> {
    crate::scenario::duration::parse_duration(text).map_err(|e| ParamError::field(field, e))
}

/// What every gilbench process sets up before it runs a workload: the simulated
/// interpreter's memory (see `bytecode`), built once here so that no measured op
/// (the first of a forked worker, the echo peer's first reply) pays for it.
pub fn prepare_process() {
    bytecode::prepare();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_in_kebab_case_and_an_unknown_one_lists_them() {
        let common = Common { workers: 1, ops: 1 };
        for kind in ["cpu-bound", "gc-pause", "queue"] {
            if let Err(e) = build(kind, &toml::Table::new(), common) {
                assert_ne!(
                    e.field.as_deref(),
                    Some("workload"),
                    "{kind}: {}",
                    e.message
                );
            }
        }
        let err = build("cpu", &toml::Table::new(), common).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("workload"));
        assert!(
            err.message.ends_with(
                "unknown workload `cpu` (known: cpu-bound, io-bound, convoy, shared-counter, \
                 refcount, gc-pause, fork-cow, alloc, queue)"
            ),
            "{}",
            err.message
        );
    }
}
