//! What a gilbench run must not leave behind — processes (alive or zombie),
//! `/dev/shm` entries, anything in its temporary directory — and the one check of
//! all of them, [`assert_nothing_left`].
//!
//! Orphans are seen because [`super::exclusive`] makes the test process a child
//! subreaper: whatever gilbench leaves running becomes a child of ours.

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a process gilbench started may take to end after gilbench itself
/// has (a server that sees its parent die, an orphan whose pipe just closed).
const GRACE: Duration = Duration::from_secs(3);

/// Asserts that the run under test left nothing behind: no child of ours once
/// [`GRACE`] has passed (zombies are reaped as they appear; what is left at the
/// end is killed and reaped, so one failure does not cascade), nothing of
/// gilbench's in `/dev/shm`, and nothing in the private temporary directory that
/// [`super::exclusive`] gave the test's gilbench runs.
pub fn assert_nothing_left(what: &str) {
    let me = std::process::id();
    let deadline = Instant::now() + GRACE;
    let (mut left, mut zombies) = children_of(me);
    while !left.is_empty() && Instant::now() < deadline {
        for &pid in &zombies {
            let _ = waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG));
        }
        std::thread::sleep(Duration::from_millis(10));
        (left, zombies) = children_of(me);
    }
    for &pid in &left {
        let pid = Pid::from_raw(pid as i32);
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
    assert!(
        left.is_empty(),
        "{what}: processes left behind: {left:?} (zombies: {zombies:?})"
    );
    let shm = shm_leftovers();
    assert!(shm.is_empty(), "{what}: left in /dev/shm: {shm:?}");
    let tmp = super::exclusive::private_tmp()
        .expect("assert_nothing_left needs the test to hold common::exclusive()");
    let left = entries(&tmp, |_| true);
    assert!(left.is_empty(), "{what}: left in $TMPDIR: {left:?}");
}

/// The names in `dir` that `keep` accepts (none if `dir` cannot be read).
fn entries(dir: &Path, keep: impl Fn(&str) -> bool) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| keep(n))
                .collect()
        })
        .unwrap_or_default()
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
    entries(Path::new("/dev/shm"), |n| n.contains("gilbench"))
        .into_iter()
        .collect()
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

/// This test process as gilbench's proofs of ownership record a process (a
/// temporary directory's marker, a temporary output file's name): its pid, start
/// time (clock ticks after boot, `/proc/self/stat` field 22), boot id and pid
/// namespace. A live owner, for files the sweeps must keep.
#[derive(Debug, Clone)]
pub struct Me {
    pub pid: u32,
    pub start: u64,
    pub boot: String,
    pub pidns: u64,
}

impl Me {
    pub fn now() -> Me {
        use std::os::unix::fs::MetadataExt;
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after_name = stat.rsplit_once(')').unwrap().1;
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        Me {
            pid: std::process::id(),
            start: after_name
                .split_whitespace()
                .nth(19)
                .unwrap()
                .parse()
                .unwrap(),
            boot: boot.trim().to_owned(),
            pidns: std::fs::metadata("/proc/self/ns/pid").unwrap().ino(),
        }
    }
}
