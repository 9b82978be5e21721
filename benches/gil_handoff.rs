//! The GIL's handoff cost against the number of threads waiting for it.
//!
//! `waiters + 1` threads pass the GIL round: each takes it, raises the drop
//! request (as a waiter that timed out would), and drops it with forced switching,
//! so every drop waits until *another* thread has taken it. Time per handoff is
//! a drop, one waiter's wake-up, its take, and the dropper's wake-up. A handoff
//! whose cost grew with the waiters (a thundering herd, a queue walked per wake)
//! would show here; CPython's design — each waiter in its own timed wait, one
//! signalled per drop — keeps it flat.
//!
//! Run alone: `cargo bench --bench gil_handoff`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gilbench::runtime::gil::Gil;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A switch interval no waiter reaches: the handoffs come from the holders'
/// own requests, not from timeouts.
const INTERVAL: Duration = Duration::from_secs(3600);

fn handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("gil handoff");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for waiters in [1usize, 4, 16, 64, 256] {
        group.bench_with_input(BenchmarkId::new("waiters", waiters), &waiters, |b, &n| {
            b.iter_custom(|iters| ring(n + 1, iters))
        });
    }
    group.finish();
}

/// Runs `threads` threads passing the GIL until `handoffs` handoffs happened.
fn ring(threads: usize, handoffs: u64) -> Duration {
    let gil = Arc::new(Gil::new(INTERVAL));
    let stop = Arc::new(AtomicBool::new(false));
    let alive = Arc::new(AtomicUsize::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|me| {
            let (gil, stop, alive) = (Arc::clone(&gil), Arc::clone(&stop), Arc::clone(&alive));
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    loop {
                        gil.take(me);
                        if stop.load(Ordering::Relaxed) {
                            Gil::drop(&gil, me, true);
                            break;
                        }
                        gil.drop_request().store(true, Ordering::Relaxed);
                        Gil::drop(&gil, me, false);
                    }
                    alive.fetch_sub(1, Ordering::Relaxed);
                })
                .expect("spawn a bench thread")
        })
        .collect();
    let (start, first) = (Instant::now(), gil.switch_number());
    while gil.switch_number() - first < handoffs {
        std::thread::sleep(Duration::from_micros(100));
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    // A thread left waiting for a forced switch needs one more take to go.
    let me = threads;
    while alive.load(Ordering::Relaxed) > 0 {
        gil.take(me);
        Gil::drop(&gil, me, true);
        std::thread::yield_now();
    }
    for h in handles {
        h.join().unwrap();
    }
    elapsed
}

criterion_group!(benches, handoff);
criterion_main!(benches);
