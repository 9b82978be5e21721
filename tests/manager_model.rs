//! The `manager` model through the real binary: lost updates by `sync` mode, the
//! queue, every start method, the report's manager fields — and faults: the server
//! killed mid-run, a worker killed mid-request, Ctrl-C, a timeout, with nothing left
//! behind (processes, socket file, directory).
//!
//! As in `tests/processes.rs`, this test process is a child subreaper, so anything
//! gilbench leaves running becomes our child; tests hold `common::exclusive()`, so our
//! children are only ever the run under test.

mod common;

use common::{assert_nothing_left, children_of, json, output, run};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn counter(row: &serde_json::Value) -> (u64, u64, u64) {
    let c = &row["counter"];
    (
        c["expected"].as_u64().unwrap(),
        c["observed"].as_u64().unwrap(),
        c["lost"].as_u64().unwrap(),
    )
}

#[test]
fn lock_and_atomic_lose_nothing_and_get_then_set_loses_updates() {
    let _exclusive = common::exclusive();
    for sync in ["lock", "atomic"] {
        let report = json(&[
            "scenario",
            "shared-counter",
            "--model",
            "manager",
            "--ops",
            "1500",
            "--set",
            &format!("sync={sync}"),
        ]);
        let row = run(&report, "manager");
        assert_eq!(counter(row), (3000, 3000, 0), "sync={sync}");
        let requests = row["manager"]["requests"].as_u64().unwrap();
        let per_op = if sync == "lock" { 4 } else { 1 };
        assert!(
            requests >= 3000 * per_op,
            "sync={sync}: {requests} requests"
        );
    }
    // Two round trips between the read and the write: with two workers at it,
    // some increments are lost (the odds of none in 2 x 5000 are nil).
    let report = json(&[
        "scenario",
        "shared-counter",
        "--model",
        "manager",
        "--ops",
        "5000",
        "--set",
        "sync=none",
    ]);
    let (expected, observed, lost) = counter(run(&report, "manager"));
    assert_eq!(expected, 10_000);
    assert!(
        lost > 0 && observed < expected,
        "sync=none lost nothing: {observed}"
    );
    assert_nothing_left("shared-counter");
}

#[test]
fn the_report_has_the_servers_startup_and_gil() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "shared-counter",
        "--model",
        "manager",
        "--ops",
        "500",
        "--set",
        "sync=atomic",
    ]);
    let row = run(&report, "manager");
    let manager = &row["manager"];
    let startup = manager["startup_ns"].as_u64().unwrap();
    assert!(startup > 0 && startup < 5_000_000_000, "{startup}");
    assert_eq!(manager["gil"], "on");
    // Two workers, the start-up probe and the parent reading the counter.
    assert!(manager["authenticated"].as_u64().unwrap() >= 3, "{manager}");
    assert_eq!(manager["refused"], 0);
    assert!(
        row["gil"]["acquisitions"].as_u64().unwrap() >= 1000,
        "{row}"
    );
    assert!(row["startup_ns"].as_u64().is_some());
    assert_eq!(report["config"]["manager_gil"], true);

    let report = json(&[
        "scenario",
        "shared-counter",
        "--model",
        "manager",
        "--ops",
        "500",
        "--set",
        "sync=atomic",
        "--manager-gil",
        "off",
    ]);
    let row = run(&report, "manager");
    assert!(row["gil"].is_null(), "no GIL in the server: {row}");
    assert_eq!(row["manager"]["gil"], "off");
    assert_eq!(counter(row).2, 0);
    assert_nothing_left("report");
}

#[test]
fn every_start_method_finds_the_manager() {
    let _exclusive = common::exclusive();
    for method in ["fork", "spawn", "forkserver"] {
        let report = json(&[
            "scenario",
            "shared-counter",
            "--model",
            "manager",
            "--ops",
            "300",
            "--set",
            "sync=atomic",
            "--start-method",
            method,
        ]);
        assert_eq!(counter(run(&report, "manager")), (600, 600, 0), "{method}");
        assert_nothing_left(method);
    }
}

#[test]
fn queue_hands_every_item_through_the_manager() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "queue",
        "--model",
        "manager",
        "--ops",
        "1000",
        "--set",
        "producers=2",
        "--set",
        "consumers=2",
    ]);
    let row = run(&report, "manager");
    assert_eq!(row["ops"], 2000, "every item arrived once: {row}");
    assert_eq!(row["items_left"], 0);
    assert!(row["latency_ns"]["p50"].as_u64().unwrap() > 0);
    let report = json(&[
        "scenario",
        "queue",
        "--model",
        "manager",
        "--duration",
        "300ms",
    ]);
    assert!(run(&report, "manager")["ops"].as_u64().unwrap() > 0);
    // A bounded queue (`Manager().Queue(4)`): producers wait for room, and a run
    // for a duration still ends though producers may be waiting when time is up.
    let report = json(&[
        "scenario",
        "queue",
        "--model",
        "manager",
        "--ops",
        "500",
        "--set",
        "maxsize=4",
        "--set",
        "producers=2",
    ]);
    assert_eq!(run(&report, "manager")["ops"], 1000);
    let report = json(&[
        "scenario",
        "queue",
        "--model",
        "manager",
        "--duration",
        "300ms",
        "--set",
        "maxsize=4",
        "--set",
        "producers=3",
    ]);
    assert!(run(&report, "manager")["ops"].as_u64().unwrap() > 0);
    assert_nothing_left("queue");
}

/// Starts a long `manager` run in the background.
fn start_long_run(extra: &[&str]) -> Child {
    common::gilbench_process()
        .args([
            "scenario",
            "shared-counter",
            "--model",
            "manager",
            "--duration",
            "20s",
            "--quiet",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gilbench starts")
}

fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|c| c.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the run's server serves the workers; returns (server, workers).
fn server_and_workers(run: &Child, workers: usize) -> (u32, Vec<u32>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let children = children_of(run.id()).0;
        let (servers, others): (Vec<u32>, Vec<u32>) = children
            .into_iter()
            .partition(|&p| thread_names(p).iter().any(|n| n == "mgr-conn"));
        let serving = servers.first().map_or(0, |&s| {
            thread_names(s).iter().filter(|n| *n == "mgr-conn").count()
        });
        if servers.len() == 1 && others.len() == workers && serving >= workers {
            // Let them get going.
            std::thread::sleep(Duration::from_millis(200));
            return (servers[0], others);
        }
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn finish(run: Child) -> (Option<i32>, String) {
    let start = Instant::now();
    let out = run.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "took too long to stop"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_server_killed_mid_run_is_one_clear_line_and_exit_1() {
    let _exclusive = common::exclusive();
    let run = start_long_run(&["--set", "sync=lock"]);
    let (server, _) = server_and_workers(&run, 2);
    kill(Pid::from_raw(server as i32), Signal::SIGKILL).unwrap();
    let (code, stderr) = finish(run);
    assert_eq!(code, Some(1), "{stderr}");
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("manager server process was killed by SIGKILL mid-run"),
        "{stderr}"
    );
    assert_nothing_left("server killed");
}

#[test]
fn a_worker_killed_mid_request_fails_the_run_and_the_rest_are_reaped() {
    let _exclusive = common::exclusive();
    let run = start_long_run(&["--set", "sync=lock", "--workers", "3"]);
    let (_, workers) = server_and_workers(&run, 3);
    kill(Pid::from_raw(workers[0] as i32), Signal::SIGKILL).unwrap();
    let (code, stderr) = finish(run);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("SIGKILL"), "names the signal: {stderr}");
    assert!(
        !stderr.contains("manager server process"),
        "the server survived: {stderr}"
    );
    assert_nothing_left("worker killed");
}

#[test]
fn ctrl_c_and_a_timeout_leave_nothing_behind() {
    let _exclusive = common::exclusive();
    let run = start_long_run(&[]);
    let (server, workers) = server_and_workers(&run, 2);
    // Ctrl-C reaches the whole foreground process group.
    for pid in [run.id(), server].into_iter().chain(workers) {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGINT);
    }
    let (code, stderr) = finish(run);
    assert_eq!(code, Some(130), "{stderr}");
    assert_nothing_left("ctrl-c");

    let out = output(&[
        "scenario",
        "shared-counter",
        "--model",
        "manager",
        "--ops",
        "100000000",
        "--timeout",
        "500ms",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out"));
    assert_nothing_left("timeout");
}

#[test]
fn gilbench_killed_outright_takes_the_server_and_its_directory_with_it() {
    let _exclusive = common::exclusive();
    let mut run = start_long_run(&[]);
    let (server, _) = server_and_workers(&run, 2);
    run.kill().unwrap();
    run.wait().unwrap();
    // The server notices (death signal, or re-parenting to us) and cleans up.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(format!("/proc/{server}")).is_ok() && Instant::now() < deadline {
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(server as i32),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_nothing_left("gilbench killed");
}
