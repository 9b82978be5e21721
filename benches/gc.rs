//! The cycle collector's cost per object scanned: a full collection of a heap of
//! tracked objects (trees of 64, one in ten a self-cycle, as `gc-pause` builds),
//! where every object survives — the pause a program with a large long-lived heap
//! pays for each full collection. Criterion reports it per element: ns per object.
//! Compare with CPython: 1M tracked lists, gc.collect() ≈ 57–74 ms here (57–74 ns
//! per object).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gilbench::runtime::gc::{Heap, Mode};

fn heap(objects: usize) -> Heap {
    let mut heap = Heap::new(Mode::Off, [700, 10, 10], objects);
    heap.build_trees(objects, 64, 10);
    heap.collect(2);
    heap
}

fn full_collection(c: &mut Criterion) {
    let mut group = c.benchmark_group("gc/full-collection");
    group.sample_size(10);
    for objects in [10_000usize, 100_000, 1_000_000] {
        let mut h = heap(objects);
        group.throughput(Throughput::Elements(objects as u64));
        group.bench_with_input(BenchmarkId::from_parameter(objects), &objects, |b, _| {
            b.iter(|| h.collect(2))
        });
    }
    group.finish();
}

fn young_collection_with_garbage(c: &mut Criterion) {
    // 700 new objects, a tenth of them garbage self-cycles: one automatic
    // generation-0 collection's worth, beside a 100k-object old generation.
    let mut group = c.benchmark_group("gc/young-collection");
    let mut h = heap(100_000);
    group.throughput(Throughput::Elements(700));
    group.bench_function("700-objects", |b| {
        b.iter(|| {
            let keep: Vec<u32> = (0..630).map(|_| h.alloc(&[])).collect();
            for _ in 0..70 {
                let a = h.alloc(&[]);
                h.set_item(a, 0, a);
                h.decref(a);
            }
            h.collect(0);
            for k in keep {
                h.decref(k);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, full_collection, young_collection_with_garbage);
criterion_main!(benches);
