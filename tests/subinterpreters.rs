//! The `subinterpreters` model through the real binary: its start-up is shown,
//! each worker has a GIL nobody else wants, shared state crosses a channel
//! (the counter loses nothing with `sync=lock`, every queue item arrives), the
//! modes that need shared memory are refused with one line, and the twins give
//! `cpythonX.Y-subinterpreters` rows (skipped without CPython 3.12+).
//!
//! Every test holds `common::exclusive()`: some check that nothing is left
//! behind, and another test's gilbench would look like a leftover. The default
//! tests assert only mechanism; the speedup is an opt-in fidelity
//! check (`#[ignore]`, judged by `common::fidelity`: inconclusive when busy).

mod common;

use common::{assert_nothing_left, bad_input, gilbench, json, run};

#[test]
fn cpu_bound_shows_start_up_and_a_gil_per_interpreter() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "cpu-bound",
        "--model",
        "subinterpreters,processes",
        "--ops",
        "3",
        "--set",
        "ticks_per_op=20000",
        "--no-calibrate",
    ]);
    let row = run(&report, "subinterpreters");
    assert_eq!(row["workers"], 2, "{row}");
    assert_eq!(row["ops"], 6, "{row}");
    assert_eq!(row["latency_ns"]["count"], 6, "{row}");
    assert!(row["startup_ns"].as_u64().unwrap() > 0, "{row}");
    // Each interpreter has its own GIL, which nobody else ever wants.
    let gil = &row["gil"];
    assert_eq!(gil["drop_requests"], 0, "{row}");
    assert_eq!(gil["forced_switches"], 0, "{row}");
    let held = gil["hold_fraction"].as_f64().unwrap();
    assert!(held > 0.0 && held <= 1.05, "hold_fraction {held}");
    // The same row shape as the processes', start-up included.
    assert_eq!(
        common::row_keys(&report, "subinterpreters"),
        common::row_keys(&report, "processes")
    );
    assert_nothing_left("subinterpreters cpu-bound");
}

#[test]
fn the_counter_crosses_a_channel_and_loses_nothing_with_a_lock() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "shared-counter",
        "--model",
        "subinterpreters",
        "--workers",
        "3",
        "--ops",
        "2000",
        "--set",
        "sync=lock",
        "--no-calibrate",
    ]);
    let counter = &run(&report, "subinterpreters")["counter"];
    assert_eq!(counter["expected"], 6000, "{counter}");
    assert_eq!(counter["observed"], 6000, "{counter}");
    assert_eq!(counter["lost"], 0, "{counter}");
}

#[test]
fn modes_that_need_shared_memory_are_one_line_naming_the_model() {
    let _exclusive = common::exclusive();
    for sync in ["none", "none-call", "atomic"] {
        let set = format!("sync={sync}");
        bad_input(
            &[
                "scenario",
                "shared-counter",
                "--model",
                "threads,subinterpreters",
                "--set",
                &set,
            ],
            &["subinterpreters", &set, "nothing to share", "sync=lock"],
        );
    }
    bad_input(
        &["scenario", "refcount", "--model", "subinterpreters"],
        &["subinterpreters", "refcount", "share no objects"],
    );
}

#[test]
fn every_queue_item_crosses_the_channel() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "queue",
        "--model",
        "subinterpreters",
        "--ops",
        "500",
        "--set",
        "producers=2",
        "--set",
        "consumers=2",
        "--set",
        "item_bytes=200",
        "--no-calibrate",
    ]);
    let row = run(&report, "subinterpreters");
    assert_eq!(row["latency_ns"]["count"], 1000, "{row}");
    assert_eq!(row["items_left"], 0, "{row}");
}

/// Runs cpu-bound under subinterpreters with `more` flags and `--timeout
/// {timeout}`; asserts it timed out (one line, exit 1) within half of LIMIT.
fn times_out(more: &[&str], timeout: &str) {
    let started = std::time::Instant::now();
    let out = gilbench()
        .args(["scenario", "cpu-bound", "--model", "subinterpreters"])
        .args(more)
        .args(["--timeout", timeout, "--quiet", "--no-calibrate"])
        .timeout(common::LIMIT)
        .output()
        .unwrap();
    let stderr = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{more:?}: {stderr}");
    let said = format!("subinterpreters: timed out after {timeout}");
    assert!(stderr.contains(&said), "{more:?}: {stderr}");
    assert!(started.elapsed() < common::LIMIT / 2, "{more:?}: {stderr}");
}

#[test]
fn a_timeout_bounds_a_subinterpreters_run() {
    let _exclusive = common::exclusive();
    times_out(&["--ops", "1000000"], "300ms");
    // The start-up too: a thousand interpreters would take many seconds to create.
    times_out(&["--workers", "1000"], "200ms");
}

#[test]
fn spawn_creates_an_interpreter_beside_a_thread_and_a_fork() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "spawn",
        "--heap",
        "0",
        "--iterations",
        "3",
        "--method",
        "thread,interpreter,fork",
    ]);
    assert_nothing_left("spawn interpreter");
    let results = report["results"].as_array().unwrap();
    let methods: Vec<&str> = results
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["thread", "interpreter", "fork"], "in that order");
    let interp = &results[1];
    // `--iterations` is shared by the runs (`spawn --runs`, default 3).
    assert_eq!(interp["iterations"], 3, "{interp}");
    assert!(interp["create_ns"]["p50"].as_u64().unwrap() > 0, "{interp}");
}

/// A real CPython's twin rows, or `None` (and a note) when `python` is not here.
fn twin_report(python: &str, scenario: &[&str]) -> Option<serde_json::Value> {
    let mut args: Vec<&str> = scenario.to_vec();
    args.extend([
        "--cpython",
        "--python",
        python,
        "--runs",
        "1",
        "--no-calibrate",
        "--format",
        "json",
        "--quiet",
    ]);
    let out = gilbench()
        .args(&args)
        .timeout(common::LIMIT)
        .output()
        .unwrap();
    if out.status.code() == Some(2) && common::stderr(&out).contains("--python") {
        eprintln!("skipped: no {python} here");
        return None;
    }
    assert!(out.status.success(), "{}", common::stderr(&out));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn twins_run_subinterpreters_on_3_12_and_up_and_skip_them_below() {
    let _exclusive = common::exclusive();
    let cpu = [
        "scenario",
        "cpu-bound",
        "--model",
        "sequential,subinterpreters",
        "--ops",
        "2",
        "--set",
        "ticks_per_op=20000",
    ];
    for python in ["python3.12", "python3.13"] {
        let Some(report) = twin_report(python, &cpu) else {
            continue;
        };
        // `python3.12` → `cpython3.12-subinterpreters`
        let row = run(&report, &format!("c{python}-subinterpreters"));
        assert_eq!(row["ops"], 4, "{row}");
        assert!(row["startup_ns"].as_u64().unwrap() > 0, "{row}");
        assert!(row.get("skipped").is_none(), "{row}");
    }
    if let Some(report) = twin_report("python3.11", &cpu) {
        let row = run(&report, "cpython3.11-subinterpreters");
        assert_eq!(row["skipped"], "skipped: needs CPython ≥ 3.12", "{row}");
    }
}

#[test]
fn the_counter_twin_passes_a_token_and_loses_nothing() {
    let _exclusive = common::exclusive();
    let counter = [
        "scenario",
        "shared-counter",
        "--model",
        "subinterpreters",
        "--ops",
        "500",
        "--set",
        "sync=lock",
    ];
    if let Some(report) = twin_report("python3.13", &counter) {
        let row = run(&report, "cpython3.13-subinterpreters");
        assert_eq!(row["counter"]["lost"], 0, "{row}");
        assert_eq!(row["counter"]["observed"], 1000, "{row}");
    }
}

/// `verify --check cpu-bound-subinterpreters` against a stub interpreter.
fn verify_with_stub(version: &str, json: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("python{}", &version[..version.rfind('.').unwrap()]);
    let py = common::stub_python(
        dir.path(),
        &name,
        version,
        &["sequential", "threads", "subinterpreters"],
        common::StubRun::Json(json),
    );
    let out = gilbench()
        .args([
            "verify",
            "--check",
            "cpu-bound-subinterpreters",
            "--runs",
            "1",
        ])
        .args([
            "--python",
            py.to_str().unwrap(),
            "--format",
            "json",
            "--quiet",
        ])
        .timeout(common::LIMIT)
        .output()
        .unwrap();
    let stderr = common::stderr(&out);
    // Agreeing or not is timing: only that it ran and was judged.
    assert_ne!(out.status.code(), Some(2), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"))
}

#[test]
fn verify_compares_subinterpreters_with_the_twins_row_of_that_name() {
    let _exclusive = common::exclusive();
    let json = r#"{"twin":"cpu_bound","python":"3.12.0","runs":[
        {"model":"cpython-sequential","workers":2,"ops":40,"wall_ns":200000000},
        {"model":"cpython-threads","workers":2,"ops":40,"wall_ns":210000000},
        {"model":"cpython-subinterpreters","workers":2,"ops":40,"wall_ns":100000000,
         "startup_ns":40000000}]}"#
        .replace('\n', " ");
    let report = verify_with_stub("3.12.0", &json);
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{report}");
    let check = &checks[0];
    assert_eq!(check["model"], "subinterpreters", "{check}");
    assert_eq!(check["metric"], "speedup");
    // The twin's figure is its subinterpreters row's speedup, not its threads'.
    assert_eq!(check["cpython"][0]["value"]["median"], 2.0, "{check}");
    assert!(
        check["simulated"]["median"].as_f64().unwrap() > 0.0,
        "{check}"
    );

    let report = verify_with_stub("3.11.7", &json);
    let check = &report["checks"][0];
    assert_eq!(check["model"], "subinterpreters", "{check}");
    assert_eq!(check["verdict"], "skipped", "{check}");
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn cpu_bound_subinterpreters_scale_like_processes() {
    use common::fidelity::{judge, median, repeat, verdict};
    judge(|| {
        let reports = repeat(3, || {
            json(&[
                "scenario",
                "cpu-bound",
                "--model",
                "sequential,threads,subinterpreters,processes",
                "--ops",
                "60",
                "--no-calibrate",
            ])
        });
        let med = |model| {
            median(
                reports
                    .iter()
                    .map(|r| run(r, model)["speedup"].as_f64().unwrap_or(0.0))
                    .collect(),
            )
        };
        let (sub, proc) = (med("subinterpreters"), med("processes"));
        verdict(
            sub >= 1.6,
            format!(
                "median of 3: subinterpreters speedup {sub:.2} (>= 1.6; CPython 3.12/3.13: \
                 1.6-2.2), processes {proc:.2}"
            ),
        )
    });
}
