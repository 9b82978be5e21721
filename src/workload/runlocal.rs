//! State shared by the workers of one run that live in the same process.
//!
//! Some state belongs to an interpreter, not to the shared region: a Python heap
//! and its collector, an allocator's pools. Threads of one run share one; a forked
//! worker process has its own, as a real `multiprocessing` child has its own heap.
//! [`RunLocal`] hands every worker of the run in this process the same `Arc<T>`,
//! created by the first to ask. Runs are told apart by a random token the first
//! worker of the run stores in the run's (fresh, zeroed) shared region, so nothing
//! from one model's run leaks into the next; entries die with their last worker.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Per-run, per-process shared state. See the module documentation.
#[derive(Debug)]
pub struct RunLocal<T> {
    entries: Mutex<Vec<(u64, Weak<T>)>>,
}

impl<T> Default for RunLocal<T> {
    fn default() -> Self {
        RunLocal {
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl<T> RunLocal<T> {
    /// The run's `T` in this process, made by `init` if this is the first worker
    /// to ask. `token` is a word of the run's shared region reserved for this.
    pub fn get_or_init(&self, token: &AtomicU64, init: impl FnOnce() -> T) -> Arc<T> {
        let key = run_token(token);
        let mut entries = self.entries.lock();
        entries.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(existing) = entries
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, weak)| weak.upgrade())
        {
            return existing;
        }
        // Built under the lock: the other workers of this run wait for it, which
        // is fine before the start line.
        let fresh = Arc::new(init());
        entries.push((key, Arc::downgrade(&fresh)));
        fresh
    }
}

/// The run's token: whatever is stored, or a fresh random one stored now.
fn run_token(token: &AtomicU64) -> u64 {
    let current = token.load(Ordering::Acquire);
    if current != 0 {
        return current;
    }
    let mut bytes = [0u8; 8];
    // Without randomness, fall back to something unique enough within a process.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = (std::process::id() as u64
            ^ crate::measure::nanos(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default(),
            ))
        .to_le_bytes();
    }
    let fresh = u64::from_le_bytes(bytes) | 1;
    match token.compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => fresh,
        Err(existing) => existing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_run_and_fresh_for_the_next() {
        let local = RunLocal::<u32>::default();
        let token = AtomicU64::new(0);
        let a = local.get_or_init(&token, || 1);
        let b = local.get_or_init(&token, || 2);
        assert!(Arc::ptr_eq(&a, &b));
        let next_run = AtomicU64::new(0);
        assert_eq!(*local.get_or_init(&next_run, || 3), 3);
        drop((a, b));
        // The first run's entry died with its last holder.
        assert_eq!(*local.get_or_init(&token, || 4), 4);
    }
}
