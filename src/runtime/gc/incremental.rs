//! The incremental collector: the old generation in bounded steps, after CPython
//! 3.14's incremental collector.
//!
//! A cycle starts when a full collection is due (`gc.collect()`, or the long-lived
//! heuristic). Each step takes the young generations plus old objects, one at a
//! time, each followed by whatever it reaches in the old generation (so a garbage
//! cycle is examined whole), until `increment` objects are in; it deduces what is
//! unreachable *within that set* — references from outside it count as external,
//! so nothing reachable is ever freed — and moves the survivors aside as visited.
//! An `ob_type` bit compared with `visited_space` tells visited objects from
//! pending ones; flipping `visited_space` at the start of a cycle makes every old
//! object pending again in O(1). When the pending list is used up the cycle is
//! complete.

use super::heap::{Heap, GEN, ITEMS, TYPE_VISITED, UNREACHABLE, VISITED, WORK};
use std::time::Instant;

impl Heap {
    pub(crate) fn start_cycle(&mut self) {
        self.cycle_active = true;
        self.visited_count = 0;
        // Everything now in the old generation becomes "not yet visited".
        self.visited_space ^= TYPE_VISITED;
        self.long_lived_pending = 0;
    }

    /// One incremental step: the young generations, plus (during a cycle) up to
    /// `increment` old objects and what they reach in the old generation.
    pub(crate) fn collect_increment(&mut self) {
        let start = Instant::now();
        self.collecting = true;
        self.gens[0].count = 0;
        let space = self.visited_space;
        // The young objects are in the increment: mark them so the closure below
        // never tries to add them again.
        for g in [GEN[0], GEN[1]] {
            let mut gc = self.next(g);
            while gc != g {
                let t = &mut self.objs[gc as usize].ob_type;
                *t = (*t & !TYPE_VISITED) | space;
                gc = self.next(gc);
            }
            self.list_merge(g, WORK);
        }
        let young = self.list_size(WORK);
        if self.cycle_active {
            // Take old objects one at a time, each followed by whatever it reaches in
            // the old generation (so a garbage cycle is examined whole), until the
            // increment is full. The cursor walks the work list as it grows.
            let mut taken = 0;
            let mut cursor = WORK;
            while taken < self.increment {
                if self.next(cursor) == WORK {
                    if self.list_is_empty(GEN[2]) {
                        break;
                    }
                    let obj = self.next(GEN[2]);
                    self.take_into_work(obj, space);
                    taken += 1;
                    continue;
                }
                cursor = self.next(cursor);
                for k in 0..ITEMS {
                    let item = self.item(cursor, k);
                    if taken < self.increment
                        && item != 0
                        && self.is_tracked(item)
                        && self.objs[item as usize].ob_type & TYPE_VISITED != space
                    {
                        self.take_into_work(item, space);
                        taken += 1;
                    }
                }
            }
            self.stats.increments += 1;
        }
        let scanned = self.deduce_unreachable(WORK, UNREACHABLE);
        let survivors = if self.cycle_active { VISITED } else { GEN[2] };
        let survived = self.list_size(WORK);
        self.long_lived_pending += young.min(survived);
        self.list_merge(WORK, survivors);
        let freed = self.finish_garbage(survivors);
        if self.cycle_active {
            self.visited_count += survived;
            if self.list_is_empty(GEN[2]) {
                // Cycle complete. The count was kept along the way: walking a
                // million-object list here would be a pause of its own.
                self.cycle_active = false;
                self.list_merge(VISITED, GEN[2]);
                self.long_lived_total = self.visited_count;
                self.stats.collections[2] += 1;
            }
        }
        self.collecting = false;
        self.stats.collections[0] += 1;
        self.stats.record(start, scanned, freed);
    }

    fn take_into_work(&mut self, obj: u32, space: u64) {
        self.list_move(obj, WORK);
        let t = &mut self.objs[obj as usize].ob_type;
        *t = (*t & !TYPE_VISITED) | space;
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::gc::collect::tests::{garbage, heap};
    use crate::runtime::gc::Mode;

    #[test]
    fn incremental_steps_are_bounded_and_complete_a_cycle() {
        let mut h = heap(Mode::Incremental);
        h.set_increment(500);
        let roots = h.build_trees(10_000, 20, 0);
        h.collect(2); // everything now old, as after the heap is built
        garbage(&mut h, 300);
        let scanned_before = h.stats.scanned;
        let cycles_before = h.stats.collections[2];
        h.collect_requested();
        let first = h.stats.scanned - scanned_before;
        assert!(first <= 300 + 500, "one step scanned {first}");
        let mut steps = 1;
        while h.cycle_active() {
            h.step();
            steps += 1;
            assert!(steps < 100);
        }
        assert!(steps >= 20, "{steps} steps");
        assert_eq!(h.live(), 10_000, "all 300 cycles freed, nothing else");
        assert_eq!(roots.len(), 500);
        assert_eq!(h.stats.collections[2], cycles_before + 1);
    }
}
