//! Helpers shared by the CLI tests: run the real binary, read its JSON
//! ([`gilbench`], [`json`], [`run`]), keep tests that must not overlap apart
//! ([`exclusive`]), check that nothing was left behind
//! ([`assert_nothing_left`]), and signal or kill a run mid-way ([`background`]).
//!
//! Each test binary compiles its own copy of this module (`mod common;`), so
//! nothing here may rely on being shared in memory between binaries: the one lock
//! that must hold across them is a file lock.
#![allow(dead_code, unused_imports)]

pub mod background;
mod exclusive;
mod leftovers;
mod stub;

pub use exclusive::{exclusive, private_tmp, Exclusive};
pub use leftovers::{assert_nothing_left, children_of, gilbench_processes, shm_leftovers, Me};
pub use stub::{stub_python, StubRun};

pub mod fidelity;

use assert_cmd::Command;
use std::process::Output;
use std::time::Duration;

/// How long any one gilbench run in a test may take: no test may hang.
pub const LIMIT: Duration = Duration::from_secs(120);

/// A small `cpu-bound` scenario (three ops of 2000 ticks per worker): enough to
/// produce every field, quick on a busy machine.
pub const SMALL_CPU: &[&str] = &[
    "scenario",
    "cpu-bound",
    "--ops",
    "3",
    "--set",
    "ticks_per_op=2000",
];

/// `base` followed by `more`.
pub fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

/// Whether `python3` on the PATH is at least 3.7 (what the asyncio and queue twins
/// need); says "skipped" on stderr when it is not, for the test to return.
pub fn python3_is_3_7_or_later() -> bool {
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; sys.exit(sys.version_info < (3, 7))"])
        .status();
    let ok = python.is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: no python3 ≥ 3.7 on PATH");
    }
    ok
}

/// A `gilbench` command, without colour, its `$TMPDIR` the test's private one
/// while the test holds [`exclusive`] (where [`assert_nothing_left`] looks).
pub fn gilbench() -> Command {
    Command::from_std(gilbench_process())
}

/// [`gilbench`] as a `std` command, for a run the test starts in the background
/// (to signal or kill it).
pub fn gilbench_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("gilbench"));
    cmd.env("NO_COLOR", "1");
    if let Some(tmp) = private_tmp() {
        cmd.env("TMPDIR", tmp);
    }
    cmd
}

/// Runs `gilbench ARGS` to the end (within [`LIMIT`]), whatever its exit code.
pub fn output(args: &[&str]) -> Output {
    gilbench()
        .args(args)
        .timeout(LIMIT)
        .output()
        .expect("gilbench runs")
}

/// [`output`], asserting that gilbench succeeded.
pub fn ok(args: &[&str]) -> Output {
    let out = output(args);
    assert!(
        out.status.success(),
        "gilbench {args:?} failed ({:?}):\n{}",
        out.status,
        stderr(&out)
    );
    out
}

/// A run's standard output, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run's standard error, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `gilbench ARGS --format json --quiet`, asserts success, returns the JSON.
/// A `scenario` without `--runs` runs each model once (`--runs 1`): the default
/// (3 to 10 runs) would multiply the suite's time on a shared machine, and a test
/// that wants repeats says so.
pub fn json(args: &[&str]) -> serde_json::Value {
    let repeated = matches!(args.first(), Some(&"scenario" | &"ctxswitch"));
    let once: &[&str] = if repeated && !args.contains(&"--runs") {
        &["--runs", "1"]
    } else {
        &[]
    };
    let out = ok(&with(&with(args, once), &["--format", "json", "--quiet"]));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gilbench {args:?}: not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The run of `model` in a scenario report.
pub fn run<'a>(report: &'a serde_json::Value, model: &str) -> &'a serde_json::Value {
    report["runs"]
        .as_array()
        .expect("runs is an array")
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no run for {model} in {report}"))
}

/// The field names of `model`'s run, sorted: two models' rows have the same
/// shape when these are equal.
pub fn row_keys(report: &serde_json::Value, model: &str) -> Vec<String> {
    let mut keys: Vec<String> = run(report, model)
        .as_object()
        .expect("a run is an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Runs gilbench with `args`, expects exit code 2 and a single error line
/// containing every one of `needles`; returns stderr.
pub fn bad_input(args: &[&str], needles: &[&str]) -> String {
    let out = gilbench()
        .args(args)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{args:?}: one line: {stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
    }
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed a report on bad input"
    );
    stderr.into_owned()
}

/// Starts a `deep-copy` run and stops its child (SIGSTOP) as soon as it exists,
/// so the parent's write of the heap into the socket blocks for good.
pub fn deep_copy_with_a_stopped_child(extra: &[&str]) -> std::process::Child {
    let mut args = vec![
        "scenario",
        "fork-cow",
        "--model",
        "processes",
        "--set",
        "heap_mib=256",
        "--set",
        "variant=deep-copy",
        "--set",
        "repeat=100",
        "--runs",
        "1",
        "--quiet",
        "--no-calibrate",
    ];
    args.extend(extra);
    let mut child = background::start(&args);
    // The child may have finished already (a fast machine): gilbench then forks
    // the next repeat's, and the test stops that one.
    let pid = child.id();
    let stopped = background::wait_for(&mut child, "fork-cow forking", || {
        children_of(pid).0.iter().next().is_some_and(|&kid| {
            let kid = nix::unistd::Pid::from_raw(kid as i32);
            nix::sys::signal::kill(kid, nix::sys::signal::Signal::SIGSTOP).is_ok()
        })
    });
    assert!(stopped, "fork-cow ended before it forked");
    child
}
