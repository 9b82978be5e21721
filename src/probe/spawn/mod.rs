//! `gilbench spawn`: what creating a worker costs — a thread, a subinterpreter
//! (simulated, as `--model subinterpreters` creates one), a forked process, a
//! vfork / posix_spawn / fork + exec of `/bin/true` — and how fork's cost grows
//! with the parent's heap (its page tables are copied, and its pages marked
//! copy-on-write) while posix_spawn and threads stay flat.
//!
//! For each `--heap` size the parent first allocates and touches that much memory,
//! then runs every method; `fork-cow` then shows the deferred part of fork's cost:
//! a child writing the inherited heap, one copy-on-write fault per page.

pub mod cow;
pub mod heap;
pub mod methods;

use crate::measure::stats::{median_u64, Spread};
use crate::measure::{new_histogram, record, Histogram, Machine, Rusage, Summary};
use crate::model::RunError;
use crate::plan::names::Named;
use crate::probe::options::{Method, SpawnPlan};
use crate::probe::results::{ProbeMode, SpawnReport, SpawnResult, SpawnSample, SpawnSpread};
use crate::scenario::size::human_bytes;
use crate::sys::signal::Interrupts;
use anyhow::Context;
use heap::Heap;
use std::time::Instant;
use strum::VariantArray;

/// Creations that run per cell even when `--max-time` is already spent — unless
/// they would take over three times `--max-time` (one `fork-cow` of a 2 GiB heap
/// can take seconds on a VM).
const MIN_ITERATIONS: u64 = 3;

/// Runs every method with every heap size of the plan.
pub fn run(plan: &SpawnPlan, quiet: bool) -> anyhow::Result<SpawnReport> {
    let needs_exec = plan
        .methods
        .iter()
        .any(|m| matches!(m, Method::Vfork | Method::PosixSpawn | Method::ForkExec));
    let true_path = methods::TRUE.to_string_lossy();
    if needs_exec && !std::path::Path::new(true_path.as_ref()).exists() {
        anyhow::bail!(
            "{true_path} is missing; the exec methods need it (leave them out with --method)"
        );
    }
    let creator = methods::Creator::new().context("preparing posix_spawn")?;
    // Ctrl-C and SIGTERM end the measuring between two creations (each reaps its
    // child before the next), and the command with 130.
    let interrupts = Interrupts::catch().context("installing the Ctrl-C handler")?;
    let stop_if_interrupted = || {
        if interrupts.caught() {
            Err(RunError::Interrupted)
        } else {
            Ok(())
        }
    };
    let note = |msg: String| {
        if !quiet {
            eprintln!("gilbench: {msg}");
        }
    };
    let mut results = Vec::new();
    for &size in &plan.heaps {
        if size > 0 {
            note(format!(
                "spawn: allocating and touching a {} heap…",
                human_bytes(size)
            ));
        }
        stop_if_interrupted()?;
        let mut heap = Heap::touched(size, plan.huge_pages)
            .with_context(|| format!("allocating a {} heap", human_bytes(size)))?;
        for &method in &plan.methods {
            stop_if_interrupted()?;
            if method == Method::ForkCow && heap.is_empty() {
                continue; // nothing to copy
            }
            note(format!(
                "spawn {method} (heap {}), {} run{}…",
                human_bytes(size),
                plan.runs,
                if plan.runs == 1 { "" } else { "s" }
            ));
            let result = cell(method, &creator, &mut heap, plan);
            stop_if_interrupted()?;
            let result = result
                .with_context(|| format!("spawn {method} with a {} heap", human_bytes(size)))?;
            results.push(result);
        }
    }
    // Method by method, heap sizes ascending: each method's cost curve reads down.
    results.sort_by_key(|r| {
        let m = Method::VARIANTS.iter().position(|m| m.name() == r.method);
        (m, r.heap_bytes)
    });
    Ok(SpawnReport {
        gilbench: crate::cli::VERSION,
        kind: "spawn",
        machine: Machine::current(),
        page_size: crate::sys::mem::page_size() as u64,
        transparent_hugepage: crate::sys::thp::system_setting(),
        huge_pages: plan.huge_pages,
        warmup: plan.warmup,
        results,
    })
}

/// Whether another creation should run in this run: its share of `--iterations`
/// at most; at least one; then while within its share of `--max-time`, or up to
/// [`MIN_ITERATIONS`] within three times that.
fn more(done: u64, started: Instant, plan: &SpawnPlan) -> bool {
    let (elapsed, budget) = (started.elapsed(), plan.max_time_per_run());
    !crate::sys::signal::pending()
        && done < plan.iterations_per_run()
        && (done == 0 || elapsed < budget || (done < MIN_ITERATIONS && elapsed < 3 * budget))
}

fn histogram() -> Histogram {
    let mut h = new_histogram();
    record(&mut h, 100_000_000_000);
    h.reset();
    h
}

/// Measures one method with one heap: `--warmup` unmeasured runs, then `--runs`
/// measured ones, merged into one row: the latency summaries are of every
/// creation of every run in one histogram (so `latency_ns.count` is `iterations`,
/// and its p99 and max see every creation), the fault count is the median run's.
/// Every creation is reaped before the next, so each run starts from the same
/// state; nothing of the merge runs inside a timed creation.
fn cell(
    method: Method,
    creator: &methods::Creator,
    heap: &mut Heap,
    plan: &SpawnPlan,
) -> std::io::Result<SpawnResult> {
    for _ in 0..plan.warmup {
        one_run(method, creator, heap, plan)?;
    }
    let mut samples = Vec::with_capacity(plan.runs as usize);
    let (mut all_latency, mut all_create) = (histogram(), histogram());
    for _ in 0..plan.runs {
        let (sample, latency, create) = one_run(method, creator, heap, plan)?;
        // Same configuration, auto-resizing: adding cannot fail.
        let _ = all_latency.add(&latency);
        let _ = all_create.add(&create);
        samples.push(sample);
    }
    let median = |f: fn(&SpawnSample) -> u64| {
        median_u64(&samples.iter().map(f).collect::<Vec<_>>()).unwrap_or(0)
    };
    let latency = Summary::of(&all_latency);
    let create = (method != Method::ForkCow).then(|| Summary::of(&all_create));
    let p50s: Vec<u64> = samples.iter().map(|s| s.latency_ns.p50).collect();
    let cow = method == Method::ForkCow;
    Ok(SpawnResult {
        method: method.name(),
        heap_bytes: heap.len() as u64,
        iterations: samples.iter().map(|s| s.iterations).sum(),
        latency_ns: latency,
        create_ns: create,
        minor_faults: median(|s| s.minor_faults),
        ns_per_page: cow.then(|| latency.mean as f64 / heap.pages().max(1) as f64),
        timed: match method {
            Method::ForkCow => "the child writing one byte in every page of the inherited heap",
            Method::Thread => "spawn an empty thread, join it",
            Method::Interpreter => "create a (simulated) subinterpreter, destroy it",
            Method::Fork => "fork, the child _exits at once, waitpid",
            _ => "start /bin/true, waitpid",
        },
        repeats: plan.runs,
        spread: SpawnSpread {
            latency_p50_ns: Spread::of_u64(&p50s).unwrap_or_default(),
        },
        modes: ProbeMode::of_p50s(&p50s),
        samples,
    })
}

/// One run of a method with one heap: as many creations as its share of the budget.
/// Returns the run's summary and its latency and create histograms (the create
/// one empty for `fork-cow`), for the row that merges the runs.
fn one_run(
    method: Method,
    creator: &methods::Creator,
    heap: &mut Heap,
    plan: &SpawnPlan,
) -> std::io::Result<(SpawnSample, Histogram, Histogram)> {
    let (mut latency, mut create) = (histogram(), histogram());
    let started = Instant::now();
    let mut done = 0u64;
    if method == Method::ForkCow {
        let mut faults = 0u64;
        while more(done, started, plan) {
            let s = cow::once(heap)?;
            record(&mut latency, crate::measure::nanos(s.write));
            faults += s.faults;
            done += 1;
        }
        let sample = SpawnSample {
            iterations: done,
            latency_ns: Summary::of(&latency),
            create_ns: None,
            minor_faults: faults / done.max(1),
        };
        return Ok((sample, latency, create));
    }
    let (me, children) = (Rusage::this_process(), Rusage::children());
    while more(done, started, plan) {
        let s = creator.once(method)?;
        record(&mut latency, crate::measure::nanos(s.total));
        record(&mut create, crate::measure::nanos(s.create));
        done += 1;
    }
    let faults = Rusage::this_process().since(&me).minor_faults
        + Rusage::children().since(&children).minor_faults;
    let sample = SpawnSample {
        iterations: done,
        latency_ns: Summary::of(&latency),
        create_ns: Some(Summary::of(&create)),
        minor_faults: faults / done.max(1),
    };
    Ok((sample, latency, create))
}
