//! `gilbench verify` through the binary, deterministically: a stub interpreter
//! (`common::stub_python`) prints fixed twin JSON, and the one check used
//! (`shared-counter-none` under `gil`) has a simulated figure that does not
//! depend on timing — `counter += 1` has no check point inside, so the simulated
//! 3.10+ GIL never loses an update. No timing is asserted.

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
    let out = gilbench()
        .args(["verify", "--check", "shared-counter-none", "--runs", "1"])
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
