//! Repeats, spread, modes and sweeps through the real binary: the JSON shape and bad
//! input. No assertion on timing: the figures may be anything a busy machine gives.

mod common;

use common::{bad_input, json, with, SMALL_CPU};

/// The small scenario, without the context-switch calibration (not what these
/// tests look at).
fn small(more: &[&'static str]) -> Vec<&'static str> {
    with(&with(SMALL_CPU, &["--no-calibrate"]), more)
}

fn assert_spread(spread: &serde_json::Value, field: &str) {
    let s = &spread[field];
    for key in ["min", "median", "max", "mean", "stddev"] {
        assert!(s[key].is_number(), "spread.{field}.{key} in {spread}");
    }
    assert!(s["min"].as_f64() <= s["median"].as_f64());
    assert!(s["median"].as_f64() <= s["max"].as_f64());
}

#[test]
fn every_run_has_its_samples_and_spread() {
    let report = json(&small(&["--runs", "5"]));
    let runs = report["runs"].as_array().unwrap();
    assert!(runs.len() >= 4, "{report}");
    for run in runs {
        assert_eq!(run["repeats"], 5, "{run}");
        let samples = run["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 5);
        for s in samples {
            for key in [
                "wall_ns",
                "throughput_ops_per_s",
                "speedup",
                "latency_ns",
                "counter",
            ] {
                assert!(s.get(key).is_some(), "sample lacks {key}: {s}");
            }
            assert!(s["latency_ns"]["p50"].is_u64());
        }
        for field in [
            "wall_ns",
            "throughput_ops_per_s",
            "speedup",
            "latency_p50_ns",
        ] {
            assert_spread(&run["spread"], field);
        }
        assert!(
            run["spread"]["wall_ns"]["median"].is_u64(),
            "times stay integers"
        );
        assert!(run["modes"].is_null() || run["modes"].is_array());
        assert!(run.get("sweep").is_none());
        // The row's own figure is the median of its samples.
        let mut walls: Vec<u64> = samples
            .iter()
            .map(|s| s["wall_ns"].as_u64().unwrap())
            .collect();
        walls.sort_unstable();
        assert_eq!(run["wall_ns"].as_u64(), Some(walls[2]));
    }
    let seq = common::run(&report, "sequential");
    assert!(
        (seq["speedup"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "sequential is its own median"
    );
    assert!(report["warnings"].is_array());
    let load = &report["machine"]["load"];
    assert!(
        load["busy"].is_boolean() && load["samples"].as_u64() >= Some(2),
        "{load}"
    );
    assert_eq!(report["config"]["runs"], 5);
}

#[test]
fn warmups_are_not_samples_and_the_default_runs_at_least_three() {
    let report = json(&small(&[
        "--model", "threads", "--runs", "2", "--warmup", "1",
    ]));
    assert_eq!(
        common::run(&report, "threads")["samples"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let out = common::gilbench()
        .args(small(&[
            "--model", "threads", "--format", "json", "--quiet",
        ]))
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = common::run(&report, "threads")["repeats"].as_u64().unwrap();
    assert!((3..=10).contains(&n), "default runs: {n}");
}

#[test]
fn a_sweep_gives_one_row_per_value_and_model() {
    let report = json(&[
        "scenario",
        "convoy",
        "--model",
        "gil,threads",
        "--ops",
        "5",
        "--runs",
        "2",
        "--no-calibrate",
        "--sweep",
        "switch_interval=0.5ms,1ms,5ms",
    ]);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6, "{report}");
    let points: Vec<(String, String)> = runs
        .iter()
        .map(|r| {
            assert_eq!(r["sweep"]["key"], "switch_interval");
            (
                r["model"].as_str().unwrap().to_string(),
                r["sweep"]["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(points[0], ("gil".into(), "0.5ms".into()));
    assert_eq!(points[5], ("threads".into(), "5ms".into()));
    assert_eq!(runs[5]["sweep"]["number"], 5e6);
    assert!(runs
        .iter()
        .all(|r| r["samples"].as_array().unwrap().len() == 2));
}

#[test]
fn bad_repeat_and_sweep_flags_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--runs", "0"], &["--runs", "0"]),
        (&["--runs", "-3"], &["--runs"]),
        (&["--warmup", "-1"], &["--warmup", "-1"]),
        (
            &["--sweep", "workers=1", "--sweep", "workers=2"],
            &["--sweep", "twice"],
        ),
        (&["--sweep", "no_such_key=1,2"], &["--sweep", "no_such_key"]),
        (&["--sweep", "switch_interval="], &["--sweep", "empty list"]),
        (
            &["--sweep", "switch_interval=1ms,soon"],
            &["--sweep", "soon"],
        ),
        (&["--sweep", "workers=2,two"], &["--sweep", "two"]),
        (&["--sweep", "workers"], &["--sweep", "KEY=V1"]),
    ];
    for (extra, needles) in cases {
        let stderr = bad_input(&with(&["scenario", "cpu-bound"], extra), needles);
        assert_eq!(stderr.trim().lines().count(), 1, "{extra:?}: {stderr}");
    }
}
