//! The harness's own costs: what gilbench adds to what it measures.
//!
//! - an uncontended GIL take + drop (target ≤ 50 ns),
//! - the per-tick drop-request check at a check point (target ≤ 2 ns),
//! - one histogram record, and one clock read + record: the per-op cost of the
//!   measured loop (target ≤ 20 ns for the record).
//!
//! Run alone: `cargo bench --bench harness`. Figures depend on nothing else running.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gilbench::measure::{new_histogram, record};
use gilbench::runtime::gil::{Gil, LegacyGil};
use gilbench::runtime::interp::{Interp, Lock};
use gilbench::runtime::trace::TraceBuf;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn gil(c: &mut Criterion) {
    let mut group = c.benchmark_group("gil");
    let gil = Gil::new(Duration::from_millis(5));
    group.bench_function("uncontended take+drop", |b| {
        b.iter(|| {
            gil.take(black_box(1));
            gil.drop(black_box(1), false);
        })
    });
    let legacy = LegacyGil::new();
    group.bench_function("legacy uncontended take+drop", |b| {
        b.iter(|| {
            legacy.take(black_box(1));
            legacy.drop();
        })
    });
    group.finish();
}

fn ticks(c: &mut Criterion) {
    const TICKS: u64 = 10_000;
    let mut group = c.benchmark_group("tick");
    group.throughput(Throughput::Elements(TICKS));
    let gil = Gil::new(Duration::from_millis(5));
    let mut interp = Interp::new(0, Lock::Gil(&gil), TraceBuf::disabled());
    interp.enter();
    group.bench_function("check point under gil (per element)", |b| {
        b.iter(|| {
            for _ in 0..TICKS {
                interp.check_point();
            }
        })
    });
    group.bench_function("plain tick under gil (per element)", |b| {
        b.iter(|| {
            for _ in 0..TICKS {
                interp.tick();
            }
        })
    });
    interp.exit();
    let mut free = Interp::new(0, Lock::Free, TraceBuf::disabled());
    group.bench_function("check point without a gil (per element)", |b| {
        b.iter(|| {
            for _ in 0..TICKS {
                free.check_point();
            }
        })
    });
    group.finish();
}

fn recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    let mut hist = new_histogram();
    // Warm the histogram to its working size so resizing is not measured.
    hist.record(10_000_000).unwrap();
    group.bench_function("histogram record", |b| {
        let mut v = 1u64;
        b.iter(|| {
            v = (v * 7 + 13) % 1_000_000;
            record(&mut hist, black_box(v));
        })
    });
    group.bench_function("clock read + record (per op harness)", |b| {
        let mut t0 = Instant::now();
        b.iter(|| {
            let t1 = Instant::now();
            record(&mut hist, (t1 - t0).as_nanos() as u64);
            t0 = t1;
        })
    });
    group.bench_function("new histogram", |b| {
        b.iter_batched(|| (), |_| new_histogram(), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, gil, ticks, recording);
criterion_main!(benches);
