//! The object heap: objects with CPython 3.11 headers, generation lists, reference
//! counting and deallocation.
//!
//! # Object layout (64 bytes, one cache line)
//!
//! | bytes | field      | CPython                      | meaning here |
//! |-------|------------|------------------------------|--------------|
//! | 0–7   | `gc_next`  | `PyGC_Head._gc_next`         | next object in its list `<< 1`; bit 0 = `NEXT_MASK_UNREACHABLE` during a collection; 0 = untracked |
//! | 8–15  | `gc_prev`  | `PyGC_Head._gc_prev`         | previous object `<< 2`; bit 0 `FINALIZED`, bit 1 `COLLECTING`; while collecting, the upper bits hold `gc_refs` instead |
//! | 16–23 | `refcnt`   | `ob_refcnt`                  | references; at or above [`IMMORTAL`] the object is immortal (PEP 683) |
//! | 24–31 | `ob_type`  | `ob_type`                    | bit 0: a live container; bit 1: scanned in the current incremental cycle |
//! | 32–63 | `items`    | the payload (`ob_item[]`)    | up to [`ITEMS`] references (object indices; 0 = empty) |
//!
//! Index 0 is NULL and indices 1–8 are the list heads (each generation's
//! `PyGC_Head`, the permanent generation of `gc.freeze()`, and the collector's
//! working lists); objects start at index 16. Free slots are chained through
//! `items[0]`, the way pymalloc threads its free list through freed blocks.

use super::collect::{CollectStats, Mode};

/// References an object can hold.
pub const ITEMS: usize = 8;
/// Bytes per object, header included.
pub const OBJECT_BYTES: usize = 64;
/// A reference count at or above this marks an immortal object (PEP 683): its
/// count is never written again.
pub const IMMORTAL: u64 = 1 << 40;

/// One object: `PyGC_Head`, `PyObject` header and payload. See the module table.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Object {
    pub(crate) gc_next: u64,
    pub(crate) gc_prev: u64,
    pub(crate) refcnt: u64,
    pub(crate) ob_type: u64,
    pub(crate) items: [u32; ITEMS],
}

const _: () = assert!(std::mem::size_of::<Object>() == OBJECT_BYTES);

impl Object {
    /// Whether the slot holds a live object (not a list head or a free slot).
    pub fn is_live(&self) -> bool {
        self.ob_type & TYPE_CONTAINER != 0
    }

    /// Reads the object's references, touching its memory and writing nothing.
    #[inline]
    pub fn read_items(&self) -> u64 {
        self.items.iter().map(|&i| u64::from(i)).sum()
    }

    /// Reads it the way CPython does: take a reference (`Py_INCREF` writes the
    /// header), read, drop it again. An immortal object's count is left alone.
    #[inline]
    pub fn read_refcounted(&mut self) -> u64 {
        let mortal = self.refcnt < IMMORTAL;
        if mortal {
            self.refcnt += 1;
        }
        let sum = std::hint::black_box(&*self).read_items();
        if mortal {
            self.refcnt -= 1; // never to zero: the heap still holds it
        }
        sum
    }

    /// Writes the payload (`o[0] = o[0]` in Python): a store into the object that
    /// leaves its value as it was.
    #[inline]
    pub fn write_items(&mut self) {
        let first = self.items[0];
        self.items[0] = std::hint::black_box(first);
    }
}

pub(crate) const GEN: [u32; 3] = [1, 2, 3];
pub(crate) const PERMANENT: u32 = 4;
pub(crate) const UNREACHABLE: u32 = 5;
pub(crate) const WORK: u32 = 6;
pub(crate) const VISITED: u32 = 7;
pub(crate) const STILL_UNREACHABLE: u32 = 8;
pub(crate) const FIRST_OBJECT: u32 = 16;

pub(crate) const NEXT_MASK_UNREACHABLE: u64 = 1;
pub(crate) const PREV_MASK_FINALIZED: u64 = 1;
pub(crate) const PREV_MASK_COLLECTING: u64 = 2;
pub(crate) const PREV_FLAGS: u64 = 3;
pub(crate) const PREV_SHIFT: u32 = 2;

pub(crate) const TYPE_CONTAINER: u64 = 1;
pub(crate) const TYPE_VISITED: u64 = 2;

/// One generation: its allocation (or younger-collection) count and threshold.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generation {
    /// Collect when `count` exceeds this (0: never automatically).
    pub threshold: u64,
    /// Allocations minus deallocations (generation 0), or collections of the
    /// next younger generation.
    pub count: u64,
}

/// The heap and its collector state (`struct _gc_runtime_state`).
#[derive(Debug)]
pub struct Heap {
    pub(crate) objs: Vec<Object>,
    free: u32,
    live: u64,
    peak_slots: usize,
    pub(crate) gens: [Generation; 3],
    pub(crate) mode: Mode,
    pub(crate) collecting: bool,
    pub(crate) long_lived_total: u64,
    pub(crate) long_lived_pending: u64,
    /// Incremental mode: the `ob_type` bit value that means "visited this cycle".
    pub(crate) visited_space: u64,
    /// Incremental mode: an old-generation cycle is under way.
    pub(crate) cycle_active: bool,
    /// Incremental mode: old-generation objects taken per increment.
    pub(crate) increment: usize,
    /// Incremental mode: survivors moved aside so far in this cycle.
    pub(crate) visited_count: u64,
    pub(crate) deallocs: u64,
    stack: Vec<u32>,
    /// What the collector has done so far.
    pub stats: CollectStats,
}

impl Heap {
    /// An empty heap with room for `capacity` objects before it grows.
    pub fn new(mode: Mode, thresholds: [u64; 3], capacity: usize) -> Heap {
        let mut objs = Vec::with_capacity(capacity + FIRST_OBJECT as usize);
        objs.resize(FIRST_OBJECT as usize, Object::default());
        let mut heap = Heap {
            objs,
            free: 0,
            live: 0,
            peak_slots: 0,
            gens: thresholds.map(|threshold| Generation {
                threshold,
                count: 0,
            }),
            mode,
            collecting: false,
            long_lived_total: 0,
            long_lived_pending: 0,
            visited_space: 0,
            cycle_active: false,
            increment: 10_000,
            visited_count: 0,
            deallocs: 0,
            stack: Vec::new(),
            stats: CollectStats::default(),
        };
        for head in 1..FIRST_OBJECT {
            heap.list_init(head);
        }
        heap
    }

    /// Sets the incremental collector's increment (old-generation objects per step).
    pub fn set_increment(&mut self, objects: usize) {
        self.increment = objects.max(1);
    }

    /// Live objects.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Bytes of the most object slots ever in use.
    pub fn peak_bytes(&self) -> u64 {
        (self.peak_slots * OBJECT_BYTES) as u64
    }

    /// The object's reference count.
    pub fn refcnt(&self, obj: u32) -> u64 {
        self.objs[obj as usize].refcnt
    }

    /// Reference `k` of `obj` (0 = empty).
    pub fn item(&self, obj: u32, k: usize) -> u32 {
        self.objs[obj as usize].items[k]
    }

    /// Whether `obj` is in some generation list.
    pub fn is_tracked(&self, obj: u32) -> bool {
        self.objs[obj as usize].gc_next != 0
    }

    /// Creates a container holding `items` (each incref'd), with one reference
    /// owned by the caller, tracked in generation 0 (`PyObject_GC_New` +
    /// `PyObject_GC_Track`). May run an automatic collection first, as
    /// `_PyObject_GC_Link` does, so its pause lands in [`Heap::stats`].
    pub fn alloc(&mut self, items: &[u32]) -> u32 {
        assert!(
            items.len() <= ITEMS,
            "an object holds at most {ITEMS} items"
        );
        self.gens[0].count += 1;
        self.maybe_collect();
        let obj = if self.free != 0 {
            let obj = self.free;
            self.free = self.objs[obj as usize].items[0];
            obj
        } else {
            self.objs.push(Object::default());
            (self.objs.len() - 1) as u32
        };
        for &item in items {
            self.incref(item);
        }
        let o = &mut self.objs[obj as usize];
        o.refcnt = 1;
        o.ob_type = TYPE_CONTAINER | self.visited_space;
        o.items = [0; ITEMS];
        o.items[..items.len()].copy_from_slice(items);
        self.list_append(obj, GEN[0]);
        self.live += 1;
        self.peak_slots = self.peak_slots.max(self.objs.len());
        obj
    }

    /// `Py_INCREF`: one write of the header, unless the object is immortal.
    #[inline]
    pub fn incref(&mut self, obj: u32) {
        let o = &mut self.objs[obj as usize];
        if o.refcnt < IMMORTAL {
            o.refcnt += 1;
        }
    }

    /// `Py_DECREF`: frees the object when its count reaches zero.
    #[inline]
    pub fn decref(&mut self, obj: u32) {
        let o = &mut self.objs[obj as usize];
        if o.refcnt >= IMMORTAL {
            return;
        }
        o.refcnt -= 1;
        if o.refcnt == 0 {
            self.dealloc(obj);
        }
    }

    /// `obj[k] = target` (0 clears): increfs the new item, decrefs the old one.
    pub fn set_item(&mut self, obj: u32, k: usize, target: u32) {
        if target != 0 {
            self.incref(target);
        }
        let old = std::mem::replace(&mut self.objs[obj as usize].items[k], target);
        if old != 0 {
            self.decref(old);
        }
    }

    /// Frees `obj` and everything only it kept alive: untracks it, decrefs its
    /// items, returns its slot. Iterative, so long chains cannot overflow the stack.
    #[cold]
    fn dealloc(&mut self, obj: u32) {
        let mut stack = std::mem::take(&mut self.stack);
        stack.push(obj);
        while let Some(obj) = stack.pop() {
            if self.is_tracked(obj) {
                self.list_remove(obj);
            }
            let items = self.objs[obj as usize].items;
            for item in items.into_iter().filter(|&i| i != 0) {
                let o = &mut self.objs[item as usize];
                if o.refcnt < IMMORTAL {
                    o.refcnt -= 1;
                    if o.refcnt == 0 {
                        stack.push(item);
                    }
                }
            }
            let o = &mut self.objs[obj as usize];
            *o = Object::default();
            o.items[0] = self.free;
            self.free = obj;
            self.live -= 1;
            self.deallocs += 1;
            // PyObject_GC_Del: a freed object no longer counts toward generation 0.
            self.gens[0].count = self.gens[0].count.saturating_sub(1);
        }
        self.stack = stack;
    }

    /// `gc.freeze()`: moves every tracked object to the permanent generation,
    /// which no collection scans.
    pub fn freeze(&mut self) {
        for g in GEN {
            self.list_merge(g, PERMANENT);
        }
        self.gens[0].count = 0;
    }

    /// `gc.unfreeze()`: the permanent generation goes back to the oldest.
    pub fn unfreeze(&mut self) {
        self.list_merge(PERMANENT, GEN[2]);
    }

    /// Makes every live object immortal (PEP 683): reference counting stops
    /// writing their headers. Undone by [`Heap::mortalize_all`].
    pub fn immortalize_all(&mut self) {
        for o in self.objects_mut() {
            o.refcnt += IMMORTAL;
        }
    }

    /// Undoes [`Heap::immortalize_all`].
    pub fn mortalize_all(&mut self) {
        for o in self.objects_mut() {
            o.refcnt -= IMMORTAL;
        }
    }

    fn objects_mut(&mut self) -> impl Iterator<Item = &mut Object> {
        self.objs[FIRST_OBJECT as usize..]
            .iter_mut()
            .filter(|o| o.ob_type & TYPE_CONTAINER != 0)
    }

    /// Every slot (list heads and free slots included), for passes that touch
    /// the heap's memory the way a program does, object by object.
    pub fn slots(&self) -> &[Object] {
        &self.objs
    }

    /// Every slot, writable. Only a pass that keeps the heap's invariants (counts
    /// back where they were, links untouched) may use this.
    pub fn slots_mut(&mut self) -> &mut [Object] {
        &mut self.objs
    }

    /// Indices of all live objects, in slot order.
    pub fn object_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (FIRST_OBJECT..self.objs.len() as u32)
            .filter(|&i| self.objs[i as usize].ob_type & TYPE_CONTAINER != 0)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn heap() -> Heap {
        Heap::new(Mode::Off, [700, 10, 10], 16)
    }

    #[test]
    fn refcounting_frees_chains_and_reuses_slots() {
        let mut h = heap();
        let leaf = h.alloc(&[]);
        let mid = h.alloc(&[leaf]);
        h.decref(leaf);
        let top = h.alloc(&[mid]);
        h.decref(mid);
        assert_eq!(h.live(), 3);
        assert_eq!(h.list_size(GEN[0]), 3);
        h.decref(top);
        assert_eq!(h.live(), 0);
        assert_eq!(h.list_size(GEN[0]), 0);
        let again = h.alloc(&[]);
        assert!(again < FIRST_OBJECT + 3, "slot reused");
    }

    #[test]
    fn immortal_counts_are_never_written() {
        let mut h = heap();
        let a = h.alloc(&[]);
        h.immortalize_all();
        let before = h.refcnt(a);
        h.incref(a);
        h.decref(a);
        h.decref(a);
        assert_eq!(h.refcnt(a), before);
        h.mortalize_all();
        assert_eq!(h.refcnt(a), 1);
    }
}
