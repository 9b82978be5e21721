//! A bounded multi-producer multi-consumer ring buffer that lives in shared memory.
//!
//! Dmitry Vyukov's bounded MPMC queue (1024cores.net, "Bounded MPMC queue"): every
//! slot carries a sequence number that says whose turn it is. A producer that
//! finds slot `pos % capacity` at sequence `pos` may claim position `pos` (a CAS on
//! `tail`), write the item and publish it by setting the sequence to `pos + 1`; a
//! consumer that finds sequence `pos + 1` at `head` may claim it, read the item and
//! hand the slot back to the producers with sequence `pos + capacity`. No locks, no
//! pointers: the ring works the same between threads and between processes.
//!
//! # Layout and zero initialisation
//!
//! Slots are runs of `AtomicU64`: word 0 is the sequence number, the rest the item.
//! Shared memory starts zeroed while slot `i` must start at sequence `i`, so the
//! stored word is the sequence *minus the slot's index* (wrapping): zero means
//! "sequence `i`", and no one has to initialise the ring before workers start.
//!
//! # Blocking
//!
//! A full or empty ring is waited out on a futex (shared, so it works across
//! processes) used as an event count: a waiter reads the count, announces itself in
//! a sleeper count, checks the ring again and sleeps only if the count is unchanged.
//! Whoever changes the ring bumps the count and wakes a sleeper only when one is
//! announced, so the uncontended path makes no system call. A sequentially
//! consistent fence on each side (Dekker's pattern) guarantees that either the
//! waiter sees the new item or the publisher sees the sleeper. Waits also time out
//! now and then, so a lost peer can never block a worker forever.

use crate::runtime::shm::{Layout, Sizer};
use crate::sys::futex;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The longest single sleep; waiters re-check the ring (and whether it was closed)
/// at least this often.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A view of a ring in a shared region.
#[derive(Debug, Clone, Copy)]
pub struct Ring<'r> {
    /// Next position to consume.
    head: &'r AtomicU64,
    /// Next position to produce.
    tail: &'r AtomicU64,
    /// Event count bumped when an item arrives while consumers sleep (and on close).
    not_empty: &'r AtomicU32,
    /// Event count bumped when a slot frees up while producers sleep (and on close).
    not_full: &'r AtomicU32,
    /// Consumers asleep, or about to be, on `not_empty`.
    empty_sleepers: &'r AtomicU32,
    /// Producers asleep, or about to be, on `not_full`.
    full_sleepers: &'r AtomicU32,
    /// Set once: no more items will be put or taken; waiters give up.
    closed: &'r AtomicU32,
    slots: &'r [AtomicU64],
    /// Words per slot: the sequence word, then the item.
    stride: usize,
    capacity: u64,
}

impl<'r> Ring<'r> {
    /// Reserves a ring of `capacity` items of `item_words` words.
    pub fn reserve(sizer: &mut Sizer, capacity: usize, item_words: usize) {
        sizer
            .reserve::<AtomicU64>(1)
            .reserve::<AtomicU64>(1)
            .reserve::<AtomicU32>(1)
            .reserve::<AtomicU32>(1)
            .reserve::<AtomicU32>(1)
            .reserve::<AtomicU32>(1)
            .reserve::<AtomicU32>(1)
            .reserve::<AtomicU64>(capacity * (1 + item_words));
    }

    /// Places the ring reserved by [`Ring::reserve`] with the same arguments.
    pub fn place(layout: &mut Layout<'r>, capacity: usize, item_words: usize) -> Ring<'r> {
        assert!(capacity >= 1, "a ring holds at least one item");
        Ring {
            head: layout.place(),
            tail: layout.place(),
            not_empty: layout.place(),
            not_full: layout.place(),
            empty_sleepers: layout.place(),
            full_sleepers: layout.place(),
            closed: layout.place(),
            slots: layout.place_slice(capacity * (1 + item_words)),
            stride: 1 + item_words,
            capacity: capacity as u64,
        }
    }

    /// The slot for position `pos`: its index and words.
    #[inline]
    fn slot(&self, pos: u64) -> (u64, &'r [AtomicU64]) {
        let index = pos % self.capacity;
        let start = index as usize * self.stride;
        (index, &self.slots[start..start + self.stride])
    }

    /// The sequence number of a slot (stored minus its index; see the module docs).
    #[inline]
    fn sequence(index: u64, slot: &[AtomicU64]) -> u64 {
        slot[0].load(Ordering::Acquire).wrapping_add(index)
    }

    #[inline]
    fn set_sequence(index: u64, slot: &[AtomicU64], sequence: u64) {
        slot[0].store(sequence.wrapping_sub(index), Ordering::Release);
    }

    /// Puts one item written by `write` into its slot's item words; false if full.
    #[inline]
    pub fn try_push(&self, write: impl FnOnce(&[AtomicU64])) -> bool {
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let (index, slot) = self.slot(pos);
            let lag = Self::sequence(index, slot).wrapping_sub(pos) as i64;
            if lag == 0 {
                match self.tail.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        write(&slot[1..]);
                        Self::set_sequence(index, slot, pos + 1);
                        self.wake(self.not_empty, self.empty_sleepers, 1);
                        return true;
                    }
                    Err(now) => pos = now,
                }
            } else if lag < 0 {
                return false; // the slot still holds an item a lap behind: full
            } else {
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes one item, read by `read` from its slot's item words; `None` if empty.
    #[inline]
    pub fn try_pop<R>(&self, read: impl FnOnce(&[AtomicU64]) -> R) -> Option<R> {
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let (index, slot) = self.slot(pos);
            let lag = Self::sequence(index, slot).wrapping_sub(pos + 1) as i64;
            if lag == 0 {
                match self.head.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let item = read(&slot[1..]);
                        Self::set_sequence(index, slot, pos + self.capacity);
                        self.wake(self.not_full, self.full_sleepers, 1);
                        return Some(item);
                    }
                    Err(now) => pos = now,
                }
            } else if lag < 0 {
                return None; // not yet published: empty
            } else {
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Whether a push would find the ring full right now.
    fn looks_full(&self) -> bool {
        let pos = self.tail.load(Ordering::Relaxed);
        let (index, slot) = self.slot(pos);
        (Self::sequence(index, slot).wrapping_sub(pos) as i64) < 0
    }

    /// Whether a pop would find the ring empty right now.
    fn looks_empty(&self) -> bool {
        let pos = self.head.load(Ordering::Relaxed);
        let (index, slot) = self.slot(pos);
        (Self::sequence(index, slot).wrapping_sub(pos + 1) as i64) < 0
    }

    /// Blocks until the ring may have room, it is closed, or a wait slice passes.
    pub fn wait_not_full(&self) {
        self.wait(self.not_full, self.full_sleepers, || !self.looks_full());
    }

    /// Blocks until the ring may hold an item, it is closed, or a wait slice passes.
    pub fn wait_not_empty(&self) {
        self.wait(self.not_empty, self.empty_sleepers, || !self.looks_empty());
    }

    fn wait(&self, event: &AtomicU32, sleepers: &AtomicU32, ready: impl Fn() -> bool) {
        let seen = event.load(Ordering::Acquire);
        sleepers.fetch_add(1, Ordering::SeqCst);
        // Pairs with the fence in `wake`: either we see the change, or the changer
        // sees us in `sleepers` and bumps `event`, making the futex wait return.
        fence(Ordering::SeqCst);
        if !ready() && !self.is_closed() {
            futex::wait(event, seen, Some(WAIT_SLICE));
        }
        sleepers.fetch_sub(1, Ordering::Relaxed);
    }

    #[inline]
    fn wake(&self, event: &AtomicU32, sleepers: &AtomicU32, count: u32) {
        fence(Ordering::SeqCst);
        if sleepers.load(Ordering::Relaxed) > 0 {
            event.fetch_add(1, Ordering::Release);
            futex::wake(event, count);
        }
    }

    /// Closes the ring: every waiter wakes and gives up; items still in it stay.
    pub fn close(&self) {
        self.closed.store(1, Ordering::SeqCst);
        for event in [self.not_empty, self.not_full] {
            event.fetch_add(1, Ordering::SeqCst);
            futex::wake(event, u32::MAX);
        }
    }

    /// Whether [`Ring::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) != 0
    }

    /// Items in the ring (a snapshot).
    pub fn items(&self) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        self.tail.load(Ordering::Acquire).saturating_sub(head)
    }

    /// How many items fit.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::shm::SharedRegion;

    fn ring_region(capacity: usize, words: usize) -> SharedRegion {
        let mut sizer = Sizer::default();
        Ring::reserve(&mut sizer, capacity, words);
        SharedRegion::new(sizer.bytes()).unwrap()
    }

    #[test]
    fn fifo_full_and_empty() {
        let region = ring_region(3, 2);
        let ring = Ring::place(&mut region.layout(), 3, 2);
        assert!(ring.try_pop(|_| ()).is_none());
        for v in 1..=3u64 {
            assert!(ring.try_push(|w| {
                w[0].store(v, Ordering::Relaxed);
                w[1].store(v * 10, Ordering::Relaxed);
            }));
        }
        assert!(!ring.try_push(|_| ()), "full at capacity");
        assert_eq!(ring.items(), 3);
        for v in 1..=3u64 {
            let got =
                ring.try_pop(|w| (w[0].load(Ordering::Relaxed), w[1].load(Ordering::Relaxed)));
            assert_eq!(got, Some((v, v * 10)));
        }
        assert_eq!(ring.items(), 0);
        // Around the ring again: sequences keep working after a lap.
        for lap in 0..10u64 {
            assert!(ring.try_push(|w| w[0].store(lap, Ordering::Relaxed)));
            assert_eq!(ring.try_pop(|w| w[0].load(Ordering::Relaxed)), Some(lap));
        }
    }

    #[test]
    fn threads_hand_over_every_item_once() {
        const PER_PRODUCER: u64 = 20_000;
        let region = ring_region(64, 1);
        let ring = Ring::place(&mut region.layout(), 64, 1);
        let total = std::sync::atomic::AtomicU64::new(0);
        let taken = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for p in 0..2u64 {
                s.spawn(move || {
                    for i in 0..PER_PRODUCER {
                        let v = p * PER_PRODUCER + i + 1;
                        while !ring.try_push(|w| w[0].store(v, Ordering::Relaxed)) {
                            ring.wait_not_full();
                        }
                    }
                });
            }
            for _ in 0..2 {
                let (ring, total, taken) = (ring, &total, &taken);
                s.spawn(move || loop {
                    if taken.load(Ordering::Relaxed) >= 2 * PER_PRODUCER {
                        break;
                    }
                    match ring.try_pop(|w| w[0].load(Ordering::Relaxed)) {
                        Some(v) => {
                            total.fetch_add(v, Ordering::Relaxed);
                            taken.fetch_add(1, Ordering::Relaxed);
                        }
                        None => ring.wait_not_empty(),
                    }
                });
            }
        });
        let n = 2 * PER_PRODUCER;
        assert_eq!(taken.load(Ordering::Relaxed), n);
        assert_eq!(total.load(Ordering::Relaxed), n * (n + 1) / 2);
    }

    #[test]
    fn close_wakes_a_waiter() {
        let region = ring_region(1, 1);
        let ring = Ring::place(&mut region.layout(), 1, 1);
        std::thread::scope(|s| {
            let waiter = s.spawn(move || {
                while ring.try_pop(|_| ()).is_none() && !ring.is_closed() {
                    ring.wait_not_empty();
                }
            });
            std::thread::sleep(Duration::from_millis(5));
            ring.close();
            waiter.join().unwrap();
        });
    }
}
