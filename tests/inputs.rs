//! Input that is not what it claims to be: a scenario "file" that is a FIFO, a
//! device or far too big; a model named twice; the hidden worker entry point run
//! by hand; errors that would say their cause twice. Each gets one line on stderr
//! and exit 2, at once.

mod common;

use common::{bad_input, gilbench};
use std::time::Duration;

#[test]
fn a_fifo_as_scenario_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("s.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Nobody ever writes to the FIFO: a blocking open would hang until the
    // command's timeout kills it (and the exit code would not be 2).
    let err = bad_input(&["scenario", fifo.to_str().unwrap()], &["a FIFO", "s.toml"]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_device_or_directory_as_scenario_file_is_refused() {
    bad_input(
        &["scenario", "/dev/zero", "--quiet"],
        &["/dev/zero", "a character device"],
    );
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("d.toml");
    std::fs::create_dir(&sub).unwrap();
    bad_input(&["scenario", sub.to_str().unwrap()], &["a directory"]);
}

#[test]
fn an_oversized_scenario_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    let mut text = String::from("# padding\n");
    while text.len() < 2 << 20 {
        text.push_str("# a scenario file is a few KB, not megabytes\n");
    }
    std::fs::write(&path, text).unwrap();
    bad_input(
        &["scenario", path.to_str().unwrap()],
        &["big.toml", "at most"],
    );
}

#[test]
fn a_huge_convoy_cpu_workers_is_bad_input_not_an_allocation_abort() {
    bad_input(
        &[
            "scenario",
            "convoy",
            "--set",
            "cpu_workers=9223372036854775807",
        ],
        &["cpu_workers", "at most 4095"],
    );
}

#[test]
fn a_model_named_twice_is_refused() {
    bad_input(
        &["scenario", "cpu-bound", "--model", "sequential,sequential"],
        &["sequential", "twice"],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.toml");
    let builtin = include_str!("../scenarios/cpu-bound.toml");
    let models: String = "\"gil\", ".repeat(2000);
    let text: String = builtin
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("models") {
                format!("models = [{models}]")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("models = [\"gil\""),
        "cpu-bound.toml has no models line"
    );
    std::fs::write(&path, text).unwrap();
    bad_input(
        &["scenario", path.to_str().unwrap()],
        &["dup.toml", "`gil`", "twice"],
    );
}

#[test]
fn the_hidden_worker_entry_point_says_what_it_is() {
    let err = bad_input(
        &[
            "__worker",
            "--index",
            "0",
            "--parent",
            "1",
            "--epoch-ns",
            "0",
            "--control-len",
            "4096",
            "--shared-len",
            "4096",
        ],
        &["__worker", "internal", "by hand"],
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Its own parent's pid, with a terminal-less stdin: still not a supervisor.
    let out = gilbench()
        .args(["__worker", "--index", "0", "--epoch-ns", "0"])
        .args(["--control-len", "1", "--shared-len", "1", "--parent"])
        .arg(std::process::id().to_string())
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("internal"));
}

#[test]
fn the_hidden_echo_peer_entry_point_says_what_it_is() {
    let err = bad_input(
        &["__echo-peer", "--parent", "1"],
        &["__echo-peer", "internal", "by hand"],
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Its own parent's pid, but no socket on standard input: still not a worker's.
    let out = gilbench()
        .args(["__echo-peer", "--parent"])
        .arg(std::process::id().to_string())
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("internal"));
}

#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = bad_input(&["scenario", missing.to_str().unwrap()], &["missing.toml"]);
    let cause = std::io::Error::from_raw_os_error(libc::ENOENT).to_string();
    assert_eq!(err.matches(&cause).count(), 1, "{err}");
}

/// A model that does not fit a scenario is one line naming the scenario and the
/// models it runs under, from a flag or from a scenario file (then at its line);
/// `gilbench list` shows every model each scenario fits.
#[test]
fn a_model_that_does_not_fit_the_scenario_is_refused_naming_those_that_do() {
    bad_input(
        &["scenario", "fork-cow", "--model", "threads,gil"],
        &[
            "--model",
            "`gil` does not fit scenario `fork-cow`",
            "runs under threads, processes",
        ],
    );
    bad_input(
        &["scenario", "queue", "--model", "sequential"],
        &["`sequential` does not fit scenario `queue`", "threads"],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cow.toml");
    let text = include_str!("../scenarios/fork-cow.toml").replace(
        "models = [\"threads\", \"processes\"]",
        "models = [\"threads\", \"manager\"]",
    );
    assert!(
        text.contains("\"manager\""),
        "fork-cow.toml's models line moved"
    );
    std::fs::write(&path, text).unwrap();
    bad_input(
        &["scenario", path.to_str().unwrap()],
        &["cow.toml:5:", "`manager` does not fit scenario `fork-cow`"],
    );

    let listed = common::json(&["list"]);
    for scenario in listed["scenarios"].as_array().unwrap() {
        let supported = scenario["supported_models"].as_array().unwrap();
        for model in scenario["models"].as_array().unwrap() {
            assert!(supported.contains(model), "{scenario}");
        }
    }
}
