//! `fork-cow`: what a forked child copies — and why even reading can copy.
//!
//! The parent builds a heap of `heap_mib` MiB of tracked objects ([`crate::runtime::gc`],
//! CPython 3.11's header-next-to-payload layout, settled in the oldest generation as
//! a `gc.collect()` after start-up would leave it). Each *variant* then does one
//! thing with it, and reports its start-up, its work time, its minor faults and the
//! private dirty memory it ended with (pages copy-on-write copied for it):
//!
//! | variant              | under `processes` (a forked child …)                 | under `threads` |
//! |----------------------|------------------------------------------------------|-----------------|
//! | `read`               | reads every object's memory, writing nothing          | the same, `workers` threads over shared memory |
//! | `read-refcounted`    | reads every object as CPython does: incref, read, decref | the same |
//! | `read-immortal`      | the same over PEP 683 immortal objects (no count writes) | the same |
//! | `write`              | stores into every object                              | the same |
//! | `gc-in-child`        | runs one full collection over the inherited heap      | – |
//! | `gc-in-child-frozen` | the same after `gc.freeze()` in the parent before fork | – |
//! | `deep-copy`          | receives a pickled copy over a socket, reads that     | – |
//!
//! Threads share the parent's pages, so nothing is ever copied. This scenario's runs
//! are variants rather than one op loop under each model, so it has its own runner
//! ([`VariantRunner`]): `app` hands the plan to it instead of to `model::run`, and each
//! variant becomes one `runs` entry with its `model` and `variant`.

use super::fork_child::{run_child, ChildReport};
use super::{Common, Outcome, ParamError, VariantRunner, WorkerBody, WorkerSpec, Workload};
use crate::measure::{nanos, new_histogram, Rusage, RusageDelta};
use crate::model::{ModelRun, RunError};
use crate::plan::{ModelKind, Plan};
use crate::runtime::gc::{Heap, Mode, Object, OBJECT_BYTES};
use crate::shm::SharedRegion;
use parking_lot::Mutex;
use serde::Deserialize;
use std::time::{Duration, Instant};

/// One experiment on the heap. See the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Read,
    ReadRefcounted,
    ReadImmortal,
    Write,
    GcInChild,
    GcInChildFrozen,
    DeepCopy,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::Read,
        Variant::ReadRefcounted,
        Variant::ReadImmortal,
        Variant::Write,
        Variant::GcInChild,
        Variant::GcInChildFrozen,
        Variant::DeepCopy,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Read => "read",
            Variant::ReadRefcounted => "read-refcounted",
            Variant::ReadImmortal => "read-immortal",
            Variant::Write => "write",
            Variant::GcInChild => "gc-in-child",
            Variant::GcInChildFrozen => "gc-in-child-frozen",
            Variant::DeepCopy => "deep-copy",
        }
    }

    /// Whether threads can run it (the others need a child process).
    fn runs_in_threads(self) -> bool {
        matches!(
            self,
            Variant::Read | Variant::ReadRefcounted | Variant::ReadImmortal | Variant::Write
        )
    }

    /// The pass over a run of object slots; returns (objects, checksum).
    fn pass(self, slots: &mut [Object]) -> (u64, u64) {
        let (mut objects, mut sum) = (0u64, 0u64);
        for o in slots.iter_mut().filter(|o| o.is_live()) {
            objects += 1;
            sum = sum.wrapping_add(match self {
                Variant::ReadRefcounted | Variant::ReadImmortal => o.read_refcounted(),
                Variant::Write => {
                    o.write_items();
                    1
                }
                _ => o.read_items(),
            });
        }
        (objects, sum)
    }
}

/// Parameters of `fork-cow`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForkCowParams {
    /// Size of the parent's heap in MiB.
    pub heap_mib: i64,
    /// Variants to run: comma-separated names, or `all`.
    pub variant: String,
    /// Children (or thread runs) per variant.
    pub repeat: i64,
    /// Share of heap objects that refer to themselves (cycles).
    pub cycle_fraction: f64,
}

impl Default for ForkCowParams {
    fn default() -> Self {
        ForkCowParams {
            heap_mib: 256,
            variant: "all".into(),
            repeat: 1,
            cycle_fraction: 0.1,
        }
    }
}

/// The fork-cow experiment; see the module documentation.
#[derive(Debug)]
pub struct ForkCow {
    heap_mib: u64,
    variants: Vec<Variant>,
    repeat: u32,
    cycle_every: usize,
    threads: usize,
    specs: Vec<WorkerSpec>,
    /// Built on first use, kept for every model's variants.
    heap: Mutex<Option<Heap>>,
}

impl ForkCow {
    /// Checks the parameters, including that the heap and a child's copy of it fit
    /// in memory.
    pub fn new(p: ForkCowParams, common: Common) -> Result<ForkCow, ParamError> {
        if !(1..=1 << 20).contains(&p.heap_mib) {
            return Err(ParamError::field(
                "heap_mib",
                "must be between 1 and 1048576",
            ));
        }
        let heap_mib = p.heap_mib as u64;
        // The parent's heap, a child's full copy, and the deep copy's buffers.
        let need = (heap_mib * 5 / 2) << 20;
        if let Some(available) = crate::measure::procfs::mem_available() {
            if need > available {
                return Err(ParamError::field(
                    "heap_mib",
                    format!(
                        "a {heap_mib} MiB heap needs about {} MiB with a child's copy, more \
                         than the {} MiB of memory available",
                        need >> 20,
                        available >> 20
                    ),
                ));
            }
        }
        let variants = if p.variant.trim() == "all" {
            Variant::ALL.to_vec()
        } else {
            p.variant
                .split(',')
                .map(|name| {
                    Variant::ALL
                        .into_iter()
                        .find(|v| v.name() == name.trim())
                        .ok_or_else(|| {
                            let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
                            ParamError::field(
                                "variant",
                                format!(
                                    "unknown variant `{name}` (variants: all, {})",
                                    names.join(", ")
                                ),
                            )
                        })
                })
                .collect::<Result<_, _>>()?
        };
        if !(1..=100).contains(&p.repeat) {
            return Err(ParamError::field("repeat", "must be between 1 and 100"));
        }
        if !(0.0..=1.0).contains(&p.cycle_fraction) {
            return Err(ParamError::field(
                "cycle_fraction",
                "must be between 0 and 1",
            ));
        }
        Ok(ForkCow {
            heap_mib,
            variants,
            repeat: p.repeat as u32,
            cycle_every: if p.cycle_fraction > 0.0 {
                (1.0 / p.cycle_fraction).round() as usize
            } else {
                0
            },
            threads: common.workers,
            specs: vec![WorkerSpec {
                role: "fork-cow",
                ops: Some(1),
            }],
            heap: Mutex::new(None),
        })
    }

    fn build_heap(&self) -> Heap {
        let objects = (self.heap_mib << 20) as usize / OBJECT_BYTES - 16;
        let mut heap = Heap::new(Mode::Off, [700, 10, 10], objects);
        // The roots' references stay counted in the heap: the program's variables,
        // alive for as long as the heap.
        heap.build_trees(objects, 64, self.cycle_every);
        heap.collect(2);
        heap.mode = Mode::Generational;
        heap
    }

    /// One variant in forked children.
    fn forked(&self, heap: &mut Heap, variant: Variant) -> Result<ModelRun, RunError> {
        let os = |source: std::io::Error| RunError::Os {
            model: ModelKind::Processes,
            what: format!("fork-cow {}", variant.name()),
            source,
        };
        let mut reports = Vec::new();
        let mut usage = RusageDelta::default();
        for _ in 0..self.repeat {
            match variant {
                Variant::ReadImmortal => heap.immortalize_all(),
                Variant::GcInChildFrozen => heap.freeze(),
                _ => {}
            }
            let result = if variant == Variant::DeepCopy {
                let parent: &Heap = heap;
                run_child(
                    |socket| {
                        Heap::read_objects(&mut std::io::BufReader::with_capacity(1 << 16, socket))
                    },
                    |copy| Variant::Read.pass(copy),
                    |socket| parent.write_to(socket),
                )
            } else {
                let child_heap = &mut *heap;
                run_child(
                    |_| Ok(()),
                    move |_: &mut ()| match variant {
                        Variant::GcInChild | Variant::GcInChildFrozen => {
                            let before = child_heap.stats.scanned;
                            child_heap.collect(2);
                            (child_heap.stats.scanned - before, child_heap.live())
                        }
                        _ => variant.pass(child_heap.slots_mut()),
                    },
                    |_| Ok(()),
                )
            };
            match variant {
                Variant::ReadImmortal => heap.mortalize_all(),
                Variant::GcInChildFrozen => heap.unfreeze(),
                _ => {}
            }
            let (report, child_usage) = result.map_err(os)?;
            reports.push(report);
            usage = usage + child_usage;
        }
        Ok(self.model_run(ModelKind::Processes, 1, variant, &reports, usage, heap))
    }

    /// One variant in `self.threads` threads sharing the heap.
    fn threaded(&self, heap: &mut Heap, variant: Variant) -> ModelRun {
        let mut reports = Vec::new();
        let mut usage = RusageDelta::default();
        for _ in 0..self.repeat {
            if variant == Variant::ReadImmortal {
                heap.immortalize_all();
            }
            let before = crate::measure::procfs::smaps_rollup().unwrap_or_default();
            let usage_before = Rusage::this_process();
            let spawned_at = Instant::now();
            let slots = heap.slots_mut();
            let chunk = slots.len().div_ceil(self.threads).max(1);
            let results: Vec<(Instant, Duration, (u64, u64))> = std::thread::scope(|scope| {
                let handles: Vec<_> = slots
                    .chunks_mut(chunk)
                    .map(|part| {
                        scope.spawn(move || {
                            let started = Instant::now();
                            let out = variant.pass(part);
                            (started, started.elapsed(), out)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a pass over memory does not panic"))
                    .collect()
            });
            let run_usage = Rusage::this_process().since(&usage_before);
            let after = crate::measure::procfs::smaps_rollup().unwrap_or_default();
            if variant == Variant::ReadImmortal {
                heap.mortalize_all();
            }
            let last_start = results.iter().map(|r| r.0).max().unwrap_or(spawned_at);
            let mut memory = after;
            memory.private_dirty = after.private_dirty.saturating_sub(before.private_dirty);
            reports.push(ChildReport {
                startup_ns: nanos(last_start - spawned_at),
                work_ns: results.iter().map(|r| nanos(r.1)).max().unwrap_or(0),
                work_minor_faults: run_usage.minor_faults,
                memory,
                objects: results.iter().map(|r| r.2 .0).sum(),
                checksum: results.iter().fold(0, |a, r| a ^ r.2 .1),
            });
            usage = usage + run_usage;
        }
        self.model_run(
            ModelKind::Threads,
            self.threads,
            variant,
            &reports,
            usage,
            heap,
        )
    }

    fn model_run(
        &self,
        model: ModelKind,
        workers: usize,
        variant: Variant,
        reports: &[ChildReport],
        mut usage: RusageDelta,
        heap: &Heap,
    ) -> ModelRun {
        let n = reports.len().max(1) as u64;
        let mut latency = new_histogram();
        for r in reports {
            latency.saturating_record(r.work_ns.max(1));
        }
        let heap_bytes = (heap.slots().len() * OBJECT_BYTES) as u64;
        let max = |f: fn(&ChildReport) -> u64| reports.iter().map(f).max().unwrap_or(0);
        let private_dirty = max(|r| r.memory.private_dirty);
        // Per child, like the other figures.
        usage.minor_faults /= n;
        let extra = serde_json::json!({
            "variant": variant.name(),
            "private_dirty_bytes": private_dirty,
            "dirty_share": private_dirty as f64 / heap_bytes as f64,
            "pss_bytes": max(|r| r.memory.pss),
            "rss_bytes": max(|r| r.memory.rss),
            "work_minor_faults": reports.iter().map(|r| r.work_minor_faults).sum::<u64>() / n,
            "heap_bytes": heap_bytes,
            "heap_objects": heap.live(),
        });
        let ops: u64 = reports.iter().map(|r| r.objects).sum();
        ModelRun {
            model,
            workers,
            ops,
            total_ops: ops,
            wall: Duration::from_nanos(reports.iter().map(|r| r.work_ns).sum()),
            latency,
            gil: None,
            gil_held: Duration::ZERO,
            usage,
            outcome: Outcome {
                counter: None,
                extra: match extra {
                    serde_json::Value::Object(map) => map,
                    _ => unreachable!("json! of an object literal"),
                },
            },
            startup: Some(Duration::from_nanos(
                reports.iter().map(|r| r.startup_ns).sum::<u64>() / n,
            )),
            traces: Vec::new(),
        }
    }
}

impl VariantRunner for ForkCow {
    fn models(&self) -> &'static [ModelKind] {
        &[ModelKind::Threads, ModelKind::Processes]
    }

    fn run(&self, _plan: &Plan, model: ModelKind) -> Result<Vec<ModelRun>, RunError> {
        let mut guard = self.heap.lock();
        let heap = guard.get_or_insert_with(|| self.build_heap());
        let mut runs = Vec::new();
        for &variant in &self.variants {
            match model {
                ModelKind::Processes => runs.push(self.forked(heap, variant)?),
                _ if variant.runs_in_threads() => runs.push(self.threaded(heap, variant)),
                _ => {}
            }
        }
        Ok(runs)
    }
}

impl Workload for ForkCow {
    fn workers(&self) -> &[WorkerSpec] {
        &self.specs
    }

    fn worker<'a>(
        &'a self,
        _index: usize,
        _shared: &'a SharedRegion,
    ) -> std::io::Result<Box<dyn WorkerBody + 'a>> {
        Err(std::io::Error::other(
            "fork-cow runs through its variant runner, not as an op loop",
        ))
    }

    fn variant_runner(&self) -> Option<&dyn VariantRunner> {
        Some(self)
    }
}
