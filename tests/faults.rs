//! The fault matrix in miniature: SIGINT, SIGTERM and SIGKILL to gilbench, and
//! SIGKILL to one of its children, during a `processes`, a `manager` and a
//! `fork-cow` run. Whatever the fault, the run ends (130 when interrupted, 1 when a
//! child was killed) and leaves nothing behind: no process, no shared memory, no
//! socket directory.
//!
//! Each case waits until gilbench has a child at work before the fault, and every
//! wait is bounded, so the matrix holds on a busy machine and cannot hang.

mod common;

use common::background::{self, BOUND};
use common::{assert_nothing_left, children_of, exclusive};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

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
    let once: &[&str] = &["--runs", "1", "--quiet", "--no-calibrate"];
    let mut child = background::start(&[args, once].concat());
    let pid = child.id();
    let what = format!("{name} {fault:?}");
    // A fork-cow child may finish between the look and the kill: the next one
    // will do.
    let struck = background::wait_for(&mut child, &format!("{what}: a child at work"), || {
        let kids = children_of(pid).0;
        let Some(&kid) = kids.iter().next_back().filter(|_| kids.len() >= working) else {
            return false;
        };
        match fault {
            Fault::Parent(sig) => kill(Pid::from_raw(pid as i32), sig),
            Fault::Child => kill(Pid::from_raw(kid as i32), Signal::SIGKILL),
        }
        .is_ok()
    });
    assert!(struck, "{what}: ended before the fault");
    let (status, stderr) = background::finish(child, String::new(), &what);
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

/// A marker as gilbench writes it (`sys::tempdirs`), for process `pid` started
/// at `start` clock ticks after boot `boot`, in pid namespace `pidns`.
fn marker(pid: u32, start: u64, boot: &str, pidns: u64) -> String {
    format!("gilbench-tempdir 1\npid {pid}\nstart {start}\nboot {boot}\npidns {pidns}\n")
}

#[test]
fn the_next_start_removes_what_a_killed_run_left_and_nothing_else() {
    let _x = exclusive();
    let tmp = common::private_tmp().unwrap();
    let this = common::Me::now();
    let (me, my_start, boot, pidns) = (this.pid, this.start, this.boot.as_str(), this.pidns);
    // A pid that is surely dead: a child that has exited and been reaped.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = gone.id();
    let dir = |name: &str, marker_text: Option<String>| {
        let path = tmp.join(name);
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("cpu_bound.py"), "print(1)\n").unwrap();
        if let Some(text) = marker_text {
            std::fs::write(path.join(".gilbench-owner"), text).unwrap();
        }
    };
    let stale = [
        (format!("gilbench-twins-{dead}-aaaaaa"), "a dead owner"),
        (
            format!("gilbench-manager-{dead}-0123abcd"),
            "a dead manager's",
        ),
        (
            format!("gilbench-twins-{me}-bbbbbb"),
            "a reused pid (another start)",
        ),
        (format!("gilbench-twins-{me}-cccccc"), "an earlier boot"),
    ];
    dir(&stale[0].0, Some(marker(dead, 1, boot, pidns)));
    dir(&stale[1].0, Some(marker(dead, 1, boot, pidns)));
    dir(&stale[2].0, Some(marker(me, my_start + 1, boot, pidns)));
    dir(
        &stale[3].0,
        Some(marker(me, my_start, "another-boot", pidns)),
    );
    let kept = [
        format!("gilbench-twins-{me}-dddddd"),   // a live owner
        format!("gilbench-twins-{dead}-eeeeee"), // no marker
        format!("gilbench-twins-{me}-ffffff"),   // the marker names another pid
        format!("gilbench-twins-{dead}-gggggg"), // another pid namespace
        format!("gilbench-twins-{dead}-hhhhhh"), // a marker not in gilbench's form
        format!("gilbench-other-{dead}-iiiiii"), // not a name gilbench gives
        format!("gilbench-twins-{dead}"),        // nor this
        format!("gilbench-twins-{dead}-jjjjjj"), // a symlink to a stale directory
        format!("gilbench-twins-{dead}-kkkkkk"), // a regular file
    ];
    dir(&kept[0], Some(marker(me, my_start, boot, pidns)));
    dir(&kept[1], None);
    dir(&kept[2], Some(marker(dead, 1, boot, pidns)));
    dir(&kept[3], Some(marker(dead, 1, boot, pidns + 1)));
    dir(&kept[4], Some(marker(dead, 1, boot, pidns) + "more\n"));
    dir(&kept[5], Some(marker(dead, 1, boot, pidns)));
    dir(&kept[6], Some(marker(dead, 1, boot, pidns)));
    std::os::unix::fs::symlink(tmp.join(&stale[0].0), tmp.join(&kept[7])).unwrap();
    std::fs::write(tmp.join(&kept[8]), marker(dead, 1, boot, pidns)).unwrap();

    common::ok(&["list", "--format", "json"]);

    for (name, why) in &stale {
        assert!(!tmp.join(name).exists(), "{why}: {name} was kept");
    }
    for name in &kept {
        assert!(
            tmp.join(name).symlink_metadata().is_ok(),
            "{name} was removed"
        );
        if tmp.join(name).is_dir() && !tmp.join(name).is_symlink() {
            assert!(tmp.join(name).join("cpu_bound.py").is_file(), "{name}");
        }
    }
    for name in &kept {
        let path = tmp.join(name);
        if path.is_symlink() || path.is_file() {
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::remove_dir_all(&path).unwrap();
        }
    }
    assert_nothing_left("the sweep of stale directories");
}

#[test]
fn a_twin_run_killed_outright_stops_its_twin_and_the_next_start_removes_its_scripts() {
    let _x = exclusive();
    let tmp = common::private_tmp().unwrap();
    let mut run = common::gilbench_process()
        .args([
            "scenario",
            "io-bound",
            "--model",
            "sequential",
            "--ops",
            "100000",
            "--cpython",
            "--runs",
            "1",
            "--quiet",
            "--no-calibrate",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    let twins = loop {
        let found = std::fs::read_dir(&tmp).unwrap().flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("gilbench-twins-")
        });
        let twin_started = !children_of(run.id()).0.is_empty();
        if found && twin_started {
            break true;
        }
        if run.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = run.kill();
    let _ = run.wait();
    if !twins {
        // No python3 here (or the twin ended first): nothing to test.
        eprintln!("skipped: the twin never ran");
        assert_nothing_left("a twin run");
        return;
    }
    // The twin was told (SIGINT) when gilbench died, and ends by itself; it is
    // our child now (a subreaper), reaped here.
    let deadline = Instant::now() + BOUND;
    loop {
        let (left, zombies) = children_of(std::process::id());
        for &pid in &zombies {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
        }
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for pid in left {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
            }
            panic!("the twin outlived gilbench by {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "the killed run's scripts directory");
    common::ok(&["list"]);
    assert_nothing_left("the next start after a killed twin run");
}
