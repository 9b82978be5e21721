//! `--python LIST|all`: which real CPythons the twins (and `verify`) run on.
//!
//! An entry of LIST is a name (`python3.9`), a version (`3.9`, `3.9.18`), a path
//! (`/usr/bin/python3`), or `all`. Names are looked up on the PATH first, then
//! among pyenv's installed versions (`$(pyenv root)/versions/X/bin/NAME`). A
//! name on the PATH is *tried*, not trusted: pyenv puts a shim for every
//! installed version on the PATH, and the shims of the versions that are not
//! selected print "command not found" — such a candidate falls through to
//! pyenv's own copy.
//!
//! Every interpreter found is identified by running it once: `sys.version_info`,
//! whether it is a free-threaded build (`Py_GIL_DISABLED`), the implementation
//! and `sys.executable` — the real binary behind a shim, which is what runs the
//! twins. The probe is written for every Python from 2.6 on, so an old one is
//! recognised and refused by version rather than by a syntax error.
//!
//! `all` is every distinct CPython (one per version and build) on the PATH and
//! under pyenv. conda and uv installs count when they are on the PATH.

use crate::plan::InputError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The oldest CPython gilbench's twins run on (Python 2's last release).
pub const OLDEST: (u32, u32) = (2, 7);

/// What the default is when `--python` is not given.
pub const DEFAULT_NAME: &str = "python3";

/// How long an interpreter gets to say what it is. A real one answers in tens of
/// milliseconds; a path that is something else should not hang the run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Printed by the probe: implementation, version, free-threaded, executable.
/// Python 2.6+ syntax; `sysconfig` is missing before 2.7 and is optional.
const PROBE: &str = "import sys, platform\n\
try:\n    import sysconfig\n    ft = sysconfig.get_config_var('Py_GIL_DISABLED')\nexcept Exception:\n    ft = 0\n\
v = sys.version_info\n\
sys.stdout.write('gilbench-python %s %d %d %d %d %s\\n' % (platform.python_implementation(), v[0], v[1], v[2], ft and 1 or 0, sys.executable))\n";

/// One real interpreter, identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The binary that runs the twins (`sys.executable`, not a shim).
    pub path: PathBuf,
    /// `sys.version_info[:3]`.
    pub version: (u32, u32, u32),
    /// A free-threaded build (3.13t and later): no GIL.
    pub free_threaded: bool,
}

impl Interpreter {
    /// `3.9`, or `3.13t` for a free-threaded build.
    pub fn short(&self) -> String {
        let t = if self.free_threaded { "t" } else { "" };
        format!("{}.{}{t}", self.version.0, self.version.1)
    }

    /// `3.9.18`.
    pub fn full_version(&self) -> String {
        format!("{}.{}.{}", self.version.0, self.version.1, self.version.2)
    }

    /// `(major, minor)`.
    pub fn minor(&self) -> (u32, u32) {
        (self.version.0, self.version.1)
    }

    /// A twin row's JSON `interpreter` field.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.path.display().to_string(),
            "version": self.full_version(),
            "free_threaded": self.free_threaded,
        })
    }
}

/// The interpreters chosen, and how their rows are named.
#[derive(Debug, Clone)]
pub struct Choice {
    /// In the order asked for (`all`: by version).
    pub interpreters: Vec<Interpreter>,
    /// `--python` was given: rows say `cpythonX.Y-MODEL`, not `cpython-MODEL`.
    pub versioned: bool,
}

impl Choice {
    /// The row-name prefix for `interp`: `cpython-` or `cpython3.9-`.
    pub fn prefix(&self, interp: &Interpreter) -> String {
        if self.versioned {
            format!("cpython{}-", interp.short())
        } else {
            "cpython-".to_string()
        }
    }
}

/// Why `--python` could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ChooseError {
    /// Bad input: what was asked for is not there, or not a CPython ≥ 2.7.
    /// (A source, not `transparent`, so the exit code finds the `InputError`.)
    #[error("{0}")]
    Input(#[source] InputError),
    /// The OS refused the process that would identify an interpreter
    /// (RLIMIT_NPROC): a limit gilbench cannot meet, not a missing Python.
    #[error("{0}")]
    Limit(String),
}

/// Resolves `--python LIST`. An empty list is the default: `python3`, or `None`
/// when there is none (the caller says so and goes on without twins). Anything
/// asked for that cannot be found or is not a CPython ≥ 2.7 is bad input; an
/// interpreter the OS would not start is a limit, whatever was asked for.
pub fn choose(list: &[String]) -> Result<Option<Choice>, ChooseError> {
    let finder = Finder::from_env();
    let chosen = choose_with(&finder, list);
    if let Some(why) = finder.refused.take() {
        return Err(ChooseError::Limit(why));
    }
    chosen.map_err(ChooseError::Input)
}

fn choose_with(finder: &Finder, list: &[String]) -> Result<Option<Choice>, InputError> {
    if list.is_empty() {
        // The default is the PATH's `python3`, as before `--python` existed: not
        // whichever version pyenv happens to have installed.
        return Ok(finder.on_path(DEFAULT_NAME).ok().map(|interp| Choice {
            interpreters: vec![interp],
            versioned: false,
        }));
    }
    let mut chosen: Vec<Interpreter> = Vec::new();
    for spec in list.iter().map(|s| s.trim()) {
        let found = if spec == "all" {
            let all = finder.all();
            if all.is_empty() {
                return Err(InputError::flag(
                    "--python",
                    "all: no CPython ≥ 2.7 on the PATH or under pyenv",
                ));
            }
            all
        } else {
            vec![finder.resolve(spec)?]
        };
        for interp in found {
            if !chosen.iter().any(|c| c.path == interp.path) {
                chosen.push(interp);
            }
        }
    }
    Ok(Some(Choice {
        interpreters: chosen,
        versioned: true,
    }))
}

/// Where interpreters are looked for: the PATH's directories and pyenv's root.
#[derive(Debug, Clone, Default)]
pub struct Finder {
    /// The PATH, in order.
    pub path: Vec<PathBuf>,
    /// `$(pyenv root)`, when there is one.
    pub pyenv_root: Option<PathBuf>,
    /// The line to print if the OS refused to start a candidate (RLIMIT_NPROC):
    /// the search goes on, but what it finds or misses then proves nothing.
    refused: std::cell::RefCell<Option<String>>,
}

impl Finder {
    /// The process's PATH; pyenv's root from `PYENV_ROOT`, else `~/.pyenv`.
    pub fn from_env() -> Finder {
        let path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        let pyenv_root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")))
            .filter(|p| p.join("versions").is_dir());
        Finder {
            path,
            pyenv_root,
            refused: Default::default(),
        }
    }

    /// One entry of `--python`: a path, a version or a name.
    pub fn resolve(&self, spec: &str) -> Result<Interpreter, InputError> {
        let bad = |message: String| InputError::flag("--python", message);
        if spec.is_empty() {
            return Err(bad("an empty interpreter name".into()));
        }
        if spec.contains('/') {
            let path = Path::new(spec);
            if !path.is_file() {
                return Err(bad(format!("{spec}: no such file")));
            }
            let interp = self
                .identify(path)
                .map_err(|why| bad(format!("{spec}: {why}")))?;
            return check_age(spec, interp).map_err(bad);
        }
        if let Some(version) = parse_version(spec) {
            let name = match version.as_slice() {
                [major] => format!("python{major}"),
                [major, minor, ..] => format!("python{major}.{minor}"),
                _ => unreachable!("parse_version gives 1 to 3 parts"),
            };
            let interp = self
                .by_version(&version)
                .or_else(|_| self.by_name(&name))
                .map_err(|why| bad(format!("no CPython {spec} found: {why}")))?;
            let matches =
                version
                    .iter()
                    .zip([interp.version.0, interp.version.1, interp.version.2]);
            if matches.clone().any(|(want, got)| *want != got) {
                return Err(bad(format!(
                    "no CPython {spec} found ({name} is {})",
                    interp.full_version()
                )));
            }
            return check_age(spec, interp).map_err(bad);
        }
        let interp = self
            .by_name(spec)
            .map_err(|why| bad(format!("unknown interpreter `{spec}`: {why}")))?;
        check_age(spec, interp).map_err(bad)
    }

    /// `NAME` on the PATH: the first that runs. `Err` says why the last one
    /// found did not (`None`: there was none).
    pub fn on_path(&self, name: &str) -> Result<Interpreter, Option<String>> {
        let mut last = None;
        for dir in &self.path {
            let candidate = dir.join(name);
            if candidate.is_file() {
                match self.identify(&candidate) {
                    Ok(interp) => return Ok(interp),
                    // A pyenv shim of an unselected version: try the next.
                    Err(why) => last = Some(format!("{}: {why}", candidate.display())),
                }
            }
        }
        Err(last)
    }

    /// `NAME` on the PATH (the first that runs), then under pyenv's versions.
    pub fn by_name(&self, name: &str) -> Result<Interpreter, String> {
        let last = match self.on_path(name) {
            Ok(interp) => return Ok(interp),
            Err(last) => last,
        };
        for dir in self.pyenv_versions() {
            let candidate = dir.join("bin").join(name);
            if candidate.is_file() {
                if let Ok(interp) = self.identify(&candidate) {
                    return Ok(interp);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            let pyenv = self.pyenv_root.as_ref().map_or_else(String::new, |r| {
                format!(" or under {}", r.join("versions").display())
            });
            format!("not on the PATH{pyenv}")
        }))
    }

    /// [`identify`], remembering a refusal by the OS for [`choose`].
    fn identify(&self, path: &Path) -> Result<Interpreter, String> {
        identify(path).map_err(|why| match why {
            Unidentified::Refused(line) => {
                self.refused
                    .borrow_mut()
                    .get_or_insert_with(|| line.clone());
                line
            }
            Unidentified::NotPython(why) => why,
        })
    }

    /// pyenv's version `3.9` (the newest 3.9.x) or `3.9.18`.
    fn by_version(&self, version: &[u32]) -> Result<Interpreter, String> {
        let mut dirs: Vec<(Vec<u32>, PathBuf)> = self
            .pyenv_versions()
            .into_iter()
            .filter_map(|dir| {
                let name = dir.file_name()?.to_str()?.to_string();
                let v = parse_version(&name)?;
                v.starts_with(version).then_some((v, dir))
            })
            .collect();
        dirs.sort();
        let (_, dir) = dirs.pop().ok_or("not among pyenv's versions")?;
        self.identify(&dir.join("bin").join("python"))
    }

    /// `$(pyenv root)/versions/*`, sorted.
    fn pyenv_versions(&self) -> Vec<PathBuf> {
        let Some(root) = &self.pyenv_root else {
            return Vec::new();
        };
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        dirs
    }

    /// Every distinct CPython ≥ 2.7 (one per version and build) on the PATH and
    /// under pyenv, oldest first. The PATH's copy of a version comes first.
    pub fn all(&self) -> Vec<Interpreter> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        for dir in &self.path {
            let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_name().to_str().is_some_and(is_python_name))
                .map(|e| e.path())
                .collect();
            names.sort();
            candidates.extend(names);
        }
        for dir in self.pyenv_versions() {
            candidates.push(dir.join("bin").join("python"));
        }
        let mut found: Vec<Interpreter> = Vec::new();
        let mut seen: Vec<PathBuf> = Vec::new();
        for candidate in candidates {
            let real = std::fs::canonicalize(&candidate).unwrap_or(candidate.clone());
            if seen.contains(&real) || !candidate.is_file() {
                continue;
            }
            seen.push(real);
            let Ok(interp) = self.identify(&candidate) else {
                continue;
            };
            let too_old = interp.minor() < OLDEST;
            let dup = found
                .iter()
                .any(|f| f.minor() == interp.minor() && f.free_threaded == interp.free_threaded);
            if !too_old && !dup {
                found.push(interp);
            }
        }
        found.sort_by_key(|i| (i.version, i.free_threaded));
        found
    }
}

/// `python`, `python3`, `python3.12`, `python3.13t`: names `all` looks at.
fn is_python_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("python") else {
        return false;
    };
    let rest = rest.strip_suffix('t').unwrap_or(rest);
    rest.is_empty() || parse_version(rest).is_some_and(|v| v.len() <= 2)
}

/// `3`, `3.9`, `3.9.18` → their numbers.
fn parse_version(text: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| (1..=3).contains(&p.len()))
}

/// Refuses a Python older than [`OLDEST`].
fn check_age(spec: &str, interp: Interpreter) -> Result<Interpreter, String> {
    if interp.minor() < OLDEST {
        return Err(format!(
            "{spec} is Python {}, older than {}.{} (the oldest the twins run on)",
            interp.full_version(),
            OLDEST.0,
            OLDEST.1
        ));
    }
    Ok(interp)
}

/// Why running a candidate did not identify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unidentified {
    /// It ran (or could not be run) and is no usable Python: why.
    NotPython(String),
    /// The OS refused to start it (EAGAIN: RLIMIT_NPROC): the one line to print.
    Refused(String),
}

impl std::fmt::Display for Unidentified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unidentified::NotPython(why) | Unidentified::Refused(why) => f.write_str(why),
        }
    }
}

/// Runs `path` once to learn what it is. `Err` says why it is not a CPython,
/// or that the OS would not start it.
pub fn identify(path: &Path) -> Result<Interpreter, Unidentified> {
    // exec right after fork (std's Command): no single-thread requirement.
    let mut child = Command::new(path)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let doing = format!("starting {} to identify it", path.display());
            match super::refused(&e, &doing) {
                Some(line) => Unidentified::Refused(line),
                None => Unidentified::NotPython(format!("cannot run it: {e}")),
            }
        })?;
    // The probe prints one short line, far less than a pipe holds, so its
    // output is read once it has exited: no reader threads, which RLIMIT_NPROC
    // could refuse. Anything that fills a pipe instead is no Python, and is
    // stopped at the timeout.
    let status = super::wait::wait(&mut child, Some(PROBE_TIMEOUT));
    fn read(pipe: Option<impl std::io::Read>) -> Vec<u8> {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            let _ = std::io::Read::read_to_end(&mut pipe.take(1 << 16), &mut bytes);
        }
        bytes
    }
    let out = read(child.stdout.take());
    let err = read(child.stderr.take());
    let status = status.map_err(|why| Unidentified::NotPython(format!("not a Python ({why})")))?;
    let text = String::from_utf8_lossy(&out);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("gilbench-python "));
    let Some(line) = line.filter(|_| status.success()) else {
        let why = super::last_line(&err);
        return Err(Unidentified::NotPython(format!("not a Python ({why})")));
    };
    parse_probe(line, path).map_err(Unidentified::NotPython)
}

/// The probe's line after `gilbench-python `.
fn parse_probe(line: &str, path: &Path) -> Result<Interpreter, String> {
    let mut parts = line.splitn(6, ' ');
    let implementation = parts.next().unwrap_or_default();
    let mut num = || parts.next().and_then(|p| p.trim().parse::<u32>().ok());
    let (Some(major), Some(minor), Some(micro), Some(ft)) = (num(), num(), num(), num()) else {
        return Err(format!("not a Python (it said `{line}`)"));
    };
    if implementation != "CPython" {
        return Err(format!(
            "{implementation} {major}.{minor}, not CPython (the twins measure CPython's GIL)"
        ));
    }
    let executable = parts.next().map(str::trim).unwrap_or_default();
    let path = if executable.is_empty() || !Path::new(executable).is_file() {
        path.to_path_buf()
    } else {
        PathBuf::from(executable)
    };
    Ok(Interpreter {
        path,
        version: (major, minor, micro),
        free_threaded: ft == 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_are_read() {
        let i = parse_probe("CPython 3 9 18 0 /bin/sh", Path::new("/x/python3.9")).unwrap();
        assert_eq!(i.version, (3, 9, 18));
        assert_eq!(i.path, Path::new("/bin/sh"), "sys.executable wins");
        assert_eq!(i.short(), "3.9");
        let t = parse_probe("CPython 3 13 0 1 ", Path::new("/x/python3.13t")).unwrap();
        assert_eq!(
            (t.short(), t.path.clone()),
            ("3.13t".into(), "/x/python3.13t".into())
        );
        assert!(parse_probe("PyPy 3 9 0 0 /x", Path::new("/x"))
            .unwrap_err()
            .contains("not CPython"));
        assert!(parse_probe("CPython x", Path::new("/x")).is_err());
    }

    #[test]
    fn names_and_versions() {
        for yes in [
            "python",
            "python3",
            "python3.12",
            "python3.13t",
            "python2.7",
        ] {
            assert!(is_python_name(yes), "{yes}");
        }
        for no in ["python3-config", "python3.12-gdb.py", "pythonx", "ipython"] {
            assert!(!is_python_name(no), "{no}");
        }
        assert_eq!(parse_version("3.9"), Some(vec![3, 9]));
        assert_eq!(parse_version("3.9.18"), Some(vec![3, 9, 18]));
        assert_eq!(parse_version("python3"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
    }

    #[test]
    fn too_old_is_refused_by_version() {
        let old = Interpreter {
            path: "/p".into(),
            version: (2, 6, 9),
            free_threaded: false,
        };
        let why = check_age("python2.6", old).unwrap_err();
        assert!(
            why.contains("2.6.9") && why.contains("older than 2.7"),
            "{why}"
        );
    }

    #[test]
    fn prefixes() {
        let i = Interpreter {
            path: "/p".into(),
            version: (2, 7, 18),
            free_threaded: false,
        };
        let mut choice = Choice {
            interpreters: vec![i.clone()],
            versioned: false,
        };
        assert_eq!(choice.prefix(&i), "cpython-");
        choice.versioned = true;
        assert_eq!(choice.prefix(&i), "cpython2.7-");
    }

    #[test]
    fn a_file_that_is_not_a_python_is_named_as_such() {
        let why = identify(Path::new("/bin/true")).unwrap_err().to_string();
        assert!(why.contains("not a Python"), "{why}");
    }
}
