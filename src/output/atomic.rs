//! Every file gilbench writes (`--output`, `--trace`, `--plot`, `--plot-timeline`,
//! the `--hgrm` files) goes through [`AtomicFile`]: checked and opened before any
//! work, written to a temporary file beside the target, renamed into place only
//! on success.
//!
//! So gilbench never deletes or truncates a file it did not create: a failed,
//! timed-out or interrupted run drops the temporary file and leaves whatever was
//! at the path as it was. A run killed outright (SIGKILL) cannot drop it; its
//! name says who made it, and the next run that writes the same target removes
//! it once that maker is provably dead (`sys::tempfiles`).
//!
//! What a path may name:
//! - a new name in an existing directory: created on success;
//! - an existing regular file: replaced on success (keeping its permissions);
//! - a symlink to a regular file: followed, like a shell's `>`: the file it points
//!   to is replaced on success and the link stays a link;
//! - anything else (a directory, a device such as `/dev/null` or `/dev/full`, a
//!   FIFO, a socket, a dangling symlink, a name in a missing directory): refused
//!   before any work, one line, exit 2 — gilbench does not write into devices.

use crate::plan::InputError;
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An output file being prepared: a temporary file beside its target.
#[derive(Debug)]
pub struct AtomicFile {
    /// The path as the user gave it, for messages.
    shown: PathBuf,
    /// Where the file is renamed to: the path, or the file a symlink points to.
    target: PathBuf,
    /// The temporary file; dropped (and so removed) unless committed.
    temp: tempfile::NamedTempFile,
    /// The permissions of the file being replaced, kept across the rename.
    keep: Option<Permissions>,
}

impl AtomicFile {
    /// Checks `path` for `flag` and creates the temporary file beside it.
    pub fn create(flag: &str, path: &Path) -> Result<AtomicFile, InputError> {
        let bad = |message: String| InputError::Flag {
            flag: flag.into(),
            message,
        };
        let shown = path.to_path_buf();
        let (target, keep) =
            resolve(path).map_err(|why| bad(format!("{}: {why}", path.display())))?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A temporary file for this target that a killed gilbench left (SIGKILL
        // runs no destructor) goes now, if its name proves it ours and its maker
        // dead; nothing else is touched (`sys::tempfiles`).
        crate::sys::tempfiles::sweep(&dir, &name);
        let temp = tempfile::Builder::new()
            .prefix(&crate::sys::tempfiles::prefix(&name))
            .suffix(crate::sys::tempfiles::SUFFIX)
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| bad(format!("cannot write in {}: {}", dir.display(), e)))?;
        Ok(AtomicFile {
            shown,
            target,
            temp,
            keep,
        })
    }

    /// The path as the user gave it.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// Writes `bytes` and renames the file into place.
    pub fn commit(mut self, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let file = self.temp.as_file_mut();
        file.write_all(bytes)?;
        file.flush()?;
        if let Some(mode) = self.keep.take() {
            file.set_permissions(mode)?;
        }
        self.temp.persist(&self.target).map_err(|e| e.error)?;
        Ok(self.shown)
    }
}

/// Where a file at `path` would be renamed to, and the permissions of the file
/// it replaces; or why `path` is refused.
fn resolve(path: &Path) -> Result<(PathBuf, Option<Permissions>), String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::metadata(path) {
            Ok(target) if target.is_file() => {
                let real = std::fs::canonicalize(path)
                    .map_err(|e| format!("cannot follow the symlink: {}", e))?;
                Ok((real, Some(target.permissions())))
            }
            Ok(target) => Err(format!(
                "a symlink to {}; name a regular file or a new file",
                crate::sys::fs::kind(&target.file_type())
            )),
            Err(_) => Err("a dangling symlink; name a regular file or a new file".into()),
        },
        Ok(meta) if meta.is_file() => Ok((path.to_path_buf(), Some(meta.permissions()))),
        Ok(meta) => Err(format!(
            "is {}; name a regular file or a new file",
            crate::sys::fs::kind(&meta.file_type())
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if path.file_name().is_none() {
                return Err("names no file".into());
            }
            match std::fs::metadata(parent) {
                Ok(m) if m.is_dir() => Ok((path.to_path_buf(), None)),
                Ok(_) => Err(format!("{} is not a directory", parent.display())),
                Err(_) => Err(format!("directory {} does not exist", parent.display())),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &Path) -> String {
        AtomicFile::create("--trace", path).unwrap_err().to_string()
    }

    #[test]
    fn new_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let file = AtomicFile::create("--trace", &path).unwrap();
        assert!(!path.exists());
        file.commit(b"hello").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }

    #[test]
    fn existing_file_untouched_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        drop(AtomicFile::create("--trace", &path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        AtomicFile::create("--trace", &path)
            .unwrap()
            .commit(b"new")
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn symlink_to_a_file_is_followed_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        drop(AtomicFile::create("--trace", &link).unwrap());
        assert_eq!(std::fs::read(&real).unwrap(), b"old");
        AtomicFile::create("--trace", &link)
            .unwrap()
            .commit(b"new")
            .unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn devices_directories_fifos_and_missing_dirs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refused(Path::new("/dev/null")).contains("character device"));
        assert!(refused(dir.path()).contains("a directory"));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(refused(&fifo).contains("a FIFO"));
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("none"), &dangling).unwrap();
        assert!(refused(&dangling).contains("dangling"));
        let to_dev = dir.path().join("to-dev");
        std::os::unix::fs::symlink("/dev/null", &to_dev).unwrap();
        assert!(refused(&to_dev).contains("symlink to a character device"));
        assert!(refused(&dir.path().join("no/such/file")).contains("does not exist"));
        assert!(refused(Path::new("/nonexistent-dir/t.json"))
            .starts_with("--trace: /nonexistent-dir/t.json"));
    }
}
