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
//! are variants rather than one op loop under each model. This module says what
//! each variant does to the heap; `model::fork_cow` runs them — forks the children
//! or starts the threads, and measures — and each variant becomes one `runs` entry
//! with its `model` and `variant`.

use super::{Common, ParamError, WorkerBody, WorkerSpec, Workload};
use crate::runtime::gc::{Heap, Mode, Object, OBJECT_BYTES};
use crate::runtime::shm::SharedRegion;
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use serde::Deserialize;
use strum::{EnumString, IntoStaticStr, VariantArray};

/// One experiment on the heap. See the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumString, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum Variant {
    /// Reads every object's memory.
    Read,
    /// Reads every object as CPython does: incref, read, decref.
    ReadRefcounted,
    /// The same over immortal objects.
    ReadImmortal,
    /// Stores into every object.
    Write,
    /// One full collection over the inherited heap.
    GcInChild,
    /// The same after `gc.freeze()` in the parent.
    GcInChildFrozen,
    /// A pickled copy received over a socket, then read.
    DeepCopy,
}

impl Variant {
    /// The variant's name, as `variant = "…"` and the report write it.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether threads can run it (the others need a child process).
    pub fn runs_in_threads(self) -> bool {
        matches!(
            self,
            Variant::Read | Variant::ReadRefcounted | Variant::ReadImmortal | Variant::Write
        )
    }

    /// Prepares the parent's heap before a child or thread run (immortal objects,
    /// `gc.freeze()`); [`Variant::restore`] undoes it afterwards.
    pub fn prepare(self, heap: &mut Heap) {
        match self {
            Variant::ReadImmortal => heap.immortalize_all(),
            Variant::GcInChildFrozen => heap.freeze(),
            _ => {}
        }
    }

    /// Undoes [`Variant::prepare`].
    pub fn restore(self, heap: &mut Heap) {
        match self {
            Variant::ReadImmortal => heap.mortalize_all(),
            Variant::GcInChildFrozen => heap.unfreeze(),
            _ => {}
        }
    }

    /// What a forked child does with the heap it inherited (all but
    /// [`Variant::DeepCopy`], whose child reads a copy it received: a
    /// [`Variant::Read`] pass); returns (objects, checksum).
    pub fn in_child(self, heap: &mut Heap) -> (u64, u64) {
        match self {
            Variant::GcInChild | Variant::GcInChildFrozen => {
                let before = heap.stats.scanned;
                heap.collect(2);
                (heap.stats.scanned - before, heap.live())
            }
            _ => self.pass(heap.slots_mut()),
        }
    }

    /// The pass over a run of object slots; returns (objects, checksum).
    pub fn pass(self, slots: &mut [Object]) -> (u64, u64) {
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
            Variant::VARIANTS.to_vec()
        } else {
            p.variant
                .split(',')
                .map(|name| {
                    name.trim().parse::<Variant>().map_err(|_| {
                        let names: Vec<_> = Variant::VARIANTS.iter().map(|v| v.name()).collect();
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

    /// The variants to run, in order.
    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// Children (or thread runs) per variant.
    pub fn repeat(&self) -> u32 {
        self.repeat
    }

    /// Threads a threads run splits the heap among (`workers`).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The parent's heap, built on first use and kept for every model's variants;
    /// `None` if `keep_going` said stop while it was being built or settled by
    /// its first full collection (`--timeout`, Ctrl-C: each takes seconds for a
    /// GiB heap), and then nothing is kept.
    pub fn heap(&self, keep_going: &dyn Fn() -> bool) -> Option<MappedMutexGuard<'_, Heap>> {
        let mut slot = self.heap.lock();
        if slot.is_none() {
            *slot = Some(self.build_heap(keep_going)?);
        }
        MutexGuard::try_map(slot, Option::as_mut).ok()
    }

    fn build_heap(&self, keep_going: &dyn Fn() -> bool) -> Option<Heap> {
        let objects = (self.heap_mib << 20) as usize / OBJECT_BYTES - 16;
        let mut heap = Heap::new(Mode::Off, [700, 10, 10], objects);
        // The roots' references stay counted in the heap: the program's variables,
        // alive for as long as the heap.
        heap.build_trees_while(objects, 64, self.cycle_every, keep_going)?;
        // As long as the build: a stop half-way leaves the heap unusable, and it
        // is dropped with the run.
        heap.collect_while(2, keep_going)?;
        heap.mode = Mode::Generational;
        Some(heap)
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
            "fork-cow runs through model::fork_cow, not as an op loop",
        ))
    }

    fn fork_cow(&self) -> Option<&ForkCow> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(variant: &str) -> ForkCowParams {
        ForkCowParams {
            heap_mib: 1,
            variant: variant.into(),
            ..ForkCowParams::default()
        }
    }

    #[test]
    fn variants_are_read_by_name() {
        let common = Common { workers: 2, ops: 1 };
        let cow = ForkCow::new(params(" write, gc-in-child-frozen"), common).unwrap();
        assert_eq!(cow.variants(), [Variant::Write, Variant::GcInChildFrozen]);
        assert_eq!(
            ForkCow::new(params("all"), common)
                .unwrap()
                .variants()
                .len(),
            7
        );
        let err = ForkCow::new(params("read,copy"), common).unwrap_err();
        assert_eq!(
            err.message,
            "`variant`: unknown variant `copy` (variants: all, read, read-refcounted, \
             read-immortal, write, gc-in-child, gc-in-child-frozen, deep-copy)"
        );
    }
}
