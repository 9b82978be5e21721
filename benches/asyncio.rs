//! The harness's own cost per coroutine switch under the `asyncio` model.
//!
//! Two coroutines take turns on [`EventLoop`] with `await asyncio.sleep(0)` and do
//! nothing else: each switch is one callback — pop from the ready queue, record
//! its loop lag into the histogram, resume the coroutine, read the clock, push its
//! next step. That is everything the simulated loop adds to a coroutine's own
//! work, and it must stay in the tens of nanoseconds (PRODUCT.md's promise for
//! the harness), or the loop itself would be what `asyncio` runs measure.
//!
//! Run alone: `cargo bench --bench asyncio`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gilbench::model::asyncio::event_loop::{Coroutines, EventLoop, Suspended};
use std::time::{Duration, Instant};

/// `coroutines` coroutines that each yield until `switches` steps have run.
struct Yielders {
    left: u64,
}

impl Coroutines for Yielders {
    fn resume(&mut self, _task: usize, _now: Instant) -> std::io::Result<Suspended> {
        if self.left == 0 {
            return Ok(Suspended::Finished);
        }
        self.left -= 1;
        Ok(Suspended::Yield)
    }

    fn select(
        &mut self,
        _readers: &[usize],
        _timeout: Option<Duration>,
        _readable: &mut Vec<usize>,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `switches` coroutine steps spread over `coroutines` coroutines.
fn run(coroutines: usize, switches: u64) -> Duration {
    let mut event_loop = EventLoop::new();
    let mut yielders = Yielders { left: switches };
    let start = Instant::now();
    for task in 0..coroutines {
        event_loop.call_soon(task, start);
    }
    while !event_loop.is_idle() {
        event_loop
            .run_once(&mut yielders, None)
            .expect("nothing here fails");
    }
    start.elapsed()
}

fn switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("asyncio switch");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for coroutines in [2usize, 64, 1024] {
        group.bench_with_input(
            BenchmarkId::new("coroutines", coroutines),
            &coroutines,
            |b, &n| b.iter_custom(|iters| run(n, iters)),
        );
    }
    group.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
