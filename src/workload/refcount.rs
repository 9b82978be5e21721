//! `refcount`: why CPython has a GIL — reference counts on shared objects.
//!
//! Every worker repeatedly takes `hold` references to shared objects and drops them
//! again, as `refs.append(objs[i])` … `refs.clear()` does in Python. Each object is
//! dealt to an owner (`index % workers`); a share `foreign_ratio` of a worker's
//! references go to other workers' objects. How the count is kept:
//!
//! | `counting` | what `Py_INCREF` does                                                       |
//! |------------|-----------------------------------------------------------------------------|
//! | `plain`    | `ob_refcnt += 1`: a separate load and store (CPython with a GIL)             |
//! | `atomic`   | one fetch-add on `ob_refcnt` (correct, but every update bounces the line)    |
//! | `biased`   | PEP 703: the owner does a plain add on `ob_ref_local`; others fetch-add `ob_ref_shared`; the true count is the sum |
//!
//! The ops are simulated bytecode, tick by tick, like `shared-counter`: the load and
//! the store of a plain update sit *inside* one bytecode (`BINARY_SUBSCR` increfs
//! the item it returns), so no check point — and under `gil-legacy` no tick — falls
//! between them. That is the whole reason a GIL makes plain counts safe: under `gil`
//! nothing is corrupted; without it (`threads`) concurrent updates of one count are
//! lost, and the object is later freed while still in use (count too low) or never
//! freed (too high). `atomic` and `biased` are correct everywhere.
//!
//! Each object occupies its own 64-byte line of the shared region (owners allocate
//! their objects from their own pages, so no two owners share a line):
//! word 0 `ob_refcnt`, word 1 `ob_ref_local`, word 2 `ob_ref_shared`. The load and
//! store of a plain update are relaxed atomics: a race in Python's sense, never
//! undefined behaviour in Rust's.

use super::{Common, Outcome, ParamError, WorkerBody, WorkerSpec, Workload};
use crate::runtime::interp::Interp;
use crate::runtime::shm::{SharedRegion, Sizer};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};

/// Words per object: one 64-byte line.
const WORDS: usize = 8;
const REFCNT: usize = 0;
const LOCAL: usize = 1;
const SHARED: usize = 2;

/// The most objects a run may share (64 MiB of counts).
const MAX_OBJECTS: i64 = 1 << 20;
/// The most references one op may hold.
const MAX_HOLD: i64 = 1 << 16;

/// How reference counts are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Counting {
    /// A non-atomic read-modify-write (CPython with a GIL).
    Plain,
    /// Atomic fetch-add / fetch-sub.
    Atomic,
    /// PEP 703 biased reference counting.
    Biased,
}

/// Parameters of `refcount`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefcountParams {
    /// `plain`, `atomic` or `biased`.
    pub counting: Counting,
    /// Share of references that go to objects owned by other workers (0 to 1).
    pub foreign_ratio: f64,
    /// Shared objects (fewer means more contention).
    pub objects: i64,
    /// References taken, then dropped, per op.
    #[serde(default = "default_hold")]
    pub hold: i64,
}

fn default_hold() -> i64 {
    64
}

/// N workers taking and dropping references to `objects` shared objects.
#[derive(Debug)]
pub struct Refcount {
    counting: Counting,
    foreign_ratio: f64,
    objects: usize,
    hold: usize,
    workers: Vec<WorkerSpec>,
}

impl Refcount {
    /// Checks the parameters.
    pub fn new(params: RefcountParams, common: Common) -> Result<Refcount, ParamError> {
        if !(0.0..=1.0).contains(&params.foreign_ratio) {
            return Err(ParamError::field(
                "foreign_ratio",
                "must be between 0 and 1",
            ));
        }
        if !(1..=MAX_OBJECTS).contains(&params.objects) {
            return Err(ParamError::field(
                "objects",
                format!("must be between 1 and {MAX_OBJECTS}"),
            ));
        }
        if !(1..=MAX_HOLD).contains(&params.hold) {
            return Err(ParamError::field(
                "hold",
                format!("must be between 1 and {MAX_HOLD}"),
            ));
        }
        Ok(Refcount {
            counting: params.counting,
            foreign_ratio: params.foreign_ratio,
            objects: params.objects as usize,
            hold: params.hold as usize,
            workers: vec![
                WorkerSpec {
                    role: "refs",
                    ops: Some(common.ops)
                };
                common.workers
            ],
        })
    }

    /// The objects one op of worker `me` references, each with whether `me` owns
    /// it: own objects (dealt round-robin) with foreign ones spread evenly among
    /// them, as the Python twin does.
    fn pattern(&self, me: usize) -> Vec<(usize, bool)> {
        let workers = self.workers.len();
        let own: Vec<usize> = (me..self.objects).step_by(workers).collect();
        let foreign: Vec<usize> = (0..self.objects).filter(|i| i % workers != me).collect();
        let n_foreign = if foreign.is_empty() {
            0
        } else if own.is_empty() {
            self.hold
        } else {
            (self.hold as f64 * self.foreign_ratio).round() as usize
        };
        let (mut f, mut g) = (0, 0);
        (0..self.hold)
            .map(|j| {
                if (j + 1) * n_foreign / self.hold > f {
                    f += 1;
                    (foreign[(f - 1) % foreign.len()], false)
                } else {
                    g += 1;
                    (own[(g - 1) % own.len()], true)
                }
            })
            .collect()
    }
}

struct Taker<'r> {
    counting: Counting,
    counts: &'r [AtomicI64],
    pattern: Vec<(usize, bool)>,
}

impl Taker<'_> {
    /// `Py_INCREF` / `Py_DECREF` (`delta` = ±1) of object `obj`, from inside one
    /// bytecode: no tick or check point between its load and its store.
    #[inline(always)]
    fn add(&self, obj: usize, owned: bool, delta: i64) {
        let word = |w: usize| &self.counts[obj * WORDS + w];
        match self.counting {
            Counting::Plain => plain_add(word(REFCNT), delta),
            Counting::Atomic => {
                word(REFCNT).fetch_add(delta, Ordering::Relaxed);
            }
            Counting::Biased if owned => plain_add(word(LOCAL), delta),
            Counting::Biased => {
                word(SHARED).fetch_add(delta, Ordering::Relaxed);
            }
        }
    }
}

/// `*count += delta` as two separate memory operations.
#[inline(always)]
fn plain_add(count: &AtomicI64, delta: i64) {
    let value = count.load(Ordering::Relaxed);
    count.store(value + delta, Ordering::Relaxed);
}

impl WorkerBody for Taker<'_> {
    fn op(&mut self, interp: &mut Interp<'_>) -> std::io::Result<()> {
        interp.tick(); // FOR_ITER
        interp.fast_tick(); // STORE_FAST
                            // for i in pattern: refs.append(objs[i])
        for &(obj, owned) in &self.pattern {
            interp.tick(); // LOAD_FAST refs.append, objs, i
            self.add(obj, owned, 1); // BINARY_SUBSCR: increfs the item it returns
            interp.tick();
            interp.check_point(); // CALL append
        }
        // refs.clear(): one call whose C code decrefs every item
        interp.tick(); // LOAD_METHOD clear
        for &(obj, owned) in &self.pattern {
            self.add(obj, owned, -1);
        }
        interp.check_point(); // CALL clear
        interp.check_point(); // JUMP_BACKWARD
        Ok(())
    }
}

/// How far the final counts are off (all should be back at zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefcountOutcome {
    /// Shared objects.
    pub objects: u64,
    /// Objects whose final count is wrong.
    pub corrupted: u64,
    /// Of those, counts too low: CPython would free the object while it is in use.
    pub freed_too_early: u64,
    /// Of those, counts too high: CPython would never free the object (a leak).
    pub leaked: u64,
    /// Largest error of one object's count.
    pub max_error: u64,
    /// Sum of all objects' errors: the lost updates.
    pub total_error: u64,
    /// References taken (and dropped) in all.
    pub references: u64,
}

impl Workload for Refcount {
    fn workers(&self) -> &[WorkerSpec] {
        &self.workers
    }

    fn shared_layout(&self, sizer: &mut Sizer) {
        sizer.reserve::<AtomicI64>(self.objects * WORDS);
    }

    fn worker<'a>(
        &'a self,
        index: usize,
        shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        Ok(Box::new(Taker {
            counting: self.counting,
            counts: shared.layout().place_slice(self.objects * WORDS),
            pattern: self.pattern(index),
        }))
    }

    fn outcome(&self, shared: &SharedRegion, ops_done: u64) -> Outcome {
        let counts: &[AtomicI64] = shared.layout().place_slice(self.objects * WORDS);
        let mut out = RefcountOutcome {
            objects: self.objects as u64,
            references: ops_done * self.hold as u64,
            ..Default::default()
        };
        for obj in counts.chunks(WORDS) {
            let word = |w: usize| obj[w].load(Ordering::SeqCst);
            let count = word(REFCNT) + word(LOCAL) + word(SHARED);
            if count != 0 {
                out.corrupted += 1;
                if count < 0 {
                    out.freed_too_early += 1;
                } else {
                    out.leaked += 1;
                }
                out.max_error = out.max_error.max(count.unsigned_abs());
                out.total_error += count.unsigned_abs();
            }
        }
        let mut extra = serde_json::Map::new();
        extra.insert("counting".into(), serde_json::json!(self.counting));
        extra.insert(
            "refcount".into(),
            serde_json::to_value(out).expect("plain struct serialises"),
        );
        Outcome {
            counter: None,
            extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(objects: i64, hold: i64, ratio: f64, workers: usize) -> Refcount {
        Refcount::new(
            RefcountParams {
                counting: Counting::Plain,
                foreign_ratio: ratio,
                objects,
                hold,
            },
            Common { workers, ops: 1 },
        )
        .unwrap()
    }

    #[test]
    fn pattern_mixes_own_and_foreign_objects() {
        let w = build(8, 10, 0.3, 2);
        let p = w.pattern(1);
        assert_eq!(p.len(), 10);
        assert_eq!(p.iter().filter(|(_, own)| !own).count(), 3);
        for &(obj, own) in &p {
            assert_eq!(obj % 2 == 1, own, "{p:?}");
        }
        // A worker that owns nothing references only foreign objects.
        let lone = build(1, 4, 0.0, 2).pattern(1);
        assert!(lone.iter().all(|&(obj, own)| obj == 0 && !own));
        // One worker owns everything.
        assert!(build(4, 4, 1.0, 1).pattern(0).iter().all(|&(_, own)| own));
    }

    #[test]
    fn bad_params_name_their_field() {
        let bad = |objects, ratio| {
            Refcount::new(
                RefcountParams {
                    counting: Counting::Atomic,
                    foreign_ratio: ratio,
                    objects,
                    hold: 1,
                },
                Common { workers: 2, ops: 1 },
            )
            .unwrap_err()
            .field
        };
        assert_eq!(bad(0, 0.5).as_deref(), Some("objects"));
        assert_eq!(bad(4, 1.5).as_deref(), Some("foreign_ratio"));
    }
}
