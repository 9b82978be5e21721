//! Fidelity (opt-in): the timing-dependent claims of refcount and gc-pause. Free
//! threads corrupt a plain count only when they overlap, and a pause shows in the
//! I/O worker's latency only when nothing else delays it, so these are `#[ignore]`
//! and judged by [`common::fidelity::judge`] (inconclusive on a busy machine), on
//! the median of a few repeats.

mod common;

use common::fidelity::{judge, median, repeat, verdict};
use common::{json, run};

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn refcount_plain_under_threads_corrupts() {
    judge(|| {
        // Both threads on one object: as soon as they overlap, updates are lost.
        let errors = repeat(3, || {
            let report = json(&[
                "scenario",
                "refcount",
                "--model",
                "threads",
                "--ops",
                "200000",
                "--set",
                "objects=1",
            ]);
            run(&report, "threads")["refcount"]["total_error"]
                .as_u64()
                .unwrap()
        });
        let med = median(errors.iter().map(|&e| e as f64).collect());
        verdict(
            med > 0.0,
            format!("count errors under free threads, 3 runs: {errors:?}"),
        )
    });
}

fn gc_run(model: &str, mode: &str) -> serde_json::Value {
    json(&[
        "scenario",
        "gc-pause",
        "--model",
        model,
        "--ops",
        "150",
        "--set",
        "objects=1000000",
        "--set",
        &format!("gc={mode}"),
        "--set",
        "increment=5000",
    ])
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn gil_io_latency_covers_the_longest_pause() {
    judge(|| {
        let ratios = repeat(3, || {
            let report = gc_run("gil", "generational");
            let gil = run(&report, "gil");
            let pause = gil["gc"]["pause_ns"]["max"].as_f64().unwrap();
            let io_max = gil["latency_ns"]["max"].as_f64().unwrap();
            // No pause at all is a failure, not an infinite ratio.
            if pause > 0.0 {
                io_max / pause
            } else {
                0.0
            }
        });
        let med = median(ratios.clone());
        verdict(
            med >= 0.5,
            format!("median of 3: I/O max latency / longest pause {med:.2} (≥ 0.5): {ratios:.2?}"),
        )
    });
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn incremental_cuts_the_longest_pause_five_fold() {
    judge(|| {
        let longest =
            |r: &serde_json::Value| run(r, "threads")["gc"]["pause_ns"]["max"].as_f64().unwrap();
        let cuts = repeat(3, || {
            let full = longest(&gc_run("threads", "generational"));
            let steps = longest(&gc_run("threads", "incremental"));
            full / steps.max(1.0)
        });
        let med = median(cuts.clone());
        verdict(
            med >= 5.0,
            format!(
                "median of 3: generational / incremental longest pause {med:.1}x (≥ 5): {cuts:.1?}"
            ),
        )
    });
}

/// The same allocations cost the GIL models about the CPU time they cost the
/// sequential baseline, as CPython's threads cost one thread doing all the work
/// (its pymalloc takes no lock: the GIL is the pools' lock). A lock per malloc and
/// free made the GIL models use twice sequential's CPU. User CPU time, median of
/// 5 reports of 60 ops: 3 of 20 (a quarter of a second a model) put the medians
/// anywhere from 0.83 to 1.72 on a quiet machine, and failed a CI run; 5 of 60
/// kept them within 0.91-1.12. `gil-legacy` is left out: Python 2's lock, re-taken
/// every 100 ticks, costs CPU of its own (its waiter wakes at each release),
/// whatever the allocator.
#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn alloc_gil_models_use_the_cpu_time_of_sequential() {
    judge(|| {
        let models = ["gil", "gil-3.9"];
        let ratios = repeat(5, || {
            let report = json(&[
                "scenario",
                "alloc",
                "--model",
                "sequential,gil,gil-3.9",
                "--ops",
                "60",
            ]);
            let cpu = |m: &str| run(&report, m)["cpu_user_ns"].as_f64().unwrap();
            models.map(|m| cpu(m) / cpu("sequential"))
        });
        let med: Vec<f64> = (0..models.len())
            .map(|i| median(ratios.iter().map(|r| r[i]).collect()))
            .collect();
        verdict(
            med.iter().all(|&r| r <= 1.5),
            format!("user CPU vs sequential ({models:?}), medians of 5: {med:.2?}"),
        )
    });
}
