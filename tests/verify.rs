//! `gilbench verify` through the binary, deterministically: a stub interpreter
//! (`common::stub_python`) prints fixed twin JSON, and the one check used
//! (`shared-counter-none` under `gil`) has a simulated figure that does not
//! depend on timing — `counter += 1` has no check point inside, so the simulated
//! 3.10+ GIL never loses an update. The `refcount` and `fork-cow` checks are
//! likewise free of timing: under the simulated GIL no count can be corrupted, and
//! a forked child that reads refcounted objects copies the whole heap. No timing
//! is asserted.

mod common;

use common::{bad_input, gilbench, stub_python, StubRun};

/// A shared-counter twin's output: `lost` of 2,000,000 increments lost by threads.
fn counter_json(lost: u64) -> String {
    let n = 2_000_000u64;
    format!(
        r#"{{"twin":"shared_counter","python":"3.11.0","runs":[
        {{"model":"cpython-sequential","workers":2,"ops":{n},"wall_ns":100000000,
          "counter":{{"expected":{n},"observed":{n},"lost":0}}}},
        {{"model":"cpython-threads","workers":2,"ops":{n},"wall_ns":100000000,
          "counter":{{"expected":{n},"observed":{},"lost":{lost}}}}}]}}"#,
        n - lost
    )
    .replace('\n', " ")
}

/// Runs `verify --check shared-counter-none --runs 1` against `python`; its exit
/// code and JSON report.
fn verify(python: &std::path::Path) -> (Option<i32>, serde_json::Value, String) {
    verify_check(python, "shared-counter-none")
}

/// Runs `verify --check CHECK --runs 1` against `python`.
fn verify_check(python: &std::path::Path, check: &str) -> (Option<i32>, serde_json::Value, String) {
    let out = gilbench()
        .args(["verify", "--check", check, "--runs", "1"])
        .args(["--python", python.to_str().unwrap()])
        .args(["--format", "json", "--quiet"])
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}); stderr: {stderr}"));
    (out.status.code(), report, stderr)
}

fn check<'a>(report: &'a serde_json::Value, model: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap_or_else(|| panic!("no {model} check in {report}"))
}

#[test]
fn agreeing_figures_give_agrees_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let json = counter_json(0);
    let py = stub_python(
        dir.path(),
        "python3.11",
        "3.11.0",
        &["sequential", "threads"],
        StubRun::Json(&json),
    );
    let (code, report, stderr) = verify(&py);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["kind"], "verify");
    assert_eq!(report["interpreters"][0]["version"], "3.11.0");
    assert_eq!(report["interpreters"][0]["free_threaded"], false);
    let gil = check(&report, "gil");
    assert_eq!(gil["verdict"], "agrees", "{gil}");
    assert_eq!(gil["scenario"], "shared-counter");
    assert_eq!(gil["metric"], "lost share");
    assert_eq!(gil["simulated"]["median"], 0.0);
    assert_eq!(gil["cpython"][0]["interpreter"], "3.11.0");
    assert_eq!(gil["cpython"][0]["value"]["median"], 0.0);
    assert!(gil["tolerance"].as_str().unwrap().contains("0.001"));
    for other in ["gil-3.9", "gil-legacy"] {
        assert_eq!(check(&report, other)["verdict"], "skipped");
    }
    assert_eq!(report["agrees"], 1);
    assert_eq!(report["differs"], 0);
    assert_eq!(report["inconclusive"], 0);
    for key in ["concept", "note", "machine"] {
        assert!(gil.get(key).is_some() || report.get(key).is_some(), "{key}");
    }
}

#[test]
fn a_real_cpython_that_loses_updates_where_gil_does_not_differs_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let json = counter_json(600_000);
    let py = stub_python(
        dir.path(),
        "python3.11",
        "3.11.0",
        &["sequential", "threads"],
        StubRun::Json(&json),
    );
    let (code, report, stderr) = verify(&py);
    assert_eq!(code, Some(1), "{stderr}");
    let gil = check(&report, "gil");
    assert_eq!(gil["verdict"], "differs", "{gil}");
    assert!(
        gil["note"]
            .as_str()
            .unwrap()
            .contains("CPython loses updates"),
        "{gil}"
    );
    assert_eq!(report["differs"], 1);
    assert!(stderr.contains("differ"), "{stderr}");
}

#[test]
fn a_twin_that_crashes_is_failed_the_rest_goes_on_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let py = stub_python(
        dir.path(),
        "python3.11",
        "3.11.0",
        &["sequential", "threads"],
        StubRun::Crash,
    );
    let (code, report, stderr) = verify(&py);
    assert_eq!(code, Some(1), "{stderr}");
    let gil = check(&report, "gil");
    assert!(gil["cpython"][0]["value"].is_null());
    assert!(
        gil["cpython"][0]["note"]
            .as_str()
            .unwrap()
            .contains("stub crash"),
        "{gil}"
    );
    assert!(gil["simulated"]["median"].is_number());
    assert_eq!(report["failed"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    bad_input(&["verify", "--check", "nope"], &["--check", "nope"]);
    bad_input(
        &["verify", "--python", "/no/such/python"],
        &["--python", "no such file"],
    );
    bad_input(&["verify", "--runs", "0"], &["--runs"]);
}

/// A refcount twin's output: `corrupted` of 64 shared objects under threads.
fn refcount_json(corrupted: u64) -> String {
    format!(
        r#"{{"twin":"refcount","python":"3.11.0","runs":[
        {{"model":"cpython-sequential","workers":2,"ops":50000,"wall_ns":100000000,
          "refcount":{{"objects":64,"corrupted":0}}}},
        {{"model":"cpython-threads","workers":2,"ops":50000,"wall_ns":100000000,
          "refcount":{{"objects":64,"corrupted":{corrupted}}}}}]}}"#
    )
    .replace('\n', " ")
}

#[test]
fn refcount_counts_kept_agree_and_corrupted_ones_differ() {
    let dir = tempfile::tempdir().unwrap();
    for (corrupted, verdict, code) in [(0, "agrees", 0), (5, "differs", 1)] {
        let json = refcount_json(corrupted);
        let py = stub_python(
            dir.path(),
            &format!("python3.11-{corrupted}"),
            "3.11.0",
            &["sequential", "threads"],
            StubRun::Json(&json),
        );
        let (status, report, stderr) = verify_check(&py, "refcount");
        assert_eq!(status, Some(code), "{stderr}");
        let gil = check(&report, "gil");
        assert_eq!(gil["verdict"], verdict, "{gil}");
        assert_eq!(gil["metric"], "corrupted share");
        assert_eq!(gil["simulated"]["median"], 0.0, "{gil}");
    }
}

/// A fork-cow twin's output: a child that read every object refcounted and
/// ended with `dirty` of the heap privately its own.
fn fork_cow_json(dirty: f64) -> String {
    let heap = 33_554_432u64;
    format!(
        r#"{{"twin":"fork_cow","python":"3.11.0","runs":[
        {{"model":"cpython-processes","workers":1,"ops":1,"wall_ns":1000,"variant":"idle",
          "private_dirty_bytes":1000000,"heap_bytes":{heap}}},
        {{"model":"cpython-processes","workers":1,"ops":1,"wall_ns":1000,
          "variant":"read-refcounted","private_dirty_bytes":{},"heap_bytes":{heap}}}]}}"#,
        (dirty * heap as f64) as u64
    )
    .replace('\n', " ")
}

#[test]
fn fork_cow_compares_the_processes_model_on_every_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    for (dirty, verdict, code) in [(0.85, "agrees", 0), (0.02, "differs", 1)] {
        let json = fork_cow_json(dirty);
        let py = stub_python(
            dir.path(),
            &format!("python3.9-{dirty}"),
            "3.9.0",
            &["processes"],
            StubRun::Json(&json),
        );
        let (status, report, stderr) = verify_check(&py, "fork-cow-read-refcounted");
        assert_eq!(status, Some(code), "{stderr}");
        assert_eq!(report["checks"].as_array().unwrap().len(), 1, "{report}");
        let row = check(&report, "processes");
        assert_eq!(row["verdict"], verdict, "{row}");
        assert_eq!(row["metric"], "dirty share of the heap");
        let simulated = row["simulated"]["median"].as_f64().unwrap();
        assert!(simulated > 0.9, "reads write every count: {row}");
        let real = row["cpython"][0]["value"]["median"].as_f64().unwrap();
        assert!((real - dirty).abs() < 0.01, "{row}");
    }
}

#[test]
fn a_check_whose_twin_an_interpreter_cannot_run_is_skipped() {
    // The fork-cow twin needs Python 3.7 (gc.freeze); 2.7 says so.
    let dir = tempfile::tempdir().unwrap();
    let json = fork_cow_json(0.85);
    let py = stub_python(
        dir.path(),
        "python2.7",
        "2.7.18",
        &["processes"],
        StubRun::Json(&json),
    );
    let (status, report, stderr) = verify_check(&py, "fork-cow-gc-frozen");
    assert_eq!(status, Some(0), "{stderr}");
    let row = check(&report, "processes");
    assert_eq!(row["verdict"], "skipped", "{row}");
    assert!(
        row["note"].as_str().unwrap().contains("needs Python ≥ 3.7"),
        "{row}"
    );
    assert_eq!(report["skipped"], 1);
}

/// A gc-pause twin's output: the I/O worker's worst round trip `worst_ms` beside
/// a longest collection pause of 100 ms.
fn gc_pause_json(worst_ms: u64) -> String {
    let worst = worst_ms * 1_000_000;
    format!(
        r#"{{"twin":"gc_pause","python":"3.11.0","runs":[
        {{"model":"cpython-threads","workers":2,"ops":200,"wall_ns":300000000,
          "latency_ns":{{"count":200,"min":1000000,"mean":2000000,"p50":1100000,
            "p90":1200000,"p99":{worst},"p999":{worst},"max":{worst}}},
          "gc":{{"collections":3,"freed":20000,"pause_ns":{{"count":3,"min":50000,
            "mean":33000000,"p50":60000,"p90":100000000,"p99":100000000,
            "p999":100000000,"max":100000000}}}}}}]}}"#
    )
    .replace('\n', " ")
}

#[test]
fn gc_pause_compares_whether_the_io_worker_waits_out_the_pause() {
    // The simulated run is real, but its figure is not a timing one: under the
    // GIL the I/O worker's worst round trip covers the longest pause however
    // busy the machine (both stretch alike).
    let dir = tempfile::tempdir().unwrap();
    for (worst_ms, verdict, code) in [(101, "agrees", 0), (2, "differs", 1)] {
        let json = gc_pause_json(worst_ms);
        let py = stub_python(
            dir.path(),
            &format!("python3.11-{worst_ms}"),
            "3.11.0",
            &["sequential", "threads"],
            StubRun::Json(&json),
        );
        let (status, report, stderr) = verify_check(&py, "gc-pause");
        assert_eq!(status, Some(code), "{stderr}");
        let gil = check(&report, "gil");
        assert_eq!(gil["verdict"], verdict, "{gil}");
        let real = gil["cpython"][0]["value"]["median"].as_f64().unwrap();
        assert!((real - worst_ms as f64 / 100.0).abs() < 1e-9, "{gil}");
    }
}

/// A twin's output of `runs` (each a JSON object).
fn twin_json(runs: &[String]) -> String {
    format!(
        r#"{{"twin":"stub","python":"3.11.0","runs":[{}]}}"#,
        runs.join(",")
    )
}

/// One twin RUN: `model` ran `ops` in `wall_ms`, with `more` JSON fields.
fn twin_run(model: &str, ops: u64, wall_ms: u64, more: &str) -> String {
    let sep = if more.is_empty() { "" } else { "," };
    format!(
        r#"{{"model":"cpython-{model}","workers":2,"ops":{ops},"wall_ns":{}{sep}{more}}}"#,
        wall_ms * 1_000_000
    )
}

/// A shared-counter twin's asyncio run: `lost` of `2 × ops` increments lost.
fn asyncio_counter_json(ops: u64, lost: u64) -> String {
    let n = 2 * ops;
    let counter = |lost: u64| {
        format!(
            r#""counter":{{"expected":{n},"observed":{},"lost":{lost}}}"#,
            n - lost
        )
    };
    twin_json(&[
        twin_run("sequential", n, 10, &counter(0)),
        twin_run("asyncio", n, 10, &counter(lost)),
    ])
}

#[test]
fn a_free_threaded_build_is_paired_with_threads() {
    // No free-threaded CPython is installed here: a stub that says it is one
    // (3.13t) takes the path end to end. Its figure is compared with the
    // simulated `threads`, never with a GIL model; whether real threads lost
    // updates this time is timing, so only the pairing and the exit code that
    // goes with the verdict are asserted.
    let dir = tempfile::tempdir().unwrap();
    let json = counter_json(600_000);
    let py = stub_python(
        dir.path(),
        "python3.13t",
        "3.13.0t",
        &["sequential", "threads"],
        StubRun::Json(&json),
    );
    let (code, report, stderr) = verify(&py);
    assert_eq!(report["interpreters"][0]["free_threaded"], true, "{report}");
    for gil in ["gil", "gil-3.9", "gil-legacy"] {
        let row = check(&report, gil);
        assert_eq!(row["verdict"], "skipped", "{row}");
        assert!(row["cpython"].as_array().unwrap().is_empty(), "{row}");
    }
    let threads = check(&report, "threads");
    assert_eq!(threads["cpython"][0]["interpreter"], "3.13.0", "{threads}");
    assert_eq!(threads["cpython"][0]["value"]["median"], 0.3, "{threads}");
    assert!(threads["simulated"]["median"].is_number(), "{threads}");
    let verdict = threads["verdict"].as_str().unwrap();
    assert!(
        ["agrees", "differs", "inconclusive"].contains(&verdict),
        "{threads}"
    );
    assert_eq!(
        code,
        Some(if verdict == "differs" { 1 } else { 0 }),
        "{stderr}"
    );
}

#[test]
fn asyncio_loses_updates_only_with_an_await_between_read_and_write() {
    // Simulated asyncio is one thread: `none-await` loses exactly half the
    // increments (each await hands the loop to the other coroutine), `none` none
    // at all, however busy the machine.
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("shared-counter-none-await-asyncio", 5_000, "agrees", 0),
        ("shared-counter-none-await-asyncio", 0, "differs", 1),
        ("shared-counter-none-asyncio", 0, "agrees", 0),
        ("shared-counter-none-asyncio", 5_000, "differs", 1),
    ];
    for (i, (name, lost, verdict, code)) in cases.into_iter().enumerate() {
        let json = asyncio_counter_json(5_000, lost);
        let py = stub_python(
            dir.path(),
            &format!("python3.11-{i}"),
            "3.11.0",
            &["sequential", "asyncio"],
            StubRun::Json(&json),
        );
        let (status, report, stderr) = verify_check(&py, name);
        assert_eq!(status, Some(code), "{name}: {stderr}");
        assert_eq!(report["checks"].as_array().unwrap().len(), 1, "{report}");
        let row = check(&report, "asyncio");
        assert_eq!(row["verdict"], verdict, "{name}: {row}");
        let simulated = row["simulated"]["median"].as_f64().unwrap();
        let expected = if name.contains("await") { 0.5 } else { 0.0 };
        assert_eq!(simulated, expected, "{name}: {row}");
        let real = row["cpython"][0]["value"]["median"].as_f64().unwrap();
        assert_eq!(real, lost as f64 / 10_000.0, "{row}");
    }
}

#[test]
fn asyncio_checks_skip_a_python_without_asyncio_run() {
    let dir = tempfile::tempdir().unwrap();
    let json = asyncio_counter_json(5_000, 5_000);
    let py = stub_python(
        dir.path(),
        "python2.7",
        "2.7.18",
        &["sequential", "threads"],
        StubRun::Json(&json),
    );
    let (status, report, stderr) = verify_check(&py, "shared-counter-none-await-asyncio");
    assert_eq!(status, Some(0), "{stderr}");
    let row = check(&report, "asyncio");
    assert_eq!(row["verdict"], "skipped", "{row}");
    assert!(row["simulated"].is_null(), "nothing ran: {row}");
}

#[test]
fn queue_compares_whether_the_manager_is_slower_than_processes() {
    // Simulated processes share a ring in shared memory: 4–44x the manager's
    // items/s measured on a busy machine, far above the 1.5x split. Should a run
    // fall below it anyway the expected verdict follows, so only the comparison's
    // logic is asserted, never the machine's speed.
    let dir = tempfile::tempdir().unwrap();
    for manager_wall_ms in [250, 100] {
        let json = twin_json(&[
            twin_run("processes", 4000, 100, ""),
            twin_run("manager", 4000, manager_wall_ms, ""),
        ]);
        let py = stub_python(
            dir.path(),
            &format!("python3.11-{manager_wall_ms}"),
            "3.11.0",
            &["threads", "processes", "manager"],
            StubRun::Json(&json),
        );
        let (status, report, stderr) = verify_check(&py, "queue-processes-manager");
        let row = check(&report, "processes");
        assert_eq!(row["metric"], "throughput ratio");
        let real = row["cpython"][0]["value"]["median"].as_f64().unwrap();
        assert!(
            (real - manager_wall_ms as f64 / 100.0).abs() < 1e-9,
            "{row}"
        );
        let simulated = row["simulated"]["median"].as_f64().unwrap();
        let (verdict, code) = if (simulated > 1.5) == (real > 1.5) {
            ("agrees", 0)
        } else {
            ("differs", 1)
        };
        assert_eq!(row["verdict"], verdict, "{row}");
        assert_eq!(status, Some(code), "{stderr}");
    }
}

#[test]
fn timing_checks_take_the_figure_from_the_right_row_and_never_agree_with_nonsense() {
    // Each stub's figure is far from anything the simulation can show, so the
    // verdict is `differs` (or `inconclusive` on a busy machine), never `agrees`;
    // the figure read from the stub's rows is exact.
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, String, f64); 4] = [
        // Threads allocating 3x faster than one thread: no GIL would allow it.
        (
            "alloc",
            "gil",
            twin_json(&[
                twin_run("sequential", 40, 300, ""),
                twin_run("threads", 40, 100, ""),
            ]),
            3.0,
        ),
        // Coroutines that did not overlap their waits at all.
        (
            "io-bound-asyncio",
            "asyncio",
            twin_json(&[
                twin_run("sequential", 120, 100, ""),
                twin_run("asyncio", 120, 100, ""),
            ]),
            1.0,
        ),
        // Coroutines that never await, running in parallel.
        (
            "cpu-bound-asyncio",
            "asyncio",
            twin_json(&[
                twin_run("sequential", 40, 250, ""),
                twin_run("asyncio", 40, 100, ""),
            ]),
            2.5,
        ),
        // A round trip of 100 CPU ops: 400 ops in 200 ms, p50 50 ms.
        (
            "convoy-asyncio",
            "asyncio",
            twin_json(&[
                twin_run("sequential", 200, 5, ""),
                twin_run(
                    "asyncio",
                    200,
                    200,
                    r#""cpu_loops":400,"latency_ns":{"count":200,"min":1,"mean":50000000,
                    "p50":50000000,"p90":50000000,"p99":50000000,"p999":50000000,"max":50000000}"#,
                ),
            ])
            .replace('\n', " "),
            100.0,
        ),
    ];
    for (i, (name, model, json, figure)) in cases.iter().enumerate() {
        let py = stub_python(
            dir.path(),
            &format!("python3.11-{i}"),
            "3.11.0",
            &["sequential", "threads", "asyncio"],
            StubRun::Json(json),
        );
        let (status, report, stderr) = verify_check(&py, name);
        let row = check(&report, model);
        let verdict = row["verdict"].as_str().unwrap();
        assert!(
            ["differs", "inconclusive"].contains(&verdict),
            "{name}: {row}"
        );
        assert_eq!(
            status,
            Some(if verdict == "differs" { 1 } else { 0 }),
            "{stderr}"
        );
        let real = row["cpython"][0]["value"]["median"].as_f64().unwrap();
        assert!((real - figure).abs() < 1e-9, "{name}: {row}");
        assert!(row["simulated"]["median"].is_number(), "{name}: {row}");
    }
}
