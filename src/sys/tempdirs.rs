//! gilbench's own temporary directories, and the sweep that removes the ones a
//! killed gilbench left behind.
//!
//! A gilbench that is killed outright (SIGKILL, the OOM killer) runs no
//! destructor, so the private directories it made — the twins' scripts
//! (`gilbench-twins-…`), the manager's socket (`gilbench-manager-…`) — stay in
//! `$TMPDIR`. Each is therefore made provably gilbench's and provably orphaned:
//!
//! - its name is `gilbench-KIND-PID-RANDOM`, PID the creating process's;
//! - right after creating it, that process writes a marker file [`MARKER`]
//!   (mode 0600) into it, saying who it is: pid, start time (clock ticks after
//!   boot, `/proc/PID/stat` field 22, so a reused pid is told apart), boot id and
//!   pid namespace:
//!
//!   ```text
//!   gilbench-tempdir 1
//!   pid 1234
//!   start 567890
//!   boot 0f1e…
//!   pidns 4026531836
//!   ```
//!
//! [`sweep`], run as gilbench starts, removes a directory only when all of these
//! hold: the name has that shape; it is a real directory (not a symlink) owned
//! by this user; the marker is a regular file of this user's, in that exact form,
//! naming the same pid as the directory name; and that process is dead — its boot
//! was an earlier one, or, in this boot and this pid namespace, no process has
//! that pid with that start time. Anything else — no marker, a marker from another
//! pid namespace (a container sharing `/tmp`), a live owner, an unreadable file —
//! is left alone. No `unsafe` here; it sits in `sys` so every layer may use it.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The marker file's name inside a gilbench directory.
pub const MARKER: &str = ".gilbench-owner";

/// The kinds of directory gilbench makes (the KIND in the name).
pub const KINDS: &[&str] = &["twins", "manager"];

/// The first line of a marker.
const MAGIC: &str = "gilbench-tempdir 1";

/// `gilbench-KIND-PID-`: how this process's directories of `kind` start.
pub fn prefix(kind: &str) -> String {
    format!("gilbench-{kind}-{}-", std::process::id())
}

/// Writes the marker into `dir`, which this process has just created. Without
/// `/proc` there is nothing to prove the owner dead by, and no marker.
pub fn mark(dir: &Path) -> std::io::Result<()> {
    let Some(owner) = Owner::of(std::process::id()) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(MARKER))?;
    file.write_all(owner.render().as_bytes())
}

/// Who made a directory (or, in [`super::tempfiles`], a temporary file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) pid: u32,
    /// `/proc/PID/stat` field 22: tells a reused pid apart.
    pub(super) start: u64,
    /// The boot id, or (in a temporary file's name) its first characters.
    pub(super) boot: String,
    /// The pid namespace's inode number.
    pub(super) pidns: u64,
}

impl Owner {
    /// Process `pid` as it is now; `None` if it does not exist (or no `/proc`).
    pub(super) fn of(pid: u32) -> Option<Owner> {
        Some(Owner {
            pid,
            start: start_time(pid)?,
            boot: boot_id()?,
            pidns: pid_namespace()?,
        })
    }

    fn render(&self) -> String {
        format!(
            "{MAGIC}\npid {}\nstart {}\nboot {}\npidns {}\n",
            self.pid, self.start, self.boot, self.pidns
        )
    }

    /// A marker's text, exactly as [`Owner::render`] writes it.
    fn parse(text: &str) -> Option<Owner> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut field = |key: &str| {
            lines
                .next()?
                .strip_prefix(key)?
                .strip_prefix(' ')
                .map(str::to_owned)
        };
        let owner = Owner {
            pid: field("pid")?.parse().ok()?,
            start: field("start")?.parse().ok()?,
            boot: field("boot")?,
            pidns: field("pidns")?.parse().ok()?,
        };
        (lines.next().is_none() && owner.render() == text).then_some(owner)
    }

    /// Whether the owner is provably gone (`false` when it may be alive, or it
    /// cannot be told).
    ///
    /// `boot` may be a prefix of the boot id (a temporary file's name holds only
    /// its first characters): a boot id that does not start with it is certainly
    /// another boot's; one that does is taken for this boot, and then the pid and
    /// start time decide — which can only say "alive" of a process that is in
    /// fact gone, never the reverse.
    pub(super) fn is_dead(&self) -> bool {
        let (Some(boot), Some(pidns)) = (boot_id(), pid_namespace()) else {
            return false;
        };
        if self.boot.is_empty() {
            return false;
        }
        if !boot.starts_with(&self.boot) {
            // An earlier boot: every process of it is gone.
            return true;
        }
        if self.pidns != pidns {
            // Another pid namespace's pid means nothing here.
            return false;
        }
        start_time(self.pid) != Some(self.start)
    }
}

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks
/// after boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from
    // the last ')'. Field 3 is the first after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

fn pid_namespace() -> Option<u64> {
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// The pid in a name `gilbench-KIND-PID-RANDOM`, if it has that shape.
fn pid_in_name(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("gilbench-")?;
    let rest = KINDS
        .iter()
        .find_map(|kind| rest.strip_prefix(kind)?.strip_prefix('-'))?;
    let (pid, random) = rest.split_once('-')?;
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (plain(random) && pid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether `path` (named `name`) is a directory a dead gilbench left behind.
fn is_stale(path: &Path, name: &str) -> bool {
    let Some(pid) = pid_in_name(name) else {
        return false;
    };
    let uid = nix::unistd::geteuid().as_raw();
    let ours = |m: &std::fs::Metadata| m.uid() == uid;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() && ours(&m) => {}
        _ => return false,
    }
    let marker = path.join(MARKER);
    match std::fs::symlink_metadata(&marker) {
        Ok(m) if m.file_type().is_file() && ours(&m) && m.len() < 4096 => {}
        _ => return false,
    }
    let Ok(text) = std::fs::read_to_string(&marker) else {
        return false;
    };
    Owner::parse(&text).is_some_and(|owner| owner.pid == pid && owner.is_dead())
}

/// Removes every directory directly under `bases` that a dead gilbench left
/// behind (see the module documentation); returns those removed. Errors are
/// ignored: a directory that cannot be read or removed is left as it is.
pub fn sweep(bases: &[PathBuf]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for base in bases {
        let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.clone());
        if seen.contains(&base) {
            continue;
        }
        seen.push(base.clone());
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let path = entry.path();
            // `remove_dir_all` does not follow symlinks inside the directory.
            if is_stale(&path, name) && std::fs::remove_dir_all(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

/// Where gilbench makes its directories: `$TMPDIR` (or `/tmp`), and `/tmp`,
/// where the manager's socket goes when `$TMPDIR` is too long for one.
pub fn bases() -> Vec<PathBuf> {
    vec![std::env::temp_dir(), PathBuf::from("/tmp")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_markers_must_have_the_exact_shape() {
        assert_eq!(pid_in_name("gilbench-twins-123-aB9xYz"), Some(123));
        assert_eq!(pid_in_name("gilbench-manager-7-0123abcd"), Some(7));
        for bad in [
            "gilbench-twins-abc",
            "gilbench-twins-12-",
            "gilbench-other-12-x",
            "gilbench-twins--x",
            "gilbench-twins-1x-y",
            "gilbench-twins-1-a/b",
            "xgilbench-twins-1-a",
        ] {
            assert_eq!(pid_in_name(bad), None, "{bad}");
        }
        let me = Owner::of(std::process::id()).unwrap();
        assert_eq!(Owner::parse(&me.render()), Some(me.clone()));
        assert!(!me.is_dead());
        assert_eq!(Owner::parse(&(me.render() + "extra\n")), None);
        assert_eq!(Owner::parse(&me.render().replace("pid ", "pid  ")), None);
        let earlier_boot = Owner {
            boot: "another-boot".into(),
            ..me.clone()
        };
        assert!(earlier_boot.is_dead());
        let elsewhere = Owner {
            pidns: me.pidns + 1,
            start: 0,
            ..me.clone()
        };
        assert!(!elsewhere.is_dead());
        let reused = Owner { start: 0, ..me };
        assert!(reused.is_dead());
    }
}
