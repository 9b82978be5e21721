//! Helpers shared by the CLI tests: run the real binary, read its JSON, and check
//! that nothing was left behind.
#![allow(dead_code)]

use assert_cmd::Command;
use std::collections::BTreeSet;

/// A `gilbench` command with progress output off.
pub fn gilbench() -> Command {
    let mut cmd = Command::cargo_bin("gilbench").expect("the binary is built");
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `gilbench ARGS --format json --quiet`, asserts success, returns the JSON.
pub fn json(args: &[&str]) -> serde_json::Value {
    let out = gilbench()
        .args(args)
        .args(["--format", "json", "--quiet"])
        .output()
        .expect("gilbench runs");
    assert!(
        out.status.success(),
        "gilbench {args:?} failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gilbench {args:?}: not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The run of `model` in a scenario report.
pub fn run<'a>(report: &'a serde_json::Value, model: &str) -> &'a serde_json::Value {
    report["runs"]
        .as_array()
        .expect("runs is an array")
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no run for {model} in {report}"))
}

/// Process ids whose parent is `parent`, and those of them that are zombies.
pub fn children_of(parent: u32) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut all = BTreeSet::new();
    let mut zombies = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may contain spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == parent {
            all.insert(pid);
            if state == "Z" {
                zombies.insert(pid);
            }
        }
    }
    (all, zombies)
}

/// Entries of /dev/shm whose name mentions gilbench.
pub fn shm_leftovers() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("gilbench"))
                .collect()
        })
        .unwrap_or_default()
}

/// Processes anywhere on the machine whose command is gilbench.
pub fn gilbench_processes() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "gilbench")
        })
        .collect()
}
