//! The private directory the manager's Unix socket lives in.
//!
//! CPython's `multiprocessing` puts its sockets in a fresh `mkdtemp` directory
//! (`util.get_temp_dir()`, mode 0700) with a random name, so no other user can even
//! reach the socket, whatever its own permissions. We do the same, and remove the
//! directory when the guard is dropped — on success, on an error and on unwinding.
//! A process that is killed outright cannot run destructors, so the model's parent
//! and the server both hold a guard and both remove it (removal is idempotent).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The socket file's name inside the directory.
const SOCKET_NAME: &str = "manager.sock";

/// Where Unix socket paths must fit: `sizeof(sockaddr_un.sun_path)` less the NUL.
const SUN_PATH_MAX: usize = 107;

/// A fresh mode-0700 directory with a random name; removed (with the socket in it)
/// when dropped.
#[derive(Debug)]
pub struct SocketDir {
    dir: PathBuf,
    /// Whether dropping this guard removes the directory.
    owner: bool,
}

impl SocketDir {
    /// Creates `gilbench-manager-PID-XXXXXXXXXXXXXXXX`, marked as this process's
    /// (`sys::tempdirs`), under `$TMPDIR` (or `/tmp` when
    /// `$TMPDIR` is unset or too long for a socket path).
    pub fn create() -> std::io::Result<SocketDir> {
        let base = std::env::temp_dir();
        // `/gilbench-manager-PID-` (pid up to 7 digits), 16 hex digits, `/manager.sock`.
        let base = if base.as_os_str().len() + 56 > SUN_PATH_MAX {
            PathBuf::from("/tmp")
        } else {
            base
        };
        Self::create_in(&base)
    }

    /// Creates the directory under `base`.
    pub fn create_in(base: &Path) -> std::io::Result<SocketDir> {
        let mut last = None;
        for _ in 0..8 {
            let mut random = [0u8; 8];
            super::auth::random_bytes(&mut random)?;
            let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let prefix = crate::sys::tempdirs::prefix("manager");
            let dir = base.join(format!("{prefix}{name}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    // The umask can only have removed bits; set the mode anyway so
                    // the promise does not depend on it.
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                    let made = SocketDir { dir, owner: true };
                    // Whose it is, so a later gilbench can remove it if this one is killed.
                    crate::sys::tempdirs::mark(made.path())?;
                    if made.socket_path().as_os_str().len() > SUN_PATH_MAX {
                        return Err(std::io::Error::other(format!(
                            "socket path {} is too long for a Unix socket",
                            made.socket_path().display()
                        )));
                    }
                    return Ok(made);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free directory name")))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The socket's path inside it.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join(SOCKET_NAME)
    }

    /// A guard for the same directory in another process (after fork): it removes
    /// the directory too when dropped.
    pub fn adopt(dir: PathBuf) -> SocketDir {
        SocketDir { dir, owner: true }
    }

    /// Stops this guard from removing the directory (another owner will).
    pub fn disown(mut self) -> PathBuf {
        self.owner = false;
        std::mem::take(&mut self.dir)
    }

    /// Removes the socket and the directory now; missing ones are not an error.
    pub fn remove(&self) -> std::io::Result<()> {
        remove_dir(&self.dir)
    }
}

/// Removes the socket file, the owner's marker and the directory, ignoring ones
/// already gone.
pub fn remove_dir(dir: &Path) -> std::io::Result<()> {
    let ignore_missing = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    ignore_missing(std::fs::remove_file(dir.join(SOCKET_NAME)))?;
    ignore_missing(std::fs::remove_file(dir.join(crate::sys::tempdirs::MARKER)))?;
    ignore_missing(std::fs::remove_dir(dir))
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        if self.owner && !self.dir.as_os_str().is_empty() {
            let _ = remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn private_and_removed_on_drop() {
        let base = tempfile::tempdir().unwrap();
        let dir = SocketDir::create_in(base.path()).unwrap();
        let path = dir.path().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o700);
        std::fs::write(dir.socket_path(), b"").unwrap();
        let other = SocketDir::create_in(base.path()).unwrap();
        assert_ne!(other.path(), dir.path(), "names are random");
        drop(dir);
        assert!(!path.exists());
        other.remove().unwrap();
        other.remove().unwrap(); // idempotent
    }
}
