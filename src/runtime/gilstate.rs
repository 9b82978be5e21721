//! State that the GIL protects, as CPython protects its interpreter state: with no
//! lock of its own.
//!
//! pymalloc's pools are global to a CPython interpreter, and `Objects/obmalloc.c`
//! takes no lock around them: only the thread holding the GIL runs Python code, so
//! only it allocates. Rust needs the exclusion spelled out, and a mutex taken at
//! every allocation would cost what CPython never pays: a locked instruction (a full
//! fence) for every `malloc` and every `free`, which on a loop of small allocations
//! costs as much as the allocations themselves.
//!
//! So a [`GilState`] holds its state's mutex *for as long as the thread holds the
//! GIL*: it locks at the first use after the thread (re)gains the GIL, and lets go
//! just before any bytecode that is going to give the GIL up
//! ([`Interp::tick_releasing`]), and at the end of an op. Under a working GIL the
//! mutex is never contended, and it is taken about once per GIL hold, which is the
//! exclusion `take_gil` already bought. Should it ever be held by a thread without
//! the GIL (one finishing its last op and freeing what it kept), the holder waits
//! for it with the GIL released, as CPython code waits for any lock.

use crate::runtime::interp::{Interp, TickKind};
use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{Mutex, MutexGuard, RawMutex};
use std::sync::Arc;

/// One thread's handle on state shared by an interpreter's threads and protected
/// by its GIL. See the module documentation.
pub struct GilState<T> {
    shared: Arc<Mutex<T>>,
    held: Option<ArcMutexGuard<RawMutex, T>>,
    /// Times this thread locked the state: about once per GIL hold.
    pub locks: u64,
}

impl<T> std::fmt::Debug for GilState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GilState")
            .field("held", &self.held.is_some())
            .field("locks", &self.locks)
            .finish()
    }
}

impl<T> GilState<T> {
    /// A handle on `shared`, the interpreter's one copy of the state.
    pub fn new(shared: Arc<Mutex<T>>) -> GilState<T> {
        GilState {
            shared,
            held: None,
            locks: 0,
        }
    }

    /// The state, for the thread holding the GIL.
    #[inline]
    pub fn get(&mut self, interp: &mut Interp<'_>) -> &mut T {
        if self.held.is_none() {
            self.held = Some(self.lock(interp));
        }
        self.held.as_deref_mut().expect("just locked")
    }

    #[cold]
    #[inline(never)]
    fn lock(&mut self, interp: &mut Interp<'_>) -> ArcMutexGuard<RawMutex, T> {
        self.locks += 1;
        match self.shared.try_lock_arc() {
            Some(guard) => guard,
            None => interp.allow_threads(|| self.shared.lock_arc()),
        }
    }

    /// A plain bytecode ([`Interp::tick`]), letting go of the state first if it
    /// gives the GIL up.
    #[inline(always)]
    pub fn tick(&mut self, interp: &mut Interp<'_>) {
        let held = &mut self.held;
        interp.tick_releasing(TickKind::Plain, || *held = None);
    }

    /// A check point ([`Interp::check_point`]), letting go of the state first if
    /// it gives the GIL up.
    #[inline(always)]
    pub fn check_point(&mut self, interp: &mut Interp<'_>) {
        let held = &mut self.held;
        interp.tick_releasing(TickKind::CheckPoint, || *held = None);
    }

    /// Lets go of the state: at the end of an op, before the worker loop (which
    /// may drop the GIL for good) runs.
    #[inline]
    pub fn release(&mut self) {
        self.held = None;
    }

    /// The state for a thread that no longer holds the GIL (cleaning up after its
    /// last op): waits for it like any thread outside the interpreter.
    pub fn lock_outside(&mut self) -> MutexGuard<'_, T> {
        self.held = None;
        self.shared.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::gil::Gil;
    use crate::runtime::interp::Lock;
    use crate::runtime::trace::TraceBuf;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// The state is held across bytecodes that keep the GIL, and let go before the
    /// one that gives it up: so the next holder finds it free, and takes it without
    /// waiting. No timing: the drop request is set by hand.
    #[test]
    fn held_while_the_gil_is_and_let_go_before_a_switch() {
        let gil = Gil::new(Duration::from_secs(3600));
        let shared = Arc::new(Mutex::new(0u64));
        let mut holder = Interp::new(0, Lock::Gil(&gil), TraceBuf::disabled());
        let mut state = GilState::new(Arc::clone(&shared));
        holder.enter();
        for _ in 0..1000 {
            *state.get(&mut holder) += 1;
            state.tick(&mut holder);
            state.check_point(&mut holder);
        }
        assert!(
            shared.is_locked(),
            "kept across bytecodes that keep the GIL"
        );
        assert_eq!(state.locks, 1);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let mut interp = Interp::new(1, Lock::Gil(&gil), TraceBuf::disabled());
                let mut state = GilState::new(Arc::clone(&shared));
                interp.enter();
                // The GIL is ours: the state must be free, not held by a waiter.
                let free = !shared.is_locked();
                *state.get(&mut interp) += 1;
                state.release();
                interp.exit();
                free
            });
            // The waiter is queued or about to be: the holder's next check point
            // gives the GIL up (and, forcing the switch, waits until it is taken).
            gil.drop_request().store(true, Ordering::Relaxed);
            for _ in 0..1000 {
                *state.get(&mut holder) += 1;
                state.check_point(&mut holder);
            }
            assert!(waiter.join().unwrap(), "the GIL came with the state free");
        });
        state.release();
        holder.exit();
        assert!(*shared.lock() > 1001);
    }

    /// Python 2's lock is released every check interval, whoever takes it next: the
    /// state is let go before each of those ticks, and only those.
    #[test]
    fn under_python_2_let_go_at_each_check_interval() {
        let gil = crate::runtime::gil::LegacyGil::new();
        let shared = Arc::new(Mutex::new(0u64));
        let mut interp = Interp::new(0, Lock::Legacy(&gil, 10), TraceBuf::disabled());
        let mut state = GilState::new(Arc::clone(&shared));
        interp.enter();
        for _ in 0..110 {
            *state.get(&mut interp) += 1;
            state.tick(&mut interp);
        }
        state.release();
        interp.exit();
        // A release on the 11th counted tick (2.7's `--_Py_Ticker < 0`): 10 of them
        // in 110 ticks, and the state taken again after each.
        assert_eq!(state.locks, 10);
        assert_eq!(interp.into_parts().0.acquisitions, 11);
    }

    /// Without a GIL nothing is ever let go mid-op (nothing else runs in this
    /// interpreter), and a plain release frees it.
    #[test]
    fn without_a_gil_held_until_released() {
        let shared = Arc::new(Mutex::new(0u64));
        let mut interp = Interp::new(0, Lock::Free, TraceBuf::disabled());
        let mut state = GilState::new(Arc::clone(&shared));
        for _ in 0..100 {
            *state.get(&mut interp) += 1;
            state.check_point(&mut interp);
        }
        assert!(shared.is_locked());
        state.release();
        assert!(!shared.is_locked());
        assert_eq!(*state.lock_outside(), 100);
    }
}
