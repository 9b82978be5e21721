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
