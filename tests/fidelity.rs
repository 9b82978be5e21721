//! Fidelity (opt-in): the simulated GIL behaves like CPython's on this machine.
//!
//! Every test here compares timings, so it is `#[ignore]` and judged by
//! [`common::fidelity::judge`]: inconclusive on a busy machine, and the median of a
//! few repeats otherwise. Run with `cargo test --release --test fidelity -- --ignored`
//! (`.ci/run` does, after the main suite). The figures CPython gives on the same
//! machine come from the twins in `scripts/`.

mod common;

use common::fidelity::{judge, median, repeat, verdict, Judged};
use common::{json, run};

fn f64_at(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut v = v;
    for key in path {
        v = &v[*key];
    }
    v.as_f64().unwrap_or_else(|| panic!("{path:?} missing"))
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn cpu_bound_gil_gives_no_parallelism_but_threads_do() {
    judge(|| {
        let reports = repeat(3, || {
            json(&[
                "scenario",
                "cpu-bound",
                "--model",
                "sequential,gil,threads",
                "--ops",
                "60",
                "--no-calibrate",
            ])
        });
        let med = |model, path: &[&str]| {
            median(
                reports
                    .iter()
                    .map(|r| f64_at(run(r, model), path))
                    .collect(),
            )
        };
        let gil = med("gil", &["speedup"]);
        let hold = med("gil", &["gil", "hold_fraction"]);
        let threads = med("threads", &["speedup"]);
        verdict(
            gil < 1.2 && hold > 0.8 && threads > 1.6,
            format!(
                "median of 3: gil speedup {gil:.2} (CPython ~1.0), GIL held {hold:.2} (> 0.8), \
                 threads speedup {threads:.2} (2 cores: ~2)"
            ),
        )
    });
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn a_counter_increment_costs_its_bytecodes() {
    // `counter += 1` is five bytecodes with work (the loop's FOR_ITER, LOAD_GLOBAL,
    // INPLACE_ADD, STORE_GLOBAL and JUMP_ABSOLUTE) where a cpu-bound op is
    // `ticks_per_op` of them: per bytecode they cost alike (CPython 3.11: an
    // increment 41-46 ns, a cpu-bound bytecode ~7 ns). When the compiler folded a
    // constant-input bytecode's work away, an increment cost ~1.5 bytecodes.
    judge(|| {
        let reports = repeat(3, || {
            let counter = json(&[
                "scenario",
                "shared-counter",
                "--model",
                "sequential",
                "--ops",
                "1000000",
                "--runs",
                "1",
                "--no-calibrate",
            ]);
            let cpu = json(&[
                "scenario",
                "cpu-bound",
                "--model",
                "sequential",
                "--ops",
                "20",
                "--runs",
                "1",
                "--no-calibrate",
            ]);
            let per_op = |r: &serde_json::Value| {
                let r = run(r, "sequential");
                f64_at(r, &["wall_ns"]) / f64_at(r, &["ops"])
            };
            // cpu-bound's default op: 200,000 bytecodes.
            per_op(&counter) / (per_op(&cpu) / 200_000.0)
        });
        let bytecodes = median(reports);
        verdict(
            (2.5..15.0).contains(&bytecodes),
            format!(
                "median of 3: an increment costs {bytecodes:.1} cpu-bound bytecodes \
                 (2.5-15; five with work, plus the loop's own)"
            ),
        )
    });
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn gil_legacy_battles_for_the_lock() {
    judge(|| {
        let reports = repeat(3, || {
            json(&[
                "scenario",
                "cpu-bound",
                "--model",
                "gil,gil-legacy",
                "--ops",
                "20",
            ])
        });
        let ratio = |path: &[&str], floor: f64| {
            median(
                reports
                    .iter()
                    .map(|r| {
                        f64_at(run(r, "gil-legacy"), path) / f64_at(run(r, "gil"), path).max(floor)
                    })
                    .collect(),
            )
        };
        let takes = ratio(&["gil", "acquisitions"], 1.0);
        let switches = ratio(&["voluntary_ctx_switches"], 10.0);
        verdict(
            takes > 20.0 && switches > 5.0,
            format!(
                "median of 3: legacy/gil acquisitions {takes:.0}x (> 20), \
                 voluntary switches {switches:.1}x (> 5)"
            ),
        )
    });
}

/// The I/O worker's round-trip p50 under `model` with `interval`, median of 3 runs.
fn convoy_p50s(model: &str, interval: &str, pin: &str) -> Vec<f64> {
    repeat(3, || {
        let report = json(&[
            "scenario",
            "convoy",
            "--model",
            model,
            "--ops",
            "60",
            "--switch-interval",
            interval,
            "--set",
            &format!("pin={pin}"),
        ]);
        f64_at(run(&report, model), &["latency_ns", "p50"])
    })
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn convoy_io_waits_about_a_switch_interval_behind_a_cpu_thread() {
    judge(|| {
        // On two CPUs the convoy is a race that the placement decides
        // (`workload::placement`). With the echo peer on the CPU-bound worker's CPU
        // it is decided: CPython 3.11 here waits 5.1–5.3 ms per round trip at 5 ms
        // in every run (one interval: the recv's). With the peer beside the I/O
        // thread, or left to the OS, runs split between the convoy and an escape,
        // CPython's as well as the simulation's, so only the decided placement is
        // asserted.
        let gil_5ms = median(convoy_p50s("gil", "5ms", "io-alone"));
        let gil_1ms = median(convoy_p50s("gil", "1ms", "io-alone"));
        let threads = median(convoy_p50s("threads", "5ms", "io-alone"));
        verdict(
            (3e6..=12e6).contains(&gil_5ms) && gil_1ms < gil_5ms / 3.0 && threads < 200e3,
            format!(
                "median p50 of 3 runs, peer on the CPU worker's CPU: gil {:.2} ms at 5 ms \
                 (1-2 intervals), {:.2} ms at 1 ms, threads {:.0} µs (< 200)",
                gil_5ms / 1e6,
                gil_1ms / 1e6,
                threads / 1e3
            ),
        )
    });
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn io_bound_gil_overlaps_the_waits() {
    judge(|| {
        let reports = repeat(3, || {
            json(&["scenario", "io-bound", "--model", "gil,threads"])
        });
        let ratio = median(
            reports
                .iter()
                .map(|r| {
                    f64_at(run(r, "gil"), &["throughput_ops_per_s"])
                        / f64_at(run(r, "threads"), &["throughput_ops_per_s"])
                })
                .collect(),
        );
        verdict(
            ratio > 0.8,
            format!("median of 3: gil/threads throughput {ratio:.2} (> 0.8)"),
        )
    });
}

fn lost(report: &serde_json::Value, model: &str) -> u64 {
    run(report, model)["counter"]["lost"].as_u64().unwrap()
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn racing_increments_lose_updates_when_workers_overlap() {
    // What never loses (the new GIL's `+=`, a lock, an atomic) is checked at any load
    // in tests/counter.rs; losing needs the workers to overlap, which a busy machine
    // may never let them do. Each GIL handoff lands mid-increment with some chance
    // (about 2 bytecodes in 5 under `gil-3.9`), so a run needs tens of handoffs, not
    // a handful, before "lost none" means "cannot lose": 2M increments per worker
    // take ~0.11 s, some 22 switch intervals.
    const OPS: &str = "2000000";
    judge(|| {
        let plain = repeat(3, || {
            json(&[
                "scenario",
                "shared-counter",
                "--model",
                "gil-3.9,gil-legacy,threads",
                "--ops",
                OPS,
                "--set",
                "sync=none",
            ])
        });
        let call = repeat(3, || {
            json(&[
                "scenario",
                "shared-counter",
                "--model",
                "gil,threads",
                "--ops",
                OPS,
                "--set",
                "sync=none-call",
            ])
        });
        let med = |reports: &[serde_json::Value], model| {
            median(reports.iter().map(|r| lost(r, model) as f64).collect())
        };
        let (legacy, threads) = (med(&plain, "gil-legacy"), med(&plain, "threads"));
        // CPython ≤ 3.9 looked at the drop request after `INPLACE_ADD`.
        let gil39 = med(&plain, "gil-3.9");
        let (gil_call, threads_call) = (med(&call, "gil"), med(&call, "threads"));
        verdict(
            gil39 > 0.0 && legacy > 0.0 && threads > 0.0 && gil_call > 0.0 && threads_call > 0.0,
            format!(
                "median lost of 3: `+=` gil-3.9 {gil39}, gil-legacy {legacy}, threads {threads}; \
                 with a call between read and write: gil {gil_call}, threads {threads_call}"
            ),
        )
    });
}

/// Issue 19's acceptance for `asyncio`: the waits of io-bound overlap (≥ 3x with
/// four workers), cpu-bound gets no parallelism (≤ 1.15x), and convoy's round
/// trip waits out the CPU coroutine's ops: at least one and at most a few ops of
/// `ticks_per_op`, timed alone in the same test.
#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn asyncio_overlaps_waits_not_work_and_its_convoy_is_an_op_long() {
    judge(|| {
        let speedup = |scenario: &str| {
            median(
                repeat(3, || {
                    json(&[
                        "scenario",
                        scenario,
                        "--model",
                        "sequential,asyncio",
                        "--no-calibrate",
                    ])
                })
                .iter()
                .map(|r| f64_at(run(r, "asyncio"), &["speedup"]))
                .collect(),
            )
        };
        let (io, cpu) = (speedup("io-bound"), speedup("cpu-bound"));
        let op = median(
            repeat(3, || {
                json(&[
                    "scenario",
                    "cpu-bound",
                    "--model",
                    "sequential",
                    "--workers",
                    "1",
                    "--ops",
                    "50",
                    "--set",
                    "ticks_per_op=20000",
                    "--no-calibrate",
                ])
            })
            .iter()
            .map(|r| f64_at(run(r, "sequential"), &["latency_ns", "p50"]))
            .collect(),
        );
        let round_trip = median(
            repeat(3, || {
                json(&["scenario", "convoy", "--model", "asyncio", "--no-calibrate"])
            })
            .iter()
            .map(|r| f64_at(run(r, "asyncio"), &["latency_ns", "p50"]))
            .collect(),
        );
        let ops = round_trip / op;
        verdict(
            io >= 3.0 && cpu <= 1.15 && (1.0..=4.0).contains(&ops),
            format!("io-bound {io:.2}x, cpu-bound {cpu:.2}x, convoy round trip {ops:.2} CPU ops"),
        )
    });
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn a_thousand_threads_cost_what_cpythons_do() {
    // A thousand workers released together all queue for the GIL, each waking
    // from its timed wait every switch interval: CPython 3.11 here runs them at
    // 0.45-0.50x of one thread, with ~0.8-1M voluntary switches and 3-5 s of system
    // CPU. Through a start line that let them into the queue one at a time, the
    // simulation ran at 0.93x with 6k switches and 0.3 s (issue #15). CPython has
    // a second mode, now and then, with no herd (0.94x, ~14k switches: see the
    // README); the simulation has only the first, so only CPython's runs in the
    // first mode are compared, each beside the simulated run of the same report.
    //
    // Known defect (#15): now and then (9 of 110 runs here) the simulated herd
    // collapses — the holder stops making progress while the waiters' futex
    // calls queue on one kernel hash bucket — and the run would take minutes.
    // `--timeout` ends such a run in one line, and a collapse is reported as the
    // known defect, however many of the three collapse: right after another
    // thousand-thread process (CPython's, in the report before) it came in 2 of 5
    // runs, so all three would fail about one CI run in twenty for a defect
    // already open. What still fails is a comparison that fails.
    //
    // CPython's herd collapses too, more rarely (1 of 56 runs here: 0.05x, 101 s
    // of system CPU, right after simulated ones): its twin then times out,
    // and that run is left out as not comparable, said so in the figures.
    if !common::python3_is_3_7_or_later() {
        return;
    }
    const RUNS: usize = 3;
    const TIMEOUT: &str = "40s";
    judge(|| {
        let runs: Vec<ThousandRun> = repeat(RUNS, || {
            thousand_threads_run(&[
                "scenario",
                "cpu-bound",
                "--model",
                "sequential,gil",
                "--workers",
                "1000",
                "--ops",
                "2",
                "--cpython",
                "--no-calibrate",
                "--runs",
                "1",
                "--timeout",
                TIMEOUT,
            ])
        });
        let collapsed = runs
            .iter()
            .filter(|r| matches!(r, ThousandRun::GilCollapsed))
            .count();
        let cpython_collapsed = runs
            .iter()
            .filter(|r| matches!(r, ThousandRun::CpythonCollapsed))
            .count();
        let reports: Vec<&serde_json::Value> = runs
            .iter()
            .filter_map(|r| match r {
                ThousandRun::Report(report) => Some(report),
                _ => None,
            })
            .collect();
        let cpython_note = if cpython_collapsed > 0 {
            format!(
                "; CPython's own herd collapsed (its twin timed out at {TIMEOUT}) in \
                 {cpython_collapsed} of {RUNS} runs, left out"
            )
        } else {
            String::new()
        };
        if reports.is_empty() && collapsed > 0 {
            return Judged::Known {
                issue: 15,
                figures: format!(
                    "the simulated herd collapsed (gil timed out at {TIMEOUT}) in {collapsed} \
                     of {RUNS} runs; nothing to compare{cpython_note}"
                ),
            };
        }
        let herded: Vec<_> = reports
            .iter()
            .filter(|r| f64_at(run(r, "cpython-threads"), &["voluntary_ctx_switches"]) > 100e3)
            .collect();
        let compared = if reports.is_empty() {
            Ok("not compared: no run finished".to_string())
        } else if herded.is_empty() {
            Ok(format!(
                "not compared: CPython ran without its herd (its second mode) in all {} \
                 runs that finished",
                reports.len()
            ))
        } else {
            let med = |model, path: &[&str]| {
                median(herded.iter().map(|r| f64_at(run(r, model), path)).collect())
            };
            let (gil, cpython) = (
                med("gil", &["speedup"]),
                med("cpython-threads", &["speedup"]),
            );
            let sys = med("gil", &["cpu_sys_ns"]) / 1e9;
            let cpython_sys = med("cpython-threads", &["cpu_sys_ns"]) / 1e9;
            verdict(
                gil < cpython * 1.5 && gil > cpython / 1.5 && sys <= 3.0 * cpython_sys,
                format!(
                    "median of the {} of {RUNS} runs where CPython herded, 1000 workers: gil \
                     {gil:.2}x against CPython's {cpython:.2}x (within 1.5x), system CPU \
                     {sys:.1} s against {cpython_sys:.1} s (≤ 3x)",
                    herded.len()
                ),
            )
        };
        let compared = compared
            .map(|figures| figures + &cpython_note)
            .map_err(|figures| figures + &cpython_note);
        match compared {
            Ok(figures) if collapsed > 0 => Judged::Known {
                issue: 15,
                figures: format!(
                    "the simulated herd collapsed (gil timed out at {TIMEOUT}) in {collapsed} of \
                     {RUNS} runs; {figures}"
                ),
            },
            other => other.into(),
        }
    });
}

/// How one thousand-thread run ended.
enum ThousandRun {
    Report(serde_json::Value),
    /// The simulated `gil` model ran past `--timeout`: the collapse of issue #15.
    GilCollapsed,
    /// The CPython twin ran past it: CPython's own herd collapsed.
    CpythonCollapsed,
}

/// Runs gilbench with `args`; any failure but a timeout of `gil` or of the
/// CPython twin panics.
fn thousand_threads_run(args: &[&str]) -> ThousandRun {
    let out = common::output(&common::with(args, &["--format", "json", "--quiet"]));
    if out.status.success() {
        return ThousandRun::Report(serde_json::from_slice(&out.stdout).expect("a JSON report"));
    }
    let err = common::stderr(&out);
    let timed_out = |who: &str| out.status.code() == Some(1) && err.contains(who);
    if timed_out("gil: timed out") {
        ThousandRun::GilCollapsed
    } else if timed_out("a twin failed") && err.contains("timed out") {
        ThousandRun::CpythonCollapsed
    } else {
        panic!("gilbench {args:?} failed ({:?}):\n{err}", out.status)
    }
}
