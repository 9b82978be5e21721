//! The `fork-cow` experiment's runner: each variant (see `workload::fork_cow`)
//! under `processes` — in forked children, each measuring itself (`child`) —
//! or under `threads` sharing the parent's heap. Each variant becomes one
//! [`ModelRun`], its `variant` named in the extras. The plan has checked that the
//! model is one of these two.

mod child;

use super::{ModelRun, RunError};
use crate::measure::{nanos, new_histogram, Rusage, RusageDelta};
use crate::plan::ModelKind;
use crate::runtime::gc::{Heap, OBJECT_BYTES};
use crate::workload::fork_cow::{ForkCow, Variant};
use crate::workload::Outcome;
use child::{run_child, ChildReport};
use std::time::{Duration, Instant};

/// Runs every selected variant of `experiment` under `model` (`processes`, or
/// else `threads`).
pub fn run(experiment: &ForkCow, model: ModelKind) -> Result<Vec<ModelRun>, RunError> {
    let mut heap = experiment.heap();
    let mut runs = Vec::new();
    for &variant in experiment.variants() {
        match model {
            ModelKind::Processes => runs.push(forked(experiment, &mut heap, variant)?),
            _ if variant.runs_in_threads() => runs.push(threaded(experiment, &mut heap, variant)),
            _ => {}
        }
    }
    Ok(runs)
}

/// One variant in forked children, `repeat` times.
fn forked(experiment: &ForkCow, heap: &mut Heap, variant: Variant) -> Result<ModelRun, RunError> {
    let os = |source: std::io::Error| RunError::Os {
        model: ModelKind::Processes,
        what: format!("fork-cow {}", variant.name()),
        source,
    };
    let mut reports = Vec::new();
    let mut usage = RusageDelta::default();
    for _ in 0..experiment.repeat() {
        variant.prepare(heap);
        let result = if variant == Variant::DeepCopy {
            let parent: &Heap = heap;
            run_child(
                |socket| {
                    Heap::read_objects(&mut std::io::BufReader::with_capacity(1 << 16, socket))
                },
                |copy| Variant::Read.pass(copy),
                |socket| parent.write_to(socket),
            )
        } else {
            let child_heap = &mut *heap;
            run_child(
                |_| Ok(()),
                move |_: &mut ()| variant.in_child(child_heap),
                |_| Ok(()),
            )
        };
        variant.restore(heap);
        let (report, child_usage) = result.map_err(os)?;
        reports.push(report);
        usage = usage + child_usage;
    }
    Ok(model_run(
        ModelKind::Processes,
        1,
        variant,
        &reports,
        usage,
        heap,
    ))
}

/// One variant in `threads` threads sharing the heap, `repeat` times.
fn threaded(experiment: &ForkCow, heap: &mut Heap, variant: Variant) -> ModelRun {
    let mut reports = Vec::new();
    let mut usage = RusageDelta::default();
    for _ in 0..experiment.repeat() {
        variant.prepare(heap);
        let before = crate::measure::procfs::smaps_rollup().unwrap_or_default();
        let usage_before = Rusage::this_process();
        let spawned_at = Instant::now();
        let slots = heap.slots_mut();
        let chunk = slots.len().div_ceil(experiment.threads()).max(1);
        let results: Vec<(Instant, Duration, (u64, u64))> = std::thread::scope(|scope| {
            let handles: Vec<_> = slots
                .chunks_mut(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let started = Instant::now();
                        let out = variant.pass(part);
                        (started, started.elapsed(), out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a pass over memory does not panic"))
                .collect()
        });
        let run_usage = Rusage::this_process().since(&usage_before);
        let after = crate::measure::procfs::smaps_rollup().unwrap_or_default();
        variant.restore(heap);
        let last_start = results.iter().map(|r| r.0).max().unwrap_or(spawned_at);
        let mut memory = after;
        memory.private_dirty = after.private_dirty.saturating_sub(before.private_dirty);
        reports.push(ChildReport {
            startup_ns: nanos(last_start - spawned_at),
            work_ns: results.iter().map(|r| nanos(r.1)).max().unwrap_or(0),
            work_minor_faults: run_usage.minor_faults,
            memory,
            objects: results.iter().map(|r| r.2 .0).sum(),
            checksum: results.iter().fold(0, |a, r| a ^ r.2 .1),
        });
        usage = usage + run_usage;
    }
    model_run(
        ModelKind::Threads,
        experiment.threads(),
        variant,
        &reports,
        usage,
        heap,
    )
}

fn model_run(
    model: ModelKind,
    workers: usize,
    variant: Variant,
    reports: &[ChildReport],
    mut usage: RusageDelta,
    heap: &Heap,
) -> ModelRun {
    let n = reports.len().max(1) as u64;
    let mut latency = new_histogram();
    for r in reports {
        latency.saturating_record(r.work_ns.max(1));
    }
    let heap_bytes = (heap.slots().len() * OBJECT_BYTES) as u64;
    let max = |f: fn(&ChildReport) -> u64| reports.iter().map(f).max().unwrap_or(0);
    let private_dirty = max(|r| r.memory.private_dirty);
    // Per child, like the other figures.
    usage.minor_faults /= n;
    let extra = serde_json::json!({
        "variant": variant.name(),
        "private_dirty_bytes": private_dirty,
        "dirty_share": private_dirty as f64 / heap_bytes as f64,
        "pss_bytes": max(|r| r.memory.pss),
        "rss_bytes": max(|r| r.memory.rss),
        "work_minor_faults": reports.iter().map(|r| r.work_minor_faults).sum::<u64>() / n,
        "heap_bytes": heap_bytes,
        "heap_objects": heap.live(),
    });
    let ops: u64 = reports.iter().map(|r| r.objects).sum();
    ModelRun {
        model,
        workers,
        ops,
        total_ops: ops,
        wall: Duration::from_nanos(reports.iter().map(|r| r.work_ns).sum()),
        latency,
        gil: None,
        gil_held: Duration::ZERO,
        usage,
        outcome: Outcome {
            counter: None,
            extra: match extra {
                serde_json::Value::Object(map) => map,
                _ => unreachable!("json! of an object literal"),
            },
        },
        startup: Some(Duration::from_nanos(
            reports.iter().map(|r| r.startup_ns).sum::<u64>() / n,
        )),
        traces: Vec::new(),
    }
}
