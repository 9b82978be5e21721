//! The files `--trace` and `--plot-timeline` write, created before any work.
//!
//! Like `--output`, a path that cannot be written fails in a millisecond with exit
//! code 2, not after the run. Both are [`AtomicFile`]s: if the run fails, nothing
//! at either path changes.

use super::timeline::TimelineOptions;
use super::{chrome, plot};
use crate::output::atomic::AtomicFile;
use crate::plan::InputError;
use crate::report::ScenarioReport;
use std::path::Path;

/// The trace outputs of one `gilbench scenario`.
#[derive(Debug, Default)]
pub struct TraceFiles {
    trace: Option<AtomicFile>,
    plot: Option<AtomicFile>,
}

impl TraceFiles {
    /// Creates the files named by `--trace` and `--plot-timeline`.
    pub fn open(trace: Option<&Path>, plot: Option<&Path>) -> Result<TraceFiles, InputError> {
        Ok(TraceFiles {
            trace: trace
                .map(|p| AtomicFile::create("--trace", p))
                .transpose()?,
            plot: plot
                .map(|p| AtomicFile::create("--plot-timeline", p))
                .transpose()?,
        })
    }

    /// Writes the trace and the plot of `report`. `host_pid` is this process's
    /// pid (see [`chrome`] for what it is used for).
    pub fn write(
        self,
        report: &ScenarioReport,
        host_pid: u32,
        options: &TimelineOptions,
    ) -> anyhow::Result<()> {
        use anyhow::Context;
        // Both drawn before either is renamed into place.
        let trace = self
            .trace
            .map(|file| (chrome::render(report, host_pid), file));
        let plot = match self.plot {
            Some(file) => Some((plot::render(report, options)?, file)),
            None => None,
        };
        for (flag, output) in [("--trace", trace), ("--plot-timeline", plot)] {
            if let Some((bytes, file)) = output {
                let shown = file.path().display().to_string();
                file.commit(&bytes)
                    .with_context(|| format!("writing {flag} {shown}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_path_is_input_error_and_unused_files_are_not_created() {
        let err = TraceFiles::open(Some(Path::new("/nonexistent-dir/t.json")), None).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("--trace: /nonexistent-dir/t.json"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        drop(TraceFiles::open(Some(&path), None).unwrap());
        assert!(
            !path.exists(),
            "an unwritten trace file must not stay behind"
        );
    }
}
