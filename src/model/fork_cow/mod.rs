//! The `fork-cow` experiment's runner: each variant (see `workload::fork_cow`)
//! under `processes` — in forked children, each measuring itself (`child`) —
//! or under `threads` sharing the parent's heap. Each variant becomes one
//! [`ModelRun`], its `variant` named in the extras. The plan has checked that the
//! model is one of these two.
//!
//! `--timeout`, Ctrl-C and SIGTERM end it the way they end the other models
//! ([`Watch`]): the heap build, each child's work and each threads pass look at
//! them, a working child is killed and reaped, and the run fails with
//! [`RunError::Timeout`] (exit 1) or [`RunError::Interrupted`] (exit 130).

mod child;

use super::{ModelRun, RunError};
use crate::measure::{nanos, new_histogram, Rusage, RusageDelta};
use crate::plan::ModelKind;
use crate::runtime::gc::{Heap, OBJECT_BYTES};
use crate::sys::signal::Interrupts;
use crate::workload::fork_cow::{ForkCow, Variant};
use crate::workload::Outcome;
use child::{run_child, ChildReport};
use std::time::{Duration, Instant};

/// What may end a run early: `--timeout`'s deadline, Ctrl-C or SIGTERM (caught for
/// as long as the watch lives, so a working child is killed and reaped first).
struct Watch {
    model: ModelKind,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    interrupts: Interrupts,
}

impl Watch {
    fn new(model: ModelKind, timeout: Option<Duration>) -> Result<Watch, RunError> {
        Ok(Watch {
            model,
            timeout,
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            interrupts: Interrupts::catch().map_err(|source| RunError::Os {
                model,
                what: "catching SIGINT and SIGTERM".into(),
                source,
            })?,
        })
    }

    fn keep_going(&self) -> bool {
        !self.interrupts.caught() && self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// Why the run must end now, if it must.
    fn check(&self) -> Result<(), RunError> {
        if self.interrupts.caught() {
            return Err(RunError::Interrupted);
        }
        match (self.deadline, self.timeout) {
            (Some(deadline), Some(timeout)) if Instant::now() >= deadline => {
                Err(RunError::Timeout {
                    model: self.model,
                    timeout,
                    workers: Vec::new(),
                })
            }
            _ => Ok(()),
        }
    }

    /// `error`, unless the run was stopped: then why it was.
    fn explain(&self, error: RunError) -> RunError {
        self.check().err().unwrap_or(error)
    }
}

/// Runs every selected variant of `experiment` under `model` (`processes`, or
/// else `threads`), within `timeout`.
pub fn run(
    experiment: &ForkCow,
    model: ModelKind,
    timeout: Option<Duration>,
) -> Result<Vec<ModelRun>, RunError> {
    let watch = Watch::new(model, timeout)?;
    let Some(mut heap) = experiment.heap(&|| watch.keep_going()) else {
        watch.check()?;
        return Err(RunError::Interrupted);
    };
    let mut runs = Vec::new();
    for &variant in experiment.variants() {
        watch.check()?;
        match model {
            ModelKind::Processes => runs.push(forked(experiment, &mut heap, variant, &watch)?),
            _ if variant.runs_in_threads() => {
                runs.push(threaded(experiment, &mut heap, variant, &watch)?)
            }
            _ => {}
        }
    }
    watch.check()?;
    Ok(runs)
}

/// One variant in forked children, `repeat` times.
fn forked(
    experiment: &ForkCow,
    heap: &mut Heap,
    variant: Variant,
    watch: &Watch,
) -> Result<ModelRun, RunError> {
    let os = |source: std::io::Error| {
        watch.explain(RunError::Os {
            model: ModelKind::Processes,
            what: format!("fork-cow {}", variant.name()),
            source,
        })
    };
    let keep_going = || watch.keep_going();
    let mut reports = Vec::new();
    let mut usage = RusageDelta::default();
    for _ in 0..experiment.repeat() {
        watch.check()?;
        variant.prepare(heap);
        let result = if variant == Variant::DeepCopy {
            let parent: &Heap = heap;
            run_child(
                |socket| {
                    Heap::read_objects(&mut std::io::BufReader::with_capacity(1 << 16, socket))
                },
                |copy| Variant::Read.pass(copy),
                |socket| parent.write_to(socket),
                &keep_going,
            )
        } else {
            let child_heap = &mut *heap;
            run_child(
                |_| Ok(()),
                move |_: &mut ()| variant.in_child(child_heap),
                |_| Ok(()),
                &keep_going,
            )
        };
        variant.restore(heap);
        let report = result.map_err(os)?;
        // The work's usage, as the wall time is the work's (see `child`).
        usage = usage + report.work_usage;
        reports.push(report);
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
fn threaded(
    experiment: &ForkCow,
    heap: &mut Heap,
    variant: Variant,
    watch: &Watch,
) -> Result<ModelRun, RunError> {
    let mut reports = Vec::new();
    let mut usage = RusageDelta::default();
    for _ in 0..experiment.repeat() {
        watch.check()?;
        variant.prepare(heap);
        let before = crate::measure::procfs::smaps_rollup().unwrap_or_default();
        let usage_before = Rusage::this_process();
        let spawned_at = Instant::now();
        let slots = heap.slots_mut();
        let chunk = slots.len().div_ceil(experiment.threads()).max(1);
        let results = std::thread::scope(|scope| {
            // A thread the OS refuses (RLIMIT_NPROC) ends the run once the ones
            // already started have finished their part (the scope joins them).
            let mut handles = Vec::new();
            for part in slots.chunks_mut(chunk) {
                let spawned = std::thread::Builder::new().spawn_scoped(scope, move || {
                    let started = Instant::now();
                    let out = variant.pass(part);
                    (started, started.elapsed(), out)
                });
                handles.push(spawned.map_err(|source| RunError::Os {
                    model: ModelKind::Threads,
                    what: crate::sys::process::thread_refused(handles.len()),
                    source,
                })?);
            }
            handles
                .into_iter()
                .map(|h| {
                    h.join().map_err(|_| RunError::Os {
                        model: ModelKind::Threads,
                        what: format!("fork-cow {}", variant.name()),
                        source: std::io::Error::other("a pass over memory panicked"),
                    })
                })
                .collect::<Result<Vec<(Instant, Duration, (u64, u64))>, RunError>>()
        });
        let results = match results {
            Ok(results) => results,
            Err(e) => {
                variant.restore(heap);
                return Err(e);
            }
        };
        let run_usage = Rusage::this_process().since(&usage_before);
        let after = crate::measure::procfs::smaps_rollup().unwrap_or_default();
        variant.restore(heap);
        let last_start = results.iter().map(|r| r.0).max().unwrap_or(spawned_at);
        let mut memory = after;
        memory.private_dirty = after.private_dirty.saturating_sub(before.private_dirty);
        reports.push(ChildReport {
            startup_ns: nanos(last_start - spawned_at),
            work_ns: results.iter().map(|r| nanos(r.1)).max().unwrap_or(0),
            work_usage: run_usage,
            memory,
            objects: results.iter().map(|r| r.2 .0).sum(),
            checksum: results.iter().fold(0, |a, r| a ^ r.2 .1),
        });
        usage = usage + run_usage;
    }
    Ok(model_run(
        ModelKind::Threads,
        experiment.threads(),
        variant,
        &reports,
        usage,
        heap,
    ))
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
        "work_minor_faults": reports.iter().map(|r| r.work_usage.minor_faults).sum::<u64>() / n,
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
