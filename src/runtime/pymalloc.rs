//! A pymalloc-like small-object allocator: a teaching model of CPython's
//! `Objects/obmalloc.c` (3.10+ sizes), small enough to read in one sitting.
//!
//! - Requests of 1–512 bytes are rounded up to a multiple of 16: 32 *size classes*.
//! - Memory comes from the OS in 1 MiB *arenas* (`mmap`), carved into 16 KiB
//!   *pools*; a pool serves one size class. Its first 48 bytes are its header (kept
//!   aside here, but the room is left, as in CPython).
//! - A pool hands out never-used blocks from `nextoffset` onward, and freed blocks
//!   from a free list threaded through the freed blocks themselves.
//! - `usedpools[class]` lists the pools of a class that have both used and free
//!   blocks: allocation takes the first; a pool that fills leaves the list, one that
//!   empties goes back to its arena's free pools.
//! - New pools come from the most-used arena that has one, so emptier arenas can
//!   drain; an arena whose last pool empties is given back to the OS (`munmap`).
//!   Until then, freed blocks stay in their pools for reuse: memory freed by the
//!   program is *retained* by the process.
//!
//! Not modelled: the radix tree that tells pymalloc whether an address is its own
//! (a [`Block`] says which arena it is in), and 3.9+'s one spare empty arena.

use crate::sys::mem::PrivateMapping;

/// Block sizes are multiples of this.
pub const ALIGNMENT: usize = 16;
/// Larger requests go to the system allocator.
pub const SMALL_REQUEST_THRESHOLD: usize = 512;
/// Bytes per pool.
pub const POOL_SIZE: usize = 16 << 10;
/// Bytes per arena.
pub const ARENA_SIZE: usize = 1 << 20;
const CLASSES: usize = SMALL_REQUEST_THRESHOLD / ALIGNMENT;
const POOLS_PER_ARENA: usize = ARENA_SIZE / POOL_SIZE;
const POOL_OVERHEAD: u32 = 48;
const NONE: u32 = u32::MAX;

/// A block handed out by [`Pymalloc::alloc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    arena: u32,
    offset: u32,
}

/// One pool's header (`struct pool_header`).
#[derive(Debug, Clone, Copy)]
struct Pool {
    class: u32,
    /// Blocks handed out (`ref.count`).
    used: u32,
    /// First free block's offset in the arena (`freeblock`), or NONE.
    freeblock: u32,
    /// First never-used block (`nextoffset`) and the last one that fits.
    nextoffset: u32,
    maxnextoffset: u32,
    /// Links in `usedpools[class]` (pool ids), or NONE.
    prev: u32,
    next: u32,
}

impl Pool {
    fn is_full(&self) -> bool {
        self.freeblock == NONE && self.nextoffset > self.maxnextoffset
    }
}

#[derive(Debug)]
struct Arena {
    mem: PrivateMapping,
    pools: Vec<Pool>,
    free_pools: Vec<u32>,
    pools_in_use: u32,
}

/// The allocator's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PymallocStats {
    /// Bytes of arenas held from the OS now.
    pub held_bytes: u64,
    /// The most ever held.
    pub peak_held_bytes: u64,
    /// Bytes of blocks handed out and not freed.
    pub live_bytes: u64,
    /// Arenas mapped so far.
    pub arenas_allocated: u64,
    /// Arenas given back to the OS.
    pub arenas_freed: u64,
}

/// The allocator. Not thread-safe by itself: in CPython the GIL protects it.
#[derive(Debug)]
pub struct Pymalloc {
    arenas: Vec<Option<Arena>>,
    usedpools: [u32; CLASSES],
    /// Counters.
    pub stats: PymallocStats,
}

impl Default for Pymalloc {
    fn default() -> Self {
        Pymalloc {
            arenas: Vec::new(),
            usedpools: [NONE; CLASSES],
            stats: PymallocStats::default(),
        }
    }
}

fn block_size(class: u32) -> u32 {
    (class + 1) * ALIGNMENT as u32
}

impl Pymalloc {
    /// A block of at least `size` bytes, or `None` when `size` is 0 or above
    /// [`SMALL_REQUEST_THRESHOLD`] (the caller uses the system allocator) or the OS
    /// refuses an arena.
    pub fn alloc(&mut self, size: usize) -> Option<Block> {
        if size == 0 || size > SMALL_REQUEST_THRESHOLD {
            return None;
        }
        let class = ((size - 1) / ALIGNMENT) as u32;
        let id = match self.usedpools[class as usize] {
            NONE => self.new_pool(class)?,
            id => id,
        };
        let (a, p) = split(id);
        let arena = self.arenas[a]
            .as_mut()
            .expect("a used pool's arena is live");
        let pool = &mut arena.pools[p];
        let offset = if pool.freeblock != NONE {
            let offset = pool.freeblock;
            pool.freeblock = read_u32(arena.mem.as_slice(), offset);
            offset
        } else {
            let offset = pool.nextoffset;
            pool.nextoffset += block_size(class);
            offset
        };
        pool.used += 1;
        if pool.is_full() {
            self.unlink(id);
        }
        self.stats.live_bytes += u64::from(block_size(class));
        Some(Block {
            arena: a as u32,
            offset,
        })
    }

    /// Gives `block` back to its pool.
    pub fn free(&mut self, block: Block) {
        let (a, p) = (block.arena as usize, block.offset as usize / POOL_SIZE);
        let id = (a * POOLS_PER_ARENA + p) as u32;
        let arena = self.arenas[a]
            .as_mut()
            .expect("a live block's arena is live");
        let pool = &mut arena.pools[p];
        let was_full = pool.is_full();
        write_u32(arena.mem.as_mut_slice(), block.offset, pool.freeblock);
        pool.freeblock = block.offset;
        pool.used -= 1;
        let (class, used) = (pool.class, pool.used);
        self.stats.live_bytes -= u64::from(block_size(class));
        if was_full {
            self.link(id);
        }
        if used == 0 {
            self.unlink(id);
            let arena = self.arenas[a].as_mut().expect("still live");
            arena.free_pools.push(p as u32);
            arena.pools_in_use -= 1;
            if arena.pools_in_use == 0 {
                // The arena's last pool emptied: back to the OS.
                self.arenas[a] = None;
                self.stats.held_bytes -= ARENA_SIZE as u64;
                self.stats.arenas_freed += 1;
            }
        }
    }

    /// The bytes of a block, to initialise the object in it.
    pub fn bytes_mut(&mut self, block: Block, len: usize) -> &mut [u8] {
        let arena = self.arenas[block.arena as usize]
            .as_mut()
            .expect("a live block's arena is live");
        let start = block.offset as usize;
        &mut arena.mem.as_mut_slice()[start..start + len]
    }

    /// A fresh pool for `class`, linked into `usedpools`.
    fn new_pool(&mut self, class: u32) -> Option<u32> {
        // The most-used arena with a free pool, so that the emptier ones can drain.
        let chosen = self
            .arenas
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i, a)))
            .filter(|(_, a)| !a.free_pools.is_empty())
            .max_by_key(|(_, a)| a.pools_in_use)
            .map(|(i, _)| i);
        let a = match chosen {
            Some(a) => a,
            None => self.new_arena()?,
        };
        let arena = self.arenas[a].as_mut().expect("chosen arena is live");
        let p = arena
            .free_pools
            .pop()
            .expect("chosen arena has a free pool");
        arena.pools_in_use += 1;
        let base = p * POOL_SIZE as u32;
        arena.pools[p as usize] = Pool {
            class,
            used: 0,
            freeblock: NONE,
            nextoffset: base + POOL_OVERHEAD,
            maxnextoffset: base + POOL_SIZE as u32 - block_size(class),
            prev: NONE,
            next: NONE,
        };
        let id = (a * POOLS_PER_ARENA) as u32 + p;
        self.link(id);
        Some(id)
    }

    fn new_arena(&mut self) -> Option<usize> {
        let mem = PrivateMapping::new(ARENA_SIZE).ok()?;
        let empty = Pool {
            class: 0,
            used: 0,
            freeblock: NONE,
            nextoffset: 0,
            maxnextoffset: 0,
            prev: NONE,
            next: NONE,
        };
        let arena = Arena {
            mem,
            pools: vec![empty; POOLS_PER_ARENA],
            free_pools: (0..POOLS_PER_ARENA as u32).rev().collect(),
            pools_in_use: 0,
        };
        self.stats.held_bytes += ARENA_SIZE as u64;
        self.stats.peak_held_bytes = self.stats.peak_held_bytes.max(self.stats.held_bytes);
        self.stats.arenas_allocated += 1;
        match self.arenas.iter().position(Option::is_none) {
            Some(i) => {
                self.arenas[i] = Some(arena);
                Some(i)
            }
            None => {
                self.arenas.push(Some(arena));
                Some(self.arenas.len() - 1)
            }
        }
    }

    fn pool_mut(&mut self, id: u32) -> &mut Pool {
        let (a, p) = split(id);
        &mut self.arenas[a].as_mut().expect("pool's arena is live").pools[p]
    }

    /// Puts pool `id` at the front of its class's `usedpools` list.
    fn link(&mut self, id: u32) {
        let class = self.pool_mut(id).class as usize;
        let head = self.usedpools[class];
        let pool = self.pool_mut(id);
        pool.prev = NONE;
        pool.next = head;
        if head != NONE {
            self.pool_mut(head).prev = id;
        }
        self.usedpools[class] = id;
    }

    /// Takes pool `id` out of its class's `usedpools` list.
    fn unlink(&mut self, id: u32) {
        let pool = *self.pool_mut(id);
        if pool.prev != NONE {
            self.pool_mut(pool.prev).next = pool.next;
        } else {
            self.usedpools[pool.class as usize] = pool.next;
        }
        if pool.next != NONE {
            self.pool_mut(pool.next).prev = pool.prev;
        }
        let pool = self.pool_mut(id);
        pool.prev = NONE;
        pool.next = NONE;
    }
}

fn split(id: u32) -> (usize, usize) {
    (id as usize / POOLS_PER_ARENA, id as usize % POOLS_PER_ARENA)
}

fn read_u32(mem: &[u8], at: u32) -> u32 {
    let at = at as usize;
    u32::from_le_bytes(mem[at..at + 4].try_into().expect("4 bytes"))
}

fn write_u32(mem: &mut [u8], at: u32, value: u32) {
    let at = at as usize;
    mem[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_distinct_reused_and_arenas_return() {
        let mut m = Pymalloc::default();
        assert!(m.alloc(0).is_none() && m.alloc(513).is_none());
        let blocks: Vec<Block> = (0..100_000)
            .map(|i| m.alloc(1 + i % 512).unwrap())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for (i, &b) in blocks.iter().enumerate() {
            assert!(seen.insert(b), "block handed out twice");
            m.bytes_mut(b, 1 + i % 512).fill(0xab);
        }
        let held = m.stats.held_bytes;
        assert!(held >= m.stats.live_bytes && m.stats.arenas_allocated > 1);
        // Free all but every 64th: the arenas stay (each still has a live block).
        for (i, &b) in blocks.iter().enumerate() {
            if i % 64 != 0 {
                m.free(b);
            }
        }
        assert_eq!(m.stats.held_bytes, held, "fragmented arenas are retained");
        // Reuse: the freed blocks serve new requests without new arenas.
        let again: Vec<Block> = (0..50_000).map(|i| m.alloc(1 + i % 512).unwrap()).collect();
        assert_eq!(m.stats.held_bytes, held);
        for b in again {
            m.free(b);
        }
        for (i, &b) in blocks.iter().enumerate() {
            if i % 64 == 0 {
                m.free(b);
            }
        }
        assert_eq!(m.stats.live_bytes, 0);
        assert_eq!(m.stats.held_bytes, 0, "empty arenas go back to the OS");
        assert_eq!(m.stats.arenas_freed, m.stats.arenas_allocated);
    }
}
