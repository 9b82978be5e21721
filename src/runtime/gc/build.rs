//! Building heaps, and the deep copy's wire form.

use super::heap::{Heap, Object, ITEMS, OBJECT_BYTES};
use std::io::{Read, Write};

impl Heap {
    /// Builds `n` long-lived objects as trees of `cluster` objects, each node
    /// holding up to four children; every `cycle_every`-th object also refers to
    /// itself (0: none). Parents are made before their children (`x = []`, then
    /// `x.append(child)`), as Python code builds structures. Returns the tree roots,
    /// each holding one reference owned by the caller — the program's variables,
    /// which the collector cannot see.
    pub fn build_trees(&mut self, n: usize, cluster: usize, cycle_every: usize) -> Vec<u32> {
        self.build_trees_while(n, cluster, cycle_every, &|| true)
            .unwrap_or_default()
    }

    /// [`Heap::build_trees`], looking at `keep_going` every few thousand objects
    /// (a GiB heap takes seconds to build): `None` once it says stop, the objects
    /// built so far left in the heap.
    pub fn build_trees_while(
        &mut self,
        n: usize,
        cluster: usize,
        cycle_every: usize,
        keep_going: &dyn Fn() -> bool,
    ) -> Option<Vec<u32>> {
        const FANOUT: usize = 4;
        const CHECK_EVERY: usize = 1 << 14;
        let cluster = cluster.max(1);
        let mut roots = Vec::with_capacity(n.div_ceil(cluster));
        let mut nodes = Vec::with_capacity(cluster);
        let mut built = 0;
        let mut next_check = 0;
        while built < n {
            if built >= next_check {
                if !keep_going() {
                    return None;
                }
                next_check = built + CHECK_EVERY;
            }
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
        Some(roots)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::gc::Mode;

    fn heap() -> Heap {
        Heap::new(Mode::Off, [700, 10, 10], 16)
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
