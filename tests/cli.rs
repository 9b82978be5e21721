//! The command line, driven through the real binary: listing, reports, bad input.

mod common;

use common::{bad_input, gilbench, json, run, SMALL_CPU};
use predicates::prelude::*;

/// `gilbench list` in every format: each names every built-in scenario.
#[test]
fn list_names_every_builtin_scenario_in_every_format() {
    let names = gilbench::scenario::builtin_names();
    let listed = json(&["list"]);
    assert_eq!(listed["kind"], "list");
    let in_json: Vec<&str> = listed["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(in_json.len(), names.len(), "{in_json:?}");
    let text = |format: &str| {
        let out = gilbench()
            .args(["list", "--format", format])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stdout).into_owned()
    };
    let (table, csv, md) = (text("table"), text("csv"), text("markdown"));
    assert!(
        csv.starts_with("name,models,summary,supported_models\n"),
        "{csv}"
    );
    assert!(csv.contains("\ncpu-bound,\"sequential,"), "{csv}");
    assert!(
        md.contains("| name | models | summary | supported models |"),
        "{md}"
    );
    for name in names {
        assert!(in_json.contains(&name), "{name} missing from {in_json:?}");
        assert!(table.contains(name), "{name} missing from:\n{table}");
        assert!(
            csv.contains(&format!("\n{name},")),
            "{name} missing from:\n{csv}"
        );
        assert!(
            md.contains(&format!("| {name} |")),
            "{name} missing from:\n{md}"
        );
    }
}

#[test]
fn every_command_has_help_with_examples() {
    for command in ["list", "scenario", "ctxswitch", "spawn", "zombie"] {
        gilbench()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
}

#[test]
fn scenario_json_has_the_contract_fields() {
    let report = json(SMALL_CPU);
    for key in ["gilbench", "kind", "scenario", "machine", "config", "runs"] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    assert_eq!(report["kind"], "scenario");
    assert_eq!(report["scenario"], "cpu-bound");
    assert!(report["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(report["machine"]["kernel"].is_string());
    let models: Vec<_> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        models,
        ["sequential", "gil", "gil-legacy", "threads", "processes"]
    );
    for r in report["runs"].as_array().unwrap() {
        for key in [
            "model",
            "workers",
            "ops",
            "wall_ns",
            "throughput_ops_per_s",
            "speedup",
            "latency_ns",
            "cpu_user_ns",
            "cpu_sys_ns",
            "voluntary_ctx_switches",
            "involuntary_ctx_switches",
            "minor_faults",
            "gil",
            "counter",
        ] {
            assert!(r.get(key).is_some(), "run {} lacks {key}", r["model"]);
        }
        for key in ["count", "min", "mean", "p50", "p90", "p99", "p999", "max"] {
            assert!(r["latency_ns"][key].is_u64(), "latency_ns.{key}");
        }
        assert_eq!(r["ops"], 6, "2 workers x 3 ops");
        assert_eq!(r["latency_ns"]["count"], 6);
    }
    let gil = &run(&report, "gil")["gil"];
    for key in [
        "acquisitions",
        "drop_requests",
        "forced_switches",
        "hold_fraction",
        "wait_ns",
    ] {
        assert!(gil.get(key).is_some(), "gil.{key}");
    }
    assert!(run(&report, "threads")["gil"].is_null());
    assert!(run(&report, "sequential")["speedup"].as_f64().unwrap() == 1.0);
}

#[test]
fn table_report_prints_the_explanation() {
    gilbench()
        .args(SMALL_CPU)
        .arg("--quiet")
        .assert()
        .success()
        .stdout(predicate::str::contains("sequential"))
        .stdout(predicate::str::contains("drop requests"))
        .stdout(
            predicate::str::contains("concurrency, not parallelism")
                .or(predicate::str::contains("take turns")),
        );
}

#[test]
fn counter_reports_lost_updates_field() {
    let report = json(&[
        "scenario",
        "shared-counter",
        "--ops",
        "1000",
        "--set",
        "sync=atomic",
    ]);
    for r in report["runs"].as_array().unwrap() {
        let c = &r["counter"];
        assert_eq!(c["expected"], 2000, "{}", r["model"]);
        assert_eq!(c["observed"], 2000, "{}", r["model"]);
        assert_eq!(c["lost"], 0, "{}", r["model"]);
    }
}

#[test]
fn gil_39_is_a_model_that_keeps_its_name() {
    let report = json(&[
        "scenario",
        "shared-counter",
        "--model",
        "gil-3.9",
        "--ops",
        "1000",
        "--set",
        "sync=none",
    ]);
    let row = run(&report, "gil-3.9");
    assert_eq!(row["model"], "gil-3.9");
    assert_eq!(row["counter"]["expected"], 2000);
    // Whether updates are lost depends on where the switches fall (a unit test in
    // runtime::interp checks the mechanism); that the GIL ran is certain.
    assert!(row["gil"]["acquisitions"].as_u64().unwrap() >= 2);
}

#[test]
fn output_file_receives_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    gilbench()
        .args(SMALL_CPU)
        .args([
            "--model", "threads", "--format", "json", "--quiet", "--output",
        ])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(report["runs"][0]["model"], "threads");
}

#[test]
fn duration_mode_runs_for_about_that_long() {
    let report = json(&[
        "scenario",
        "io-bound",
        "--model",
        "threads",
        "--duration",
        "200ms",
    ]);
    let wall = report["runs"][0]["wall_ns"].as_u64().unwrap();
    assert!((150_000_000..2_000_000_000).contains(&wall), "wall {wall}");
    assert!(report["runs"][0]["ops"].as_u64().unwrap() > 0);
}

#[test]
fn a_thousand_workers_run_under_threads_and_gil() {
    let report = json(&[
        "scenario",
        "cpu-bound",
        "--model",
        "gil,threads",
        "--workers",
        "1000",
        "--ops",
        "2",
        "--set",
        "ticks_per_op=1000",
    ]);
    for model in ["gil", "threads"] {
        assert_eq!(run(&report, model)["workers"], 1000);
        assert_eq!(run(&report, model)["ops"], 2000);
    }
}

#[test]
fn timeout_stops_the_run_with_exit_code_1() {
    gilbench()
        .args([
            "scenario",
            "cpu-bound",
            "--model",
            "threads",
            "--ops",
            "1000000",
            "--timeout",
            "200ms",
            "--quiet",
        ])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timed out"));
}

#[test]
fn unknown_scenario_lists_the_known_ones() {
    bad_input(
        &["scenario", "cpu-bund"],
        &["cpu-bund", "cpu-bound", "convoy"],
    );
}

#[test]
fn unknown_model_lists_the_valid_ones() {
    bad_input(
        &["scenario", "cpu-bound", "--model", "gil,green-threads"],
        &["green-threads", "sequential", "gil-legacy", "threads"],
    );
}

#[test]
fn bad_numbers_and_durations_are_rejected() {
    bad_input(&["scenario", "cpu-bound", "--workers", "0"], &["--workers"]);
    bad_input(
        &["scenario", "cpu-bound", "--workers", "-3"],
        &["--workers"],
    );
    bad_input(&["scenario", "cpu-bound", "--ops", "0"], &["--ops"]);
    bad_input(
        &["scenario", "convoy", "--switch-interval", "-5ms"],
        &["--switch-interval", "negative"],
    );
    bad_input(
        &["scenario", "convoy", "--switch-interval", "soon"],
        &["--switch-interval", "soon"],
    );
    bad_input(&["scenario", "convoy", "--timeout", "0s"], &["--timeout"]);
    bad_input(
        &["scenario", "convoy", "--start-method", "clone"],
        &["fork, spawn, forkserver"],
    );
}

#[test]
fn bad_set_overrides_are_rejected() {
    bad_input(
        &["scenario", "shared-counter", "--set", "sync"],
        &["KEY=VALUE"],
    );
    bad_input(
        &["scenario", "shared-counter", "--set", "sync=sometimes"],
        &["--set sync", "sometimes"],
    );
    bad_input(
        &["scenario", "cpu-bound", "--set", "ticks_per_op=0"],
        &["--set ticks_per_op", "at least 1"],
    );
    bad_input(
        &["scenario", "cpu-bound", "--set", "tick_per_op=5"],
        &["tick_per_op"],
    );
    bad_input(
        &["scenario", "convoy", "--set", "pin=sideways"],
        &["--set pin", "io-alone"],
    );
}

fn scenario_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

const GOOD_FILE: &str = r#"name = "mine"
workload = "cpu-bound"
summary = "my own"
models = ["threads"]
workers = 2
ops = 2
explanation = "Mine."

[params]
ticks_per_op = 1000
"#;

#[test]
fn a_users_scenario_file_runs_like_a_builtin() {
    let (_dir, path) = scenario_file(GOOD_FILE);
    let report = json(&["scenario", &path]);
    assert_eq!(report["scenario"], "mine");
    assert_eq!(report["runs"][0]["ops"], 4);
}

#[test]
fn scenario_file_errors_name_file_line_and_field() {
    let (_d1, unknown_key) = scenario_file(&GOOD_FILE.replace("ops = 2", "ops = 2\nspeed = 3"));
    bad_input(
        &["scenario", &unknown_key],
        &[&format!("{unknown_key}:7"), "speed"],
    );

    let (_d2, bad_param) =
        scenario_file(&GOOD_FILE.replace("ticks_per_op = 1000", "ticks_per_op = -1"));
    bad_input(
        &["scenario", &bad_param],
        &[&format!("{bad_param}:10"), "ticks_per_op"],
    );

    let (_d3, unknown_param) =
        scenario_file(&GOOD_FILE.replace("ticks_per_op = 1000", "tics = 1000"));
    bad_input(
        &["scenario", &unknown_param],
        &[&format!("{unknown_param}:10"), "tics"],
    );

    let (_d4, zero_workers) = scenario_file(&GOOD_FILE.replace("workers = 2", "workers = 0"));
    bad_input(
        &["scenario", &zero_workers],
        &[&format!("{zero_workers}:5"), "workers"],
    );

    let (_d5, malformed) = scenario_file("name = \"x\"\nworkload = [oops\n");
    bad_input(&["scenario", &malformed], &[&malformed]);

    let (_d6, bad_model) = scenario_file(&GOOD_FILE.replace("[\"threads\"]", "[\"fibers\"]"));
    bad_input(
        &["scenario", &bad_model],
        &[&format!("{bad_model}:4"), "fibers"],
    );

    bad_input(
        &["scenario", "/nonexistent/x.toml"],
        &["/nonexistent/x.toml"],
    );
}

#[test]
fn unwritable_output_fails_before_running() {
    bad_input(
        &[
            "scenario",
            "cpu-bound",
            "--output",
            "/nonexistent/dir/r.json",
        ],
        &["--output", "/nonexistent/dir/r.json"],
    );
}
