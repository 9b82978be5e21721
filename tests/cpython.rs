//! `--cpython --python LIST`: choosing real interpreters, naming their rows, and
//! what happens when one is missing, is not a Python, is too old, or crashes.
//! Stub interpreters (`common::stub_python`) keep these deterministic; the tests
//! that need a real CPython say so and skip without one.

mod common;

use common::{bad_input, gilbench, stub_python, StubRun};

/// A tiny cpu-bound run: the simulated rows take milliseconds.
const SMALL: &[&str] = &[
    "scenario",
    "cpu-bound",
    "--model",
    "gil",
    "--ops",
    "2",
    "--set",
    "ticks_per_op=2000",
    "--runs",
    "1",
    "--no-calibrate",
];

fn with(extra: &[&str]) -> Vec<String> {
    SMALL.iter().chain(extra).map(|s| s.to_string()).collect()
}

#[test]
fn an_unknown_interpreter_is_one_line_and_exit_2() {
    let args = with(&["--cpython", "--python", "python9.9"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bad_input(&args, &["--python", "python9.9"]);
    let args2 = with(&["--cpython", "--python", "/no/such/python"]);
    let args2: Vec<&str> = args2.iter().map(String::as_str).collect();
    bad_input(&args2, &["--python", "/no/such/python", "no such file"]);
}

#[test]
fn a_file_that_is_not_a_python_is_exit_2() {
    let args = with(&["--cpython", "--python", "/bin/true"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bad_input(&args, &["--python", "/bin/true", "not a Python"]);
}

#[test]
fn a_python_older_than_2_7_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let old = stub_python(
        dir.path(),
        "python2.6",
        "2.6.9",
        &["threads"],
        StubRun::Crash,
    );
    let old = old.to_str().unwrap();
    let args = with(&["--cpython", "--python", old]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bad_input(&args, &["--python", "2.6.9", "older than 2.7"]);
}

#[test]
fn python_needs_cpython() {
    let args = with(&["--python", "python3"]);
    let out = gilbench().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_twin_that_crashes_marks_its_rows_failed_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let good_json = r#"{"twin":"cpu_bound","python":"3.12.0","runs":[
        {"model":"cpython-threads","workers":2,"ops":2,"wall_ns":1000000,"speedup":null}]}"#;
    let good = stub_python(
        dir.path(),
        "python-good",
        "3.12.0",
        &["threads"],
        StubRun::Json(good_json),
    );
    let bad = stub_python(
        dir.path(),
        "python-bad",
        "3.9.18",
        &["threads"],
        StubRun::Crash,
    );
    let list = format!("{},{}", good.display(), bad.display());
    let args = with(&[
        "--cpython",
        "--python",
        &list,
        "--format",
        "json",
        "--quiet",
    ]);
    let out = gilbench().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("3.9.18") && stderr.contains("stub crash"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let good_row = common::run(&report, "cpython3.12-threads");
    assert_eq!(good_row["interpreter"]["version"], "3.12.0");
    assert_eq!(good_row["interpreter"]["free_threaded"], false);
    assert!(good_row["interpreter"]["path"]
        .as_str()
        .unwrap()
        .ends_with("python-good"));
    assert!(good_row.get("failed").is_none());
    let bad_row = common::run(&report, "cpython3.9-threads");
    assert!(
        bad_row["failed"].as_str().unwrap().contains("stub crash"),
        "{bad_row}"
    );
    common::run(&report, "gil");
}

#[test]
fn the_default_interpreter_keeps_plain_row_names() {
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"runs":[{"model":"cpython-threads","ops":2,"wall_ns":1000000}]}"#;
    stub_python(
        dir.path(),
        "python3",
        "3.11.7",
        &["threads"],
        StubRun::Json(json),
    );
    let args = with(&["--cpython", "--format", "json", "--quiet"]);
    let out = gilbench()
        .env("PATH", dir.path())
        .env("PYENV_ROOT", dir.path())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = common::run(&report, "cpython-threads");
    assert_eq!(row["interpreter"]["version"], "3.11.7");
}

#[test]
fn a_shim_that_says_command_not_found_falls_back_to_pyenv() {
    // pyenv's shim for an unselected version fails; its versions/X/bin copy works.
    let root = tempfile::tempdir().unwrap();
    let shims = root.path().join("shims");
    let bin = root.path().join("versions/3.9.18/bin");
    std::fs::create_dir_all(&shims).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        shims.join("python3.9"),
        "#!/bin/sh\necho 'pyenv: python3.9: command not found' >&2\nexit 127\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        shims.join("python3.9"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let json = r#"{"runs":[{"model":"cpython-threads","ops":2,"wall_ns":1000000}]}"#;
    let real = stub_python(
        &bin,
        "python3.9",
        "3.9.18",
        &["threads"],
        StubRun::Json(json),
    );
    std::fs::copy(&real, bin.join("python")).unwrap();
    for spec in ["python3.9", "3.9"] {
        let args = with(&["--cpython", "--python", spec, "--format", "json", "--quiet"]);
        let out = gilbench()
            .env("PATH", &shims)
            .env("PYENV_ROOT", root.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let row = common::run(&report, "cpython3.9-threads");
        assert!(row["interpreter"]["path"]
            .as_str()
            .unwrap()
            .contains("versions/3.9.18/bin"));
    }
}

/// `--workers` means the same to the queue twin as to the simulation: every
/// worker, consumers included (it once ran two producers against one).
#[test]
fn the_queue_twin_runs_the_simulations_producers() {
    if !common::python3_is_3_7_or_later() {
        return;
    }
    let report = common::json(&[
        "scenario",
        "queue",
        "--model",
        "threads",
        "--ops",
        "500",
        "--no-calibrate",
        "--cpython",
    ]);
    let (sim, twin) = (
        common::run(&report, "threads"),
        common::run(&report, "cpython-threads"),
    );
    assert_eq!(sim["workers"], twin["workers"], "{sim}\n{twin}");
    assert_eq!(sim["total_ops"], twin["total_ops"], "{sim}\n{twin}");
}

/// Python 2's clock in the twins (`_twin.perf_counter_ns`, through ctypes) keeps the
/// GIL across its call, as 3.x's `time.perf_counter_ns` does: a `CDLL` function
/// releases and re-takes it, and under 2.7's GIL every timed op was then a handoff
/// at a clean spot (`counter += 1` lost 14% instead of 2.7's own 23%).
#[test]
fn python2s_clock_in_the_twins_keeps_the_gil() {
    let pyenv = std::process::Command::new("pyenv").arg("root").output();
    let mut candidates: Vec<std::path::PathBuf> = vec!["python2.7".into()];
    if let Ok(out) = pyenv {
        let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if let Ok(dir) = std::fs::read_dir(std::path::Path::new(&root).join("versions")) {
            candidates.extend(
                dir.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("2.7"))
                    .map(|e| e.path().join("bin/python")),
            );
        }
    }
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let check = "import sys, ctypes; sys.path.insert(0, sys.argv[1]); import _twin; \
                 f = _twin._libc.clock_gettime; \
                 sys.exit(0 if f._flags_ & ctypes._FUNCFLAG_PYTHONAPI else 3)";
    for python in candidates {
        // A pyenv shim for an unselected version exists but does not run.
        let is_27 = std::process::Command::new(&python)
            .args(["-c", "import sys; sys.exit(sys.version_info[:2] != (2, 7))"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !is_27 {
            continue;
        }
        let Ok(out) = std::process::Command::new(&python)
            .args(["-c", check])
            .arg(&scripts)
            .output()
        else {
            continue;
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: the twins' Python 2 clock releases the GIL (CDLL?): {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    eprintln!("skipped: no Python 2.7 (python2.7 on the PATH or under pyenv)");
}
