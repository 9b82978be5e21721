//! Limits gilbench cannot meet: one line naming the limit, exit 1, everything it
//! started stopped and reaped — never a panic. Here: threads refused under
//! RLIMIT_NPROC, which counts every thread and process of the real user.
//!
//! The limit binds predictably only for a user with no other processes, so as
//! root each run is `nobody`'s (`setpriv`); as anyone else the test says why it
//! skips.

mod common;

use common::background;
use common::{assert_nothing_left, exclusive};
use std::process::{Command, Output};
use std::time::Duration;

/// gilbench as `nobody` under `prlimit --nproc=N` (root is not held to
/// RLIMIT_NPROC, so root's runs drop to `nobody` with `setpriv`), or `None`
/// (with the reason printed) where that cannot be arranged.
fn as_nobody_with_nproc(nproc: u32, args: &[&str]) -> Option<Output> {
    let wrapper = nobody_with_nproc(nproc)?;
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let mut cmd = wrapped(&wrapper);
    cmd.args(args)
        .arg("--quiet")
        // `nobody` cannot enter the test's private temporary directory.
        .env("TMPDIR", "/tmp")
        .current_dir("/tmp");
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(Duration::from_secs(120));
    Some(cmd.output().unwrap())
}

/// The command line that runs a program as `nobody` under `prlimit --nproc=N`
/// (root is not held to RLIMIT_NPROC), or `None` (with the reason printed)
/// where that cannot be arranged.
fn nobody_with_nproc(nproc: u32) -> Option<Vec<String>> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run as nobody under RLIMIT_NPROC");
        return None;
    }
    for tool in ["prlimit", "setpriv"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("skipped: {tool} (util-linux) is not installed");
            return None;
        }
    }
    let wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "prlimit",
        &format!("--nproc={nproc}"),
        "--",
    ];
    Some(wrapper.map(String::from).to_vec())
}

#[test]
fn a_refused_thread_is_one_line_naming_the_limit() {
    let _x = exclusive();
    let gc_pause = [&["scenario"], GC_PAUSE].concat();
    let cases: &[(u32, &[&str])] = &[
        (
            50,
            &[
                "scenario",
                "cpu-bound",
                "--model",
                "threads",
                "--workers",
                "100",
                "--ops",
                "5",
            ],
        ),
        (
            1,
            &["scenario", "cpu-bound", "--model", "gil", "--ops", "5"],
        ),
        (
            1,
            &["scenario", "queue", "--model", "threads", "--ops", "5"],
        ),
        (
            1,
            &["scenario", "convoy", "--model", "gil-legacy", "--ops", "5"],
        ),
        (
            1,
            &[
                "scenario",
                "fork-cow",
                "--model",
                "threads",
                "--set",
                "heap_mib=8",
            ],
        ),
        // gilbench and two workers: the I/O worker's echo peer process is refused.
        (3, &gc_pause),
        // gilbench and the twin's interpreter: the thread that would read the
        // twin's output is the third.
        (
            2,
            &[
                "scenario",
                "cpu-bound",
                "--model",
                "sequential",
                "--ops",
                "2",
                "--cpython",
            ],
        ),
    ];
    for (nproc, args) in cases {
        let flags: &[&str] = &["--runs", "1", "--no-calibrate"];
        let Some(out) = as_nobody_with_nproc(*nproc, &[args, flags].concat()) else {
            return;
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("nproc={nproc} {args:?}");
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.contains("RLIMIT_NPROC") && stderr.contains(&format!("allows {nproc} ")),
            "{what}: {stderr}"
        );
        assert_nothing_left(&what);
    }
}

/// A CPython twin the OS refuses a process or a thread is the same limit as a
/// simulated model's refused thread — one line naming it, exit 1, nothing left —
/// not a failed twin row, not "python3 is not on the PATH", and never a twin
/// waiting forever for workers that did not start.
#[test]
fn a_twin_refused_a_process_or_thread_is_one_line_naming_the_limit() {
    let _x = exclusive();
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let cases: &[(u32, &[&str])] = &[
        // gilbench alone: the interpreter cannot even be started to identify it.
        (1, &["cpu-bound", "--model", "sequential", "--ops", "2"]),
        // The simulated threads fit (gilbench and 8 workers); the twin's do not
        // (gilbench, its two pipe readers, python and 8 workers).
        (
            10,
            &[
                "cpu-bound",
                "--model",
                "threads",
                "--workers",
                "8",
                "--ops",
                "2",
            ],
        ),
        // gilbench, its two pipe readers and python: the twin's echo peer
        // cannot be forked, then (one more) its I/O thread cannot start; the
        // twin says so in one line of its own (`_twin`).
        (4, GC_PAUSE),
        (5, GC_PAUSE),
        // The same four: the refcount sampler cannot start.
        (4, REFCOUNT),
        // The Manager twin: its server wants a thread per client, its workers a
        // process each; whichever the OS refuses first, the run ends.
        (
            16,
            &[
                "shared-counter",
                "--model",
                "manager",
                "--workers",
                "6",
                "--ops",
                "20",
                "--set",
                "sync=lock",
            ],
        ),
    ];
    for (nproc, args) in cases {
        let flags: &[&str] = &["--cpython", "--runs", "1", "--no-calibrate"];
        let Some(out) = as_nobody_with_nproc(*nproc, &[&["scenario"], *args, flags].concat())
        else {
            return;
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("nproc={nproc} {args:?} --cpython");
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.contains("RLIMIT_NPROC") && stderr.contains(&format!("allows {nproc} ")),
            "{what}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{what}: printed a report");
        assert_nothing_left(&what);
    }
}

/// The twins run by hand (`python3 scripts/X.py`) that the OS refuses a thread:
/// one line naming the thread and CPython's exception, exit 1, never a traceback
/// — and never a hang, with the threads already started waiting at a start line
/// (`thousand_threads.py`'s barrier) or on an Event (`refcount.py`'s sampler,
/// `convoy.py`'s spinners).
#[test]
fn a_twin_run_by_hand_refused_a_thread_is_one_line_not_a_traceback_or_a_hang() {
    let _x = exclusive();
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let Some(wrapper) = nobody_with_nproc(64) else {
        return;
    };
    // A copy `nobody` can read (the checkout may sit where it cannot), removed
    // when the test ends.
    let dir = scripts_for_nobody(&[
        "_twin.py",
        "convoy.py",
        "gc_pause.py",
        "refcount.py",
        "thousand_threads.py",
    ]);
    let version = Command::new(&wrapper[0])
        .args(&wrapper[1..])
        .args([
            "python3",
            "-c",
            "import sys; sys.exit(sys.version_info < (3, 7))",
        ])
        .current_dir("/tmp")
        .status();
    if !version.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no python3 ≥ 3.7 that nobody can run on the PATH");
        return;
    }
    const THREAD: &str = "can't start new thread";
    const FORK: &str = "[Errno 11] Resource temporarily unavailable";
    // (nproc, twin, its arguments, what its one line ends with)
    let cases: &[(u32, &str, &[&str], &str)] = &[
        // python alone: its echo peer cannot be forked.
        (1, "gc_pause.py", &GC_PAUSE[1..], FORK),
        // python and its echo peer: the I/O thread is refused.
        (2, "gc_pause.py", &GC_PAUSE[1..], THREAD),
        // The sampler is refused.
        (1, "refcount.py", &REFCOUNT[1..], THREAD),
        // The sampler and one worker start; the second worker is refused.
        (3, "refcount.py", &REFCOUNT[1..], THREAD),
        // python, its echo peer and one CPU spinner: the second spinner is
        // refused, and the first must see `stop` to be joined.
        (
            3,
            "convoy.py",
            &[
                "--model",
                "threads",
                "--set",
                "cpu_workers=2",
                "--set",
                "rounds=5",
            ],
            THREAD,
        ),
        // Four workers wait at the start line when the fifth is refused.
        (
            5,
            "thousand_threads.py",
            &["--workers", "20", "--ops", "1", "--ticks-per-op", "1000"],
            THREAD,
        ),
    ];
    for (nproc, script, args, ending) in cases {
        let wrapper = nobody_with_nproc(*nproc).expect("checked above");
        let mut cmd = assert_cmd::Command::new(&wrapper[0]);
        cmd.args(&wrapper[1..])
            .arg("python3")
            .arg(dir.path().join(script))
            .args(*args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("TMPDIR", "/tmp")
            .current_dir("/tmp")
            .timeout(Duration::from_secs(60));
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("nproc={nproc} {script} {args:?}");
        assert!(out.status.code().is_some(), "{what}: hung: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.trim_end().ends_with(ending),
            "{what}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{what}: printed a report");
        assert_nothing_left(&what);
    }
}

/// The `manager` model refused a process or a thread — the server's own process,
/// or the thread it gives a connection — is the same limit, named in one line
/// (the server tells the client why it closes), not a worker's broken pipe.
#[test]
fn a_manager_refused_a_process_or_thread_is_one_line_naming_the_limit() {
    let _x = exclusive();
    let run = [
        "scenario",
        "shared-counter",
        "--model",
        "manager",
        "--ops",
        "20",
        "--set",
        "sync=lock",
        "--runs",
        "1",
        "--no-calibrate",
    ];
    // 1: gilbench alone, the server's fork is refused. 2: gilbench and the
    // server, whose thread for the first connection (gilbench's own, timing
    // its start-up) is refused. 5: the second worker's connection thread or the
    // second worker itself, whichever the OS refuses first.
    for nproc in [1, 2, 5] {
        let Some(out) = as_nobody_with_nproc(nproc, &run) else {
            return;
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("manager under nproc={nproc}");
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.contains("RLIMIT_NPROC") && stderr.contains(&format!("allows {nproc} ")),
            "{what}: {stderr}"
        );
        if nproc == 2 {
            assert!(
                stderr.contains("manager server's thread for this connection"),
                "{what}: {stderr}"
            );
        }
        assert!(out.stdout.is_empty(), "{what}: printed a report");
        assert_nothing_left(&what);
    }
}

/// Small gc-pause and refcount runs: the scenario, then its twin's arguments.
const GC_PAUSE: &[&str] = &[
    "gc-pause",
    "--model",
    "threads",
    "--set",
    "objects=1000",
    "--ops",
    "5",
];
const REFCOUNT: &[&str] = &["refcount", "--model", "threads", "--ops", "100"];

/// `files` of scripts/, copied to a fresh directory under /tmp that anyone may
/// read (`nobody` runs them).
fn scripts_for_nobody(files: &[&str]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("gilbench-test-scripts-")
        .tempdir_in("/tmp")
        .unwrap();
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    for file in files {
        let to = dir.path().join(file);
        std::fs::copy(scripts.join(file), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn the_baseline_and_the_tour_need_no_thread_of_their_own() {
    let _x = exclusive();
    let Some(out) = as_nobody_with_nproc(
        1,
        &[
            "scenario",
            "cpu-bound",
            "--model",
            "sequential",
            "--duration",
            "0.1s",
            "--runs",
            "1",
            "--no-calibrate",
        ],
    ) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_left("sequential under nproc=1");
    // The tour runs on: the models that need a thread or a process say why they
    // could not run, and nothing panics.
    let Some(out) = as_nobody_with_nproc(1, &["tour"]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert_nothing_left("tour under nproc=1");
}

/// gilbench under `prlimit --as=BYTES` (address space), or `None` with the reason.
fn with_address_space(bytes: u64, args: &[&str]) -> Option<Output> {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return None;
    }
    let mut cmd = assert_cmd::Command::new("prlimit");
    cmd.arg(format!("--as={bytes}"))
        .arg("--")
        .arg(assert_cmd::cargo::cargo_bin("gilbench"))
        .args(args)
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(120));
    Some(cmd.output().unwrap())
}

#[test]
fn a_plan_larger_than_the_address_space_is_refused_up_front() {
    let _x = exclusive();
    const GIB: u64 = 1 << 30;
    let cases: &[(u64, &[&str], &str)] = &[
        (
            8 * GIB,
            &["scenario", "alloc", "--set", "size=65536"],
            "batch",
        ),
        (
            2 * GIB,
            &["scenario", "fork-cow", "--set", "heap_mib=2048"],
            "heap_mib",
        ),
        (
            4 * GIB,
            &["scenario", "gc-pause", "--set", "objects=40000000"],
            "objects",
        ),
        (
            2 * GIB,
            &[
                "scenario",
                "cpu-bound",
                "--model",
                "threads",
                "--workers",
                "64",
                "--trace",
                "/dev/null/never",
                "--trace-limit",
                "10000000",
            ],
            "--trace",
        ),
        (2 * GIB, &["spawn", "--heap", "4G"], "--heap"),
    ];
    for (bytes, args, needle) in cases {
        let Some(out) = with_address_space(*bytes, args) else {
            return;
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("--as={bytes} {args:?}");
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains(needle), "{what}: {stderr}");
        assert!(out.stdout.is_empty(), "{what}");
        assert_nothing_left(&what);
    }
}

#[test]
fn the_manager_out_of_descriptors_ends_and_leaves_nothing_behind() {
    let _x = exclusive();
    if !has_prlimit() {
        return;
    }
    for nofile in [6, 12, 24] {
        let args = [
            "scenario",
            "shared-counter",
            "--model",
            "manager",
            "--ops",
            "200",
            "--set",
            "sync=lock",
            "--runs",
            "1",
            "--quiet",
            "--no-calibrate",
        ];
        let nofile_flag = format!("--nofile={nofile}");
        let mut run = wrapped(&["prlimit", &nofile_flag, "--"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let what = format!("manager under nofile={nofile}");
        // As `timeout 5` would: past a few seconds the run is asked to stop.
        if background::ended_within(&mut run, Duration::from_secs(5)).is_none() {
            let _ = background::signal(&run, nix::sys::signal::Signal::SIGTERM);
        }
        let (status, stderr) = background::finish(run, String::new(), &what);
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert!(
            status.code().is_some(),
            "{what}: died of a signal: {status:?}"
        );
        assert!(stderr.trim().lines().count() <= 1, "{what}: {stderr}");
        assert_nothing_left(&what);
    }
}

#[test]
fn a_manager_that_cannot_accept_the_client_is_one_line_and_exit_1_not_a_hang() {
    // At nofile=8 the server starts but has no descriptor left to accept the
    // client with, which waits in its backlog: the handshake must give up on its
    // own (no SIGTERM here, unlike the test above), in one line, exit 1.
    let _x = exclusive();
    if !has_prlimit() {
        return;
    }
    let mut cmd = wrapped(&["timeout", "60", "prlimit", "--nofile=8", "--"]);
    cmd.args([
        "scenario",
        "shared-counter",
        "--model",
        "manager",
        "--ops",
        "200",
    ])
    .args([
        "--set",
        "sync=lock",
        "--runs",
        "1",
        "--quiet",
        "--no-calibrate",
    ]);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = "manager under nofile=8";
    assert_ne!(out.status.code(), Some(124), "{what}: hung: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
    assert_nothing_left(what);
}

/// Whether `prlimit` (util-linux) can run here; says so when it cannot.
fn has_prlimit() -> bool {
    let found = Command::new("prlimit").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: prlimit (util-linux) is not installed");
    }
    found
}

/// A pinned convoy on one CPU: the placement needs two, which is a limit of the
/// machine (one line, exit 1), not bad input.
#[test]
fn a_pinned_convoy_on_one_cpu_is_one_line_and_exit_1() {
    let _exclusive = exclusive();
    let Ok(_) = Command::new("taskset").arg("--version").output() else {
        eprintln!("skipped: taskset (util-linux) is not installed");
        return;
    };
    let mut cmd = wrapped(&["taskset", "-c", "0"]);
    cmd.args(["scenario", "convoy", "--model", "gil", "--ops", "5"])
        .args([
            "--set",
            "pin=io-alone",
            "--runs",
            "1",
            "--quiet",
            "--no-calibrate",
        ]);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("pin=io-alone needs two CPUs"), "{stderr}");
    assert_nothing_left("pinned convoy on one CPU");
}

/// gilbench run under `wrapper` (`prlimit …`, `taskset …`), without colour, its
/// `$TMPDIR` the test's private one.
fn wrapped(wrapper: &[&str]) -> Command {
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(assert_cmd::cargo::cargo_bin("gilbench"))
        .env("NO_COLOR", "1");
    if let Some(tmp) = common::private_tmp() {
        cmd.env("TMPDIR", tmp);
    }
    cmd
}
