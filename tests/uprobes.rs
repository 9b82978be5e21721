//! `--cpython` with a trace: real CPython's GIL traced with uprobes, through the binary.
//!
//! These need root, a kernel with uprobes and an interpreter with `take_gil` /
//! `drop_gil` symbols (pyenv's builds have them). Where one is missing gilbench
//! says which in one line ("no real GIL trace: …"); the tests print that line
//! and skip, after checking that the run went on and exited 0 anyway.

mod common;

use common::background;
use common::{assert_nothing_left, gilbench};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Where a traced run of ours would have added tracefs probes (it adds none).
const UPROBE_EVENTS: &str = "/sys/kernel/tracing/uprobe_events";

/// The test's hold on [`common::exclusive`], or `None` (saying why the test
/// skips) where there is no python3.
fn exclusive_with_python3() -> Option<common::Exclusive> {
    if !python3() {
        eprintln!("skipped: python3 is not installed");
        return None;
    }
    Some(common::exclusive())
}

fn python3() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `gilbench ARGS --format json --quiet --runs 1`; `None` (with the reason
/// printed) when the real GIL could not be traced here.
fn traced(args: &[&str], trace: &Path) -> Option<Value> {
    let out = gilbench()
        .args(args)
        .arg("--trace")
        .arg(trace)
        .args([
            "--runs",
            "1",
            "--format",
            "json",
            "--quiet",
            "--no-calibrate",
        ])
        .timeout(Duration::from_secs(240))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    if let Some(line) = stderr.lines().find(|l| l.contains("no real GIL trace")) {
        assert_eq!(
            stderr.lines().filter(|l| l.contains("--cpython")).count(),
            1,
            "one line: {stderr}"
        );
        eprintln!("skipped: {line}");
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The `X` events named `name` of process `pid`, as (tid, start µs, end µs).
fn spans(trace: &Value, pid: u64, name: &str) -> Vec<(u64, f64, f64)> {
    let mut out: Vec<(u64, f64, f64)> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"] == name && e["pid"] == pid)
        .map(|e| {
            let ts = e["ts"].as_f64().unwrap();
            (
                e["tid"].as_u64().unwrap(),
                ts,
                ts + e["dur"].as_f64().unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

/// The pid the trace gave the process named `model`.
fn pid_of(trace: &Value, model: &str) -> u64 {
    trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "process_name" && e["args"]["name"] == model)
        .unwrap_or_else(|| panic!("no {model} process in the trace"))["pid"]
        .as_u64()
        .unwrap()
}

#[test]
fn cpu_bound_real_gil_spans_take_turns_and_nothing_is_left() {
    let Some(_exclusive) = exclusive_with_python3() else {
        return;
    };
    let before = std::fs::read_to_string(UPROBE_EVENTS).ok();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let args = [
        "scenario",
        "cpu-bound",
        "--model",
        "gil",
        "--cpython",
        "--ops",
        "4",
        "--set",
        "ticks_per_op=400000",
        "--switch-interval",
        "2ms",
    ];
    let Some(report) = traced(&args, &path) else {
        return;
    };
    let trace: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let pid = pid_of(&trace, "cpython-threads");
    let held = spans(&trace, pid, "gil-held");
    let tids: std::collections::BTreeSet<u64> = held.iter().map(|s| s.0).collect();
    assert_eq!(tids.len(), 2, "both threads hold the GIL: {held:?}");
    for pair in held.windows(2) {
        // The trace writes µs with three decimals: a nanosecond of slack.
        assert!(
            pair[0].2 <= pair[1].1 + 0.001,
            "real GIL spans overlap: {pair:?}"
        );
    }
    let row = common::run(&report, "cpython-threads");
    let gil = &row["gil"];
    assert!(gil["acquisitions"].as_u64().unwrap() >= 2, "{gil}");
    assert!(gil["drop_requests"].is_null() && gil["forced_switches"].is_null());
    assert!(gil["hold_fraction"].as_f64().unwrap() > 0.0, "{gil}");
    assert!(row["uprobes"]["hits"].as_u64().unwrap() > 0, "{row}");
    assert!(row["uprobes"]["unprobed_wall_ns"].as_u64().unwrap() > 0);
    assert!(row["uprobes"]["hit_cost_ns"].is_u64(), "{row}");
    assert!(row["uprobes"]["probe_cost_fraction"].is_f64(), "{row}");
    // The simulated rows keep their measured drop requests.
    assert!(common::run(&report, "gil")["gil"]["drop_requests"].is_u64());
    // Nothing left: no process, and no tracefs probe (perf's close with their fds).
    assert_eq!(std::fs::read_to_string(UPROBE_EVENTS).ok(), before);
    assert_nothing_left("cpu_bound_real_gil_spans_take_turns_and_nothing_is_left");
}

#[test]
fn convoy_timeline_shows_the_real_io_thread() {
    let Some(_exclusive) = exclusive_with_python3() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "scenario",
        "convoy",
        "--model",
        "gil",
        "--cpython",
        "--ops",
        "20",
        "--switch-interval",
        "1ms",
        "--timeline",
    ];
    let Some(report) = traced(&args, &dir.path().join("t.json")) else {
        return;
    };
    let row = common::run(&report, "cpython-threads");
    assert!(row["gil"]["acquisitions"].as_u64().unwrap() > 0, "{row}");
    // The table's strips: the real threads under the simulated ones.
    let out = gilbench()
        .args(args)
        .args(["--runs", "1", "--quiet", "--no-calibrate"])
        .timeout(Duration::from_secs(240))
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let sim = table.find("gil/io-0").or_else(|| table.find("io-0"));
    let real = table.find("cpython-threads/io-0");
    assert!(
        sim.is_some() && real.is_some() && sim < real,
        "simulated strip, then the real one:\n{table}"
    );
    assert_nothing_left("convoy_timeline_shows_the_real_io_thread");
}

#[test]
fn interrupted_or_timed_out_traced_twin_leaves_nothing() {
    let Some(_exclusive) = exclusive_with_python3() else {
        return;
    };
    let before = std::fs::read_to_string(UPROBE_EVENTS).ok();
    let dir = tempfile::tempdir().unwrap();
    // A run of 0.1 s simulated and seconds real: twins take no `--duration` and do
    // their default 50 ops of `ticks_per_op`, so the timeout and the signals land
    // in the traced twin, not in the simulation.
    let long = [
        "scenario",
        "cpu-bound",
        "--model",
        "sequential",
        "--cpython",
        "--duration",
        "100ms",
        "--set",
        "ticks_per_op=20000000",
        "--runs",
        "1",
        "--quiet",
        "--no-calibrate",
        "--format",
        "json",
    ];
    // A timeout: the twin is stopped, one line says so, the simulated rows stand
    // (a twin that fails does not fail the run), the probes are closed.
    let out = gilbench()
        .args(long)
        .arg("--trace")
        .arg(dir.path().join("a.json"))
        .args(["--timeout", "3s"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("no real GIL trace") {
        eprintln!("skipped: {}", stderr.trim());
        return;
    }
    // Exit 0 when the twin timed out (a twin's failure is one line); on a machine
    // so busy that the 0.1 s simulated run outlasted the timeout, exit 1. Either
    // way one line says "timed out", and nothing may be left.
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)) && stderr.contains("timed out"),
        "{:?}: {stderr}",
        out.status
    );
    assert_nothing_left("traced twin, --timeout");
    // Ctrl-C and SIGTERM once the twin runs: exit 130, nothing left.
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let trace = dir.path().join("b.json");
        let mut child =
            background::start(&[&long[..], &["--trace", trace.to_str().unwrap()]].concat());
        let pid = child.id();
        // The twin is a python child of gilbench's: wait for it.
        let started = background::wait_for(&mut child, "the twin starting", || {
            common::children_of(pid).0.iter().any(|&c| is_twin(c))
        });
        assert!(started, "gilbench ended before its twin started");
        std::thread::sleep(Duration::from_millis(300));
        background::signal(&child, signal).unwrap();
        let (status, stderr) = background::finish(child, String::new(), &format!("{signal}"));
        assert_eq!(status.code(), Some(130), "{signal}: {status:?}: {stderr}");
        assert_nothing_left("traced twin, signalled");
    }
    assert!(
        !dir.path().join("b.json").exists(),
        "no trace of a run cut short"
    );
    assert_eq!(std::fs::read_to_string(UPROBE_EVENTS).ok(), before);
}

/// A twin run proper (`… cpu_bound.py --json …`), not its `--describe` or the
/// interpreter being asked where it lives.
fn is_twin(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
        let c = String::from_utf8_lossy(&c);
        c.contains("cpu_bound.py") && c.contains("--json")
    })
}
