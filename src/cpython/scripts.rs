//! The CPython twins, compiled into the binary and written out when needed.
//!
//! `scripts/*.py` are embedded with `include_str!`, so an installed gilbench
//! (`cargo install`, a copied binary) runs its twins wherever it is. Before a
//! twin runs they are written to a fresh private directory (mode 0700, from
//! `mkdtemp`, files 0600) that is removed when the [`ScriptDir`] is dropped:
//! on success, on an error and on Ctrl-C alike.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `(file name, text)` of one embedded script.
macro_rules! embed {
    ($file:literal) => {
        ($file, include_str!(concat!("../../scripts/", $file)))
    };
}

/// Every script a twin may import or run.
const FILES: &[(&str, &str)] = &[
    embed!("_twin.py"),
    embed!("_twin_asyncio.py"),
    embed!("_subinterp.py"),
    embed!("alloc.py"),
    embed!("convoy.py"),
    embed!("cpu_bound.py"),
    embed!("fork_cow.py"),
    embed!("gc_pause.py"),
    embed!("io_bound.py"),
    embed!("queue_twin.py"),
    embed!("refcount.py"),
    embed!("shared_counter.py"),
];

/// The oldest Python a script without a `# requires-python:` line runs on.
const DEFAULT_REQUIRES: (u32, u32) = (3, 7);

/// The twin for a workload: `cpu-bound` → `cpu_bound.py`; `queue` →
/// `queue_twin.py` (a `queue.py` would shadow the standard library's module).
pub fn twin_file(workload: &str) -> Option<&'static str> {
    let stem = workload.replace('-', "_");
    [format!("{stem}.py"), format!("{stem}_twin.py")]
        .iter()
        .find_map(|name| FILES.iter().find(|(f, _)| f == name).map(|(f, _)| *f))
        .filter(|f| !f.starts_with('_'))
}

/// The oldest Python `file` runs on, from its `# requires-python: >=X.Y` line.
pub fn requires_python(file: &str) -> (u32, u32) {
    FILES
        .iter()
        .find(|(f, _)| *f == file)
        .and_then(|(_, text)| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix("# requires-python: >="))
        })
        .and_then(parse_version)
        .unwrap_or(DEFAULT_REQUIRES)
}

/// `"3.9"` → `(3, 9)`.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// A private directory holding every twin; removed (with them) when dropped.
#[derive(Debug)]
pub struct ScriptDir {
    dir: tempfile::TempDir,
}

impl ScriptDir {
    /// Writes every embedded script to a fresh `gilbench-twins-PID-XXXXXX`
    /// directory under `$TMPDIR` (or `/tmp`), marked as this process's
    /// (`sys::tempdirs`).
    pub fn create() -> std::io::Result<ScriptDir> {
        // A random name, created exclusively (as mkdtemp does); the mode is
        // given, not left to the umask.
        let dir = tempfile::Builder::new()
            .prefix(&crate::sys::tempdirs::prefix("twins"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        // Says whose it is, so a later gilbench can remove it if this one is killed.
        crate::sys::tempdirs::mark(dir.path())?;
        for (name, text) in FILES {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dir.path().join(name))?;
            file.write_all(text.as_bytes())?;
        }
        Ok(ScriptDir { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A script's path inside it.
    pub fn script(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_find_their_twins() {
        assert_eq!(twin_file("cpu-bound"), Some("cpu_bound.py"));
        assert_eq!(twin_file("queue"), Some("queue_twin.py"));
        assert_eq!(twin_file("twin"), None);
        assert_eq!(twin_file("nothing"), None);
    }

    #[test]
    fn the_directory_is_private_and_goes_away() {
        let dir = ScriptDir::create().unwrap();
        let path = dir.path().to_path_buf();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(dir.script("_twin.py").is_file());
        // The scripts and the owner's marker.
        assert_eq!(FILES.len() + 1, std::fs::read_dir(&path).unwrap().count());
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn versions_come_from_the_marker() {
        assert_eq!(parse_version("2.7"), Some((2, 7)));
        assert_eq!(parse_version("x"), None);
        assert_eq!(requires_python("missing.py"), DEFAULT_REQUIRES);
    }
}
