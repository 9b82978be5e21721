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
use std::io::{Read, Write};

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
const FIRST_OBJECT: u32 = 16;

pub(crate) const NEXT_MASK_UNREACHABLE: u64 = 1;
pub(crate) const PREV_MASK_FINALIZED: u64 = 1;
pub(crate) const PREV_MASK_COLLECTING: u64 = 2;
const PREV_FLAGS: u64 = 3;
const PREV_SHIFT: u32 = 2;

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

    /// Builds `n` long-lived objects as trees of `cluster` objects, each node
    /// holding up to four children; every `cycle_every`-th object also refers to
    /// itself (0: none). Parents are made before their children (`x = []`, then
    /// `x.append(child)`), as Python code builds structures. Returns the tree roots,
    /// each holding one reference owned by the caller — the program's variables,
    /// which the collector cannot see.
    pub fn build_trees(&mut self, n: usize, cluster: usize, cycle_every: usize) -> Vec<u32> {
        const FANOUT: usize = 4;
        let cluster = cluster.max(1);
        let mut roots = Vec::with_capacity(n.div_ceil(cluster));
        let mut nodes = Vec::with_capacity(cluster);
        let mut built = 0;
        while built < n {
            nodes.clear();
            for j in 0..cluster.min(n - built) {
                let obj = self.alloc(&[]);
                if j > 0 {
                    // Node j is child (j - 1) % FANOUT of node (j - 1) / FANOUT.
                    self.set_item(nodes[(j - 1) / FANOUT], (j - 1) % FANOUT, obj);
                    self.decref(obj); // the parent now owns it
                }
                if cycle_every > 0 && (built + j) % cycle_every == 0 {
                    self.set_item(obj, ITEMS - 1, obj);
                }
                nodes.push(obj);
            }
            roots.push(nodes[0]);
            built += nodes.len();
        }
        roots
    }

    /// Writes every slot, pickle-style, field by field (a deep copy's wire form).
    pub fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(1 << 16);
        out.write_all(&(self.objs.len() as u64).to_le_bytes())?;
        for o in &self.objs {
            for word in [o.gc_next, o.gc_prev, o.refcnt, o.ob_type] {
                buf.extend_from_slice(&word.to_le_bytes());
            }
            for item in o.items {
                buf.extend_from_slice(&item.to_le_bytes());
            }
            if buf.len() >= 1 << 16 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        out.write_all(&buf)
    }

    /// Reads what [`Heap::write_to`] wrote into fresh objects; returns how many.
    pub fn read_objects(input: &mut impl Read) -> std::io::Result<Vec<Object>> {
        let mut len = [0u8; 8];
        input.read_exact(&mut len)?;
        let len = u64::from_le_bytes(len) as usize;
        let mut objs = Vec::with_capacity(len);
        let mut raw = [0u8; OBJECT_BYTES];
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        for _ in 0..len {
            input.read_exact(&mut raw)?;
            let mut items = [0u32; ITEMS];
            for (k, item) in items.iter_mut().enumerate() {
                let at = 32 + 4 * k;
                *item = u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
            }
            objs.push(Object {
                gc_next: word(&raw[0..8]),
                gc_prev: word(&raw[8..16]),
                refcnt: word(&raw[16..24]),
                ob_type: word(&raw[24..32]),
                items,
            });
        }
        Ok(objs)
    }

    // ---- gc lists (gcmodule.c's gc_list_*), over indices ----

    #[inline]
    pub(crate) fn next(&self, i: u32) -> u32 {
        (self.objs[i as usize].gc_next >> 1) as u32
    }

    #[inline]
    pub(crate) fn set_next(&mut self, i: u32, next: u32) {
        self.objs[i as usize].gc_next = u64::from(next) << 1;
    }

    #[inline]
    pub(crate) fn prev(&self, i: u32) -> u32 {
        (self.objs[i as usize].gc_prev >> PREV_SHIFT) as u32
    }

    /// `_PyGCHead_SET_PREV`: keeps the flag bits.
    #[inline]
    pub(crate) fn set_prev(&mut self, i: u32, prev: u32) {
        let p = &mut self.objs[i as usize].gc_prev;
        *p = (*p & PREV_FLAGS) | (u64::from(prev) << PREV_SHIFT);
    }

    /// `gc_get_refs`: valid while the object is `COLLECTING`.
    #[inline]
    pub(crate) fn refs(&self, i: u32) -> u64 {
        self.objs[i as usize].gc_prev >> PREV_SHIFT
    }

    #[inline]
    pub(crate) fn set_refs(&mut self, i: u32, refs: u64) {
        let p = &mut self.objs[i as usize].gc_prev;
        *p = (*p & PREV_FLAGS) | (refs << PREV_SHIFT);
    }

    pub(crate) fn list_init(&mut self, head: u32) {
        self.set_next(head, head);
        self.objs[head as usize].gc_prev = u64::from(head) << PREV_SHIFT;
    }

    pub(crate) fn list_is_empty(&self, head: u32) -> bool {
        self.next(head) == head
    }

    pub(crate) fn list_append(&mut self, node: u32, list: u32) {
        let last = self.prev(list);
        self.set_next(last, node);
        self.set_prev(node, last);
        self.set_next(node, list);
        self.set_prev(list, node);
    }

    /// Unlinks `node` and marks it untracked.
    pub(crate) fn list_remove(&mut self, node: u32) {
        let (prev, next) = (self.prev(node), self.next(node));
        self.set_next(prev, next);
        self.set_prev(next, prev);
        self.objs[node as usize].gc_next = 0;
    }

    pub(crate) fn list_move(&mut self, node: u32, list: u32) {
        let (prev, next) = (self.prev(node), self.next(node));
        self.set_next(prev, next);
        self.set_prev(next, prev);
        self.list_append(node, list);
    }

    /// Appends list `from` to list `to`; `from` becomes empty. O(1).
    pub(crate) fn list_merge(&mut self, from: u32, to: u32) {
        if !self.list_is_empty(from) {
            let tail = self.prev(to);
            let (first, last) = (self.next(from), self.prev(from));
            self.set_next(tail, first);
            self.set_prev(first, tail);
            self.set_prev(to, last);
            self.set_next(last, to);
        }
        self.list_init(from);
    }

    pub(crate) fn list_size(&self, head: u32) -> u64 {
        let mut n = 0;
        let mut gc = self.next(head);
        while gc != head {
            n += 1;
            gc = self.next(gc);
        }
        n
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

    #[test]
    fn trees_have_the_requested_shape() {
        let mut h = heap();
        let roots = h.build_trees(100, 10, 7);
        assert_eq!(roots.len(), 10);
        assert_eq!(h.live(), 100);
        // Each root: one reference from the caller, plus its own if it is a cycle.
        assert!(roots.iter().all(|&r| h.refcnt(r) >= 1));
        let cycles = h
            .object_ids()
            .filter(|&o| h.item(o, ITEMS - 1) == o)
            .count();
        assert_eq!(cycles, 15); // 0, 7, …, 98
    }

    #[test]
    fn deep_copy_round_trips() {
        let mut h = heap();
        h.build_trees(50, 5, 3);
        let mut wire = Vec::new();
        h.write_to(&mut wire).unwrap();
        let copy = Heap::read_objects(&mut wire.as_slice()).unwrap();
        assert_eq!(copy, h.objs);
    }
}
