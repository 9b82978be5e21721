//! A stub "interpreter": a shell script that answers gilbench's identity probe
//! (`-c …`) as a chosen CPython version, describes any twin (`SCRIPT
//! --describe`), and on a twin run does what the test says (print fixed twin
//! JSON, or crash). It lets `--python` and `verify` be tested deterministically,
//! with no timing and no real Python.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a stub does when it is asked to run a twin.
pub enum StubRun<'a> {
    /// Prints this JSON on stdout and exits 0.
    Json(&'a str),
    /// Writes a line on stderr and kills itself with SIGSEGV.
    Crash,
}

/// Writes an executable stub named `name` into `dir` that says it is CPython
/// `version` (`"3.12.0"`; `"3.13.0t"`: a free-threaded build), describes twins
/// with `models`, and runs as `run`.
pub fn stub_python(
    dir: &Path,
    name: &str,
    version: &str,
    models: &[&str],
    run: StubRun<'_>,
) -> PathBuf {
    let free_threaded = u8::from(version.ends_with('t'));
    let v: Vec<&str> = version.trim_end_matches('t').split('.').collect();
    let models = models
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(",");
    let describe =
        format!(r#"{{"params":[],"models":[{models}],"ops":null,"start_method":false}}"#);
    let run = match run {
        // Shell builtins only: a test may run gilbench with a PATH of stubs alone.
        StubRun::Json(json) => format!("printf '%s\\n' '{json}'\nexit 0"),
        StubRun::Crash => "echo 'Fatal Python error: stub crash' >&2\nkill -SEGV $$".to_string(),
    };
    let text = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = -c ]; then echo \"gilbench-python CPython {} {} {} {free_threaded} \"; exit 0; fi\n\
         if [ \"$2\" = --describe ]; then echo '{describe}'; exit 0; fi\n\
         {run}\n",
        v[0], v[1], v[2]
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
