//! Output paths (`--output`, `--trace`, `--plot`, `--plot-timeline`, `--hgrm`):
//! gilbench never deletes or truncates what it did not create. A failed run leaves
//! an existing file, a symlink and its target as they were; anything that is not a
//! regular file (a device, a FIFO) is refused before any work, without ever being
//! opened for writing.

mod common;

use common::gilbench;
use std::path::Path;
use std::time::{Duration, Instant};

/// The flags that name one output file, and a file name each accepts.
const FILE_FLAGS: [(&str, &str); 4] = [
    ("--output", "out.json"),
    ("--trace", "trace.json"),
    ("--plot", "plot.svg"),
    ("--plot-timeline", "timeline.svg"),
];

/// A run that fails at once: a processes run with a 1 ns timeout.
fn failing_run(flag: &str, path: &Path) -> std::process::Output {
    gilbench()
        .args([
            "scenario",
            "cpu-bound",
            "--model",
            "processes",
            "--ops",
            "200",
        ])
        .args(["--timeout", "1ns", "--quiet", "--no-calibrate"])
        .arg(flag)
        .arg(path)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap()
}

#[test]
fn a_failed_run_leaves_an_existing_file_as_it_was() {
    for (flag, name) in FILE_FLAGS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, "precious").unwrap();
        let out = failing_run(flag, &path);
        assert_eq!(out.status.code(), Some(1), "{flag}: {out:?}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "precious",
            "{flag}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{flag}: a temporary file stayed: {left:?}");
    }
}

#[test]
fn a_failed_run_leaves_a_symlink_and_its_target_as_they_were() {
    for (flag, name) in FILE_FLAGS {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join(name);
        std::fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let out = failing_run(flag, &link);
        assert_eq!(out.status.code(), Some(1), "{flag}: {out:?}");
        assert!(
            std::fs::symlink_metadata(&link).unwrap().is_symlink(),
            "{flag}"
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "precious",
            "{flag}"
        );
    }
}

#[test]
fn a_new_name_is_not_created_by_a_failed_run_and_is_by_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, name) in FILE_FLAGS {
        let out = failing_run(flag, &dir.path().join(name));
        assert_eq!(out.status.code(), Some(1), "{flag}: {out:?}");
    }
    let hgrm = dir.path().join("hgrm");
    let out = failing_run("--hgrm", &hgrm);
    assert_eq!(out.status.code(), Some(1), "--hgrm: {out:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let mut cmd = gilbench();
    cmd.args(["scenario", "cpu-bound", "--model", "threads", "--ops", "50"])
        .args(["--quiet", "--no-calibrate", "--format", "json"]);
    for (flag, name) in FILE_FLAGS {
        cmd.arg(flag).arg(dir.path().join(name));
    }
    cmd.arg("--hgrm").arg(&hgrm);
    cmd.timeout(Duration::from_secs(60)).assert().success();
    for (_, name) in FILE_FLAGS {
        assert!(
            std::fs::metadata(dir.path().join(name)).unwrap().len() > 0,
            "{name}"
        );
    }
    assert!(std::fs::read_dir(&hgrm).unwrap().count() > 0);
}

/// A character device or a FIFO is refused in a millisecond, exit 2, one line,
/// and never opened: a FIFO opened for writing would block with no reader, and
/// `/dev/null` stays a character device.
#[test]
fn devices_and_fifos_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    let dev_link = dir.path().join("dev-link");
    std::os::unix::fs::symlink("/dev/null", &dev_link).unwrap();
    for (flag, _) in FILE_FLAGS {
        for path in [Path::new("/dev/null"), &fifo, &dev_link, dir.path()] {
            let started = Instant::now();
            let out = gilbench()
                .args([
                    "scenario",
                    "cpu-bound",
                    "--model",
                    "threads",
                    "--ops",
                    "100000000",
                ])
                .args(["--quiet", "--no-calibrate"])
                .arg(flag)
                .arg(path)
                .timeout(Duration::from_secs(20))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag} {path:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{flag} {path:?}: {stderr}");
            assert!(stderr.contains(flag), "{stderr}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{flag}: refused late"
            );
        }
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "nothing else created"
    );
}

#[test]
fn hgrm_creates_only_the_last_component() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("no/such/dir");
    gilbench()
        .args([
            "scenario",
            "cpu-bound",
            "--model",
            "threads",
            "--ops",
            "10",
            "--quiet",
        ])
        .arg("--hgrm")
        .arg(&deep)
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2);
    assert!(!dir.path().join("no").exists());
}

/// A run killed outright (SIGKILL) mid-way runs no destructor: its temporary
/// file stays beside the target. The next run that writes the same target removes
/// it — its name proves it gilbench's and its maker dead — and leaves alone a
/// live run's temporary file, another target's, and files that merely look alike.
#[test]
fn the_next_run_removes_the_temporary_file_a_killed_run_left() {
    // No `exclusive()` and no `assert_nothing_left` here: the other tests in this
    // file run beside this one, and that check would reap their children.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.json");
    std::fs::write(&target, "the user's").unwrap();
    let temps = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".gilbench-tmp"))
            .collect();
        names.sort();
        names
    };
    let mut run = common::background::start(&[
        "scenario",
        "cpu-bound",
        "--model",
        "sequential",
        "--duration",
        "1000000m",
        "--runs",
        "1",
        "--quiet",
        "--no-calibrate",
        "--output",
        target.to_str().unwrap(),
    ]);
    // The temporary file is made before any work, so it exists once the run is on.
    let opened = common::background::wait_for(&mut run, "the temporary output file", || {
        !temps().is_empty()
    });
    assert!(opened, "the run ended before it opened its output");
    run.kill().unwrap();
    run.wait().unwrap();
    let left = temps();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(".out.json.gilbench-"), "{left:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"the user's");

    // Look-alikes the sweep must keep: a live maker's (this test process), another
    // target's, and names out of shape.
    let me = common::Me::now();
    let owner = format!(
        "gilbench-{}-{}-{}-{}",
        me.pid,
        me.start,
        me.pidns,
        &me.boot[..8]
    );
    let dead = left[0].trim_start_matches(".out.json.").to_owned();
    let kept = [
        format!(".out.json.{owner}-abcdef.gilbench-tmp"),
        format!(".other.json.{dead}"),
        format!(".out.json.{}", dead.replace(".gilbench-tmp", ".tmp")),
        format!(".out.json.x{dead}"),
        "out.json.gilbench-tmp".to_string(),
    ];
    for name in &kept {
        std::fs::write(dir.path().join(name), "not ours to remove").unwrap();
    }

    common::ok(&[
        "scenario",
        "cpu-bound",
        "--model",
        "sequential",
        "--ops",
        "2",
        "--runs",
        "1",
        "--quiet",
        "--no-calibrate",
        "--format",
        "json",
        "--output",
        target.to_str().unwrap(),
    ]);
    assert!(!dir.path().join(&left[0]).exists(), "the stale file stayed");
    for name in &kept {
        assert_eq!(
            std::fs::read(dir.path().join(name)).unwrap(),
            b"not ours to remove",
            "{name}"
        );
    }
    assert!(std::fs::read_to_string(&target).unwrap().starts_with('{'));
}
