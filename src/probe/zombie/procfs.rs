//! What `ps` would show, read straight from `/proc`: each process's pid, parent,
//! state and command — and how many more processes this user may start.

use nix::unistd::Pid;
use serde::Serialize;
use std::collections::HashSet;

/// One line of a `ps`-like table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcRow {
    /// Process id.
    pub pid: i32,
    /// Parent process id.
    pub ppid: i32,
    /// State letter from `/proc/PID/stat`: `Z` zombie, `S` sleeping, `R` running, ….
    pub state: String,
    /// The command as `ps` shows it: `[name] <defunct>` for a zombie.
    pub command: String,
}

/// Reads `/proc/PID/stat`; `None` once the process is gone (reaped).
pub fn read(pid: i32) -> Option<ProcRow> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses a `/proc/PID/stat` line: `pid (comm) state ppid …`. The command may
/// hold spaces and parentheses, so it ends at the *last* `)`.
pub fn parse_stat(stat: &str) -> Option<ProcRow> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid = stat[..open].trim().parse().ok()?;
    let name = &stat[open + 1..close];
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.to_string();
    let ppid = rest.next()?.parse().ok()?;
    let command = if state == "Z" {
        format!("[{name}] <defunct>")
    } else {
        name.to_string()
    };
    Some(ProcRow {
        pid,
        ppid,
        state,
        command,
    })
}

/// Every process on the machine (threads not listed).
pub fn all() -> Vec<ProcRow> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read)
        .collect()
}

/// The rows of `pids` that still exist, in the order given.
pub fn rows(pids: &[Pid]) -> Vec<ProcRow> {
    pids.iter().filter_map(|p| read(p.as_raw())).collect()
}

/// Processes whose parent is `parent`.
pub fn children_of(parent: Pid) -> Vec<ProcRow> {
    all()
        .into_iter()
        .filter(|r| r.ppid == parent.as_raw())
        .collect()
}

/// Processes whose parent is one of `parents`.
pub fn children_of_any(parents: &[Pid]) -> Vec<ProcRow> {
    let set: HashSet<i32> = parents.iter().map(|p| p.as_raw()).collect();
    all()
        .into_iter()
        .filter(|r| set.contains(&r.ppid))
        .collect()
}

/// How many more processes may be started, and what limits it.
#[derive(Debug, Clone)]
pub struct Room {
    /// New processes that fit.
    pub available: u64,
    /// The binding limit, in words, for an error message.
    pub why: String,
}

/// Processes kept free for everything else (gilbench's own threads, the shell).
const MARGIN: u64 = 32;

/// The room under RLIMIT_NPROC (which counts every thread of this real user),
/// `kernel.pid_max` and `kernel.threads-max`, whichever is tightest.
pub fn process_room() -> Room {
    let uid = nix::unistd::getuid().as_raw();
    let (mut mine, mut everyone) = (0u64, 0u64);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let threads = field("Threads:").unwrap_or(1);
            everyone += threads;
            if field("Uid:") == Some(uid as u64) {
                mine += threads;
            }
        }
    }
    let mut limits: Vec<(u64, String)> = Vec::new();
    if let Ok((soft, _hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NPROC)
    {
        if soft != nix::sys::resource::RLIM_INFINITY {
            limits.push((
                soft.saturating_sub(mine),
                format!(
                    "RLIMIT_NPROC (`ulimit -u`) allows {soft} processes and threads for uid \
                     {uid}, and {mine} are running"
                ),
            ));
        }
    }
    for (file, what) in [
        ("/proc/sys/kernel/pid_max", "kernel.pid_max"),
        ("/proc/sys/kernel/threads-max", "kernel.threads-max"),
    ] {
        if let Some(max) = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            limits.push((
                max.saturating_sub(everyone),
                format!("{what} is {max} and {everyone} tasks are running"),
            ));
        }
    }
    limits
        .into_iter()
        .min_by_key(|(room, _)| *room)
        .map(|(room, why)| Room {
            available: room.saturating_sub(MARGIN),
            why: format!("{why} (gilbench keeps {MARGIN} spare)"),
        })
        .unwrap_or(Room {
            available: u64::MAX,
            why: "no limit found".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let row = parse_stat("42 (my (odd) name) Z 7 42 42 0 -1").unwrap();
        assert_eq!(row.pid, 42);
        assert_eq!(row.ppid, 7);
        assert_eq!(row.state, "Z");
        assert_eq!(row.command, "[my (odd) name] <defunct>");
        let me = read(std::process::id() as i32).unwrap();
        assert_ne!(me.state, "Z");
        assert!(process_room().available > 0);
    }
}
