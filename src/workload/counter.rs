//! `shared-counter`: N workers increment one counter; how many increments survive?
//!
//! The ops are written as the bytecode CPython runs, tick by tick, so whether updates
//! are lost falls out of where check points sit, not out of a special case:
//!
//! | `sync`      | Python                          | simulated bytecode                                   |
//! |-------------|---------------------------------|------------------------------------------------------|
//! | `none`      | `counter += 1`                  | load, const, add, store, jump back (check)           |
//! | `none-call` | `counter = f(counter) + 1`      | load f, load, call (check), const, add, store, jump back (check) |
//! | `lock`      | `with lock: counter += 1`       | load lock, enter (acquire), load, const, add, store, exit call (check, release), jump back (check) |
//! | `atomic`    | an atomic increment             | one fetch-add, jump back (check)                     |
//! | `none-await`| `v = counter; await asyncio.sleep(0); counter = v + 1` | load, call (check), give the loop back, load v, const, add, store, jump back (check) |
//!
//! `none-await` is the asyncio form of the race: the only place a coroutine can
//! lose the loop is an await, and this one sits between the read and the write,
//! so under `asyncio` every other coroutine may run there. Under the thread and
//! process models the await is `time.sleep(0)`, which releases the GIL (a blocking
//! call that returns at once): the same window, open to whoever wants the GIL or
//! runs on another core; `sequential` has no one to lose to.
//!
//! Each op also runs the loop's own `FOR_ITER` and `STORE_FAST`. The bytecode count
//! matters for Python 2: of the loop's seven bytecodes it counts five (`FOR_ITER`,
//! `LOAD_GLOBAL`, `INPLACE_ADD`, `STORE_GLOBAL`, `JUMP_ABSOLUTE`), and its release
//! every 101 counted ones falls one bytecode further round each time, after the
//! load but before the store two times in five, as in the real interpreter.
//!
//! The load and the store are separate relaxed atomic operations: a data race in
//! Python's sense, but no undefined behaviour in Rust's.
//!
//! Under `subinterpreters` only `lock` has a meaning: the counter is a token
//! in a channel ([`super::objects::Token`]), got and put back by copy; the
//! other modes need shared memory and are refused.
//!
//! Under `manager` the counter and its lock are proxies ([`super::objects`]): `none`
//! is a get and a set (two round trips, and updates are lost between them, as with
//! `v.value += 1` on a proxy), `lock` is acquire, get, set, release (four round
//! trips), `atomic` one server-side increment.

use super::objects::Counter;
use super::{
    Await, Common, CounterOutcome, Outcome, ParamError, Step, WorkerBody, WorkerSpec, Workload,
};
use crate::runtime::interp::Interp;
use crate::runtime::shm::{SharedRegion, Sizer};
use serde::Deserialize;

/// How increments are synchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sync {
    /// `counter += 1`.
    None,
    /// `counter = f(counter) + 1`.
    NoneCall,
    /// `with lock: counter += 1`.
    Lock,
    /// One atomic fetch-add.
    Atomic,
    /// `v = counter; await asyncio.sleep(0); counter = v + 1` (`time.sleep(0)`
    /// outside asyncio).
    NoneAwait,
}

/// Parameters of `shared-counter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterParams {
    /// `none`, `none-call`, `lock`, `atomic` or `none-await`.
    pub sync: Sync,
    /// Time one increment in this many, as the twin's `sample_every` does.
    #[serde(default = "default_sample_every")]
    pub sample_every: i64,
}

/// The twin's default: an increment is a few bytecodes, so timing each would make
/// the clock a large share of every op (see [`Workload::latency_sample_every`]).
fn default_sample_every() -> i64 {
    64
}

/// N workers, one counter.
#[derive(Debug)]
pub struct SharedCounter {
    sync: Sync,
    sample_every: u64,
    workers: Vec<WorkerSpec>,
}

impl SharedCounter {
    /// Checks the parameters.
    pub fn new(params: CounterParams, common: Common) -> Result<SharedCounter, ParamError> {
        let sample_every = u64::try_from(params.sample_every)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| ParamError::field("sample_every", "must be at least 1"))?;
        Ok(SharedCounter {
            sync: params.sync,
            sample_every,
            workers: vec![
                WorkerSpec {
                    role: "incr",
                    ops: Some(common.ops)
                };
                common.workers
            ],
        })
    }
}

struct Incrementer<'r> {
    sync: Sync,
    counter: Counter<'r>,
    /// What the simulated bytecodes compute, so that each costs its time.
    work: u64,
    /// As a coroutine (`none-await`): the value read before the await.
    read: Option<u64>,
}

impl Incrementer<'_> {
    /// One plain bytecode: its work, then the tick after it. The work matters: a
    /// drop request lands at a random moment, so where a switch falls depends on
    /// how long each bytecode takes, as in CPython. Its site is the line that calls
    /// it, so each bytecode of the loop reads its own line of the image.
    #[inline]
    #[track_caller]
    fn bytecode(&mut self, interp: &mut Interp<'_>) {
        let site = super::bytecode::COUNTER + std::panic::Location::caller().line() as usize;
        self.work = super::bytecode::work(self.work, 1, site);
        interp.tick();
    }

    /// `for _ in range(n):` — FOR_ITER, STORE_FAST: the loop's own bytecode. Python
    /// 2 counts the `FOR_ITER` (its `PREDICT` is off under computed gotos).
    #[inline]
    fn loop_head(&mut self, interp: &mut Interp<'_>) {
        self.work = super::bytecode::work(self.work, 1, super::bytecode::COUNTER);
        interp.tick();
        interp.fast_tick();
    }

    /// `counter += 1` (or `counter = f(counter) + 1` with `call_between`): the load
    /// and the store are separate bytecodes, and only a call is a check point.
    #[inline]
    fn increment(&mut self, interp: &mut Interp<'_>, call_between: bool) -> std::io::Result<()> {
        // A bytecode does its work, then the loop looks at the drop request before
        // the next one (≤ 3.9's `DISPATCH()`): so the read belongs before the tick of
        // `LOAD_GLOBAL` and the write before that of `STORE_GLOBAL`, and a switch
        // right after the read loses updates as it did in CPython 3.9.
        if call_between {
            self.bytecode(interp); // LOAD_GLOBAL f
        }
        let value = self.counter.load(interp)?;
        self.bytecode(interp); // LOAD_GLOBAL counter
        if call_between {
            interp.check_point(); // CALL f(counter)
        }
        interp.fast_tick(); // LOAD_CONST 1
        self.bytecode(interp); // BINARY_OP +=
        self.counter.store(interp, value + 1)?;
        self.bytecode(interp); // STORE_GLOBAL counter
        Ok(())
    }
}

impl Incrementer<'_> {
    /// `v = counter`, then the call of `sleep(0)` up to where it gives way.
    fn read_then_sleep(&mut self, interp: &mut Interp<'_>) -> std::io::Result<u64> {
        let value = self.counter.load(interp)?;
        self.bytecode(interp); // LOAD_GLOBAL counter
        interp.fast_tick(); // STORE_FAST v
        self.bytecode(interp); // LOAD_GLOBAL asyncio (time)
        self.bytecode(interp); // LOAD_ATTR sleep
        interp.fast_tick(); // LOAD_CONST 0
        interp.check_point(); // CALL sleep(0)
        Ok(value)
    }

    /// `counter = v + 1`.
    fn write_back(&mut self, interp: &mut Interp<'_>, value: u64) -> std::io::Result<()> {
        interp.fast_tick(); // LOAD_FAST v
        interp.fast_tick(); // LOAD_CONST 1
        self.bytecode(interp); // BINARY_OP +
        self.counter.store(interp, value + 1)?;
        self.bytecode(interp); // STORE_GLOBAL counter
        Ok(())
    }
}

impl WorkerBody for Incrementer<'_> {
    fn step(&mut self, interp: &mut Interp<'_>) -> std::io::Result<Step> {
        if self.sync != Sync::NoneAwait {
            return self.op(interp).map(|()| Step::Done);
        }
        if let Some(value) = self.read.take() {
            self.write_back(interp, value)?;
            interp.check_point(); // JUMP_BACKWARD
            return Ok(Step::Done);
        }
        self.loop_head(interp);
        self.read = Some(self.read_then_sleep(interp)?);
        Ok(Step::Await(Await::Yield))
    }

    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        self.loop_head(interp);
        match self.sync {
            Sync::None => self.increment(interp, false)?,
            Sync::NoneCall => self.increment(interp, true)?,
            Sync::Lock => {
                interp.tick(); // LOAD_GLOBAL lock
                interp.tick(); // BEFORE_WITH: lock.__enter__()
                               // threading.Lock.acquire: try without blocking, else block with the
                               // GIL released.
                self.counter.acquire(interp)?;
                self.increment(interp, false)?;
                interp.check_point(); // CALL lock.__exit__()
                self.counter.release(interp)?;
            }
            Sync::Atomic => {
                interp.tick(); // one indivisible increment
                self.counter.increment(interp)?;
            }
            Sync::NoneAwait => {
                let value = self.read_then_sleep(interp)?;
                // time.sleep(0): a blocking call, so the GIL is released around it.
                interp.allow_threads(std::thread::yield_now);
                self.write_back(interp, value)?;
            }
        }
        interp.check_point(); // JUMP_BACKWARD
        Ok(())
    }
}

impl Workload for SharedCounter {
    fn latency_sample_every(&self) -> u64 {
        self.sample_every
    }

    fn needs_shared_memory(&self) -> Option<String> {
        let sync = match self.sync {
            Sync::Lock => return None,
            Sync::None => "none",
            Sync::NoneCall => "none-call",
            Sync::NoneAwait => "none-await",
            Sync::Atomic => "atomic",
        };
        Some(format!(
            "with sync={sync}: there is nothing to share, as interpreters share no \
             memory and each would count in its own copy of the counter; use --set \
             sync=lock (the counter then crosses a channel: get it, add one, put it back)"
        ))
    }

    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn shared_layout(&self, sizer: &mut Sizer) {
        Counter::reserve(sizer);
    }

    fn worker<'a>(
        &'a self,
        _index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        Ok(Box::new(Incrementer {
            sync: self.sync,
            counter: Counter::open(shared, &mut shared.layout())?,
            work: 1,
            read: None,
        }))
    }

    fn outcome(&self, shared: &SharedRegion, ops_done: u64) -> Outcome {
        let observed = Counter::open(shared, &mut shared.layout()).and_then(|mut c| c.value());
        match observed {
            Ok(observed) => Outcome {
                counter: Some(CounterOutcome {
                    expected: ops_done,
                    observed,
                    lost: ops_done.saturating_sub(observed),
                }),
                extra: Default::default(),
            },
            Err(e) => {
                let mut extra = serde_json::Map::new();
                extra.insert("counter_error".into(), e.to_string().into());
                Outcome {
                    counter: None,
                    extra,
                }
            }
        }
    }
}
