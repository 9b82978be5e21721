//! Which ELF file to probe: the interpreter behind the command, and the
//! libpython it maps.
//!
//! `python3` is often not the interpreter: pyenv's `python3` is a shell script
//! that `exec`s the real one, and a uprobe on a shell script fires never. So the
//! command is asked once, as the twin would start it, for `sys.executable` and
//! its own `/proc/self/maps`: the real binary, and whichever `libpython*.so` the
//! dynamic loader actually mapped into it (pyenv builds with `--enable-shared`;
//! a static build has the interpreter in the binary itself).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the probes go into, for one interpreter command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The real interpreter binary (`sys.executable`, symlinks resolved).
    pub executable: PathBuf,
    /// The file holding the interpreter loop: the mapped libpython, or the
    /// executable for a static build.
    pub library: PathBuf,
}

/// Asks `python` where it really is and what it maps.
pub fn resolve(python: &Path) -> Result<Target, String> {
    // One line of Python that 2.7 and 3.x both read.
    const SCRIPT: &str =
        "import sys; sys.stdout.write(sys.executable + '\\n' + open('/proc/self/maps').read())";
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", python.display(), out.status));
    }
    parse(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("{} did not say where it is", python.display()))
}

/// `sys.executable`, then the maps.
fn parse(text: &str) -> Option<Target> {
    let mut lines = text.lines();
    let executable = PathBuf::from(lines.next()?.trim());
    if executable.as_os_str().is_empty() {
        return None;
    }
    let executable = std::fs::canonicalize(&executable).unwrap_or(executable);
    let library = lines
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(PathBuf::from)
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libpython") && n.contains(".so"))
        })
        .unwrap_or_else(|| executable.clone());
    Some(Target {
        executable,
        library,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapped_libpython_wins_and_a_static_build_is_its_own_library() {
        let maps = "/opt/py/bin/python3.11\n\
            5555-6666 r-xp 00000000 08:01 12 /opt/py/bin/python3.11\n\
            7f00-7f10 r-xp 00001000 08:01 13 /opt/py/lib/libpython3.11.so.1.0\n\
            7f20-7f30 r-xp 00001000 08:01 14 /usr/lib/x86_64-linux-gnu/libc.so.6\n";
        let t = parse(maps).unwrap();
        assert_eq!(t.library, PathBuf::from("/opt/py/lib/libpython3.11.so.1.0"));
        let t =
            parse("/usr/bin/python3.11\n5555-6666 r-xp 0 08:01 12 /usr/bin/python3.11\n").unwrap();
        assert_eq!(t.library, t.executable);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn resolves_a_real_python_when_there_is_one() {
        let Ok(python) = crate::cpython::interpreters::Finder::from_env()
            .on_path("python3")
            .map(|i| i.path)
        else {
            eprintln!("skipped: no python3 on the PATH");
            return;
        };
        let t = resolve(&python).unwrap();
        assert!(t.executable.is_file(), "{t:?}");
        assert!(t.library.is_file(), "{t:?}");
    }
}
