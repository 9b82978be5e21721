//! `--timeout` bounds every model and every workload the same way: the run stops
//! at the deadline, fails with one line naming the model and the timeout, exits
//! 1, and leaves nothing behind. Each test asks for far more work than the
//! timeout allows (or a timeout no run can meet), so what it checks holds on a
//! machine however busy; the bounds on how long gilbench may take are generous.
//! Every test holds `exclusive()`: another test's `assert_nothing_left` reaps the
//! children of this process, ours included.

mod common;

use common::background::{self, BOUND};
use common::{assert_nothing_left, exclusive, gilbench};

/// Runs `gilbench scenario ARGS --timeout TIMEOUT` and expects it to time out.
fn times_out(args: &[&str], timeout: &str) {
    let out = gilbench()
        .arg("scenario")
        .args(args)
        .args([
            "--timeout",
            timeout,
            "--runs",
            "1",
            "--quiet",
            "--no-calibrate",
        ])
        .timeout(BOUND)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} --timeout {timeout}: expected a timeout, got {:?}: {stderr}",
        out.status
    );
    assert!(stderr.contains("timed out after"), "{args:?}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed a report");
}

#[test]
fn every_model_honours_the_timeout() {
    let _x = exclusive();
    for model in [
        "sequential",
        "gil",
        "gil-3.9",
        "gil-legacy",
        "threads",
        "processes",
        "manager",
    ] {
        times_out(&["cpu-bound", "--model", model, "--ops", "200"], "1ns");
        assert_nothing_left(model);
    }
}

#[test]
fn every_workload_honours_the_timeout() {
    let _x = exclusive();
    for scenario in [
        "cpu-bound",
        "io-bound",
        "convoy",
        "shared-counter",
        "queue",
        "refcount",
        "fork-cow",
        "alloc",
        "gc-pause",
    ] {
        times_out(&[scenario], "1ns");
        assert_nothing_left(scenario);
    }
}

#[test]
fn sequential_stops_a_long_duration_at_the_timeout() {
    let _x = exclusive();
    times_out(
        &[
            "cpu-bound",
            "--model",
            "sequential",
            "--duration",
            "1000000m",
        ],
        "1s",
    );
}

#[test]
fn sequential_stops_a_huge_op_count_at_the_timeout() {
    let _x = exclusive();
    times_out(
        &[
            "cpu-bound",
            "--model",
            "sequential",
            "--ops",
            "2000000000000",
        ],
        "1s",
    );
}

#[test]
fn the_default_models_stop_a_huge_duration_at_the_timeout() {
    let _x = exclusive();
    times_out(&["cpu-bound", "--duration", "1000000m"], "1s");
    assert_nothing_left("cpu-bound --duration 1000000m");
}

#[test]
fn fork_cow_stops_building_and_copying_a_large_heap_at_the_timeout() {
    let _x = exclusive();
    for model in ["threads", "processes"] {
        times_out(
            &["fork-cow", "--model", model, "--set", "heap_mib=512"],
            "200ms",
        );
        assert_nothing_left(model);
    }
}

#[test]
fn fork_cow_times_out_while_copying_to_a_child_that_stopped_reading() {
    let _x = exclusive();
    let child = common::deep_copy_with_a_stopped_child(&["--timeout", "10s"]);
    let (status, stderr) =
        background::finish(child, String::new(), "fork-cow deep-copy, 10 s timeout");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out after 10s"), "{stderr}");
    assert_nothing_left("fork-cow deep-copy timeout");
}
