//! The probe commands — `ctxswitch`, `spawn`, `zombie` — and the context-switch
//! estimate in scenario reports, driven through the real binary.
//!
//! Every test here holds `common::exclusive()` for its whole run: the probes pin
//! threads to CPUs and fork, and the leftover checks need to know that every
//! process the test process has is one this test made. That also makes this test
//! process a child subreaper, so anything a gilbench run leaves behind — a zombie,
//! an orphan — becomes a child of ours and fails `assert_nothing_left`. No test here
//! asserts on timing; they check behaviour and the report's fields.

mod common;

use common::{assert_nothing_left, bad_input, children_of, gilbench, json};
use std::time::{Duration, Instant};

fn u64_at(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

fn assert_summary(v: &serde_json::Value, count: u64) {
    for key in ["count", "min", "mean", "p50", "p90", "p99", "p999", "max"] {
        assert!(v[key].is_u64(), "summary lacks {key}: {v}");
    }
    assert_eq!(u64_at(v, "count"), count, "{v}");
    assert!(u64_at(v, "min") <= u64_at(v, "p50") && u64_at(v, "p50") <= u64_at(v, "max"));
}

const MODES: [&str; 7] = [
    "thread-futex",
    "thread-pipe",
    "process-pipe",
    "process-futex",
    "eventfd",
    "yield",
    "gil-handoff",
];

#[test]
fn ctxswitch_runs_every_mode_and_reports_the_contract_fields() {
    let _exclusive = common::exclusive();
    let pins = if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        "same,cross,none"
    } else {
        "same,none"
    };
    let report = json(&[
        "ctxswitch",
        "--rounds",
        "200",
        "--warmup",
        "10",
        "--pin",
        pins,
    ]);
    assert_nothing_left("ctxswitch_runs_every_mode_and_reports_the_contract_fields");
    assert_eq!(report["kind"], "ctxswitch");
    assert!(report["gilbench"].is_string());
    assert!(u64_at(&report["machine"], "cpus") >= 1);
    let results = report["results"].as_array().unwrap();
    for mode in MODES {
        let rows: Vec<_> = results.iter().filter(|r| r["mode"] == mode).collect();
        assert!(!rows.is_empty(), "no result for {mode}");
        for r in rows {
            assert_eq!(u64_at(r, "rounds"), 200);
            assert_summary(&r["switch_ns"], 200);
            assert_summary(&r["round_trip_ns"], 200);
            assert!(
                u64_at(&r["switch_ns"], "p50") * 2 >= u64_at(&r["round_trip_ns"], "p50"),
                "switch = round trip / 2: {r}"
            );
            for key in ["voluntary_ctx_switches", "involuntary_ctx_switches"] {
                assert!(r[key].is_u64(), "{key} missing: {r}");
            }
            // Both sides block (or yield) every round: the kernel saw switches.
            let switches =
                u64_at(r, "voluntary_ctx_switches") + u64_at(r, "involuntary_ctx_switches");
            assert!(
                switches >= 100,
                "{mode}: only {switches} switches in 200 rounds"
            );
            let pin = r["pin"].as_str().unwrap();
            let cpus = r["cpus"].as_array().unwrap();
            match pin {
                "same" => assert!(cpus.len() == 2 && cpus[0] == cpus[1], "{r}"),
                "cross" => assert!(cpus.len() == 2 && cpus[0] != cpus[1], "{r}"),
                "none" => assert!(cpus.is_empty(), "{r}"),
                other => panic!("unexpected pin {other}"),
            }
        }
    }
    // yield runs once, on one CPU, whatever --pin says.
    let yields: Vec<_> = results.iter().filter(|r| r["mode"] == "yield").collect();
    assert_eq!(yields.len(), 1);
    assert_eq!(yields[0]["pin"], "same");
    let pipe = results
        .iter()
        .find(|r| r["mode"] == "process-pipe")
        .unwrap();
    assert_eq!(pipe["perf_equivalent"], "perf bench sched pipe");
    assert_eq!(pipe["sides"], "processes");
}

#[test]
fn ctxswitch_table_mentions_perf() {
    let _exclusive = common::exclusive();
    let out = gilbench()
        .args([
            "ctxswitch",
            "--mode",
            "thread-futex",
            "--rounds",
            "50",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("thread-futex") && text.contains("perf bench sched pipe"),
        "{text}"
    );
    assert_nothing_left("ctxswitch_table_mentions_perf");
}

#[test]
fn spawn_reports_every_method_and_copy_on_write_faults() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "spawn",
        "--heap",
        "0,4M",
        "--iterations",
        "3",
        "--runs",
        "1",
        "--method",
        "thread,fork,vfork,posix-spawn,fork-exec,fork-cow",
    ]);
    assert_nothing_left("spawn_reports_every_method_and_copy_on_write_faults");
    assert_eq!(report["kind"], "spawn");
    let results = report["results"].as_array().unwrap();
    for method in ["thread", "fork", "vfork", "posix-spawn", "fork-exec"] {
        for heap in [0u64, 4 << 20] {
            let r = results
                .iter()
                .find(|r| r["method"] == method && r["heap_bytes"] == heap)
                .unwrap_or_else(|| panic!("no {method} / {heap}"));
            assert_summary(&r["latency_ns"], 3);
            assert_summary(&r["create_ns"], 3);
            assert!(r["minor_faults"].is_u64());
        }
    }
    // fork-cow: none for an empty heap; for 4 MiB, one fault per page copied.
    let cow: Vec<_> = results
        .iter()
        .filter(|r| r["method"] == "fork-cow")
        .collect();
    assert_eq!(cow.len(), 1);
    let pages = (4u64 << 20) / u64_at(&report, "page_size");
    let faults = u64_at(cow[0], "minor_faults");
    assert!(
        faults >= pages * 9 / 10 && faults <= pages * 2,
        "{faults} faults for {pages} pages"
    );
    assert!(cow[0]["create_ns"].is_null());
}

#[test]
fn spawn_runs_each_cell_several_times_and_merges_their_creations() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "spawn",
        "--method",
        "thread,fork",
        "--heap",
        "0",
        "--iterations",
        "6",
        "--runs",
        "3",
        "--warmup",
        "1",
    ]);
    assert_nothing_left("spawn_runs_each_cell_several_times_and_merges_their_creations");
    assert_eq!(u64_at(&report, "warmup"), 1);
    for r in report["results"].as_array().unwrap() {
        assert_eq!(u64_at(r, "repeats"), 3, "{r}");
        let samples = r["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 3);
        // The runs share --iterations: 2 creations each.
        for s in samples {
            assert_summary(&s["latency_ns"], 2);
        }
        assert_eq!(u64_at(r, "iterations"), 6);
        // The row's histograms hold every creation of every run: their counts are
        // `iterations`, their min and max the runs' extremes.
        for field in ["latency_ns", "create_ns"] {
            assert_summary(&r[field], 6);
            let ends = |k: &'static str| -> Vec<u64> {
                samples.iter().map(|s| u64_at(&s[field], k)).collect()
            };
            let (min, max) = (ends("min"), ends("max"));
            assert_eq!(u64_at(&r[field], "min"), *min.iter().min().unwrap(), "{r}");
            assert_eq!(u64_at(&r[field], "max"), *max.iter().max().unwrap(), "{r}");
        }
        let mut p50s: Vec<u64> = samples
            .iter()
            .map(|s| u64_at(&s["latency_ns"], "p50"))
            .collect();
        p50s.sort();
        let p50 = u64_at(&r["latency_ns"], "p50");
        assert!(p50s[0] <= p50 && p50 <= p50s[2], "{p50} outside {p50s:?}");
        let spread = &r["spread"]["latency_p50_ns"];
        assert_eq!(
            (u64_at(spread, "min"), u64_at(spread, "max")),
            (p50s[0], p50s[2])
        );
        assert!(r["modes"].is_null() || r["modes"].is_array());
    }
}

#[test]
fn spawn_refuses_a_heap_beyond_available_memory() {
    let _exclusive = common::exclusive();
    let out = gilbench()
        .args(["spawn", "--heap", "0,900T"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--heap") && err.contains("available"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert_nothing_left("spawn_refuses_a_heap_beyond_available_memory");
}

fn zombie(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["zombie"];
    all.extend_from_slice(args);
    let report = json(&all);
    assert_nothing_left("zombie");
    report
}

#[test]
fn zombie_every_strategy_sees_and_reaps_all_children() {
    let _exclusive = common::exclusive();
    for strategy in ["waitpid", "wnohang-loop", "sigchld", "pidfd", "none"] {
        let r = zombie(&["--children", "20", "--reap", strategy]);
        assert_eq!(r["kind"], "zombie");
        assert_eq!(r["strategy"], strategy);
        assert_eq!(u64_at(&r, "children"), 20);
        assert_eq!(u64_at(&r, "zombies_seen"), 20, "{strategy}");
        assert_eq!(u64_at(&r, "zombies_left"), 0, "{strategy}");
        let before = r["before"].as_array().unwrap();
        assert!(!before.is_empty());
        for row in before {
            assert_eq!(row["state"], "Z");
            assert_eq!(row["ppid"], r["parent_pid"]);
            assert!(row["command"].as_str().unwrap().ends_with("<defunct>"));
        }
        if strategy == "none" {
            // They stay zombies until gilbench reaps them on its way out.
            assert_eq!(u64_at(&r, "zombies_after_reap"), 20);
            assert_eq!(u64_at(&r, "reaped_at_exit"), 20);
            assert_summary(&r["reap_ns"], 0);
            assert_eq!(r["after"].as_array().unwrap().len(), before.len());
        } else {
            assert_eq!(u64_at(&r, "zombies_after_reap"), 0, "{strategy}");
            assert_eq!(u64_at(&r, "reaped_by_strategy"), 20, "{strategy}");
            assert_summary(&r["reap_ns"], 20);
            assert!(r["after"].as_array().unwrap().is_empty());
        }
        if strategy == "sigchld" {
            let signals = u64_at(&r, "sigchld_signals");
            assert!((1..=20).contains(&signals), "{signals} SIGCHLD");
        }
    }
}

#[test]
fn zombie_orphans_are_reparented_to_the_subreaper_and_reaped() {
    let _exclusive = common::exclusive();
    let r = zombie(&["--children", "5", "--orphans"]);
    assert_eq!(u64_at(&r, "zombies_seen"), 5);
    assert_eq!(u64_at(&r, "zombies_left"), 0);
    let o = &r["orphans"];
    assert_eq!(o["subreaper"], true);
    assert_eq!(u64_at(o, "grandchildren"), 5);
    assert_eq!(u64_at(o, "reparented_to_gilbench"), 5);
    assert_eq!(u64_at(o, "reaped_by_gilbench"), 5);
    for row in o["sample"].as_array().unwrap() {
        assert_ne!(row["ppid_before"], row["ppid_after"]);
        assert_eq!(row["ppid_after"], r["parent_pid"]);
    }
}

#[test]
fn zombie_ten_thousand_children() {
    let _exclusive = common::exclusive();
    let r = zombie(&["--children", "10000"]);
    assert_eq!(u64_at(&r, "zombies_seen"), 10_000);
    assert_eq!(u64_at(&r, "reaped_by_strategy"), 10_000);
    assert_eq!(u64_at(&r, "zombies_left"), 0);
    assert_summary(&r["reap_ns"], 10_000);
}

#[test]
fn zombie_refuses_more_children_than_rlimit_nproc_allows() {
    let _exclusive = common::exclusive();
    let bin = assert_cmd::cargo::cargo_bin("gilbench");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -u 64 && exec {} zombie --children 5000",
            bin.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--children") && err.contains("RLIMIT_NPROC"),
        "{err}"
    );
    assert_nothing_left("zombie_refuses_more_children_than_rlimit_nproc_allows");
}

#[test]
fn zombie_interrupted_during_hold_reaps_and_exits_130() {
    let _exclusive = common::exclusive();
    let child = common::gilbench_process()
        .args([
            "zombie",
            "--children",
            "10",
            "--orphans",
            "--hold",
            "20s",
            "--quiet",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until its ten children are zombies on show.
    let deadline = Instant::now() + Duration::from_secs(10);
    while children_of(pid).1.len() < 10 {
        assert!(Instant::now() < deadline, "no zombies appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert_nothing_left("zombie_interrupted_during_hold_reaps_and_exits_130");
}

#[test]
fn ctxswitch_runs_each_probe_several_times_and_reports_medians_with_their_spread() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "ctxswitch",
        "--mode",
        "thread-futex,process-pipe",
        "--pin",
        "same",
        "--rounds",
        "100",
        "--warmup",
        "10",
        "--runs",
        "3",
    ]);
    assert_nothing_left(
        "ctxswitch_runs_each_probe_several_times_and_reports_medians_with_their_spread",
    );
    for r in report["results"].as_array().unwrap() {
        assert_eq!(u64_at(r, "repeats"), 3, "{r}");
        let samples = r["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 3);
        for s in samples {
            assert_summary(&s["switch_ns"], 100);
        }
        // The row's figures are the runs' medians, field by field.
        assert_summary(&r["switch_ns"], 100);
        let mut p50s: Vec<u64> = samples
            .iter()
            .map(|s| u64_at(&s["switch_ns"], "p50"))
            .collect();
        p50s.sort();
        assert_eq!(u64_at(&r["switch_ns"], "p50"), p50s[1]);
        let spread = &r["spread"]["switch_p50_ns"];
        assert_eq!(
            (u64_at(spread, "min"), u64_at(spread, "max")),
            (p50s[0], p50s[2])
        );
        assert!(r["modes"].is_null() || r["modes"].is_array());
    }
    // The table says how many runs each figure is the median of.
    let out = gilbench()
        .args([
            "ctxswitch",
            "--mode",
            "thread-futex",
            "--pin",
            "same",
            "--rounds",
            "100",
        ])
        .args(["--runs", "2", "--format", "table", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 runs per probe"));
}

#[test]
fn probes_reject_bad_input_with_exit_2() {
    let _exclusive = common::exclusive();
    for args in [
        &["zombie", "--reap", "bogus"][..],
        &["zombie", "--children", "0"],
        &["zombie", "--hold", "soon"],
        &["zombie", "--no-subreaper"],
        &["ctxswitch", "--mode", "bogus"],
        &["ctxswitch", "--pin", "left"],
        &["ctxswitch", "--rounds", "0"],
        &["ctxswitch", "--runs", "0"],
        &["ctxswitch", "--runs", "-1"],
        &["spawn", "--heap", "lots"],
        &["spawn", "--method", "teleport"],
        &["spawn", "--max-time", "0s"],
        &["spawn", "--runs", "0"],
        &["spawn", "--warmup", "-1"],
    ] {
        let err = bad_input(args, &[]);
        assert!(err.starts_with("Error: --"), "{args:?}: {err}");
    }
    assert_nothing_left("probes_reject_bad_input_with_exit_2");
}

#[test]
fn scenario_reports_an_estimated_context_switch_cost() {
    let _exclusive = common::exclusive();
    let base = [
        "scenario",
        "cpu-bound",
        "--ops",
        "3",
        "--model",
        "sequential,threads",
    ];
    let report = json(&base);
    let c = &report["ctx_switch_calibration"];
    assert!(
        u64_at(c, "same_cpu_ns") > 0 && u64_at(c, "cross_cpu_ns") > 0,
        "{c}"
    );
    assert!(
        u64_at(c, "took_ns") < 1_000_000_000,
        "calibration took over a second: {c}"
    );
    for run in report["runs"].as_array().unwrap() {
        let estimate = u64_at(run, "voluntary_ctx_switches") * u64_at(c, "cross_cpu_ns")
            + u64_at(run, "involuntary_ctx_switches") * u64_at(c, "same_cpu_ns");
        // Capped at the run's CPU time (see the note under the table).
        let cpu = u64_at(run, "cpu_user_ns") + u64_at(run, "cpu_sys_ns");
        assert_eq!(u64_at(run, "ctx_switch_cost_ns"), estimate.min(cpu));
    }
    let mut skipped: Vec<&str> = base.to_vec();
    skipped.push("--no-calibrate");
    let report = json(&skipped);
    assert!(report["ctx_switch_calibration"].is_null());
    assert!(report["runs"][0]["ctx_switch_cost_ns"].is_null());
    let out = gilbench().args(base).arg("--quiet").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("ctx sw cost (est.)"));
    assert_nothing_left("scenario_reports_an_estimated_context_switch_cost");
}
