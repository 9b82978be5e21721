//! Scenario files, fed anything: the text is parsed as a scenario file and, when
//! it parses, turned into a plan as `gilbench scenario FILE` would. Either step may
//! refuse the input (bad input, exit 2 in the binary); neither may panic.
#![no_main]

use gilbench::cli::{Cli, Command};
use gilbench::plan::Plan;
use gilbench::scenario::{ScenarioFile, Source};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One file per fuzzing process, rewritten for every input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("gilbench-fuzz-{}.toml", std::process::id()))
    })
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
    if std::fs::write(path(), text).is_err() {
        return;
    }
    let cli = <Cli as clap::Parser>::try_parse_from([
        "gilbench",
        "scenario",
        path().to_str().unwrap_or("fuzz.toml"),
    ]);
    if let Ok(Cli {
        command: Command::Scenario(args),
        ..
    }) = cli
    {
        let _ = Plan::from_args(&args);
    }
});
