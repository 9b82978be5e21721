//! The `processes` model through the real binary: every start method, the shared
//! memory scenarios, the `queue` scenario under every model, and the promise that
//! nothing is left behind — not on success, a crash, a timeout, Ctrl-C or a failed
//! fork.
//!
//! Leftover checks: this test process makes itself a child subreaper, so any
//! process gilbench leaves behind (even an orphaned grandchild) becomes *our*
//! child; after each run there must be none, zombie or not, and nothing of
//! gilbench's in /dev/shm. The tests hold `common::exclusive()` so that "our
//! children" are only ever the run under test.

mod common;

use common::{assert_nothing_left, children_of, gilbench, json, run, stderr};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const METHODS: [&str; 3] = ["fork", "spawn", "forkserver"];

/// Runs gilbench with a generous time limit (no test may hang).
fn run_gilbench(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = gilbench();
    cmd.args(args)
        .arg("--quiet")
        .timeout(Duration::from_secs(120));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("gilbench runs")
}

/// Error lines on stderr (a panicking worker also prints its panic message).
fn error_lines(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("Error:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_start_method_runs_and_reports_startup_apart() {
    let _exclusive = common::exclusive();
    for method in METHODS {
        let report = json(&[
            "scenario",
            "cpu-bound",
            "--model",
            "processes",
            "--ops",
            "3",
            "--set",
            "ticks_per_op=20000",
            "--start-method",
            method,
        ]);
        let row = run(&report, "processes");
        assert_eq!(row["workers"], 2, "{method}: {row}");
        assert_eq!(row["ops"], 6, "{method}: {row}");
        assert_eq!(row["latency_ns"]["count"], 6, "{method}: {row}");
        assert!(row["startup_ns"].as_u64().unwrap() > 0, "{method}: {row}");
        assert!(row["wall_ns"].as_u64().unwrap() > 0, "{method}: {row}");
        // Each process has its own, uncontended GIL.
        let gil = &row["gil"];
        assert_eq!(gil["drop_requests"], 0, "{method}: {row}");
        let held = gil["hold_fraction"].as_f64().unwrap();
        assert!(held > 0.0 && held <= 1.05, "{method}: hold_fraction {held}");
        // The workers' CPU time is counted (from RUSAGE_CHILDREN). A millisecond of
        // work may all be charged to system time by tick-based accounting, so
        // look at the sum.
        let cpu = row["cpu_user_ns"].as_u64().unwrap() + row["cpu_sys_ns"].as_u64().unwrap();
        assert!(cpu > 0, "{method}: {row}");
        assert_eq!(report["config"]["start_method"], method);
        assert_nothing_left(method);
    }
}

#[test]
fn rows_have_the_same_shape_as_the_threads_rows() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "shared-counter",
        "--model",
        "threads,processes",
        "--ops",
        "1000",
    ]);
    assert_eq!(
        common::row_keys(&report, "threads"),
        common::row_keys(&report, "processes")
    );
    assert!(run(&report, "threads")["startup_ns"].is_null());
    assert_nothing_left("shape");
}

#[test]
fn shared_memory_lock_and_atomic_lose_nothing_across_processes() {
    let _exclusive = common::exclusive();
    for method in METHODS {
        for sync in ["lock", "atomic"] {
            let report = json(&[
                "scenario",
                "shared-counter",
                "--model",
                "processes",
                "--workers",
                "3",
                "--ops",
                "30000",
                "--set",
                &format!("sync={sync}"),
                "--start-method",
                method,
            ]);
            let counter = &run(&report, "processes")["counter"];
            assert_eq!(counter["expected"], 90_000, "{method} {sync}: {counter}");
            assert_eq!(counter["observed"], 90_000, "{method} {sync}: {counter}");
            assert_eq!(counter["lost"], 0, "{method} {sync}: {counter}");
        }
        assert_nothing_left(method);
    }
}

#[test]
fn queue_hands_over_every_item_under_every_model() {
    let _exclusive = common::exclusive();
    for maxsize in ["0", "4"] {
        let report = json(&[
            "scenario",
            "queue",
            "--model",
            "gil,gil-legacy,threads,processes",
            "--ops",
            "3000",
            "--set",
            "producers=2",
            "--set",
            "consumers=3",
            "--set",
            &format!("maxsize={maxsize}"),
        ]);
        for model in ["gil", "gil-legacy", "threads", "processes"] {
            let row = run(&report, model);
            assert_eq!(row["workers"], 5, "{model}: {row}");
            assert_eq!(row["ops"], 6000, "{model} maxsize={maxsize}: {row}");
            assert_eq!(row["latency_ns"]["count"], 6000, "{model}: {row}");
            assert_eq!(row["items_left"], 0, "{model}: {row}");
            assert_eq!(row["producers"], 2, "{model}: {row}");
            assert!(row["speedup"].is_null(), "no sequential baseline");
        }
    }
    for method in ["spawn", "forkserver"] {
        let report = json(&[
            "scenario",
            "queue",
            "--model",
            "processes",
            "--ops",
            "2000",
            "--start-method",
            method,
        ]);
        assert_eq!(run(&report, "processes")["ops"], 2000, "{method}");
    }
    assert_nothing_left("queue");
}

#[test]
fn queue_runs_for_a_duration_too() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "queue",
        "--model",
        "gil,threads,processes",
        "--duration",
        "150ms",
        "--set",
        "consumers=2",
        "--set",
        "maxsize=8",
    ]);
    for model in ["gil", "threads", "processes"] {
        let row = run(&report, model);
        assert!(row["ops"].as_u64().unwrap() > 0, "{model}: {row}");
        let wall = row["wall_ns"].as_u64().unwrap();
        assert!(wall < 5_000_000_000, "{model}: stopped late: {row}");
    }
    assert_nothing_left("queue duration");
}

#[test]
fn queue_has_no_sequential_baseline() {
    let _exclusive = common::exclusive();
    let out = run_gilbench(&["scenario", "queue", "--model", "sequential"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("--model") && lines[0].contains("sequential"),
        "{lines:?}"
    );
}

#[test]
fn io_bound_and_convoy_run_under_processes() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "io-bound",
        "--model",
        "processes",
        "--ops",
        "20",
        "--set",
        "io_wait=1ms",
    ]);
    let row = run(&report, "processes");
    assert_eq!(row["ops"], 80);
    // Four workers block 20 x 1 ms each, in parallel: well under 4 x 20 ms.
    assert!(
        row["latency_ns"]["p50"].as_u64().unwrap() >= 1_000_000,
        "{row}"
    );
    for method in METHODS {
        let report = json(&[
            "scenario",
            "convoy",
            "--model",
            "processes",
            "--ops",
            "50",
            "--start-method",
            method,
        ]);
        let row = run(&report, "processes");
        assert_eq!(row["ops"], 50, "{method}: {row}");
        assert_eq!(row["workers"], 2, "{method}: {row}");
        assert!(row["total_ops"].as_u64().unwrap() >= 50, "{method}: {row}");
    }
    assert_nothing_left("io-bound, convoy");
}

#[test]
fn a_crashed_worker_is_named_with_its_signal_and_the_rest_are_reaped() {
    let _exclusive = common::exclusive();
    let cases = [
        ("1:kill", "killed by signal 9 (SIGKILL)"),
        ("1:abort", "killed by signal 6 (SIGABRT)"),
        (
            "0:panic",
            "panicked: GILBENCH_TEST_FAULT: injected panic in worker 0",
        ),
        ("1:exit", "exited with code 3 before reporting"),
    ];
    for method in METHODS {
        for (fault, expected) in cases {
            let out = run_gilbench(
                &[
                    "scenario",
                    "cpu-bound",
                    "--model",
                    "processes",
                    "--workers",
                    "3",
                    "--ops",
                    "100000",
                    "--start-method",
                    method,
                ],
                &[("GILBENCH_TEST_FAULT", fault)],
            );
            let what = format!("{method} {fault}");
            assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
            let lines = error_lines(&out);
            assert_eq!(lines.len(), 1, "{what}: {lines:?}");
            let index = &fault[..1];
            assert!(
                lines[0].contains(&format!("worker {index} failed")) && lines[0].contains(expected),
                "{what}: {lines:?}"
            );
            assert_nothing_left(&what);
        }
    }
}

#[test]
fn a_timeout_stops_and_reaps_the_stragglers() {
    let _exclusive = common::exclusive();
    for method in METHODS {
        // Plain stragglers: they die of SIGTERM.
        let started = Instant::now();
        let out = run_gilbench(
            &[
                "scenario",
                "cpu-bound",
                "--model",
                "processes",
                "--ops",
                "1000000",
                "--timeout",
                "300ms",
                "--start-method",
                method,
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{method}: {}", stderr(&out));
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("timed out after 300ms")
                && lines[0].contains("workers still running: 2 (0-1)"),
            "{method}: {lines:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{method}: slow"
        );
        assert_nothing_left(&format!("{method} timeout"));

        // A straggler that blocks SIGTERM: it takes a SIGKILL.
        let out = run_gilbench(
            &[
                "scenario",
                "cpu-bound",
                "--model",
                "processes",
                "--ops",
                "1000000",
                "--timeout",
                "200ms",
                "--start-method",
                method,
            ],
            &[("GILBENCH_TEST_FAULT", "1:hang")],
        );
        assert_eq!(out.status.code(), Some(1), "{method}: {}", stderr(&out));
        assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
        assert_nothing_left(&format!("{method} hang"));
    }
}

/// Every process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        let (children, _) = children_of(p);
        frontier.extend(&children);
        found.extend(children);
    }
    found
}

#[test]
fn sigint_or_sigterm_mid_run_kills_reaps_and_exits_130() {
    let _exclusive = common::exclusive();
    for method in METHODS {
        for signal in [
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::Signal::SIGTERM,
        ] {
            let child = common::gilbench_process()
                .args([
                    "scenario",
                    "cpu-bound",
                    "--model",
                    "processes",
                    "--workers",
                    "3",
                    "--ops",
                    "1000000",
                    "--quiet",
                    "--start-method",
                    method,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("gilbench starts");
            // Wait until the three workers run (under forkserver they are grandchildren).
            let deadline = Instant::now() + Duration::from_secs(20);
            let workers = |pid| {
                descendants(pid)
                    .into_iter()
                    .filter(|d| {
                        std::fs::read_to_string(format!("/proc/{d}/cmdline"))
                            .is_ok_and(|c| !c.is_empty())
                    })
                    .count()
            };
            let expected = if method == "forkserver" { 4 } else { 3 };
            while workers(child.id()) < expected && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(100));
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
            let out = child.wait_with_output().unwrap();
            let what = format!("{method} {signal}");
            assert_eq!(out.status.code(), Some(130), "{what}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("interrupted"),
                "{what}: {}",
                stderr(&out)
            );
            assert_nothing_left(&what);
        }
    }
}

#[test]
fn a_failed_fork_is_one_clear_line_and_the_started_workers_are_reaped() {
    let _exclusive = common::exclusive();
    let bin = assert_cmd::cargo::cargo_bin("gilbench");
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let root = nix::unistd::geteuid().is_root();
    for method in METHODS {
        // RLIMIT_NPROC binds neither root nor the user's other processes' count
        // predictably, so as root run gilbench as `nobody`, which has no other
        // processes: a limit of 3 leaves room for gilbench and one or two workers
        // (the fork server counts too). Otherwise, a limit of 1 fails the first fork.
        let limit = if root { "--nproc=3" } else { "--nproc=1" };
        let mut cmd = Command::new("prlimit");
        cmd.args([limit, "--"]).arg(&bin).args([
            "scenario",
            "cpu-bound",
            "--model",
            "processes",
            "--workers",
            "4",
            "--ops",
            "5",
            "--quiet",
            // The calibration's threads count toward RLIMIT_NPROC too; this test
            // is about forking workers.
            "--no-calibrate",
            "--start-method",
            method,
        ]);
        if root {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534);
        }
        let out = cmd.output().expect("prlimit runs");
        let what = format!("{method} fork failure");
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
        let lines: Vec<_> = stderr(&out).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        assert!(
            // With forkserver the first fork to fail may be the server's own.
            (lines[0].starts_with("Error: processes: starting worker")
                || lines[0].starts_with("Error: processes: starting the fork server"))
                && lines[0].contains(method)
                && lines[0].contains("RLIMIT_NPROC (`ulimit -u`) allows")
                && lines[0].contains("Resource temporarily unavailable"),
            "{what}: {lines:?}"
        );
        assert_nothing_left(&what);
    }
}

#[test]
fn two_hundred_fifty_six_workers_complete_and_are_all_reaped() {
    let _exclusive = common::exclusive();
    for method in METHODS {
        let report = json(&[
            "scenario",
            "cpu-bound",
            "--model",
            "processes",
            "--workers",
            "256",
            "--ops",
            "2",
            "--set",
            "ticks_per_op=1000",
            "--start-method",
            method,
        ]);
        let row = run(&report, "processes");
        assert_eq!(row["workers"], 256, "{method}");
        assert_eq!(row["ops"], 512, "{method}");
        assert_nothing_left(&format!("{method} x256"));
    }
}

#[test]
fn workers_die_with_a_gilbench_killed_outright() {
    let _exclusive = common::exclusive();
    for method in METHODS {
        let mut child = common::gilbench_process()
            .args([
                "scenario",
                "cpu-bound",
                "--model",
                "processes",
                "--ops",
                "1000000",
                "--quiet",
                "--start-method",
                method,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("GILBENCH_TEST_FAULT", "1:hang")
            .spawn()
            .expect("gilbench starts");
        let expected = if method == "forkserver" { 3 } else { 2 };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut below = descendants(child.id());
        while below.len() < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            below = descendants(child.id());
        }
        std::thread::sleep(Duration::from_millis(100));
        below = descendants(child.id());
        assert_eq!(below.len(), expected, "{method}: {below:?}");
        // No chance to clean up: SIGKILL. PR_SET_PDEATHSIG must take the workers
        // (and the fork server) down with it; as orphans they become our children.
        child.kill().unwrap();
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let alive = |pids: &[u32]| -> Vec<u32> {
            pids.iter()
                .copied()
                .filter(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                        !s.rsplit_once(')')
                            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
                    })
                })
                .collect()
        };
        while !alive(&below).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            alive(&below).is_empty(),
            "{method}: survived: {:?}",
            alive(&below)
        );
        // Reap the orphans (zombies re-parented to us, the subreaper).
        for pid in below {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        }
        assert_nothing_left(method);
    }
}

#[test]
fn a_fork_server_killed_mid_run_fails_the_run_and_leaves_nothing() {
    let _exclusive = common::exclusive();
    let child = common::gilbench_process()
        .args([
            "scenario",
            "cpu-bound",
            "--model",
            "processes",
            "--ops",
            "1000000",
            "--quiet",
            "--start-method",
            "forkserver",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gilbench starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while descendants(child.id()).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let (servers, _) = children_of(child.id());
    assert_eq!(servers.len(), 1, "one fork server: {servers:?}");
    let server = *servers.iter().next().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("failed"), "{lines:?}");
    assert_nothing_left("fork server killed");
}

#[test]
fn fork_cow_leaves_no_process_behind() {
    let _exclusive = common::exclusive();
    let report = json(&[
        "scenario",
        "fork-cow",
        "--model",
        "processes",
        "--set",
        "heap_mib=16",
        "--set",
        "repeat=2",
    ]);
    assert_eq!(report["runs"].as_array().unwrap().len(), 7);
    assert_nothing_left("fork-cow");
}
