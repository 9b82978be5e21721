//! The generation lists: `gcmodule.c`'s `gc_list_*` over object indices.
//!
//! Every tracked object is on exactly one doubly linked list, threaded through its
//! `PyGC_Head`: `_gc_next` holds the next index shifted left by one (bit 0 is
//! `NEXT_MASK_UNREACHABLE` during a collection), `_gc_prev` the previous index
//! shifted left by two (bits 0–1 are flags). While a collection runs, the upper bits
//! of `_gc_prev` hold `gc_refs` instead, and the list is singly linked until
//! `move_unreachable` rebuilds the back links.

use super::heap::{Heap, PREV_FLAGS, PREV_SHIFT};

impl Heap {
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
