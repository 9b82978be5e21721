//! Ctrl-C (SIGINT) and SIGTERM stop every command the same way: whatever it
//! started is stopped and reaped, one line says "interrupted", the exit code is
//! 130. The `processes` and `manager` runs have their own tests; these are the
//! ones that used to die by the signal: `fork-cow`, `spawn`, `ctxswitch`.
//!
//! Each test waits until the command is measuring (its progress line on stderr,
//! or a child process at work) before it sends the signal, so it holds however
//! slow the machine is.

mod common;

use common::{assert_nothing_left, children_of, exclusive};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// How long a command may take to start measuring, or to stop once told.
const BOUND: Duration = Duration::from_secs(60);

fn start(args: &[&str]) -> Child {
    common::gilbench_process()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gilbench starts")
}

/// Sends `signal`, waits (bounded) for the end, and checks the exit code and the
/// words; `stderr_so_far` is what was already read from its stderr.
fn interrupt(mut child: Child, signal: Signal, stderr_so_far: String, what: &str) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running {BOUND:?} after {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = stderr_so_far;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{what} {signal}: {status:?}: {stderr}"
    );
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert_eq!(last, "Error: interrupted", "{what} {signal}: {stderr}");
    assert_nothing_left(&format!("{what} {signal}"));
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
        let child = start(&[
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
        let deadline = Instant::now() + BOUND;
        while children_of(child.id()).0.is_empty() {
            assert!(Instant::now() < deadline, "fork-cow never forked");
            std::thread::sleep(Duration::from_millis(5));
        }
        interrupt(child, signal, String::new(), "fork-cow");
    }
}
