//! Ctrl-C (SIGINT) and SIGTERM stop every command the same way: whatever it
//! started is stopped and reaped, one line says "interrupted", the exit code is
//! 130. The `processes` and `manager` runs have their own tests; these are the
//! ones that used to die by the signal: `fork-cow`, `spawn`, `ctxswitch`.
//!
//! Each test waits until the command is measuring (its progress line on stderr,
//! or a child process at work) before it sends the signal, so it holds however
//! slow the machine is.

mod common;

use common::background::{self, start};
use common::{assert_nothing_left, children_of, exclusive};
use nix::sys::signal::Signal;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::Duration;

/// Sends `signal`, waits (bounded) for the end, and checks the exit code and the
/// words; `stderr_so_far` is what was already read from its stderr.
fn interrupt(child: Child, signal: Signal, stderr_so_far: String, what: &str) {
    background::signal(&child, signal).unwrap();
    let what = format!("{what} {signal}");
    let (status, stderr) = background::finish(child, stderr_so_far, &what);
    assert_eq!(status.code(), Some(130), "{what}: {status:?}: {stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert_eq!(last, "Error: interrupted", "{what}: {stderr}");
    assert_nothing_left(&what);
}

/// Starts a probe and interrupts it once it has said what it measures.
fn interrupt_probe(args: &[&str], signal: Signal) {
    let mut child = start(args);
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("gilbench: "), "{args:?}: {first}");
    child.stderr = Some(reader.into_inner());
    interrupt(child, signal, first, &format!("{args:?}"));
}

#[test]
fn ctxswitch_stops_on_sigint_and_sigterm() {
    let _x = exclusive();
    for mode in ["process-pipe", "process-futex", "thread-futex"] {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            interrupt_probe(
                &[
                    "ctxswitch",
                    "--mode",
                    mode,
                    "--pin",
                    "none",
                    "--rounds",
                    "100000000",
                ],
                signal,
            );
        }
    }
}

#[test]
fn spawn_stops_on_sigint_and_sigterm() {
    let _x = exclusive();
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        interrupt_probe(
            &[
                "spawn",
                "--method",
                "fork,thread",
                "--iterations",
                "1000000",
                "--max-time",
                "1000s",
            ],
            signal,
        );
    }
}

#[test]
fn fork_cow_stops_on_sigint_and_sigterm_and_reaps_its_child() {
    let _x = exclusive();
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let mut child = start(&[
            "scenario",
            "fork-cow",
            "--model",
            "processes",
            "--set",
            "heap_mib=32",
            "--set",
            "repeat=100",
            "--runs",
            "1",
            "--quiet",
            "--no-calibrate",
        ]);
        // A child of gilbench at work means the heap is built and the signals caught.
        let pid = child.id();
        let forked = background::wait_for(&mut child, "fork-cow forking", || {
            !children_of(pid).0.is_empty()
        });
        assert!(forked, "fork-cow ended before it forked");
        interrupt(child, signal, String::new(), "fork-cow");
    }
}

/// Resident memory of `pid`, KiB (0 once it is gone).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time `pid` has used so far (user + system).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which may hold spaces: utime and stime
    // are the 12th and 13th, in clock ticks.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz.max(1))
}

/// CPU time of the children this test process has reaped so far.
fn reaped_cpu() -> Duration {
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

#[test]
fn fork_cow_stops_in_its_heaps_first_collection() {
    // The heap's pages are touched as it is built, so once they are all resident
    // and stay so, the build is over and the full collection that settles it
    // (about a second of CPU for a GiB) is under way. What the run spends after Ctrl-C is
    // measured in CPU time, which a busy machine does not stretch: stopping
    // mid-collection costs the heap's release, finishing it costs the rest of the
    // collection first.
    const HEAP_MIB: u64 = 1024;
    let _x = exclusive();
    let heap = format!("heap_mib={HEAP_MIB}");
    let mut child = start(&[
        "scenario",
        "fork-cow",
        "--model",
        "threads",
        "--set",
        &heap,
        "--set",
        "variant=read",
        "--runs",
        "1",
        "--quiet",
        "--no-calibrate",
    ]);
    let pid = child.id();
    // Built: nearly the whole heap resident, and no page added while it ran for
    // three clock ticks (the build adds megabytes per tick).
    let (mut rss, mut cpu_then) = (0, Duration::ZERO);
    let built = background::wait_for(&mut child, "fork-cow building its heap", || {
        let (now_rss, cpu) = (rss_kib(pid), cpu_time(pid));
        if now_rss > rss {
            (rss, cpu_then) = (now_rss, cpu);
            return false;
        }
        rss > HEAP_MIB * 1024 * 9 / 10 && cpu >= cpu_then + Duration::from_millis(30)
    });
    if !built {
        let (status, stderr) = background::finish(child, String::new(), "fork-cow");
        if status.code() == Some(2) && stderr.contains("heap_mib") {
            // A machine without the memory for a GiB heap and a child's copy.
            eprintln!("skipped: {}", stderr.trim());
            return;
        }
        panic!("fork-cow ended before its heap was built ({status}): {stderr}");
    }
    let before = reaped_cpu() + cpu_time(pid);
    interrupt(child, Signal::SIGINT, String::new(), "fork-cow collecting");
    let after_signal = reaped_cpu().saturating_sub(before);
    eprintln!("fork-cow: {after_signal:?} of CPU after Ctrl-C mid-collection");
    assert!(
        after_signal < Duration::from_millis(400),
        "fork-cow went on collecting after Ctrl-C: {after_signal:?} of CPU"
    );
}

#[test]
fn fork_cow_stops_on_sigint_while_copying_to_a_child_that_stopped_reading() {
    let _x = exclusive();
    let child = common::deep_copy_with_a_stopped_child(&[]);
    // The parent is now blocked writing, or waiting for a report that will not
    // come; either way Ctrl-C must end it.
    std::thread::sleep(Duration::from_millis(200));
    interrupt(child, Signal::SIGINT, String::new(), "fork-cow deep-copy");
}
