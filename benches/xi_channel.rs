//! What one message through the simulated cross-interpreter channel costs
//! (`workload::xi`): `pickle.dumps` + the channel's copy on one side, the copy
//! into the receiver + `pickle.loads` on the other, under each interpreter's own
//! uncontended GIL — by message size, so the fixed part (the calls' bytecodes,
//! measured on CPython 3.12/3.13: ~1.4–2 µs there, about 170 of its bytecodes)
//! and the per-byte part (three copies) can be read apart. The real figures
//! come from `scripts/subinterpreters_costs.py`; put the two side by side.
//!
//! Run alone: `cargo bench --bench xi_channel`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gilbench::runtime::gil::Gil;
use gilbench::runtime::interp::{Interp, Lock};
use gilbench::runtime::trace::TraceBuf;
use gilbench::workload::xi::Endpoint;
use std::hint::black_box;
use std::time::Duration;

fn message(c: &mut Criterion) {
    let mut group = c.benchmark_group("xi channel message");
    let (sender_gil, receiver_gil) = (
        Gil::new(Duration::from_millis(5)),
        Gil::new(Duration::from_millis(5)),
    );
    let mut sender = Interp::new(0, Lock::Gil(&sender_gil), TraceBuf::disabled());
    let mut receiver = Interp::new(1, Lock::Gil(&receiver_gil), TraceBuf::disabled());
    sender.enter();
    receiver.enter();
    let (mut out, mut into) = (Endpoint::default(), Endpoint::default());
    for size in [8usize, 64, 512, 4096, 32768, 65536] {
        let payload = vec![0x5au8; size];
        // The channel's storage: what the sender hands over.
        let mut wire = Vec::with_capacity(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("put+get", size), &payload, |b, payload| {
            b.iter(|| {
                wire.clear();
                wire.extend_from_slice(out.dumps(&mut sender, black_box(payload)));
                into.inbox().extend_from_slice(&wire);
                black_box(into.loads(&mut receiver).len())
            })
        });
    }
    sender.exit();
    receiver.exit();
    group.finish();
}

criterion_group!(benches, message);
criterion_main!(benches);
