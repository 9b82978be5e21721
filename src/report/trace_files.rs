//! The files `--trace` and `--plot-timeline` write, created before any work.
//!
//! Like `--output`, a path that cannot be written fails in a millisecond with exit
//! code 2, not after the run. If the run then fails, the empty files are removed
//! again, so a failed run leaves no half-made trace behind.

use super::timeline::TimelineOptions;
use super::{chrome_trace, timeline_plot, ScenarioReport};
use crate::plan::InputError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The trace outputs of one `gilbench scenario`.
#[derive(Debug, Default)]
pub struct TraceFiles {
    trace: Option<(File, PathBuf)>,
    plot: Option<(File, PathBuf)>,
    written: bool,
}

impl TraceFiles {
    /// Creates the files named by `--trace` and `--plot-timeline`.
    pub fn open(trace: Option<&Path>, plot: Option<&Path>) -> Result<TraceFiles, InputError> {
        let mut files = TraceFiles::default();
        files.trace = trace.map(|p| create("--trace", p)).transpose()?;
        files.plot = plot.map(|p| create("--plot-timeline", p)).transpose()?;
        Ok(files)
    }

    /// Writes the trace and the plot of `report`. `host_pid` is this process's
    /// pid (see [`chrome_trace`] for what it is used for).
    pub fn write(
        mut self,
        report: &ScenarioReport,
        host_pid: u32,
        options: &TimelineOptions,
    ) -> anyhow::Result<()> {
        use anyhow::Context;
        if let Some((file, path)) = &mut self.trace {
            file.write_all(&chrome_trace::render(report, host_pid))
                .and_then(|()| file.flush())
                .with_context(|| format!("writing --trace {}", path.display()))?;
        }
        if let Some((file, path)) = &mut self.plot {
            let svg = timeline_plot::render(report, options)?;
            file.write_all(&svg)
                .and_then(|()| file.flush())
                .with_context(|| format!("writing --plot-timeline {}", path.display()))?;
        }
        self.written = true;
        Ok(())
    }
}

impl Drop for TraceFiles {
    fn drop(&mut self) {
        if !self.written {
            for (_, path) in self.trace.iter().chain(&self.plot) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn create(flag: &str, path: &Path) -> Result<(File, PathBuf), InputError> {
    File::create(path)
        .map(|f| (f, path.to_path_buf()))
        .map_err(|e| InputError::Flag {
            flag: flag.into(),
            message: format!("cannot create {}: {e}", path.display()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_path_is_input_error_and_unused_files_are_removed() {
        let err = TraceFiles::open(Some(Path::new("/nonexistent-dir/t.json")), None).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("--trace: cannot create /nonexistent-dir/t.json"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        drop(TraceFiles::open(Some(&path), None).unwrap());
        assert!(
            !path.exists(),
            "an unwritten trace file must not stay behind"
        );
    }
}
