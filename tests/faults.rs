//! The fault matrix in miniature: SIGINT, SIGTERM and SIGKILL to gilbench, and
//! SIGKILL to one of its children, during a `processes`, a `manager` and a
//! `fork-cow` run. Whatever the fault, the run ends (130 when interrupted, 1 when a
//! child was killed) and leaves nothing behind: no process, no shared memory, no
//! socket directory.
//!
//! Each case waits until gilbench has a child at work before the fault, and every
//! wait is bounded, so the matrix holds on a busy machine and cannot hang.

mod common;

use common::{assert_nothing_left, children_of, exclusive};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a run may take to start its children, or to end after the fault.
const BOUND: Duration = Duration::from_secs(60);

/// The runs: long enough that the fault always lands while they work.
/// Each with the children it has once every one of them works (the manager's
/// server and its two workers).
const RUNS: [(&str, usize, &[&str]); 3] = [
    (
        "processes",
        2,
        &[
            "scenario",
            "cpu-bound",
            "--model",
            "processes",
            "--workers",
            "2",
            "--ops",
            "100000000",
        ],
    ),
    (
        "manager",
        3,
        &[
            "scenario",
            "shared-counter",
            "--model",
            "manager",
            "--ops",
            "100000000",
            "--set",
            "sync=lock",
        ],
    ),
    (
        "fork-cow",
        1,
        &[
            "scenario",
            "fork-cow",
            "--model",
            "processes",
            "--set",
            "heap_mib=64",
            "--set",
            "repeat=100",
        ],
    ),
];

#[derive(Debug, Clone, Copy)]
enum Fault {
    Parent(Signal),
    Child,
}

fn one(name: &str, working: usize, args: &[&str], fault: Fault) {
    let mut child = common::gilbench_process()
        .args(args)
        .args(["--runs", "1", "--quiet", "--no-calibrate"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gilbench starts");
    let pid = child.id();
    let what = format!("{name} {fault:?}");
    let deadline = Instant::now() + BOUND;
    loop {
        let kids = children_of(pid).0;
        let Some(&kid) = kids.iter().next_back().filter(|_| kids.len() >= working) else {
            assert!(Instant::now() < deadline, "{what}: no child started");
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let sent = match fault {
            Fault::Parent(sig) => kill(Pid::from_raw(pid as i32), sig),
            Fault::Child => kill(Pid::from_raw(kid as i32), Signal::SIGKILL),
        };
        // A fork-cow child may have finished between the look and the kill: the
        // next one will do.
        if sent.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "{what}: no child to signal");
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running {BOUND:?} after the fault");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    match fault {
        Fault::Parent(Signal::SIGKILL) => {
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}: {status:?}")
        }
        Fault::Parent(_) => {
            assert_eq!(status.code(), Some(130), "{what}: {status:?}: {stderr}");
            assert!(stderr.contains("interrupted"), "{what}: {stderr}");
        }
        Fault::Child => {
            assert_eq!(status.code(), Some(1), "{what}: {status:?}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
        }
    }
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_nothing_left(&what);
}

#[test]
fn every_fault_leaves_nothing_behind() {
    let _x = exclusive();
    for (name, working, args) in RUNS {
        for fault in [
            Fault::Parent(Signal::SIGINT),
            Fault::Parent(Signal::SIGTERM),
            Fault::Parent(Signal::SIGKILL),
            Fault::Child,
        ] {
            one(name, working, args, fault);
        }
    }
}
