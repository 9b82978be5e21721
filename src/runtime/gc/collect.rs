//! The cycle collector, after CPython 3.11's `Modules/gcmodule.c`.
//!
//! Reference counting frees most objects; what it cannot free are cycles. A
//! collection of generation *g* (`gc_collect_main`):
//!
//! 1. merges the younger generations into *g* (the "young" list);
//! 2. `update_refs`: copies each object's `ob_refcnt` into `gc_refs` (kept in the
//!    upper bits of `_gc_prev`, with the `COLLECTING` flag — the list becomes singly
//!    linked for the duration);
//! 3. `subtract_refs`: for every reference *between* young objects, one off the
//!    target's `gc_refs`; what remains counts references from outside;
//! 4. `move_unreachable`: objects with `gc_refs > 0` are reachable, and so is
//!    everything they reach; the rest move to "unreachable" (marked with
//!    `NEXT_MASK_UNREACHABLE`), tentatively — a later object may reach them back;
//! 5. survivors are promoted to *g + 1*; the unreachable set is checked once more
//!    for resurrection (`handle_resurrected_objects`: steps 2–4 again over it) and
//!    then cleared (`delete_garbage`: each object's references are dropped, and
//!    reference counting frees the cycle).
//!
//! Collections are triggered by allocation: generation 0 when allocations minus
//! deallocations exceed `threshold0` (700), generation 1 after `threshold1` (10)
//! collections of generation 0, generation 2 after `threshold2` (10) of generation
//! 1 — and, since 3.11's long-lived heuristic (issue #4074), only once the objects
//! awaiting their first full collection exceed 25% of those that survived the last.
//!
//! [`Mode::Incremental`] replaces the full collection with increments, after
//! CPython 3.14: each collection takes the young generations plus up to
//! `increment` objects of the old generation and everything they reach there,
//! deduces what is unreachable *within that set* (references from outside it count
//! as external, so nothing reachable is ever freed), and moves the survivors aside
//! as visited; when the old generation is used up, a cycle is complete. The
//! collector has no finalizers, weak references or `gc.garbage`: these objects
//! have none.

use super::heap::{
    Heap, GEN, ITEMS, NEXT_MASK_UNREACHABLE, PREV_MASK_COLLECTING, PREV_MASK_FINALIZED,
    STILL_UNREACHABLE, UNREACHABLE, VISITED,
};
use crate::measure::Histogram;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How the collector runs (the `gc` scenario parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// CPython 3.11: three generations, full collections of the oldest.
    Generational,
    /// The old generation scanned in bounded increments (CPython 3.14).
    Incremental,
    /// Generational after `gc.freeze()`: the objects that existed are never scanned.
    Frozen,
    /// `gc.disable()` and no explicit collections: cycles are never freed.
    Off,
}

/// Spans kept for tracing before the owner drains them.
const MAX_SPANS: usize = 4096;

/// What the collector has done.
#[derive(Debug, Clone)]
pub struct CollectStats {
    /// Collections per generation. Incremental mode counts every step as
    /// generation 0 and every completed old-generation cycle as generation 2.
    pub collections: [u64; 3],
    /// Incremental steps that scanned part of the old generation.
    pub increments: u64,
    /// Objects examined (`update_refs` visits), summed over collections.
    pub scanned: u64,
    /// Objects freed by the collector (cycles and what only they kept alive).
    pub freed: u64,
    /// Pause per collection, ns (two significant digits: compact to ship home).
    pub pauses: Histogram,
    /// Recent pauses, for trace spans; drained by whoever traces them.
    pub spans: Vec<(Instant, Instant)>,
}

impl Default for CollectStats {
    fn default() -> Self {
        CollectStats {
            collections: [0; 3],
            increments: 0,
            scanned: 0,
            freed: 0,
            pauses: Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
                .expect("static histogram bounds are valid"),
            spans: Vec::new(),
        }
    }
}

impl CollectStats {
    pub(crate) fn record(&mut self, start: Instant, scanned: u64, freed: u64) -> Duration {
        let end = Instant::now();
        let pause = end - start;
        self.pauses
            .saturating_record(crate::measure::nanos(pause).max(1));
        if self.spans.len() < MAX_SPANS {
            self.spans.push((start, end));
        }
        self.scanned += scanned;
        self.freed += freed;
        pause
    }
}

impl Heap {
    /// Called on every allocation (`_PyObject_GC_Link`): collects if generation 0
    /// is over its threshold.
    #[inline]
    pub(crate) fn maybe_collect(&mut self) {
        let g0 = self.gens[0];
        if g0.count > g0.threshold && g0.threshold != 0 && !self.collecting {
            self.collect_generations();
        }
    }

    #[cold]
    fn collect_generations(&mut self) {
        match self.mode {
            Mode::Off => {}
            Mode::Incremental => {
                if !self.cycle_active
                    && self.long_lived_pending > 0
                    && self.long_lived_pending >= self.long_lived_total / 4
                {
                    self.start_cycle();
                }
                self.collect_increment();
            }
            Mode::Generational | Mode::Frozen => {
                for g in (0..3).rev() {
                    if self.gens[g].count > self.gens[g].threshold {
                        if g == 2 && self.long_lived_pending < self.long_lived_total / 4 {
                            continue;
                        }
                        self.collect(g);
                        break;
                    }
                }
            }
        }
    }

    /// `gc.collect()` as the program calls it: a full collection — or, in
    /// incremental mode, the start of an old-generation cycle and its first step.
    /// Does nothing when the collector is off.
    pub fn collect_requested(&mut self) {
        match self.mode {
            Mode::Off => {}
            Mode::Incremental => {
                if !self.cycle_active {
                    self.start_cycle();
                }
                self.collect_increment();
            }
            Mode::Generational | Mode::Frozen => {
                self.collect(2);
            }
        }
    }

    /// Whether an incremental cycle still has old-generation objects to scan.
    pub fn cycle_active(&self) -> bool {
        self.cycle_active
    }

    /// One incremental step, if a cycle is under way.
    pub fn step(&mut self) {
        if self.cycle_active {
            self.collect_increment();
        }
    }

    /// Collects generation `generation` and the younger ones (`gc_collect_main`).
    /// Returns the objects freed.
    pub fn collect(&mut self, generation: usize) -> u64 {
        // `Never` never stops a collection, so there is always a count.
        self.collect_polled(generation, &mut Never)
            .unwrap_or_default()
    }

    /// [`Heap::collect`], asking `keep_going` every few thousand objects (a
    /// full collection of a GiB heap takes seconds): `None` once it says stop.
    /// The heap is then left in the middle of a collection, its lists and flags
    /// half rewritten: the caller must drop it, as `fork-cow` does.
    pub fn collect_while(
        &mut self,
        generation: usize,
        keep_going: &dyn Fn() -> bool,
    ) -> Option<u64> {
        self.collect_polled(generation, &mut Every::new(keep_going))
    }

    fn collect_polled(&mut self, generation: usize, poll: &mut impl Poll) -> Option<u64> {
        let start = Instant::now();
        self.collecting = true;
        if generation + 1 < 3 {
            self.gens[generation + 1].count += 1;
        }
        for g in 0..=generation {
            self.gens[g].count = 0;
        }
        for younger in GEN.into_iter().take(generation) {
            self.list_merge(younger, GEN[generation]);
        }
        if generation == 2 {
            // A full collection also ends any incremental cycle.
            self.list_merge(VISITED, GEN[2]);
            self.cycle_active = false;
        }
        let young = GEN[generation];
        let old = GEN[(generation + 1).min(2)];
        let scanned = self.deduce_unreachable_polled(young, UNREACHABLE, poll)?;
        if young != old {
            if generation == 1 {
                self.long_lived_pending += self.list_size(young);
            }
            self.list_merge(young, old);
        } else {
            self.long_lived_pending = 0;
            self.long_lived_total = self.list_size(young);
        }
        let freed = self.finish_garbage_polled(old, poll)?;
        self.collecting = false;
        self.stats.collections[generation] += 1;
        self.stats.record(start, scanned, freed);
        Some(freed)
    }

    /// `deduce_unreachable`: steps 2–4. Returns the objects examined.
    pub(crate) fn deduce_unreachable(&mut self, young: u32, unreachable: u32) -> u64 {
        self.deduce_unreachable_polled(young, unreachable, &mut Never)
            .unwrap_or_default()
    }

    fn deduce_unreachable_polled(
        &mut self,
        young: u32,
        unreachable: u32,
        poll: &mut impl Poll,
    ) -> Option<u64> {
        let scanned = self.update_refs(young, poll)?;
        self.subtract_refs(young, poll)?;
        self.list_init(unreachable);
        self.move_unreachable(young, unreachable, poll)?;
        Some(scanned)
    }

    /// `gc_refs = ob_refcnt`, and mark `COLLECTING`.
    fn update_refs(&mut self, containers: u32, poll: &mut impl Poll) -> Option<u64> {
        let mut n = 0;
        let mut gc = self.next(containers);
        while gc != containers {
            if poll.stop() {
                return None;
            }
            let o = &mut self.objs[gc as usize];
            o.gc_prev = (o.gc_prev & PREV_MASK_FINALIZED) | PREV_MASK_COLLECTING | (o.refcnt << 2);
            n += 1;
            gc = (o.gc_next >> 1) as u32;
        }
        Some(n)
    }

    /// One off `gc_refs` for every reference between objects being collected.
    fn subtract_refs(&mut self, containers: u32, poll: &mut impl Poll) -> Option<()> {
        let mut gc = self.next(containers);
        while gc != containers {
            if poll.stop() {
                return None;
            }
            let items = self.objs[gc as usize].items;
            for item in items.into_iter().filter(|&i| i != 0) {
                let target = &mut self.objs[item as usize];
                if target.gc_prev & PREV_MASK_COLLECTING != 0 {
                    target.gc_prev -= 1 << 2;
                }
            }
            gc = self.next(gc);
        }
        Some(())
    }

    /// `move_unreachable`, as in 3.11: `young` is singly linked while it runs; the
    /// `prev` links of survivors are rebuilt as the scan passes them.
    fn move_unreachable(
        &mut self,
        young: u32,
        unreachable: u32,
        poll: &mut impl Poll,
    ) -> Option<()> {
        let mut prev = young;
        let mut gc = self.next(young);
        while gc != young {
            if poll.stop() {
                return None;
            }
            if self.refs(gc) > 0 {
                for k in 0..ITEMS {
                    let item = self.item(gc, k);
                    if item != 0 {
                        self.visit_reachable(item, young);
                    }
                }
                self.set_prev(gc, prev);
                self.objs[gc as usize].gc_prev &= !PREV_MASK_COLLECTING;
                prev = gc;
            } else {
                // Tentatively unreachable: append to `unreachable`, flagged.
                self.objs[prev as usize].gc_next = self.objs[gc as usize].gc_next;
                let last = self.prev(unreachable);
                self.objs[last as usize].gc_next = NEXT_MASK_UNREACHABLE | (u64::from(gc) << 1);
                self.set_prev(gc, last);
                self.objs[gc as usize].gc_next =
                    NEXT_MASK_UNREACHABLE | (u64::from(unreachable) << 1);
                self.objs[unreachable as usize].gc_prev = u64::from(gc) << 2;
            }
            gc = self.next(prev);
        }
        self.objs[young as usize].gc_prev = u64::from(prev) << 2;
        self.objs[unreachable as usize].gc_next &= !NEXT_MASK_UNREACHABLE;
        Some(())
    }

    /// `visit_reachable`: `op` is referenced by a reachable object.
    fn visit_reachable(&mut self, op: u32, young: u32) {
        let o = self.objs[op as usize];
        if o.gc_prev & PREV_MASK_COLLECTING == 0 {
            return; // another generation, or already scanned
        }
        if o.gc_next & NEXT_MASK_UNREACHABLE != 0 {
            // Found unreachable earlier, reachable after all: back to `young`.
            let prev = self.prev(op);
            let next = (o.gc_next >> 1) as u32;
            self.objs[prev as usize].gc_next = o.gc_next; // keeps the flag
            self.set_prev(next, prev);
            self.list_append(op, young);
            self.set_refs(op, 1);
        } else if self.refs(op) == 0 {
            // Not scanned yet: tell move_unreachable it is reachable.
            self.set_refs(op, 1);
        }
    }

    /// Steps after `move_unreachable`: clear the flags, check for resurrection,
    /// delete the garbage. Survivors of the check go to `old`. Returns objects freed.
    pub(crate) fn finish_garbage(&mut self, old: u32) -> u64 {
        self.finish_garbage_polled(old, &mut Never)
            .unwrap_or_default()
    }

    fn finish_garbage_polled(&mut self, old: u32, poll: &mut impl Poll) -> Option<u64> {
        // move_legacy_finalizers walks the list clearing NEXT_MASK_UNREACHABLE.
        let mut gc = self.next(UNREACHABLE);
        while gc != UNREACHABLE {
            self.objs[gc as usize].gc_next &= !NEXT_MASK_UNREACHABLE;
            gc = self.next(gc);
        }
        // handle_resurrected_objects: clear COLLECTING, deduce again.
        let mut gc = self.next(UNREACHABLE);
        while gc != UNREACHABLE {
            self.objs[gc as usize].gc_prev &= !PREV_MASK_COLLECTING;
            gc = self.next(gc);
        }
        self.deduce_unreachable_polled(UNREACHABLE, STILL_UNREACHABLE, poll)?;
        let mut gc = self.next(STILL_UNREACHABLE);
        while gc != STILL_UNREACHABLE {
            self.objs[gc as usize].gc_next &= !NEXT_MASK_UNREACHABLE;
            gc = self.next(gc);
        }
        self.list_merge(UNREACHABLE, old);
        self.delete_garbage(STILL_UNREACHABLE, old, poll)
    }

    /// `delete_garbage`: drop each object's references (`tp_clear`); reference
    /// counting frees the cycle. Objects still alive afterwards move to `old`.
    fn delete_garbage(&mut self, collectable: u32, old: u32, poll: &mut impl Poll) -> Option<u64> {
        let before = self.deallocs;
        while !self.list_is_empty(collectable) {
            if poll.stop() {
                return None;
            }
            let gc = self.next(collectable);
            self.incref(gc);
            for k in 0..ITEMS {
                if self.item(gc, k) != 0 {
                    self.set_item(gc, k, 0);
                }
            }
            self.decref(gc);
            if self.next(collectable) == gc {
                self.objs[gc as usize].gc_prev &= !PREV_MASK_COLLECTING;
                self.list_move(gc, old);
            }
        }
        Some(self.deallocs - before)
    }
}

/// Looked at once per object a collection visits: whether to abandon it.
trait Poll {
    fn stop(&mut self) -> bool;
}

/// The collections a program makes: never stopped (and, monomorphised, free).
struct Never;

impl Poll for Never {
    #[inline(always)]
    fn stop(&mut self) -> bool {
        false
    }
}

/// Asks `keep_going` every [`Every::PERIOD`] objects: a few hundred microseconds
/// of scanning, so a stop is seen at once and the asking costs nothing.
struct Every<'a> {
    keep_going: &'a dyn Fn() -> bool,
    left: u32,
}

impl Every<'_> {
    const PERIOD: u32 = 1 << 14;

    fn new(keep_going: &dyn Fn() -> bool) -> Every<'_> {
        Every {
            keep_going,
            left: 0,
        }
    }
}

impl Poll for Every<'_> {
    #[inline]
    fn stop(&mut self) -> bool {
        if self.left > 0 {
            self.left -= 1;
            return false;
        }
        self.left = Self::PERIOD;
        !(self.keep_going)()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runtime::gc::heap::PERMANENT;

    pub(crate) fn heap(mode: Mode) -> Heap {
        Heap::new(mode, [700, 10, 10], 1024)
    }

    /// Makes `n` unreachable self-cycles.
    pub(crate) fn garbage(h: &mut Heap, n: usize) {
        for _ in 0..n {
            let a = h.alloc(&[]);
            h.set_item(a, 0, a);
            h.decref(a);
        }
    }

    #[test]
    fn frees_cycles_and_keeps_what_is_reachable() {
        let mut h = heap(Mode::Generational);
        let roots = h.build_trees(1000, 10, 3);
        // A two-object cycle hanging off nothing, and one reachable from a root.
        let (a, b) = (h.alloc(&[]), h.alloc(&[]));
        h.set_item(a, 0, b);
        h.set_item(b, 0, a);
        h.decref(a);
        h.decref(b);
        let kept = h.alloc(&[]);
        h.set_item(kept, 0, kept);
        h.set_item(roots[0], 5, kept);
        h.decref(kept);
        assert_eq!(h.live(), 1003);
        assert_eq!(h.collect(2), 2);
        assert_eq!(h.live(), 1001);
        assert!(h.is_tracked(kept) && h.refcnt(kept) == 2);
        assert_eq!(h.list_size(GEN[2]), 1001);
        // Everything survived intact: a second collection frees nothing.
        assert_eq!(h.collect(2), 0);
    }

    #[test]
    fn young_collections_run_on_thresholds_and_promote() {
        let mut h = heap(Mode::Generational);
        let keep: Vec<u32> = (0..2000).map(|_| h.alloc(&[])).collect();
        assert!(h.stats.collections[0] >= 2, "{:?}", h.stats.collections);
        assert!(h.list_size(GEN[1]) > 0);
        garbage(&mut h, 8000);
        assert!(h.stats.collections[1] >= 1);
        assert!(h.stats.freed > 0);
        assert_eq!(keep.len(), 2000);
    }

    #[test]
    fn off_never_collects() {
        let mut h = heap(Mode::Off);
        garbage(&mut h, 5000);
        h.collect_requested();
        assert_eq!(h.stats.collections, [0, 0, 0]);
        assert_eq!(h.live(), 5000);
    }

    #[test]
    fn frozen_objects_are_never_scanned() {
        let mut h = heap(Mode::Frozen);
        h.build_trees(5000, 50, 0);
        h.freeze();
        garbage(&mut h, 10);
        let before = h.stats.scanned;
        h.collect_requested();
        assert_eq!(h.stats.scanned - before, 10);
        assert_eq!(h.stats.freed, 10);
        assert_eq!(h.list_size(PERMANENT), 5000);
        assert_eq!(h.live(), 5000);
    }

    /// A random graph: after a full collection (or a whole incremental cycle)
    /// exactly the objects reachable from the program's references survive, and
    /// every count equals the references that point at it.
    #[test]
    fn random_graphs_keep_exactly_the_reachable() {
        for (seed, mode) in (1..=6u64).zip([Mode::Generational, Mode::Incremental].repeat(3)) {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut next = move |n: usize| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng % n as u64) as usize
            };
            let mut h = heap(mode);
            h.set_increment(37);
            let objs: Vec<u32> = (0..3000).map(|_| h.alloc(&[])).collect();
            for _ in 0..6000 {
                let (a, b) = (objs[next(objs.len())], objs[next(objs.len())]);
                h.set_item(a, next(ITEMS), b);
            }
            // The program keeps 30 references; the rest become garbage or stay
            // reachable through the graph.
            let roots: Vec<u32> = (0..30).map(|_| objs[next(objs.len())]).collect();
            for &r in &roots {
                h.incref(r);
            }
            for &o in &objs {
                h.decref(o);
            }
            if mode == Mode::Incremental {
                h.collect_requested();
                while h.cycle_active() {
                    h.step();
                }
                h.collect_requested();
                while h.cycle_active() {
                    h.step();
                }
            } else {
                h.collect(2);
            }
            // Reachability by brute force.
            let mut seen = std::collections::HashSet::new();
            let mut stack = roots.clone();
            while let Some(o) = stack.pop() {
                if seen.insert(o) {
                    stack.extend((0..ITEMS).map(|k| h.item(o, k)).filter(|&i| i != 0));
                }
            }
            assert_eq!(h.live(), seen.len() as u64, "seed {seed} {mode:?}");
            let mut incoming = std::collections::HashMap::new();
            for &o in &seen {
                for k in 0..ITEMS {
                    let i = h.item(o, k);
                    if i != 0 {
                        *incoming.entry(i).or_insert(0u64) += 1;
                    }
                }
            }
            for &r in &roots {
                *incoming.entry(r).or_insert(0) += 1;
            }
            for &o in &seen {
                assert!(h.is_tracked(o));
                assert_eq!(h.refcnt(o), incoming[&o], "seed {seed}: object {o}");
            }
        }
    }

    #[test]
    fn a_collection_can_be_stopped_part_way_and_otherwise_matches_collect() {
        let mut big = Heap::new(Mode::Generational, [700, 10, 10], 200_000);
        big.build_trees(100_000, 64, 10);
        let asked = std::cell::Cell::new(0u32);
        let stop_at_second = || {
            asked.set(asked.get() + 1);
            asked.get() < 2
        };
        assert_eq!(big.collect_while(2, &stop_at_second), None);
        // Asked once at the start and once a period later: stopped long before
        // the four passes over 100 000 objects were done.
        assert_eq!(asked.get(), 2);

        let (mut a, mut b) = (heap(Mode::Generational), heap(Mode::Generational));
        for h in [&mut a, &mut b] {
            h.build_trees(500, 10, 3);
            garbage(h, 100);
        }
        assert_eq!(a.collect_while(2, &|| true), Some(b.collect(2)));
        assert_eq!(a.live(), b.live());
    }
}
