//! Ctrl-C, SIGTERM and `--timeout` stop the models that run their workers inside
//! gilbench's own process — `asyncio` (one event loop), `sequential`, and the
//! threaded ones (`gil`, `gil-3.9`, `gil-legacy`, `threads`, `subinterpreters`) —
//! the way they stop the forked ones: "interrupted" and exit 130, or one "timed
//! out" line and exit 1, nothing left behind. A worker that never blocks
//! (cpu-bound), one asleep (io-bound) and one waiting for its socket beside the
//! hogs (convoy) are each stopped.
//!
//! A signal is sent only once the run has caught it (`SigCgt` in
//! `/proc/PID/status`), so no test depends on how fast the machine gets there.
//! (Cases for the other models live in tests/interrupts.rs and tests/timeouts.rs.)

mod common;

use common::{assert_nothing_left, exclusive, gilbench, gilbench_process};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// How long a run may take to get going, or to stop once told.
const BOUND: Duration = Duration::from_secs(60);

/// Work no run finishes within [`BOUND`].
const ENDLESS: &[(&str, &[&str])] = &[
    ("cpu-bound", &["--ops", "2000000000"]),
    ("io-bound", &["--duration", "100000s"]),
    ("convoy", &["--duration", "100000s"]),
];

/// Whether process `pid` catches SIGINT (its `SigCgt` mask).
fn catches_sigint(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (Signal::SIGINT as i32 - 1)) != 0)
}

fn start(args: &[&str]) -> Child {
    gilbench_process()
        .arg("scenario")
        .args(args)
        .args(["--runs", "1", "--quiet", "--no-calibrate"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gilbench starts")
}

/// Waits (bounded) for `child` to end; its exit status and stderr.
fn finish(mut child: Child, what: &str) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// Starts `scenario ARGS`, waits until it catches SIGINT, sends `signal`.
fn interrupt(args: &[&str], signal: Signal) {
    let what = format!("{args:?} {signal}");
    let child = start(args);
    let deadline = Instant::now() + BOUND;
    while !catches_sigint(child.id()) {
        assert!(Instant::now() < deadline, "{what}: never caught SIGINT");
        std::thread::sleep(Duration::from_millis(2));
    }
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let (status, stderr) = finish(child, &what);
    assert_eq!(status.code(), Some(130), "{what}: {status:?}: {stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert_eq!(last, "Error: interrupted", "{what}: {stderr}");
    assert_nothing_left(&what);
}

#[test]
fn asyncio_stops_on_sigint_and_sigterm() {
    let _x = exclusive();
    for (scenario, work) in ENDLESS {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let mut args = vec![*scenario, "--model", "asyncio"];
            args.extend_from_slice(work);
            interrupt(&args, signal);
        }
    }
    // Producer and consumer parking on each other's futures, round after round.
    let queue = [
        "queue",
        "--model",
        "asyncio",
        "--ops",
        "2000000000",
        "--set",
        "maxsize=16",
    ];
    interrupt(&queue, Signal::SIGINT);
}

#[test]
fn sequential_stops_on_sigint_and_sigterm() {
    let _x = exclusive();
    for (scenario, work) in ENDLESS {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let mut args = vec![*scenario, "--model", "sequential"];
            args.extend_from_slice(work);
            interrupt(&args, signal);
        }
    }
}

#[test]
fn threaded_models_stop_on_sigint_and_sigterm() {
    let _x = exclusive();
    for model in ["gil", "gil-3.9", "gil-legacy", "threads", "subinterpreters"] {
        for (scenario, work) in ENDLESS {
            for signal in [Signal::SIGINT, Signal::SIGTERM] {
                let mut args = vec![*scenario, "--model", model];
                args.extend_from_slice(work);
                interrupt(&args, signal);
            }
        }
    }
}

#[test]
fn asyncio_stops_at_the_timeout_in_every_scenario_it_fits() {
    let _x = exclusive();
    let mut cases: Vec<Vec<&str>> = ENDLESS
        .iter()
        .map(|(scenario, work)| {
            let mut args = vec![*scenario];
            args.extend_from_slice(work);
            args
        })
        .collect();
    cases.push(vec!["queue", "--ops", "2000000000", "--set", "maxsize=16"]);
    cases.push(vec![
        "shared-counter",
        "--set",
        "sync=none-await",
        "--ops",
        "2000000000",
    ]);
    for case in &cases {
        for timeout in ["1ns", "1s"] {
            let mut args = vec!["scenario"];
            args.extend_from_slice(case);
            args.extend_from_slice(&["--model", "asyncio", "--timeout", timeout]);
            args.extend_from_slice(&["--runs", "1", "--quiet", "--no-calibrate"]);
            let out = gilbench().args(&args).timeout(BOUND).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.contains("asyncio: timed out after"),
                "{args:?}: {stderr}"
            );
            assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{args:?} printed a report");
            assert_nothing_left(&format!("{args:?}"));
        }
    }
}
