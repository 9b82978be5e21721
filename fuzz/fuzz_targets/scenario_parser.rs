//! Scenario files, fed anything: the text is parsed as a scenario file and, when
//! it parses, turned into a plan as `gilbench scenario FILE` would. Either step may
//! refuse the input (bad input, exit 2 in the binary); neither may panic.
//!
//! The file is a memfd, named by its `/proc/self/fd/N` path: nothing is written
//! to disk, so nothing is left behind however the fuzzer ends (libFuzzer leaves
//! with `_Exit` on Ctrl-C, a crash or a timeout, when no destructor runs; a file
//! in `$TMPDIR` was left there every time).
#![no_main]

use gilbench::cli::{Cli, Command};
use gilbench::plan::Plan;
use gilbench::scenario::{ScenarioFile, Source};
use libfuzzer_sys::fuzz_target;
use nix::sys::memfd::{memfd_create, MFdFlags};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

/// One in-memory file per fuzzing process, rewritten for every input, and the
/// path `gilbench scenario` opens it by; `None` if the kernel has no memfd.
fn scenario_file() -> Option<&'static (File, String)> {
    static FILE: OnceLock<Option<(File, String)>> = OnceLock::new();
    FILE.get_or_init(|| {
        let file = File::from(memfd_create("gilbench-fuzz.toml", MFdFlags::MFD_CLOEXEC).ok()?);
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        Some((file, path))
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source {
        origin: "fuzz.toml".into(),
        text: text.into(),
    };
    if ScenarioFile::parse(&source).is_err() {
        return;
    }
    let Some((file, path)) = scenario_file() else {
        return;
    };
    if file.set_len(0).is_err() || file.write_all_at(text.as_bytes(), 0).is_err() {
        return;
    }
    let cli = <Cli as clap::Parser>::try_parse_from(["gilbench", "scenario", path]);
    if let Ok(Cli {
        command: Command::Scenario(args),
        ..
    }) = cli
    {
        let _ = Plan::from_args(&args);
    }
});
