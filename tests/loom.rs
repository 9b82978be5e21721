//! Model-checks the GIL's handoff ([`gilbench::runtime::gil::Gil`]) with loom: every
//! interleaving of a few threads' takes and drops, not the few a test run happens to
//! hit. Built only under `--cfg loom`, where `src/runtime/sync.rs` swaps glibc's
//! mutexes, condition variables and atomics for loom's:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test --release --test loom
//! ```
//!
//! loom does not model time: a timed wait never times out here, so a waiter is
//! woken only by a `drop`'s signal. That makes these checks stricter, not weaker —
//! a lost wake-up, which the switch interval would paper over in a real run,
//! becomes a deadlock loom reports. The drop request, which a real waiter sets
//! after an interval, is set by hand where a test needs one.
#![cfg(loom)]

use gilbench::runtime::gil::Gil;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::Ordering;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_millis(5);

/// Two threads take and drop the GIL; what it guards is a plain cell, which
/// loom reports if two threads ever touch it at once.
#[test]
fn at_most_one_thread_holds_the_gil() {
    loom::model(|| {
        let gil = Arc::new(Gil::new(INTERVAL));
        let guarded = Arc::new(UnsafeCell::new(0u32));
        let threads: Vec<_> = (1..=2)
            .map(|me| {
                let (gil, guarded) = (Arc::clone(&gil), Arc::clone(&guarded));
                thread::spawn(move || {
                    gil.take(me);
                    // SAFETY: (of the test's claim) only the GIL's holder gets here.
                    guarded.with_mut(|v| unsafe { *v += 1 });
                    Gil::drop(&gil, me, true);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        gil.take(0);
        guarded.with(|v| assert_eq!(unsafe { *v }, 2));
        Gil::drop(&gil, 0, true);
    });
}

/// Whoever waits is woken by some drop: no interleaving leaves a thread asleep
/// on a free GIL (loom fails the model on a deadlock).
#[test]
fn no_waiter_sleeps_through_a_drop() {
    loom::model(|| {
        let gil = Arc::new(Gil::new(INTERVAL));
        gil.take(0);
        let threads: Vec<_> = (1..=2)
            .map(|me| {
                let gil = Arc::clone(&gil);
                thread::spawn(move || {
                    gil.take(me);
                    Gil::drop(&gil, me, true);
                })
            })
            .collect();
        Gil::drop(&gil, 0, true);
        for t in threads {
            t.join().unwrap();
        }
        assert!(gil.switch_number() >= 2);
    });
}

/// A holder that drops on request with forced switching returns only once
/// another thread has taken the GIL, so it cannot win it straight back.
#[test]
fn a_forced_switch_waits_for_another_threads_take() {
    loom::model(|| {
        let gil = Arc::new(Gil::new(INTERVAL));
        gil.take(0);
        let waiter = {
            let gil = Arc::clone(&gil);
            thread::spawn(move || {
                gil.take(1);
                Gil::drop(&gil, 1, true);
            })
        };
        // What the waiter's timed-out wait would do after an interval.
        gil.drop_request().store(true, Ordering::Relaxed);
        let before = gil.switch_number();
        let outcome = Gil::drop(&gil, 0, false);
        if outcome.forced_switch {
            assert!(
                gil.switch_number() > before,
                "a forced switch returned before anyone else took the GIL"
            );
        }
        waiter.join().unwrap();
    });
}
